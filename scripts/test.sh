#!/usr/bin/env bash
# `make test`: installs what the tests need if missing, starts real servers on free loopback
# ports, runs formatting and lint checks and every test, and stops the servers whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "missing packages: $* (run as root or install them yourself)" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" != 0 ] && sudo=sudo
  if [ "$apt_updated" = 0 ]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

# PostgreSQL server binaries (initdb, pg_ctl, postgres).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  apt_install postgresql
fi
command -v python3 >/dev/null || apt_install python3
command -v redis-server >/dev/null || apt_install redis-server
command -v psql >/dev/null || apt_install postgresql-client
command -v curl >/dev/null || apt_install curl
command -v node >/dev/null || apt_install nodejs npm

# Third-party clients for the interoperability tests, into folders of the project.
if [ ! -d tests/interop/node_modules ] || [ tests/interop/package-lock.json -nt tests/interop/node_modules ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi
if [ ! -x .venv/bin/python ] || [ tests/interop/python/requirements.txt -nt .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/interop/python/requirements.txt
  touch .venv/bin/python
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
# One closing line over every runner: cargo ("test result: ok. N passed; M failed"),
# node ("# pass N" / "# fail N") and pytest ("N passed, M failed").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^# pass / { p += $3 } /^# fail / { f += $3 }
     /^[0-9]+ (passed|failed)/ {
       for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
