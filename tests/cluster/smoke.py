#!/usr/bin/env python3
"""The cluster smoke (scripts/cluster.sh smoke): a person signs in through HAProxy while each
request may land on either node, refreshes, then one node is killed with SIGKILL and the other
carries his session and refresh family. Prints what it measured; exits 1 on any failure."""
import base64, hashlib, http.client, json, os, re, secrets, signal, sys, time, urllib.parse

REDIRECT = "http://127.0.0.1:8088/callback"
PASSWORD = "Lanyard-demo-pass-2026"
env = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
url = urllib.parse.urlparse(env["CLUSTER_URL"])
cookies = {}


def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    h = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    for k, v in r.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            cookies[name] = rest.split(";")[0]
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()


def authorize():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"client_id": "demo-app", "redirect_uri": REDIRECT, "response_type": "code",
                                "scope": "openid roles offline_access", "state": "s", "nonce": "n",
                                "code_challenge": challenge, "code_challenge_method": "S256"})
    status, h, _ = req("GET", f"/authorize?{q}")
    assert status in (302, 303), f"authorize: {status}"
    return verifier, h["location"]


def code_of(location):
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]


def exchange(code, verifier):
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                   "client_id": "demo-app", "code_verifier": verifier})
    status, _, body = req("POST", "/token", form)
    assert status == 200, f"code exchange: {status} {body}"
    return json.loads(body)


def refresh(token):
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-app"})
    status, _, body = req("POST", "/token", form)
    return status, (json.loads(body) if status == 200 else body)


failures = []
# Sign in: the page, the form post and the exchange go to whichever node HAProxy picks.
verifier, location = authorize()
status, _, page = req("GET", location)
assert status == 200, f"sign-in page: {status}"
field = lambda n: re.search(rf'name="{n}" value="([^"]*)"', page).group(1)
form = urllib.parse.urlencode({"tx": field("tx"), "csrf": field("csrf"), "login": "learner@demo.test", "password": PASSWORD})
status, h, body = req("POST", "/login", form)
assert status == 303, f"password: {status} {body[:200]}"
tokens = exchange(code_of(h["location"]), verifier)
token = tokens["refresh_token"]
for i in range(10):
    status, t = refresh(token)
    if status != 200:
        failures.append(f"refresh {i} before the kill: {status} {t}")
        break
    token = t["refresh_token"]

# One node dies without warning.
os.kill(int(env["CLUSTER_NODE1_PID"]), signal.SIGKILL)
killed = time.monotonic()
after = 0
for i in range(20):
    status, t = refresh(token)
    after += 1
    if status != 200:
        failures.append(f"refresh {i} after the kill: {status} {t}")
        break
    token = t["refresh_token"]
# The SSO session lives in Redis: a new authorization is answered at once, without a password.
verifier, location = authorize()
if "code=" not in location:
    failures.append(f"the SSO session did not survive the node: {location}")
else:
    exchange(code_of(location), verifier)
print(f"cluster smoke: signed in through HAProxy, 10 refreshes; node 1 killed; {after} refreshes and one "
      f"silent sign-in on node 2 in {time.monotonic() - killed:.2f} s; failures: {len(failures)}")
for f in failures:
    print("  " + f)
sys.exit(1 if failures else 0)
