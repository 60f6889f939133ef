// Passkeys in the browser: the only script Lanyard's pages use. Buttons carry
// data-passkey="register" | "second" | "discover" and the page's form token. A passwordless
// attempt's challenge comes back sealed with the options (`state`) and goes back with the answer.
(function () {
  'use strict';
  function show(msg) {
    var el = document.getElementById('passkey-error');
    if (el) { el.textContent = msg; el.hidden = false; el.focus && el.focus(); }
  }
  async function post(url, body) {
    var r = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    var j = {};
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) { throw new Error(j.error || 'The passkey could not be used.'); }
    return j;
  }
  async function register(btn) {
    var name = (document.getElementById('passkey-name') || {}).value || 'Passkey';
    var opts = await post('/account/passkeys/options', { csrf: btn.dataset.csrf, name: name });
    var cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey) });
    await post('/account/passkeys/finish', { csrf: btn.dataset.csrf, name: name, credential: cred.toJSON() });
    location.assign('/account?added=1');
  }
  async function authenticate(btn, mode) {
    var opts = await post('/login/passkey/options', { tx: btn.dataset.tx, csrf: btn.dataset.csrf, mode: mode });
    var cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts.publicKey) });
    var done = await post('/login/passkey/finish', { tx: btn.dataset.tx, csrf: btn.dataset.csrf, credential: cred.toJSON(), state: opts.state });
    location.assign(done.redirect);
  }
  document.querySelectorAll('[data-passkey]').forEach(function (btn) {
    if (!window.PublicKeyCredential) { btn.hidden = true; return; }
    btn.addEventListener('click', function () {
      var mode = btn.dataset.passkey;
      btn.disabled = true;
      (mode === 'register' ? register(btn) : authenticate(btn, mode))
        .catch(function (e) { show(e && e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out.' : (e.message || String(e))); })
        .finally(function () { btn.disabled = false; });
    });
  });
})();
