// openid-client as the app, people signing in through upstream identity providers: the
// multi-tenant Entra ID stand-in and a plain OpenID Connect provider (both node
// oidc-provider, started by run.sh and connected to the demo tenant there).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as client from 'openid-client';
import samlify from 'samlify';
import xmllint from '@authenio/samlify-xmllint-wasm';
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

async function signIn(button, login, password, browser = new Browser()) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT, scope: 'openid profile email roles',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
  });
  const back = await throughUpstream(browser, url.href, button, login, password);
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

// A SAML SP (samlify, its messages schema-checked by xmllint) registered in the demo tenant.
samlify.setSchemaValidator(xmllint);
const { namespace } = samlify.Constants;
const SP_ENTITY = `http://127.0.0.1:9/upstream-sp-${randomBytes(6).toString('hex')}`;
let dir;
let sp;
let idp;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lanyard-upstream-sp-'));
  sp = samlify.ServiceProvider({
    entityID: SP_ENTITY,
    nameIDFormat: [namespace.format.emailAddress],
    assertionConsumerService: [{ Binding: namespace.binding.post, Location: 'http://127.0.0.1:9/acs' }],
    authnRequestsSigned: false,
    wantAssertionsSigned: true,
  });
  const metadata = await (await fetch(`${issuer}/saml/metadata`)).text();
  idp = samlify.IdentityProvider({ metadata: metadata.replace(/WantAuthnRequestsSigned="[^"]*"/, 'WantAuthnRequestsSigned="false"') });
  const file = path.join(dir, 'sp.xml');
  await writeFile(file, sp.getMetadata());
  await promisify(execFile)(process.env.LANYARD_BIN, ['saml', 'import', '--tenant', 'demo', '--metadata-file', file,
    '--attribute', 'roles', '--attribute', 'email', '--name-id-format', 'emailAddress'], { env: process.env, timeout: 15_000 });
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('after an upstream sign-in, a SAML SP gets the same person from the SSO session, nothing asked', async () => {
  const browser = new Browser();
  const oidc = (await signIn('acme-entra', 'alice@acme.test', 'pw', browser)).claims();
  const { context: url } = sp.createLoginRequest(idp, 'redirect', { relayState: 'after-upstream' });
  const res = await browser.get(url);
  assert.equal(res.status, 200, 'the SAML request was not answered from the session');
  const html = await res.text();
  assert.doesNotMatch(html, /name="password"|name="login"/, 'the person was asked to sign in again');
  const saml = html.match(/name="SAMLResponse" value="([^"]*)"/)?.[1];
  assert.ok(saml, 'no SAMLResponse posted to the SP');
  const { extract } = await sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: saml, RelayState: 'after-upstream' } });
  assert.equal(extract.nameID, 'alice@acme.test');
  assert.equal(extract.attributes.email, oidc.email);
  assert.ok([extract.attributes.roles].flat().includes('Trainer'));
});
