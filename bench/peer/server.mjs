// The benchmark's peer: node oidc-provider (OpenID Certified), configured for the workloads the
// kit compares: client_credentials issuing JWT access tokens signed RS256 and ES256,
// introspection, refresh_token with rotation, the password sign-in (Argon2id) of a public PKCE
// client through this file's own interaction pages, JWKS and discovery. Listens on 127.0.0.1:$PORT.
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { hash, verify, Algorithm } from '@node-rs/argon2';

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;

async function key(alg, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), alg, kid, use: 'sig' };
}

const service = (id, secret) => ({
  client_id: id, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic', scope: 'api',
});

// The one person, with Lanyard's password and Argon2id parameters (m = 19456 KiB, t = 2, p = 1),
// hashed once at start-up; every sign-in verifies against this hash.
const LOGIN = 'learner@demo.test';
const PASSWORD_HASH = await hash('Lanyard-demo-pass-2026', {
  algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1,
});

const provider = new Provider(issuer, {
  clients: [
    service('bench-rs256', 'bench-secret-rs256-0123456789'),
    service('bench-es256', 'bench-secret-es256-0123456789'),
    service('bench-opaque', 'bench-secret-opaque-0123456789'),
    service('demo-service', 'demo-service-secret'),
    // A public (PKCE) browser client, as Lanyard's bench-app: sign-in and refresh_token.
    {
      client_id: 'bench-app', application_type: 'web', token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:8088/callback'],
    },
  ],
  jwks: { keys: [await key('RS256', 'rs256'), await key('ES256', 'es256')] },
  scopes: ['openid', 'offline_access', 'api'],
  // Same path as Lanyard's, so the kit builds one authorization request for both.
  routes: { authorization: '/authorize' },
  cookies: {
    keys: ['bench-only-cookie-key-0123456789'],
    // wrk's Lua API shows only the last Set-Cookie header of a response, so the short-lived
    // interaction cookies (whose value is the interaction id, which is in the URL anyway) are not
    // signed; the session cookie still is.
    short: { httpOnly: true, sameSite: 'lax', signed: false },
  },
  findAccount: (ctx, sub) => (sub === LOGIN ? { accountId: sub, claims: () => ({ sub, email: sub }) } : undefined),
  // A sign-in needs no consent page: bench-app is first-party, so once the person is known, the
  // grant covers whatever was asked (the prompt policy then finds no scope missing).
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    if (grantId) return oidc.provider.Grant.find(grantId);
    if (!oidc.session.accountId) return undefined;
    const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    for (const [indicator, server] of Object.entries(oidc.resourceServers || {})) {
      grant.addResourceScope(indicator, [...oidc.requestParamScopes].filter((s) => server.scopes.has(s)).join(' '));
    }
    await grant.save();
    return grant;
  },
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench:api',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'api',
        audience: resource,
        // One client gets opaque (stored) tokens, so introspection has something to look up.
        accessTokenFormat: client.clientId === 'bench-opaque' ? 'opaque' : 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: client.clientId === 'bench-es256' ? 'ES256' : 'RS256' } },
      }),
    },
  },
});
provider.proxy = false;

// The interaction pages (devInteractions stay off): GET /interaction/:uid shows the sign-in form,
// POST /interaction/:uid/login checks the password and hands the result back to the provider,
// which resumes the authorization request (/authorize/:uid) and redirects with the code.
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (uid, error) => `<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Email <input name="login" type="email" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>`;

async function formBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
  if (!m) return next();
  ctx.set('Cache-Control', 'no-store');
  try {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== m[1] || !['login', 'consent'].includes(details.prompt.name)) {
      ctx.status = 400;
      ctx.body = `unexpected interaction (prompt ${details.prompt.name})`;
      return undefined;
    }
    if (details.prompt.name === 'consent') {
      // Only when the client asks for it (prompt=consent, which oidc-provider requires before it
      // grants offline_access): bench-app is first-party, so the grant loadExistingGrant made is
      // confirmed without a page.
      if (ctx.method !== 'GET' || m[2] || !details.grantId) {
        ctx.status = 400;
        return undefined;
      }
      ctx.status = 303;
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: details.grantId } }));
    } else if (ctx.method === 'GET' && !m[2]) {
      ctx.type = 'html';
      ctx.body = page(details.uid);
    } else if (ctx.method === 'POST' && m[2]) {
      const form = await formBody(ctx.req);
      const ok = form.get('login') === LOGIN && await verify(PASSWORD_HASH, form.get('password') || '');
      if (!ok) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = page(details.uid, 'Wrong email or password.');
        return undefined;
      }
      ctx.status = 303;
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: LOGIN } }, { mergeWithLastSubmission: false }));
    } else {
      ctx.status = 405;
    }
  } catch (err) {
    ctx.status = err.statusCode || 500;
    ctx.body = err.error_description || err.message;
  }
  return undefined;
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
