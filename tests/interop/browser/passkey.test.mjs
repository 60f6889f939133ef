// Passkeys in a real headless Chromium (Debian's), driven by Playwright with a CDP virtual
// authenticator: register on the account page, then sign in with the passkey as a second
// factor and passwordless; a tampered signature and a stale counter are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const issuer = process.env.LANYARD_BROWSER_ISSUER; // http://localhost:PORT (WebAuthn needs a domain)
assert.ok(issuer, 'LANYARD_BROWSER_ISSUER must be set');
const shots = process.env.LANYARD_SCREENSHOTS; // optional: where to save page screenshots
const PASSWORD = 'Lanyard-demo-pass-2026';
const CALLBACK = 'http://127.0.0.1:8088/callback';
let browser, context, page, cdp, authenticatorId;

async function shot(name) {
  if (!shots) return;
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

function authorizeRequest() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({ client_id: 'demo-app', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid roles',
    state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' });
  return { url: `${issuer}/authorize?${q}`, verifier };
}

async function amrOf(callbackUrl, verifier) {
  const code = new URL(callbackUrl).searchParams.get('code');
  const r = await fetch(`${issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code,
    redirect_uri: CALLBACK, client_id: 'demo-app', code_verifier: verifier }) });
  const t = await r.json();
  assert.ok(t.id_token, JSON.stringify(t));
  return JSON.parse(Buffer.from(t.id_token.split('.')[1], 'base64url')).amr;
}

// Resolves with the URL of the browser's request back to the app (nothing needs to answer it).
function backAtApp(p = page) {
  const request = p.waitForRequest((r) => r.url().startsWith(CALLBACK)).then((r) => r.url());
  // The navigation to the app fails (nothing listens there); let it finish before moving on.
  const settled = p.waitForEvent('framenavigated', { predicate: (f) => f === p.mainFrame() && !f.url().startsWith(issuer) });
  return Promise.all([request, settled]).then(([url]) => url);
}

// The demo tenant has connections listing email domains, so its page asks who first
// (identifier-first), then for the password.
async function typePassword(p, login, screenshot) {
  await p.fill('#login', login);
  await p.click('form[action="/login"] button[type=submit]');
  await p.waitForSelector('#password');
  assert.equal(await p.inputValue('#login'), login);
  await p.fill('#password', PASSWORD);
  if (screenshot) await shot(screenshot);
  await p.click('form[action="/login"] button[type=submit]');
}

async function passwordStep(login, screenshot) {
  const req = authorizeRequest();
  await page.goto(req.url);
  await typePassword(page, login, screenshot);
  return req;
}

async function signOut() {
  await page.goto(`${issuer}/logout`);
  await page.click('button[name=confirm]');
  await page.waitForSelector('text=You are signed out');
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  page = await context.newPage();
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: {
    protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } }));
});

after(async () => { await browser?.close(); });

test('a person registers a passkey on the account page', async () => {
  const back = backAtApp();
  await passwordStep('learner@demo.test', 'sign-in');
  await back;
  await page.goto(`${issuer}/account`);
  await shot('account');
  await page.fill('#passkey-name', 'Laptop');
  await page.click('[data-passkey=register]');
  await page.waitForURL(/\/account\?added=1/);
  assert.match(await page.textContent('#passkey-list'), /Laptop/);
  await shot('account-with-passkey');
  await page.goto(`${issuer}/account/totp`);
  await shot('authenticator-setup');
});

test('the passkey is asked for as a second factor after the password', async () => {
  await signOut();
  const req = await passwordStep('learner@demo.test');
  await page.waitForURL(/\/login\/mfa/);
  await shot('second-step');
  const back = backAtApp();
  await page.click('[data-passkey=second]');
  assert.deepEqual(await amrOf(await back, req.verifier), ['hwk', 'mfa', 'pwd']);
});

test('passwordless: the passkey alone signs in, without a username', async () => {
  await signOut();
  const req = authorizeRequest();
  await page.goto(req.url);
  const back = backAtApp();
  await page.click('[data-passkey=discover]');
  assert.deepEqual(await amrOf(await back, req.verifier), ['hwk', 'mfa']);
});

test('a tampered signature is refused', async () => {
  await signOut();
  await page.route('**/login/passkey/finish', async (route) => {
    const body = JSON.parse(route.request().postData());
    const sig = Buffer.from(body.credential.response.signature, 'base64url');
    sig[sig.length - 1] ^= 0x01;
    body.credential.response.signature = sig.toString('base64url');
    await route.continue({ postData: JSON.stringify(body) });
  });
  await page.goto(authorizeRequest().url);
  await page.click('[data-passkey=discover]');
  await page.waitForSelector('#passkey-error:not([hidden])');
  assert.match(await page.textContent('#passkey-error'), /could not be verified/);
  assert.ok(page.url().startsWith(issuer), 'must not have reached the app');
  assert.equal(await page.isVisible('[data-passkey=discover]'), true);
  await page.unroute('**/login/passkey/finish');
});

test('a credential whose counter goes backwards (a clone) is refused', async () => {
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  const cred = credentials[0];
  assert.ok(cred.signCount >= 2, `counter ${cred.signCount}`);
  await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: cred.credentialId });
  await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...cred, signCount: 0 } });
  await page.goto(authorizeRequest().url);
  await page.click('[data-passkey=discover]');
  await page.waitForSelector('#passkey-error:not([hidden])');
  assert.match(await page.textContent('#passkey-error'), /copied/);
});

test('a person with a TOTP app sees the code form', async () => {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 760 } });
  const p = await ctx.newPage();
  const q = authorizeRequest();
  await p.goto(q.url);
  await typePassword(p, 'mfa@demo.test');
  await p.waitForURL(/\/login\/mfa/);
  assert.ok(await p.isVisible('#code'));
  if (shots) await p.screenshot({ path: `${shots}/totp-step.png`, fullPage: true });
  await ctx.close();
});

test('identifier first: a work email of a listed domain signs in at the employer, and back', async () => {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  const q = authorizeRequest();
  await p.goto(q.url);
  assert.equal(await p.isVisible('#password'), false, 'the first step asks only who');
  await p.fill('#login', 'bob@acme.test');
  // Home-realm discovery: to the Entra stand-in, not a password field here.
  await Promise.all([
    p.waitForURL((u) => u.port === process.env.LANYARD_ENTRA_PORT),
    p.click('form[action="/login"] button[type=submit]'),
  ]);
  await p.fill('input[name=login]', 'bob@acme.test');
  await p.fill('input[name=password]', 'pw');
  const back = backAtApp(p);
  await p.click('button');
  const amr = await amrOf(await back, q.verifier);
  assert.deepEqual(amr, ['fed']);
  await ctx.close();
});
