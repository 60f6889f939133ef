#!/usr/bin/env bash
# Runs the third-party clients (openid-client from npm, authlib from PyPI) against a real
# lanyard started here on a free loopback port.
#   tests/interop/run.sh embedded   SQLite file + in-process sessions (the defaults)
#   tests/interop/run.sh redis-pg   PostgreSQL + Redis from scripts/test-services.sh
# Needs: target/debug/lanyard built, tests/interop/node_modules (npm ci), .venv (pip).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:?usage: run.sh embedded|redis-pg}"
bin="${LANYARD_BIN:-${CARGO_TARGET_DIR:-target}/debug/lanyard}"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export LANYARD_SERVER__LISTEN="127.0.0.1:$port" LANYARD_SERVER__ISSUER="http://127.0.0.1:$port"
export LANYARD_SECRETS__KEY_FILE="$work/lanyard.key" LANYARD_LOG__LEVEL=warn LANYARD_ISSUER="http://127.0.0.1:$port"
# These suites fail codes on purpose; lockout has tests of its own (crates/lanyard-server/tests).
export LANYARD_LOGIN__MAX_FAILURES_PER_ACCOUNT=50
case "$mode" in
  embedded) export LANYARD_DATABASE__URL="sqlite://$work/lanyard.db" ;;
  redis-pg)
    : "${LANYARD_TEST_POSTGRES_URL:?start scripts/test-services.sh first}" "${LANYARD_TEST_REDIS_URL:?}"
    db="interop_$(date +%s%N)"
    psql -q "$LANYARD_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
    export LANYARD_DATABASE__URL="${LANYARD_TEST_POSTGRES_URL%/*}/$db"
    export LANYARD_SESSIONS__STORE=redis LANYARD_SESSIONS__REDIS_URL="$LANYARD_TEST_REDIS_URL" LANYARD_SESSIONS__KEY_PREFIX="interop$port:"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
export LANYARD_BIN="$bin"   # the SAML suites register their SPs with `lanyard saml import`
"$bin" apply config/demo.toml >/dev/null
"$bin" serve >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
ready() {
  local url="$1" log="$2"
  for _ in $(seq 1 100); do
    curl -sf "$url/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "lanyard did not become ready; its log:" >&2
  tail -30 "$log" >&2
  return 1
}
ready "$LANYARD_ISSUER" "$work/serve.log"
status=0
echo "== interop ($mode): openid-client"
node --test tests/interop/node/ || status=1
echo "== interop ($mode): authlib"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/interop/python || status=1
[ "$status" = 0 ] || { echo "--- lanyard log"; tail -50 "$work/serve.log"; }
if [ "$mode" = embedded ]; then
  # Passkeys need a domain, not an IP: the browser suite runs against the same data on
  # http://localhost.
  kill $pid; wait $pid 2>/dev/null || true
  export LANYARD_SERVER__ISSUER="http://localhost:$port" LANYARD_BROWSER_ISSUER="http://localhost:$port"
  "$bin" serve >"$work/serve-browser.log" 2>&1 &
  pid=$!
  ready "http://127.0.0.1:$port" "$work/serve-browser.log"
  echo "== interop ($mode): chromium + playwright (passkeys)"
  node --test tests/interop/browser/ || { status=1; echo "--- lanyard log"; tail -50 "$work/serve-browser.log"; }
fi
exit "$status"
