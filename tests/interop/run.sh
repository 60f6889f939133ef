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
export LANYARD_LOGIN__MAX_FAILURES_PER_ACCOUNT=50 LANYARD_SERVER__DRAIN_SECS=0
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
# Two upstream identity providers on loopback (node oidc-provider): a multi-tenant Entra ID
# stand-in and a plain provider, connected to the demo tenant for the upstream suite.
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
entra_port="$(free)" plain_port="$(free)" tid=72f988bf-86f1-41af-91ab-2d7cd011db47
upstream() {  # name port plain
  PORT="$2" TID="$tid" PLAIN="$3" REDIRECT_URI="$LANYARD_ISSUER/federation/$1/callback http://localhost:$port/federation/$1/callback" \
    node tests/interop/upstream/entra.mjs >"$work/$1.out" 2>"$work/$1.log" &
}
upstream acme-entra "$entra_port" 0; entra_pid=$!
upstream plain-idp "$plain_port" 1; plain_pid=$!
trap 'kill $entra_pid $plain_pid 2>/dev/null; rm -rf "$work"' EXIT
for f in acme-entra plain-idp; do
  for _ in $(seq 1 100); do grep -q ready "$work/$f.out" 2>/dev/null && break; sleep 0.1; done
done
export LANYARD_ENTRA_PORT="$entra_port"
cat config/demo.toml - >"$work/realm.toml" <<EOF

[[tenant.connection]]
name = "acme-entra"
kind = "oidc"
display_name = "Acme staff (Microsoft)"
issuer = "http://127.0.0.1:$entra_port/{tenantid}/v2.0"
allowed_tenant_ids = ["$tid"]
client_id = "lanyard"
client_secret = "lanyard-upstream-secret"
domains = ["acme.test"]
account = "Acme Ltd"
location = "Demo Training Co > North"
default_roles = ["Student"]
role_map = [{ claim = "groups", value = "b7a3e2c1-0000-4000-8000-00000000a001", role = "Trainer" }]
trust_upstream_mfa = true

[[tenant.connection]]
name = "plain-idp"
kind = "oidc"
display_name = "Plain IdP"
issuer = "http://127.0.0.1:$plain_port"
client_id = "lanyard"
client_secret = "lanyard-upstream-secret"
domains = ["plain.test"]
default_roles = ["Student"]

# A provisioning client for the admin API suite (schemathesis).
[[tenant.client]]
client_id = "interop-admin"
type = "confidential"
secret = "interop-admin-secret-0123456789"
grant_types = ["client_credentials"]
scopes = ["admin"]
admin_roles = ["Licensee Administrator"]
EOF
"$bin" apply "$work/realm.toml" >/dev/null
"$bin" serve >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid $entra_pid $plain_pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
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
