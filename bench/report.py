#!/usr/bin/env python3
"""Writes docs/benchmarks.md and docs/images/benchmarks.svg from bench/results/latest.json.

An argument names another directory to read and write under (the smoke run's scratch copy)."""
import json, math, os, sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
R = json.load(open(os.path.join(ROOT, "bench", "results", "latest.json")))
# `make soak`'s long run, kept beside the full run's figures when it has been made.
try:
    LONG_SOAK = json.load(open(os.path.join(ROOT, "bench", "results", "soak.json")))
except (OSError, ValueError):
    LONG_SOAK = None


def row(setup, name):
    src = R["peer"] if setup == "peer" else R["lanyard"][setup]
    return next((w for w in src["workloads"] if w["workload"] == name), None)


def val(setup, name, key="ops_per_cpu_s"):
    r = row(setup, name)
    return r[key] if r else None


def fmt(v, digits=0):
    return "—" if v is None else f"{v:,.{digits}f}"


def ratio(a, b):
    return "—" if not a or not b else f"{a / b:.2f}×"


SIGNIN = "full sign-in"  # as bench/run.py names it
BROKERED = "brokered sign-in (OIDC upstream)"
NAMES = ["client_credentials RS256", "client_credentials ES256", "client_credentials EdDSA", "refresh_token",
         SIGNIN, BROKERED, "introspection", "jwks", "discovery",
         "admin: people, first page", "admin: people, filtered", "admin: people, deep cursor", "admin: update a person"]
CEIL = {"client_credentials RS256": "sign_RS256", "client_credentials ES256": "sign_ES256",
        "client_credentials EdDSA": "sign_EdDSA", SIGNIN: "argon2id_verify"}


def argon2_ceiling(setup):
    """The Argon2id ceiling measured beside this set-up's sign-ins."""
    return (row(setup, SIGNIN) or {}).get("argon2_ceiling")


def targets():
    c = R["ceiling"]
    out = []
    def t(text, value, goal, ok, how):
        out.append((text, value, goal, "met" if ok is True else ("**missed**" if ok is False else "not measured yet"), how))
    for s in ("embedded", "redis-pg"):
        v = val(s, "client_credentials RS256")
        share = v / c["sign_RS256"] if v else None
        t(f"client_credentials RS256 vs raw RS256 signatures ({s})", f"{share:.0%}" if share else "—", "≥ 92 %", share >= 0.92 if share else None, "per CPU-second")
    v, p = val("embedded", "client_credentials ES256"), val("peer", "client_credentials ES256")
    t("client_credentials ES256 vs the peer (embedded)", ratio(v, p), "≥ 5×", (v / p >= 5) if v and p else None, "grants per CPU-second")
    p = val("peer", SIGNIN)
    for s in ("embedded", "redis-pg"):
        v = val(s, SIGNIN)
        t(f"full password sign-in vs the peer ({s})", ratio(v, p), "≥ 1.3×", (v / p >= 1.3) if v and p else None, "sign-ins per CPU-second")
    fastest = c.get("argon2id_fastest")
    for s in ("embedded", "redis-pg"):
        v = val(s, SIGNIN)
        share = v / fastest if v and fastest else None
        t(f"full password sign-in vs the fastest Argon2id ceiling ({s})", f"{share:.0%}" if share else "—", "≥ 90 %", share >= 0.9 if share else None,
          "sign-ins per CPU-second ÷ the fastest portable implementation's verifications")
    v = val("redis-pg", "refresh_token")
    t("refresh_token with Redis (RS256)", fmt(v), "≥ 3,000 per CPU-second", v >= 3000 if v else None, "")
    idle = R["lanyard"]["embedded"]["idle_rss_mb"]
    t("idle resident memory (embedded)", f"{idle:.1f} MB", "≤ 25 MB", idle <= 25, "VmRSS after start")
    ready = R["lanyard"]["embedded"]["ready_ms"]
    t("start to first answered /readyz (SQLite)", f"{ready:.0f} ms", "≤ 100 ms", ready <= 100, "process start to HTTP 200")
    sess = R.get("sessions", {})
    per = sess.get("redis_bytes_per_session")
    t(f"Redis memory per SSO session ({sess.get('sessions', 0):,} sessions)", f"{per:,.0f} bytes" if per else "—", "≤ 1 KB", (per <= 1024) if per else None, "used_memory growth, session + per-user index")
    long = LONG_SOAK
    if long:
        t(f"{long['seconds'] // 60}-minute soak at ~80 % of capacity (embedded, `make soak`, {long['date']})",
          f"{long['failed']} failed of {long['requests']:,} at {long['share_of_capacity']:.0%} of capacity", "0 failed, 75-85 %",
          long["failed"] == 0 and 0.75 <= long["share_of_capacity"] <= 0.85, "every answer's body checked")
        grew = long["rss_last_mb"] - long["rss_first_mb"]
        t(f"memory during the {long['seconds'] // 60}-minute soak", f"{long['rss_first_mb']} → {long['rss_last_mb']} MB (highest {long['rss_max_mb']})",
          "flat", grew <= max(2.0, 0.05 * long["rss_first_mb"]), "mean RSS of the first and of the last fifth")
    soak = R["lanyard"]["embedded"].get("soak")
    if soak:
        t(f"{soak['seconds'] // 60}-minute soak at ~80 % of capacity (embedded)",
          f"{soak['failed']} failed of {soak['requests']:,} at {soak['share_of_capacity']:.0%} of capacity", "0 failed, 75-85 %",
          soak["failed"] == 0 and 0.75 <= soak["share_of_capacity"] <= 0.85, "every answer's body checked")
        grew = soak["rss_last_mb"] - soak["rss_first_mb"]
        t("memory during the soak", f"{soak['rss_first_mb']} → {soak['rss_last_mb']} MB", "flat", grew <= max(2.0, 0.05 * soak["rss_first_mb"]),
          "mean RSS of the first and of the last fifth")
    b = R.get("burst")
    if b:
        worst = max(b["during"][n]["p99_ms"] for n in ("jwks", "token"))
        t("JWKS and token p99 while a sign-in burst fills the hashing pool", f"{worst} ms (alone {max(b['alone'][n]['p99_ms'] for n in ('jwks', 'token'))} ms)",
          "low (≤ 10 ms)", worst <= 10, "light paced traffic")
        t("a full hashing queue answers 503 + Retry-After", f"{b['signins']['busy_503']:,} refused, {b['signins']['other_failures']} other failures",
          "refused at once, nothing else fails", b["signins"]["busy_503"] > 0 and b["signins"]["other_failures"] == 0, "64 connections, queue of 16")
    return out


def implementations(c):
    """The table of Argon2id implementations (bench/argon2-impls and the peer's binding)."""
    rows = c.get("implementations") or []
    if not rows:
        return []
    out = ["### Argon2id implementations", "",
           "Every Argon2id a Rust program can use here, verifying the same hash at the same parameters, one thread per",
           "core, each checked against the same reference output first (`bench/argon2-impls`, built once per profile:",
           "`release` is Lanyard's own — thin LTO, 4 codegen units; `max` is fat LTO, 1 codegen unit, `panic = abort`; the",
           "`-C target-cpu=native` build is for reference only, since Lanyard must run on any x86-64). The peer's",
           "`@node-rs/argon2` runs in Node worker threads. Each figure is the median of "
           f"{len((rows[0].get('rounds') or [0]))} interleaved rounds (every row measured once per round, so the machine's drift touches all alike). "
           "The ceiling above is the fastest portable row: "
           f"**{c['argon2id_fastest']:,.1f}**.", "",
           "| Implementation | Build | SIMD | Verifications per CPU-s |", "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r["verify_per_cpu_s"]):
        bold = "**" if r["verify_per_cpu_s"] == c["argon2id_fastest"] and r["portable"] else ""
        out.append(f"| {r['implementation']} | {r['profile']} | {r['backend']} | {bold}{r['verify_per_cpu_s']:,.1f}{bold} |")
    return out + [""]


def svg():
    setups = [("embedded", "Lanyard (SQLite, in-process)", "#1d4ed8"), ("redis-pg", "Lanyard (PostgreSQL + Redis)", "#60a5fa"), ("peer", "node oidc-provider", "#f59e0b")]
    names = [n for n in NAMES if any(val(s, n) for s, _, _ in setups)]
    bar, gap, left, width = 12, 14, 190, 560
    height = 60 + len(names) * (len(setups) * bar + gap)
    top = max(v for n in names for s, _, _ in setups if (v := val(s, n)))
    scale = lambda v: width * math.log10(max(v, 1)) / math.log10(top * 1.2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="10" y="18" font-size="14" font-weight="bold">Operations per CPU-second (log scale), {R["date"]}</text>']
    for i, (_, label, colour) in enumerate(setups):
        parts.append(f'<rect x="{10 + i * 210}" y="28" width="10" height="10" fill="{colour}"/><text x="{24 + i * 210}" y="37">{label}</text>')
    y = 50
    for n in names:
        parts.append(f'<text x="{left - 8}" y="{y + bar * 1.5 + 4}" text-anchor="end">{n}</text>')
        for s, _, colour in setups:
            v = val(s, n)
            if v:
                w = scale(v)
                parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour}"/>')
                parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 3}">{v:,.0f}</text>')
            y += bar
        y += gap
    parts.append("</svg>")
    return "\n".join(parts)


# What profiling found (perf and callgrind on this machine, 2026-11-24), and what was done.
FINDINGS = """## What profiling found

Each target was missed at first; `perf record`, `perf stat` (context switches, page faults) and
sqlx's query log showed why. What was changed, in order:

1. **Client registrations read on every token request** (a query and a JSON parse, ~40 µs of CPU):
   cached for 5 s — ES256 grants per CPU-second doubled.
2. **A new ID token on every refresh** (OIDC Core §12.2 does not ask for one; it capped refreshes at half
   the RS256 ceiling): no longer signed.
3. **A tenant's shared data** (the tenant with its branding and MFA policy, roles, accounts, locations)
   was read for every token, sign-in page and MFA decision: cached for 5 s, through one cache. A person's
   own record is always read fresh, so a suspension takes effect at once.
4. **sqlx pinged every pooled connection before each query** — one more round trip per query, a third of
   the database cost (and with SQLite, a wake-up of its worker thread each time). No ping on SQLite;
   on PostgreSQL only for a connection idle for more than a second (as HikariCP does).
5. **Argon2id memory**: every hash allocated 19 MiB afresh; glibc handed it back and forth, which cost
   ~500 page faults per sign-in and left 534 MB resident after a sign-in run. Hashing now runs on fixed
   threads that each keep their working memory: no page faults, 68 MB resident under sign-in load
   (two hashing threads × 19 MiB plus the rest), and the ceiling uses the same code.
6. **A person was read in five queries** (user, roles, groups, attributes, and an id lookup first at
   sign-in): now two. Sign-in went from 23 queries to 9, a refresh from 5 to 3.
7. **A refresh made four Redis round trips** (the family read twice, compare-and-swap, then history):
   now two — the family once, and one script that swaps and records the old token.
8. **glibc malloc** took about a seventh of a token request's CPU (`_int_malloc`, `_int_free`,
   `malloc_consolidate`): the binary now uses mimalloc (+14 % ES256 grants per CPU-second). Built
   without transparent huge pages, which would add another ~14 % but 7 MB of idle memory, past the
   25 MB target.
9. Found by the burst test: a sign-in refused with 503 because the hashing pool was full still counted
   as an attempt against the account's lockout, so a rush of people could lock themselves out. The
   place in the pool is now taken before the attempt is counted.
10. **Argon2id itself** was half as fast per CPU-second as the peer's: RustCrypto `argon2` 0.5 (and 0.6,
   measured the same) leaves vectorisation to the compiler. The table of implementations above measures
   every candidate side by side; Lanyard now hashes with `argon2-rust`, which picks AVX-512, AVX2 or SSE
   code at run time (the binary still runs on any x86-64), reuses and wipes its arena per hashing thread,
   compares in constant time, and reads and writes the same PHC strings (hashes stored before keep
   verifying, checked against fixed vectors made by the old crate). `@node-rs/argon2` moved to the same
   implementation in its 2.1 release. How much it gains depends on the CPU: on the AVX-512 machine of
   the earlier runs about 2.2× the verifications per CPU-second of `argon2` 0.5 (147 against 67), on an
   AVX2-only one about 1.25× (the table). Build settings matter little: fat LTO with one codegen unit and
   a `target-cpu=native` build stay within the ±10 % that one row varies from round to round.

Where targets are still missed, the cause measured (the figures in these notes come from the AVX-512
machine of the earlier runs; the ratios behave alike on this one):

- **The floor under every request.** On this machine the load generator and the server share two
  cores and talk over loopback. `perf record` of the server during the ES256 run puts about 45 % of its
  CPU in the kernel, most of it inside the `writev` that sends a response: on loopback the sender's
  system call also runs the receiver's TCP input (`tcp_v4_rcv`) and wakes the load generator's thread
  (`sock_def_readable`, an inter-processor interrupt in this virtual machine), and the generator's
  threads then pre-empt the server's (`perf stat`: ~18,500 context switches per second, 95 % of them
  involuntary). A static discovery document — HTTP and this kernel work only — costs about 15 µs of
  server CPU per request. Tried and measured, each within the run-to-run noise: the generator on its
  own core and the server on the other, the generator as `SCHED_BATCH`, fewer generator threads. An
  earlier guess, that tokio's workers park and wake each other, was wrong (about 5 % of the switches
  are voluntary), so a thread-per-core server would not help. In user space nothing stands out any more
  (hyper, routing, timers, allocation and JSON are each ≤ 2 %); the last things removed were two
  `getrandom` system calls per request (request id and token id, now from the thread-local CSPRNG) and a
  per-byte `format!` in the client-secret check (~3 % together).
- **ES256 vs the peer (5×).** A grant costs 28-33 µs of server CPU (30,000-35,000 grants per
  CPU-second over the runs), 12 µs of it the signature. The
  15 µs floor plus the signature alone allow about 37,000 grants per CPU-second — under 5× this
  peer's 7,500-7,900 even if the token endpoint did nothing else. 5× needs the load generator on another machine.
- **RS256 vs its ceiling (92 %).** 92 % of a ~198 µs signature leaves 17 µs for everything else; the
  floor takes 15 µs of it, leaving 2 µs for client authentication, claims, JSON and JWS encoding (they
  take about 7). Measured 89-93 % over the last runs and both set-ups: at the edge, met or
  missed by the run-to-run noise of this shared machine.
- **Sign-in vs the Argon2id ceiling (90 %).** The ceiling hashes without interruption; in the server
  the two hashing threads are pre-empted by the threads answering the other three requests of each
  sign-in and by the load generator on the same two cores (`perf`: ~8 % of the server's CPU in
  scheduling and pre-emption), and those requests, the two RS256 signatures of the code exchange,
  wiping the 19 MiB after each hash and 9 queries are the rest. What that costs depends on the CPU:
  without AVX-512 an RS256 signature costs ~0.8 ms (1,290 per CPU-second), so the two signatures alone
  are ~6 % of a sign-in, and the fastest row of the table is itself the top of a ±10 % spread. The two
  signatures could become one (an opaque access token, or no ID token where the client asks for none),
  but the peer signs both as well, and opaque access tokens would change what every resource server
  sees, so that is left for a per-client option.
""".splitlines()


def main():
    m, s = R["machine"], R["settings"]
    lines = [
        "# Benchmarks", "",
        f"Measured on {R['date']} on this project's machine: {m['cpus']} cores ({m['model']}), {m['memory_gb']} GB, Linux {m['kernel']}.",
        f"Load: {s['load_generator']}, {s['connections']} connections, {s['seconds']} s per workload, client and servers on the same machine.",
        "Regenerate with `make bench`: about 20 minutes from a fresh clone here, the release builds included (5 of them the soak).", "",
        "The headline figure is **operations per CPU-second** of the server process (user + system time from",
        "`/proc/PID/stat`), which does not depend on how many cores the machine has. The *raw ceiling* is the",
        "same primitive measured alone with the same code and key (`bench/ceiling`), one worker per core as the",
        "server runs them: what one CPU-second buys.", "",
        "![Throughput per workload](images/benchmarks.svg)", "",
        "## Targets", "",
        "| Target | Measured | Goal | Verdict |", "|---|---|---|---|",
    ]
    for text, v, goal, verdict, how in targets():
        lines.append(f"| {text}{' (' + how + ')' if how else ''} | {v} | {goal} | {verdict} |")
    c = R["ceiling"]
    lines += ["", "## Raw ceiling (per CPU-second)", "",
              f"RS256 signatures **{c['sign_RS256']:,.0f}** · ES256 **{c['sign_ES256']:,.0f}** · EdDSA **{c['sign_EdDSA']:,.0f}** · "
              f"Lanyard's Argon2id verifications (m = 19 MiB, t = 2, p = 1) **{c['argon2id_verify']:,.1f}** at the start of the run"
              f"; measured again beside each sign-in run (it drifts with the machine's memory bandwidth): "
              f"**{argon2_ceiling('embedded'):,.1f}** (embedded), **{argon2_ceiling('redis-pg'):,.1f}** (Redis + PG); the sign-in's "
              "÷ raw ceiling column uses these, its target the fastest implementation below.", "",
              *implementations(c),
              "## Results", "",
              "| Workload | Lanyard embedded: ops/s · per CPU-s · p50 · p99 | Lanyard Redis + PG: ops/s · per CPU-s · p50 · p99 | oidc-provider: per CPU-s | Lanyard ÷ peer (per CPU-s) | ÷ raw ceiling |",
              "|---|---|---|---|---|---|"]
    for n in NAMES:
        cells = []
        for st in ("embedded", "redis-pg"):
            r = row(st, n)
            cells.append("—" if not r else f"{r['ops_per_s']:,.0f} · **{r['ops_per_cpu_s']:,.0f}** · {r['p50_ms']} ms · {r['p99_ms']} ms")
        p = val("peer", n)
        e = val("embedded", n)
        ceil = argon2_ceiling("embedded") if n == SIGNIN else c.get(CEIL.get(n, ""), None)
        lines.append(f"| {n} | {cells[0]} | {cells[1]} | {fmt(p)} | {ratio(e, p)} | {'—' if not ceil or not e else f'{e / ceil:.0%}'} |")
    prev = R.get("previous")
    if prev:
        lines += ["", f"### Against the previous run ({prev['date']})", "",
                  "Per CPU-second, this run ÷ the run committed before it (a few per cent either way is noise)."
                  + ("" if prev.get("machine") == R["machine"]["model"] else
                     f" **The previous run was on another CPU** ({prev.get('machine') or 'not recorded'}; this one: {R['machine']['model']}):"
                     " absolute figures do not compare, only each run's ratios do."), "",
                  "| Workload | Lanyard embedded | Lanyard Redis + PG | oidc-provider |", "|---|---|---|---|"]
        for n in NAMES:
            cells = [ratio(val(st, n), prev["ops_per_cpu_s"].get(st, {}).get(n)) for st in ("embedded", "redis-pg", "peer")]
            if any(x != "—" for x in cells):
                lines.append(f"| {n} | {' | '.join(cells)} |")
    lines += ["", "## Memory and start-up", "", "| | Lanyard embedded | Lanyard Redis + PG | oidc-provider |", "|---|---|---|---|"]
    for key, label in (("ready_ms", "start to ready (ms)"), ("idle_rss_mb", "idle RSS (MB)"), ("loaded_rss_mb", "RSS under load (MB)")):
        lines.append(f"| {label} | {R['lanyard']['embedded'][key]} | {R['lanyard']['redis-pg'][key]} | {R['peer'][key]} |")
    sess = R.get("sessions", {})
    if sess:
        n = sess["sessions"]
        lines += ["", f"With {n:,} active SSO sessions (each with its per-user index): **{sess.get('redis_bytes_per_session', 0):,.0f} bytes** per",
                  f"session in Redis ({sess.get('redis_bytes_per_session', 0) * n / 2**20:,.0f} MB in all), and **{sess['in_process_bytes_per_session']:,.0f} bytes** per session",
                  f"in the in-process store ({sess['in_process_bytes_per_session'] * n / 2**20:,.0f} MB of resident memory in all). Measured by `bench/ceiling sessions`",
                  "with the same session code the server uses."]
    soak = R["lanyard"]["embedded"].get("soak")
    if soak:
        lines += ["", "## Under load", "",
                  f"**Soak.** The mix an app and its resource servers make (client_credentials RS256, introspection, JWKS,",
                  f"discovery, in turn) on the embedded set-up: unpaced capacity {soak['capacity_per_s']:,}/s; then {soak['seconds']} s with",
                  f"every connection paced, at {soak['rate_per_s']:,}/s ({soak['share_of_capacity']:.0%} of capacity): {soak['requests']:,} requests,",
                  f"**{soak['failed']} failed**, p50 {soak['p50_ms']} ms, p99 {soak['p99_ms']} ms. Resident memory {soak['rss_first_mb']} MB in the first",
                  f"fifth, {soak['rss_last_mb']} MB in the last (highest {soak['rss_max_mb']} MB), sampled every 5 s.", ""]
    b = R.get("burst")
    if b:
        a, d, si = b["alone"], b["during"], b["signins"]
        lines += [f"**Sign-in burst.** A Lanyard with a hashing queue of 16 (one hashing thread per core, {R['machine']['cpus']} here) and {si['connections']} connections",
                  "signing in at once, which keeps the Argon2id pool full. Meanwhile an app fetches the JWKS and asks for tokens",
                  "(two connections each, a request every 5 ms):", "",
                  "| | JWKS p50 · p99 | token p50 · p99 |", "|---|---|---|",
                  f"| alone | {a['jwks']['p50_ms']} · {a['jwks']['p99_ms']} ms | {a['token']['p50_ms']} · {a['token']['p99_ms']} ms |",
                  f"| during the burst | {d['jwks']['p50_ms']} · {d['jwks']['p99_ms']} ms | {d['token']['p50_ms']} · {d['token']['p99_ms']} ms |", "",
                  f"The burst completed {si['completed']:,} sign-ins; {si['busy_503']:,} form posts found the queue full and were refused at",
                  f"once with 503 and `Retry-After` (the connection then waits as asked); {si['other_failures']} other failures. A refused",
                  "sign-in checks no password and does not count towards the account's lockout."]
    lines += ["", "## Notes", "",
              "- CPU is the `lanyard` (or `node`) process only. On the Redis + PostgreSQL set-up the database and", "  Redis servers do part of the work in their own processes, which is not counted; compare that", "  column with the embedded one (where everything is in-process) with this in mind.",
              "- Answers are checked, not only their status: a token answer must carry a token, an introspection",
              "  `\"active\":true`, the JWKS its keys, discovery its issuer; anything else counts as failed.",
              "- Start-up: Lanyard's database and signing keys exist before the clock starts (`lanyard apply`); the",
              "  peer makes its keys and a password hash as it starts, which is part of its 0.5 s.",
              "- The full sign-in workload is the whole browser flow: authorize, sign-in page, form post (Argon2id), code exchange.",
              "  Its latency percentiles are per request; its rate counts completed sign-ins.",
              "- The brokered sign-in is the whole flow through an upstream OpenID Connect provider: authorize, sign-in page,",
              "  its button, the trip to the tests' Entra ID stand-in (node oidc-provider) and back, the upstream ID token's",
              "  checks and the person's update, code exchange. Only Lanyard's CPU counts (the stand-in has its own); no",
              "  Argon2id is involved, and its latency percentiles are per whole flow. The peer has no counterpart.",
              "- refresh_token rotates on every call: each connection keeps presenting the newest token of its own family.",
              "- The peer runs its in-memory adapter; its introspection looks up an opaque token (its JWT access tokens are",
              "  not introspectable), Lanyard's verifies a JWT and checks revocation.",
              "- The peer's sign-in takes 5 requests (its sign-in form hands the result back through a redirect to its",
              "  resume endpoint) and verifies Argon2id with `@node-rs/argon2`, same parameters; its refresh tokens come",
              "  from a sign-in without `openid`, so that, like Lanyard's, a refresh signs no new ID token.",
              "- The admin workloads run last, over the demo tenant with 100,000 people added (half at Leeds, half in",
              "  London), as a provisioning client acting as a Licensee Administrator: the first page of 50, a page",
              "  filtered by role, location subtree and status sorted by name, a page 90 % deep by cursor, and an update",
              "  of a person drawn at random (`If-Match: *`). Every answer must carry its page or person. The peer has no",
              "  admin API of this kind. A substring search (`q=`) scans, not an index: on SQLite about 45 ms for a",
              "  search that matches near the end of the name order of 100,000.",
              ""] + FINDINGS
    os.makedirs(os.path.join(ROOT, "docs", "images"), exist_ok=True)
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    open(path, "w").write("\n".join(lines))
    open(os.path.join(ROOT, "docs", "images", "benchmarks.svg"), "w").write(svg())
    print("wrote", path)


if __name__ == "__main__":
    main()
