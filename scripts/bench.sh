#!/usr/bin/env bash
# `make bench`: installs what the kit needs, builds release binaries, starts PostgreSQL and
# Redis on free loopback ports, runs bench/run.py (full, or --smoke), and stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-deps.sh
# The load generator, the servers it starts and the peer's runtime, as `make test` installs them.
command -v wrk >/dev/null || apt_install wrk
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  apt_install postgresql
fi
command -v redis-server >/dev/null || apt_install redis-server
command -v python3 >/dev/null || apt_install python3
command -v node >/dev/null || apt_install nodejs npm
if [ ! -f bench/peer/node_modules/.installed ] || [ bench/peer/package-lock.json -nt bench/peer/node_modules/.installed ]; then
  timeout 300 npm ci --prefix bench/peer --no-audit --no-fund --loglevel=error --prefer-offline --fetch-timeout=60000 --fetch-retries=3
  touch bench/peer/node_modules/.installed
fi
# The brokered sign-in's upstream is the tests' Entra stand-in (node oidc-provider).
if [ ! -f tests/interop/node_modules/.installed ] || [ tests/interop/package-lock.json -nt tests/interop/node_modules/.installed ]; then
  timeout 300 npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error --prefer-offline --fetch-timeout=60000 --fetch-retries=3
  touch tests/interop/node_modules/.installed
fi
# bench/argon2-impls: every Argon2id implementation, once per build profile (its own workspace).
impls=(cargo build --quiet --manifest-path bench/argon2-impls/Cargo.toml --target-dir target/argon2-impls)
if [ "${1:-}" = "--soak" ]; then
  cargo build --release --quiet --bin lanyard --bin lanyard-ceiling
elif [ "${1:-}" = "--smoke" ]; then
  cargo build --quiet --bin lanyard --bin lanyard-ceiling
  "${impls[@]}" --profile smoke
else
  cargo build --release --quiet --bin lanyard --bin lanyard-ceiling
  "${impls[@]}" --release
  "${impls[@]}" --profile max
  # For reference only (not shippable: tied to this CPU): what runtime detection leaves behind.
  RUSTFLAGS="-C target-cpu=native" cargo build --quiet --manifest-path bench/argon2-impls/Cargo.toml --target-dir target/argon2-impls-native --release
fi
started=0
# Servers another run left behind are used only if their file names both of them.
if [ -f .test-services/env ] && ! { grep -q LANYARD_TEST_REDIS_URL .test-services/env && grep -q LANYARD_TEST_POSTGRES_URL .test-services/env; }; then
  bash scripts/test-services.sh stop
  rm -f .test-services/env
fi
if [ ! -f .test-services/env ]; then
  bash scripts/test-services.sh start
  started=1
  trap 'bash scripts/test-services.sh stop' EXIT
fi
python3 bench/run.py "$@"
