// A minimal browser for tests: keeps cookies (one host), never follows redirects, and signs
// in through Lanyard's HTML form like a person would.
export class Browser {
  constructor() { this.cookies = new Map(); }

  #remember(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, value] = pair.split('=');
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a));
      if (expired) this.cookies.delete(name.trim()); else this.cookies.set(name.trim(), value);
    }
    return res;
  }

  #headers(extra = {}) {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    return cookie ? { cookie, ...extra } : extra;
  }

  async get(url) {
    return this.#remember(await fetch(url, { redirect: 'manual', headers: this.#headers() }));
  }

  async post(url, form) {
    return this.#remember(await fetch(url, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
      headers: this.#headers({ 'content-type': 'application/x-www-form-urlencoded' }),
    }));
  }
}

const field = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1];

// Follows an authorization URL through the sign-in form; returns the redirect back to the app.
export async function signIn(browser, issuer, authorizationUrl, login, password) {
  let res = await browser.get(authorizationUrl);
  if (res.status !== 303) throw new Error(`authorize answered ${res.status}`);
  let location = res.headers.get('location');
  if (!location.startsWith('/login')) return location; // an SSO session answered at once
  const html = await (await browser.get(issuer + location)).text();
  res = await browser.post(`${issuer}/login`, { tx: field(html, 'tx'), csrf: field(html, 'csrf'), login, password });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  return res.headers.get('location');
}
