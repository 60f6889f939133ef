// The benchmark's peer: node oidc-provider (OpenID Certified), configured for the workloads the
// kit compares: client_credentials issuing JWT access tokens signed RS256 and ES256,
// introspection, JWKS and discovery. Listens on 127.0.0.1:$PORT.
import Provider from 'oidc-provider';
import * as jose from 'jose';

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

const provider = new Provider(issuer, {
  clients: [
    service('bench-rs256', 'bench-secret-rs256-0123456789'),
    service('bench-es256', 'bench-secret-es256-0123456789'),
    service('bench-opaque', 'bench-secret-opaque-0123456789'),
    service('demo-service', 'demo-service-secret'),
  ],
  jwks: { keys: [await key('RS256', 'rs256'), await key('ES256', 'es256')] },
  scopes: ['openid', 'api'],
  cookies: { keys: ['bench-only-cookie-key-0123456789'] },
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
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
