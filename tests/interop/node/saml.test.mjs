// samlify (a SAML 2.0 service-provider library) against a running lanyard: SP-initiated and
// IdP-initiated sign-in, signed-request enforcement, replay refusal and single logout. Every
// message samlify reads is schema-checked by xmllint (compiled to WebAssembly).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import samlify from 'samlify';
import xmllint from '@authenio/samlify-xmllint-wasm';
import { Browser, signIn } from './browser.mjs';

const run = promisify(execFile);
const issuer = process.env.LANYARD_ISSUER;
const bin = process.env.LANYARD_BIN;
assert.ok(issuer, 'LANYARD_ISSUER must be set');
assert.ok(bin, 'LANYARD_BIN must be set');
const PASSWORD = 'Lanyard-demo-pass-2026';
const ENTITY = `http://127.0.0.1:9/samlify-${randomBytes(6).toString('hex')}`;
const ACS = 'http://127.0.0.1:9/acs';
const SLO = 'http://127.0.0.1:9/slo';
const { namespace } = samlify.Constants;
const PERSISTENT = namespace.format.persistent;
const SUCCESS = namespace.statusCode.success;
const LIMIT = { timeout: 20_000 };

samlify.setSchemaValidator(xmllint);

let dir;
let idpMetadata; // Lanyard's metadata as served
let idp; // Lanyard as the signing SP sees it
let idpPlain; // as the SP that does not sign sees it
let sp; // signs its requests
let spUnsigned; // the same entity, not signing

// What the browser of step 2 carries on to the later steps.
const state = {};

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lanyard-samlify-'));
  const key = path.join(dir, 'sp.key');
  const cert = path.join(dir, 'sp.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=samlify', '-days', '2',
    '-keyout', key, '-out', cert], { timeout: 15_000 });
  const res = await fetch(`${issuer}/saml/metadata`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200);
  idpMetadata = await res.text();
  assert.equal(idpMetadata.match(/entityID="([^"]+)"/)?.[1], `${issuer}/saml/metadata`);
  // Lanyard requires signed requests per SP (--require-signed-requests), so its IdP-wide
  // metadata need not ask for them; samlify insists the SP's AuthnRequestsSigned and the IdP's
  // WantAuthnRequestsSigned agree, so each SP gets a copy of the metadata that agrees with it.
  const wants = (v) => idpMetadata.replace(/WantAuthnRequestsSigned="[^"]*"/, `WantAuthnRequestsSigned="${v}"`);
  assert.match(idpMetadata, /<md:IDPSSODescriptor WantAuthnRequestsSigned="[^"]*"/);
  // wantLogoutRequestSigned: samlify signs the LogoutRequests it sends to this IdP.
  idp = samlify.IdentityProvider({ metadata: wants(true), wantLogoutRequestSigned: true });
  idpPlain = samlify.IdentityProvider({ metadata: wants(false) });
  const endpoints = {
    entityID: ENTITY,
    nameIDFormat: [PERSISTENT],
    assertionConsumerService: [{ Binding: namespace.binding.post, Location: ACS }],
    singleLogoutService: [{ Binding: namespace.binding.redirect, Location: SLO }],
  };
  sp = samlify.ServiceProvider({
    ...endpoints,
    authnRequestsSigned: true,
    wantAssertionsSigned: true,
    wantLogoutResponseSigned: true, // parseLogoutResponse checks the query-string signature
    privateKey: await readFile(key, 'utf8'),
    signingCert: await readFile(cert, 'utf8'),
  });
  spUnsigned = samlify.ServiceProvider({ ...endpoints, authnRequestsSigned: false, wantAssertionsSigned: true });

  const metadataFile = path.join(dir, 'sp.xml');
  await writeFile(metadataFile, sp.getMetadata());
  const { stdout } = await run(bin, ['saml', 'import', '--tenant', 'demo', '--metadata-file', metadataFile,
    '--require-signed-requests', '--idp-initiated', '--attribute', 'roles', '--attribute', 'main_role', '--attribute', 'email',
    '--name-id-format', 'persistent'], { env: process.env, timeout: 15_000 });
  assert.match(stdout, new RegExp(`${ENTITY}: registered`));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const unescape = (s) => s
  .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
  .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(Number(d)))
  .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

// The auto-posting form Lanyard renders for the HTTP-POST binding.
function postForm(html) {
  const action = html.match(/<form method="post" action="([^"]*)"/)?.[1];
  const field = (name) => {
    const v = html.match(new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`))?.[1];
    return v === undefined ? undefined : unescape(v);
  };
  return { action: action && unescape(action), SAMLResponse: field('SAMLResponse'), RelayState: field('RelayState') };
}

// The NameID's Format, read from the assertion (samlify extracts only its value).
function nameIdFormat(xml) {
  const { format } = samlify.Extractor.extract(xml, [{
    key: 'format', localPath: ['Response', 'Assertion', 'Subject', 'NameID'], attributes: ['Format'],
  }]);
  return format;
}

function assertTrainer(extract, xml) {
  assert.equal(nameIdFormat(xml), PERSISTENT);
  assert.equal(typeof extract.nameID, 'string');
  assert.ok(extract.nameID.length > 0, 'the NameID is empty');
  assert.notEqual(extract.nameID, 'trainer@demo.test', 'a persistent NameID must not be the email');
  assert.equal(extract.audience, ENTITY);
  assert.equal(extract.issuer, `${issuer}/saml/metadata`);
  const roles = [extract.attributes.roles].flat();
  assert.ok(roles.includes('Trainer'), `roles: ${roles}`);
  assert.ok(roles.includes('Student'), `roles: ${roles}`);
  assert.equal(extract.attributes.main_role, 'Trainer');
  assert.equal(extract.attributes.email, 'trainer@demo.test');
  assert.match(xml, /<(\w+:)?Assertion\b[^>]*>(?:(?!<\/(\w+:)?Assertion>).)*<(\w+:)?Signature\b/s, 'the assertion is not signed');
}

// A page refusing the request: 400, HTML saying why, and nothing posted to the SP.
async function assertRefused(res, reason) {
  assert.equal(res.status, 400);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  const html = await res.text();
  assert.match(html, reason);
  assert.doesNotMatch(html, /SAMLResponse/);
  assert.doesNotMatch(html, new RegExp(`action="${ACS}"`));
}

test('SP-initiated sign-in with a signed redirect request', LIMIT, async () => {
  const relayState = `https://sp.example/deep/path?x=1&y=två ${randomBytes(4).toString('hex')}`;
  const { id, context: url } = sp.createLoginRequest(idp, 'redirect', { relayState });
  assert.ok(url.startsWith(`${issuer}/saml/sso?SAMLRequest=`), url);
  assert.match(url, /&SigAlg=[^&]+&Signature=/);
  const browser = new Browser();
  const back = await signIn(browser, issuer, url, 'trainer@demo.test', PASSWORD);
  assert.match(back, /^\/saml\/continue\?tx=/);
  const res = await browser.get(issuer + back);
  assert.equal(res.status, 200);
  const form = postForm(await res.text());
  assert.equal(form.action, ACS);
  assert.ok(form.SAMLResponse, 'no SAMLResponse in the page');
  assert.equal(form.RelayState, relayState);
  const { extract, samlContent } = await sp.parseLoginResponse(idp, 'post', {
    body: { SAMLResponse: form.SAMLResponse, RelayState: form.RelayState },
  });
  assert.equal(extract.response.inResponseTo, id);
  assert.equal(extract.response.destination, ACS);
  assertTrainer(extract, samlContent);
  assert.ok(extract.sessionIndex?.sessionIndex, 'no SessionIndex');
  assert.ok(browser.cookies.get('lanyard_sso'), 'no SSO session cookie');
  // The signature covers the attributes: samlify refuses an edited copy.
  const xml = Buffer.from(form.SAMLResponse, 'base64').toString('utf8');
  const edited = xml.replace('>trainer@demo.test<', '>admin@demo.test<');
  assert.notEqual(edited, xml);
  await assert.rejects(sp.parseLoginResponse(idp, 'post', {
    body: { SAMLResponse: Buffer.from(edited).toString('base64'), RelayState: form.RelayState },
  }), /FAILED_TO_VERIFY_SIGNATURE/);
  Object.assign(state, { browser, url, nameID: extract.nameID, sessionIndex: extract.sessionIndex.sessionIndex });
});

test('an unsigned request is refused for an SP that must sign', LIMIT, async () => {
  assert.ok(state.browser, 'needs the sign-in test');
  // Built unsigned by samlify itself…
  const { context: url } = spUnsigned.createLoginRequest(idpPlain, 'redirect', { relayState: 'unsigned' });
  assert.doesNotMatch(url, /Signature=|SigAlg=/);
  await assertRefused(await state.browser.get(url), /must sign its requests/);
  // …and a signed one with its signature taken off.
  const { context: signed } = sp.createLoginRequest(idp, 'redirect', { relayState: 'stripped' });
  const stripped = new URL(signed);
  const query = stripped.search.slice(1).split('&').filter((p) => !/^(Signature|SigAlg)=/.test(p));
  assert.equal(query.length, 2);
  await assertRefused(await state.browser.get(`${stripped.origin}${stripped.pathname}?${query.join('&')}`),
    /must sign its requests/);
});

test('a replayed request is refused', LIMIT, async () => {
  assert.ok(state.url, 'needs the sign-in test');
  await assertRefused(await state.browser.get(state.url), /already been used/);
});

test('IdP-initiated sign-in from the session', LIMIT, async () => {
  assert.ok(state.browser, 'needs the sign-in test');
  const res = await state.browser.get(`${issuer}/saml/init?sp=${encodeURIComponent(ENTITY)}&RelayState=portal`);
  assert.equal(res.status, 200);
  const form = postForm(await res.text());
  assert.equal(form.action, ACS);
  assert.ok(form.SAMLResponse, 'no SAMLResponse in the page');
  assert.equal(form.RelayState, 'portal');
  const { extract, samlContent } = await sp.parseLoginResponse(idp, 'post', {
    body: { SAMLResponse: form.SAMLResponse, RelayState: form.RelayState },
  });
  assert.equal(extract.response.inResponseTo, undefined);
  assert.doesNotMatch(samlContent, /InResponseTo=/);
  assertTrainer(extract, samlContent);
  assert.equal(extract.nameID, state.nameID, 'the persistent NameID changed');
});

test('SP-initiated single logout by the redirect binding', LIMIT, async () => {
  assert.ok(state.nameID, 'needs the sign-in test');
  const cookies = new Map(state.browser.cookies);
  const relayState = `bye-${randomBytes(4).toString('hex')}`;
  const { id, context: url } = sp.createLogoutRequest(idp, 'redirect',
    { logoutNameID: state.nameID, sessionIndex: state.sessionIndex }, { relayState });
  assert.ok(url.startsWith(`${issuer}/saml/slo?SAMLRequest=`), url);
  assert.match(url, /&SigAlg=[^&]+&Signature=/);
  const res = await state.browser.get(url);
  assert.ok([302, 303].includes(res.status), `logout answered ${res.status}`);
  const location = res.headers.get('location');
  assert.ok(location.startsWith(`${SLO}?`), location);
  // samlify checks the signature over the octets as received, without Signature.
  const raw = location.slice(location.indexOf('?') + 1);
  const octetString = raw.split('&').filter((p) => !p.startsWith('Signature=')).join('&');
  const query = Object.fromEntries(new URLSearchParams(raw));
  assert.deepEqual(Object.keys(query).sort(), ['RelayState', 'SAMLResponse', 'SigAlg', 'Signature']);
  assert.equal(query.RelayState, relayState);
  const { extract, samlContent, sigAlg } = await sp.parseLogoutResponse(idp, 'redirect', { query, octetString });
  assert.equal(sigAlg, 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
  assert.equal(extract.response.inResponseTo, id);
  assert.equal(extract.response.destination, SLO);
  assert.equal(extract.issuer, `${issuer}/saml/metadata`);
  assert.equal(samlify.Extractor.extract(samlContent, samlify.Extractor.logoutResponseStatusFields).top, SUCCESS);
  // The query-string signature covers the RelayState: samlify refuses an edited one.
  await assert.rejects(sp.parseLogoutResponse(idp, 'redirect', {
    query: { ...query, RelayState: 'edited' }, octetString: octetString.replace(/RelayState=[^&]*/, 'RelayState=edited'),
  }), /ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION/);
  // The session is over on the server: its old cookie leads to the sign-in page.
  assert.ok(cookies.get('lanyard_sso'));
  const stale = new Browser();
  for (const [k, v] of cookies) stale.cookies.set(k, v);
  const { context: again } = sp.createLoginRequest(idp, 'redirect', { relayState: 'again' });
  const after = await stale.get(again);
  assert.ok([302, 303].includes(after.status), `SSO answered ${after.status}`);
  assert.match(after.headers.get('location'), /^\/login\?tx=/);
});
