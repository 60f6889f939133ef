#!/usr/bin/env bash
# `make test`: installs what the tests need if missing, starts real servers on free loopback
# ports, runs formatting and lint checks and every test, and stops the servers whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

# Registries can stall; every fetch has a timeout and a few retries, and an install that has
# finished is marked so it is not repeated.
. scripts/build-deps.sh

# PostgreSQL server binaries (initdb, pg_ctl, postgres).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  apt_install postgresql
fi
command -v python3 >/dev/null || apt_install python3
command -v redis-server >/dev/null || apt_install redis-server
command -v psql >/dev/null || apt_install postgresql-client
command -v curl >/dev/null || apt_install curl
command -v node >/dev/null || apt_install nodejs npm
# The browser tests need Debian's Chromium.
command -v chromium >/dev/null || apt_install chromium fonts-dejavu-core
command -v wrk >/dev/null || apt_install wrk
# pysaml2 calls the xmlsec1 program.
command -v xmlsec1 >/dev/null || apt_install xmlsec1
# A real Prometheus server scrapes /metrics in the metrics tests; HAProxy fronts the cluster smoke.
command -v prometheus >/dev/null || apt_install prometheus
command -v haproxy >/dev/null || apt_install haproxy

# Third-party clients for the interoperability tests, into folders of the project.
if [ ! -f tests/interop/node_modules/.installed ] || [ tests/interop/package-lock.json -nt tests/interop/node_modules/.installed ]; then
  retry timeout 300 npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error --prefer-offline --fetch-timeout=60000 --fetch-retries=3
  touch tests/interop/node_modules/.installed
fi
if [ ! -f .venv/.installed ] || [ tests/interop/python/requirements.txt -nt .venv/.installed ]; then
  python3 -m venv .venv
  retry timeout 300 .venv/bin/pip install -q --disable-pip-version-check --timeout 60 --retries 3 -r tests/interop/python/requirements.txt
  touch .venv/.installed
fi

trap 'bash scripts/test-services.sh stop' EXIT
bash scripts/test-services.sh start
set -a
# shellcheck disable=SC1091
. .test-services/env
set +a
export LANYARD_REQUIRE_POSTGRES=1 LANYARD_REQUIRE_REDIS=1

echo "== formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== tests"
log="$(mktemp)"
status=0
# Unit and integration tests of every crate (the crates have no doc-tests).
cargo test --workspace --lib --bins --tests 2>&1 | tee -a "$log" || status=1
# Interoperability: real third-party clients against a running lanyard, both set-ups.
cargo build --quiet --bin lanyard
for mode in embedded redis-pg; do
  bash tests/interop/run.sh "$mode" 2>&1 | tee -a "$log" || status=1
done
# Two nodes behind HAProxy sharing PostgreSQL and Redis; one is killed, the other carries on.
echo "== cluster smoke"
bash scripts/cluster.sh smoke 2>&1 | tee -a "$log" || status=1
# The fault suite, short: Redis and PostgreSQL stopped for 3 s each and a node killed, under load.
echo "== fault suite (short; make faults runs the full one)"
bash scripts/cluster.sh faults --short 2>&1 | tee -a "$log" || status=1
# The benchmark kit, for seconds, so it cannot rot (not a performance gate).
echo "== benchmark smoke"
bash scripts/bench.sh --smoke 2>&1 | tee -a "$log" || status=1
# One closing line over every runner: cargo ("test result: ok. N passed; M failed"),
# node ("# pass N" / "# fail N") and pytest ("N passed, M failed").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^# pass / { p += $3 } /^# fail / { f += $3 }
     /^[0-9]+ (passed|failed)/ {
       for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
