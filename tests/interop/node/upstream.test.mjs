// openid-client as the app, people signing in through upstream identity providers: the
// multi-tenant Entra ID stand-in and a plain OpenID Connect provider (both node
// oidc-provider, started by run.sh and connected to the demo tenant there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser } from './browser.mjs';

const issuer = process.env.LANYARD_ISSUER;
assert.ok(issuer, 'LANYARD_ISSUER must be set');
const REDIRECT = 'http://127.0.0.1:8088/callback';
const insecure = { execute: [client.allowInsecureRequests] };
const app = await client.discovery(new URL(issuer), 'demo-app', undefined, client.None(), insecure);
client.enableNonRepudiationChecks(app);

// From the app's authorization URL through the upstream's button and its sign-in form, back
// to the app; returns the redirect to the app.
async function throughUpstream(browser, url, button, login, password) {
  let res = await browser.get(url);
  let location = res.headers.get('location');
  const page = await (await browser.get(issuer + location)).text();
  const href = page.match(new RegExp(`href="(/federation/${button}/start[^"]*)"`))?.[1];
  assert.ok(href, `no ${button} button on the sign-in page`);
  let next = issuer + href.replaceAll('&amp;', '&');
  for (let i = 0; i < 15; i += 1) {
    res = await browser.get(next);
    if (res.status === 200) {
      const form = await res.text();
      const action = form.match(/action="([^"]+)"/)?.[1];
      assert.ok(action, `no form at ${next}: ${form.slice(0, 200)}`);
      const post = new URL(action, next).href;
      res = await browser.post(post, { login, password });
      assert.equal(res.status, 303, `upstream sign-in: ${res.status}`);
      next = new URL(res.headers.get('location'), post).href;
      continue;
    }
    assert.ok([302, 303].includes(res.status), `${next} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    location = res.headers.get('location');
    if (location.startsWith(REDIRECT)) return location;
    next = new URL(location, next).href;
  }
  throw new Error('too many redirects');
}

async function signIn(button, login, password) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT, scope: 'openid profile email roles',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
  });
  const back = await throughUpstream(new Browser(), url.href, button, login, password);
  return client.authorizationCodeGrant(app, new URL(back), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
}

test('through Entra ID: mapped roles, account, location, and trusted upstream MFA', async () => {
  const tokens = await signIn('acme-entra', 'alice@acme.test', 'pw-mfa');
  const claims = tokens.claims();
  assert.deepEqual(claims.roles, ['Student', 'Trainer']);
  assert.equal(claims.email, 'alice@acme.test');
  assert.equal(claims.tenant, 'demo');
  assert.equal(claims.location.path, 'Demo Training Co > North');
  assert.deepEqual(claims.accounts, ['Acme Ltd']);
  assert.deepEqual(claims.amr, ['fed', 'mfa']);
  // Signing in again is the same person.
  const again = await signIn('acme-entra', 'alice@acme.test', 'pw');
  assert.equal(again.claims().sub, claims.sub);
  assert.deepEqual(again.claims().amr, ['fed']);
});

test('through a plain OpenID Connect provider', async () => {
  const claims = (await signIn('plain-idp', 'dave@plain.test', 'pw')).claims();
  assert.deepEqual(claims.roles, ['Student']);
  assert.equal(claims.email, 'dave@plain.test');
  assert.equal(claims.given_name, 'Dave');
});
