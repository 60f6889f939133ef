// A local stand-in for Microsoft Entra ID (multi-tenant), built on node oidc-provider (OpenID
// Certified): the issuer is http://127.0.0.1:$PORT/$TID/v2.0, the multi-tenant discovery at
// /organizations/v2.0/.well-known/openid-configuration names the issuer
// http://127.0.0.1:$PORT/{tenantid}/v2.0 as Entra's does, and ID tokens carry tid, oid, upn,
// groups and roles. One confidential client, "lanyard", redirects to $REDIRECT_URI
// (space-separated when Lanyard is reached by more than one name).
//
// People (any password signs in; "mfa" in the password adds amr mfa):
//   alice@acme.test  groups [TRAINERS], roles [Training.Admin]
//   bob@acme.test    no groups
//   carol@acme.test  email_verified (for linking tests)
// With PLAIN=1 it is a plain provider instead (issuer http://127.0.0.1:$PORT, no Entra claims,
// emails verified): "any standard OpenID Connect provider".
// Listens on 127.0.0.1:$PORT and prints "ready" when it does.
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.env.PORT);
const tid = process.env.TID || '72f988bf-86f1-41af-91ab-2d7cd011db47';
const redirect = process.env.REDIRECT_URI;
if (!redirect) throw new Error('REDIRECT_URI must be set');
const base = `http://127.0.0.1:${port}`;
const plain = process.env.PLAIN === '1';
const prefix = plain ? '' : `/${tid}/v2.0`;
const TRAINERS = 'b7a3e2c1-0000-4000-8000-00000000a001';

const people = {
  'alice@acme.test': { oid: '00000000-0000-4000-8000-0000000a11ce', given_name: 'Alice', family_name: 'Acme', groups: [TRAINERS], roles: ['Training.Admin'] },
  'bob@acme.test': { oid: '00000000-0000-4000-8000-000000000b0b', given_name: 'Bob', family_name: 'Acme', groups: [], roles: [] },
  'carol@acme.test': { oid: '00000000-0000-4000-8000-0000000ca401', given_name: 'Carol', family_name: 'Acme', groups: [], roles: [], email_verified: true },
  'dave@plain.test': { oid: 'dave-at-plain', given_name: 'Dave', family_name: 'Plain', groups: [], roles: [], email_verified: true },
};

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', kid: 'entra-1', use: 'sig' };

const provider = new Provider(`${base}${prefix}`, {
  clients: [{
    client_id: 'lanyard', client_secret: 'lanyard-upstream-secret',
    redirect_uris: redirect.split(' '), response_types: ['code'], grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  claims: {
    amr: null,
    openid: ['sub', 'tid', 'oid', 'groups', 'roles', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['entra-stand-in-cookie-key-0123456789'] },
  interactions: { url: (ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
  findAccount: (ctx, sub) => {
    const email = Object.keys(people).find((e) => people[e].oid === sub);
    if (!email) return undefined;
    const p = people[email];
    return {
      accountId: sub,
      claims: () => (plain
        ? { sub, email, email_verified: true, name: `${p.given_name} ${p.family_name}`, given_name: p.given_name, family_name: p.family_name }
        : {
          sub, tid, oid: p.oid, email, email_verified: p.email_verified,
          name: `${p.given_name} ${p.family_name}`, given_name: p.given_name, family_name: p.family_name,
          preferred_username: email, groups: p.groups, roles: p.roles,
        }),
    };
  },
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    if (grantId) return oidc.provider.Grant.find(grantId);
    if (!oidc.session.accountId) return undefined;
    const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    await grant.save();
    return grant;
  },
  features: { devInteractions: { enabled: false } },
});
provider.proxy = false;

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET' && !m[2]) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><form method="post" action="${prefix}/interaction/${esc(details.uid)}/login">
<input name="login"><input name="password" type="password"><button>Sign in</button></form>`;
    return undefined;
  }
  let body = '';
  for await (const chunk of ctx.req) body += chunk;
  const form = new URLSearchParams(body);
  const p = people[form.get('login')];
  if (!p) {
    ctx.status = 401;
    ctx.body = 'unknown person';
    return undefined;
  }
  const amr = (form.get('password') || '').includes('mfa') ? ['pwd', 'mfa'] : ['pwd'];
  ctx.status = 303;
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: p.oid, amr } }, { mergeWithLastSubmission: false }));
  return undefined;
});

const callback = provider.callback();
http.createServer(async (req, res) => {
  if (req.url === '/organizations/v2.0/.well-known/openid-configuration') {
    const own = await (await fetch(`${base}${prefix}/.well-known/openid-configuration`)).json();
    own.issuer = `${base}/{tenantid}/v2.0`;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(own));
  } else if (plain) {
    callback(req, res);
  } else if (req.url.startsWith(prefix)) {
    // Mounted under the tenant's path: oidc-provider reads the mount from originalUrl.
    req.originalUrl = req.url;
    req.url = req.url.slice(prefix.length) || '/';
    callback(req, res);
  } else {
    res.statusCode = 404;
    res.end();
  }
}).listen(port, '127.0.0.1', () => console.log('ready'));
