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
# Unit and integration tests of every crate (the crates have no doc-tests).
cargo test --workspace --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
