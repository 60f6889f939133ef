// openid-client (a certified relying-party library) against a running lanyard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { Browser, signIn } from './browser.mjs';

const issuer = process.env.LANYARD_ISSUER;
assert.ok(issuer, 'LANYARD_ISSUER must be set');
const REDIRECT = 'http://127.0.0.1:8088/callback';
const PASSWORD = 'Lanyard-demo-pass-2026';
const insecure = { execute: [client.allowInsecureRequests] }; // plain http on loopback only

const app = await client.discovery(new URL(issuer), 'demo-app', undefined, client.None(), insecure);
client.enableNonRepudiationChecks(app); // validate ID token signatures against the JWKS
const service = await client.discovery(new URL(issuer), 'demo-service', undefined, client.ClientSecretBasic('demo-service-secret'), insecure);
const jwks = jose.createRemoteJWKSet(new URL(app.serverMetadata().jwks_uri), { [jose.customFetch]: fetch });

async function codeFlow(browser, login) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT, scope: 'openid profile email roles offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
  });
  const back = await signIn(browser, issuer, url.href, login, PASSWORD);
  assert.ok(back.startsWith(REDIRECT), back);
  return client.authorizationCodeGrant(app, new URL(back), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
}

test('authorization code with PKCE yields a verified ID token carrying roles', async () => {
  const tokens = await codeFlow(new Browser(), 'trainer@demo.test');
  const claims = tokens.claims();
  assert.deepEqual(claims.roles, ['Student', 'Trainer']);
  assert.equal(claims.main_role, 'Trainer');
  assert.equal(claims.tenant, 'demo');
  assert.equal(claims.location.path, 'Demo Training Co > North > Leeds');
  const { payload } = await jose.jwtVerify(tokens.id_token, jwks, { issuer, audience: 'demo-app' });
  assert.equal(payload.sub, claims.sub);
  const access = await jose.jwtVerify(tokens.access_token, jwks, { issuer, typ: 'at+jwt' });
  assert.equal(access.payload.client_id, 'demo-app');
  assert.equal(access.payload.main_role, 'Trainer');
  const info = await client.fetchUserInfo(app, tokens.access_token, claims.sub);
  assert.equal(info.email, 'trainer@demo.test');
  assert.deepEqual(info.roles, ['Student', 'Trainer']);
});

test('refresh rotates, and a rotated-out token revokes the family', async () => {
  const tokens = await codeFlow(new Browser(), 'learner@demo.test');
  const next = await client.refreshTokenGrant(app, tokens.refresh_token);
  assert.notEqual(next.refresh_token, tokens.refresh_token);
  // Once its successor is used, the first token is reuse: the family ends.
  const newest = await client.refreshTokenGrant(app, next.refresh_token);
  await assert.rejects(client.refreshTokenGrant(app, tokens.refresh_token), (e) => e.error === 'invalid_grant');
  await assert.rejects(client.refreshTokenGrant(app, newest.refresh_token), (e) => e.error === 'invalid_grant');
});

test('introspection and revocation', async () => {
  const tokens = await codeFlow(new Browser(), 'learner@demo.test');
  const active = await client.tokenIntrospection(service, tokens.access_token);
  assert.equal(active.active, true);
  assert.deepEqual(active.roles, ['Student']);
  await client.tokenRevocation(app, tokens.access_token);
  assert.equal((await client.tokenIntrospection(service, tokens.access_token)).active, false);
  await client.tokenRevocation(app, tokens.refresh_token);
  assert.equal((await client.tokenIntrospection(service, tokens.refresh_token)).active, false);
});

test('single sign-on: the second authorization needs no password', async () => {
  const browser = new Browser();
  await codeFlow(browser, 'admin@demo.test');
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 'x',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const res = await browser.get(url.href);
  assert.equal(res.status, 303);
  assert.match(res.headers.get('location'), /^http:\/\/127\.0\.0\.1:8088\/callback\?code=/);
});

test('RP-initiated logout returns to the registered URI and ends the session', async () => {
  const browser = new Browser();
  const tokens = await codeFlow(browser, 'learner@demo.test');
  const end = client.buildEndSessionUrl(app, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:8088/', state: 'bye' });
  const res = await browser.get(end.href);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), 'http://127.0.0.1:8088/?state=bye');
  const again = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 'y',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const after = await browser.get(again.href);
  assert.match(after.headers.get('location'), /error=login_required/);
});

test('client credentials for a service', async () => {
  const t = await client.clientCredentialsGrant(service);
  const { payload, protectedHeader } = await jose.jwtVerify(t.access_token, jwks, { issuer, typ: 'at+jwt' });
  assert.equal(payload.sub, 'demo-service');
  assert.equal(protectedHeader.alg, 'RS256');
});
