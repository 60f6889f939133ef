#!/usr/bin/env python3
"""The fault suite (scripts/cluster.sh faults [--short]): traffic through HAProxy to two nodes
while Redis is stopped and started, PostgreSQL is shut down and started, and a node is killed with
SIGKILL and restarted. Every answer must be a success or a 503 (HAProxy's 502 for a request that
was in flight on the killed node is counted apart), and every refresh family must still work at
the end. Prints what it measured; exits 1 on any other answer or any lost family."""
import base64, collections, hashlib, http.client, json, re, secrets, subprocess, sys, threading, time, urllib.parse

REDIRECT = "http://127.0.0.1:8088/callback"
PASSWORD = "Lanyard-demo-pass-2026"
PEOPLE = ["learner@demo.test", "trainer@demo.test", "admin@demo.test"]
env = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
SHORT = "--short" in sys.argv
OUTAGE = 3 if SHORT else 10
FAMILIES = 3 if SHORT else 6
MACHINES = 2 if SHORT else 3
SIGNERS = 1 if SHORT else 2
url = urllib.parse.urlparse(env["CLUSTER_URL"])


def cluster(*args):
    subprocess.run(["bash", "scripts/cluster.sh", *args], check=True, stdout=subprocess.DEVNULL)


def req(method, path, body=None, headers=None, cookies=None, port=None):
    c = http.client.HTTPConnection("127.0.0.1", port or url.port, timeout=15)
    h = dict(headers or {})
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    if cookies is not None:
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                cookies[name] = rest.split(";")[0]
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()


def authorization(scope):
    """A PKCE verifier and the /authorize query of a demo-app sign-in asking for `scope`."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"client_id": "demo-app", "redirect_uri": REDIRECT, "response_type": "code",
                                "scope": scope, "state": "s", "nonce": "n",
                                "code_challenge": challenge, "code_challenge_method": "S256"})
    return verifier, q


def sign_in(login):
    jar = {}
    verifier, q = authorization("openid roles offline_access")
    _, h, _ = req("GET", f"/authorize?{q}", cookies=jar)
    _, _, page = req("GET", h["location"], cookies=jar)
    field = lambda n: re.search(rf'name="{n}" value="([^"]*)"', page).group(1)
    form = urllib.parse.urlencode({"tx": field("tx"), "csrf": field("csrf"), "login": login, "password": PASSWORD})
    status, h, body = req("POST", "/login", form, cookies=jar)
    assert status == 303, f"sign-in of {login}: {status} {body[:200]}"
    code = urllib.parse.parse_qs(urllib.parse.urlparse(h["location"]).query)["code"][0]
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                   "client_id": "demo-app", "code_verifier": verifier})
    status, _, body = req("POST", "/token", form)
    assert status == 200, f"code exchange: {status} {body}"
    return json.loads(body)["refresh_token"]


lock = threading.Lock()
answers = collections.Counter()           # (kind, status) -> count
others = []                               # (time, kind, status, body): answers that fail the run
lost = []                                 # families whose token stopped working
last_ok = collections.defaultdict(float)  # worker -> time of its last success
killed_at = [None]
running = threading.Event()
running.set()


def note(worker, kind, status, body):
    now = time.monotonic()
    with lock:
        answers[(kind, status)] += 1
        if status == 200:
            last_ok[worker] = now
        elif status != 503 and not (status in (502, 504) and killed_at[0] and now - killed_at[0] < 1.5):
            others.append((round(now - started, 2), kind, status, body[:160]))


def refresher(i, token, tokens):
    while running.is_set():
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-app"})
        try:
            status, _, body = req("POST", "/token", form)
        except OSError as e:
            status, body = 0, str(e)
        note(f"refresh{i}", "refresh", status, body)
        if status == 200:
            token = json.loads(body)["refresh_token"]
        elif status == 400:
            with lock:
                lost.append((i, body[:160]))
            return
        time.sleep(0.05)
    tokens[i] = token


def machine(i):
    while running.is_set():
        try:
            status, _, body = req("POST", "/token", "grant_type=client_credentials",
                                  {"Authorization": "Basic " + base64.b64encode(b"demo-service:demo-service-secret").decode()})
        except OSError as e:
            status, body = 0, str(e)
        note(f"machine{i}", "client_credentials", status, body)
        time.sleep(0.02)


def signer(i):
    """Full password sign-ins (authorize, page, password, code exchange) in a loop: the
    Argon2id-heavy part of the load. Every step's answer is judged like the others; a 503 at
    any step starts the sign-in again."""
    login = PEOPLE[i % len(PEOPLE)]
    while running.is_set():
        jar = {}
        verifier, q = authorization("openid roles")
        try:
            status, h, body = req("GET", f"/authorize?{q}", cookies=jar)
            note(f"signer{i}", "sign-in", 200 if status in (302, 303) else status, body)
            if status not in (302, 303):
                time.sleep(0.05)
                continue
            status, _, page = req("GET", h["location"], cookies=jar)
            note(f"signer{i}", "sign-in", status, page)
            if status != 200:
                continue
            field = lambda n: re.search(rf'name="{n}" value="([^"]*)"', page).group(1)
            form = urllib.parse.urlencode({"tx": field("tx"), "csrf": field("csrf"), "login": login, "password": PASSWORD})
            status, h, body = req("POST", "/login", form, cookies=jar)
            note(f"signer{i}", "sign-in", 200 if status == 303 else status, body)
            if status != 303:
                continue
            code = urllib.parse.parse_qs(urllib.parse.urlparse(h["location"]).query)["code"][0]
            form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                           "client_id": "demo-app", "code_verifier": verifier})
            status, _, body = req("POST", "/token", form)
            note(f"signer{i}", "code exchange", status, body)
        except OSError as e:
            note(f"signer{i}", "sign-in", 0, str(e))


def wait_all_ok(since, timeout=30):
    """Seconds from `since` until every worker has succeeded again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lock:
            if all(t > since for t in last_ok.values()):
                return round(max(last_ok.values()) - since, 2)
        time.sleep(0.05)
    return None


tokens = {i: sign_in(PEOPLE[i % len(PEOPLE)]) for i in range(FAMILIES)}
started = time.monotonic()
workers = [threading.Thread(target=refresher, args=(i, tokens[i], tokens)) for i in range(FAMILIES)]
workers += [threading.Thread(target=machine, args=(i,)) for i in range(MACHINES)]
workers += [threading.Thread(target=signer, args=(i,)) for i in range(SIGNERS)]
for w in workers:
    w.start()
time.sleep(2)
recovered = {}
# Redis stopped (cleanly: its append-only file flushed) for OUTAGE seconds, then started.
cluster("halt-redis")
time.sleep(OUTAGE)
back = time.monotonic()
cluster("run-redis")
recovered["Redis"] = wait_all_ok(back)
# PostgreSQL shut down by an administrator (fast: sessions ended), then started.
cluster("halt-postgres")
time.sleep(OUTAGE)
back = time.monotonic()
cluster("run-postgres")
recovered["PostgreSQL"] = wait_all_ok(back)
# A node killed with SIGKILL under load, then restarted: it rejoins.
killed_at[0] = time.monotonic()
cluster("node-kill", "1")
time.sleep(2)
cluster("node-start", "1")
rejoined = None
for _ in range(100):
    try:
        if req("GET", "/readyz", port=int(env["CLUSTER_NODE1_PORT"]))[0] == 200:
            rejoined = round(time.monotonic() - killed_at[0], 2)
            break
    except OSError:
        pass
    time.sleep(0.1)
time.sleep(2)
running.clear()
for w in workers:
    w.join()
# Every family still works.
for i, token in tokens.items():
    if any(l[0] == i for l in lost):
        continue
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-app"})
    status, _, body = req("POST", "/token", form)
    if status != 200:
        lost.append((i, f"final refresh: {status} {body[:160]}"))

elapsed = time.monotonic() - started
total = sum(answers.values())
by_status = collections.Counter()
for (_, status), n in answers.items():
    by_status[status] += n
by_kind = collections.Counter()
for (kind, _), n in answers.items():
    by_kind[kind] += n
print(f"fault suite ({'short' if SHORT else 'full'}, {OUTAGE} s outages, {FAMILIES} refresh families, "
      f"{MACHINES} machine clients, {SIGNERS} signing in): {total} requests in {elapsed:.0f} s "
      f"({total / elapsed:.0f} req/s); by status {dict(sorted(by_status.items()))}; by kind {dict(sorted(by_kind.items()))}")
print(f"  recovered (every client succeeding again) after Redis returned: {recovered['Redis']} s, "
      f"after PostgreSQL returned: {recovered['PostgreSQL']} s; killed node ready again after {rejoined} s")
print(f"  in flight on the killed node (HAProxy 502/504): {sum(n for (k, s), n in answers.items() if s in (502, 504))}")
print(f"  other answers: {len(others)}; lost families: {len(lost)}")
for o in others[:10]:
    print("   ", o)
for l in lost:
    print("    lost:", l)
ok = not others and not lost and None not in recovered.values() and rejoined is not None
sys.exit(0 if ok else 1)
