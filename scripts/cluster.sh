#!/usr/bin/env bash
# A local cluster on loopback, laid out as docs/operations.md describes for real hosts:
# PostgreSQL and Redis (with its append-only file), two `lanyard serve` nodes sharing them and one
# key file, and HAProxy in front (health checks on /readyz, X-Forwarded-For to trusted nodes).
#   scripts/cluster.sh start    build (release), start everything, print the addresses
#   scripts/cluster.sh stop     stop everything
#   scripts/cluster.sh smoke    start (debug build), run tests/cluster/smoke.py, stop
# CLUSTER_PORT (default 8090) is HAProxy's port; the nodes take free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-deps.sh
DIR="$PWD/.cluster"
export LANYARD_SERVICES_DIR="$DIR/services"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop() {
  [ -f "$DIR/haproxy.pid" ] && kill "$(cat "$DIR/haproxy.pid")" 2>/dev/null || true
  for n in 1 2; do
    [ -f "$DIR/node$n.pid" ] && kill "$(cat "$DIR/node$n.pid")" 2>/dev/null || true
  done
  sleep 0.5
  [ -d "$LANYARD_SERVICES_DIR" ] && bash scripts/test-services.sh stop || true
  rm -rf "$DIR"
}

# run_node N: node N on its port, with the cluster's settings (again, after a kill).
run_node() {
  (
    set -a
    # shellcheck disable=SC1091
    . "$DIR/lanyard.env"
    set +a
    LANYARD_SERVER__LISTEN="127.0.0.1:$(cat "$DIR/node$1.port")" LANYARD_SERVER__DRAIN_SECS=2 \
      exec "$LANYARD_BIN" serve >>"$DIR/node$1.log" 2>&1
  ) &
  echo $! >"$DIR/node$1.pid"
}

# start BINARY: everything up, addresses in $DIR/env.
start() {
  local bin="$1" lb="${CLUSTER_PORT:-8090}"
  command -v haproxy >/dev/null || apt_install haproxy
  command -v redis-server >/dev/null || apt_install redis-server
  command -v psql >/dev/null || apt_install postgresql-client
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
    apt_install postgresql
  fi
  stop
  mkdir -p "$DIR"
  bash scripts/test-services.sh start >/dev/null
  # shellcheck disable=SC1091
  . "$LANYARD_SERVICES_DIR/env"
  psql -q "$LANYARD_TEST_POSTGRES_URL" -c "CREATE DATABASE lanyard_cluster"
  export LANYARD_DATABASE__URL="${LANYARD_TEST_POSTGRES_URL%/*}/lanyard_cluster"
  export LANYARD_SESSIONS__STORE=redis LANYARD_SESSIONS__REDIS_URL="$LANYARD_TEST_REDIS_URL"
  export LANYARD_SECRETS__KEY_FILE="$DIR/lanyard.key" LANYARD_LOG__FORMAT=json
  export LANYARD_SERVER__ISSUER="http://127.0.0.1:$lb" LANYARD_SERVER__TRUSTED_PROXIES='["127.0.0.1/32"]'
  unset LANYARD_CONFIG
  # One apply, before any node: it makes the key file every node shares, and the keys.
  "$bin" apply config/demo.toml >"$DIR/apply.log" 2>&1
  {
    for v in LANYARD_DATABASE__URL LANYARD_SESSIONS__STORE LANYARD_SESSIONS__REDIS_URL LANYARD_SECRETS__KEY_FILE \
      LANYARD_LOG__FORMAT LANYARD_SERVER__ISSUER; do
      printf '%s=%q\n' "$v" "${!v}"
    done
    printf 'LANYARD_SERVER__TRUSTED_PROXIES=%q\n' "$LANYARD_SERVER__TRUSTED_PROXIES"
    echo "LANYARD_BIN=$bin"
  } >"$DIR/lanyard.env"
  local ports=()
  for n in 1 2; do
    ports+=("$(free_port)")
    echo "${ports[-1]}" >"$DIR/node$n.port"
    run_node "$n"
  done
  cat >"$DIR/haproxy.cfg" <<EOF
global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option forwardfor
  retries 2
  option redispatch
frontend lanyard
  bind 127.0.0.1:$lb
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 1
  server node1 127.0.0.1:${ports[0]} check
  server node2 127.0.0.1:${ports[1]} check
EOF
  haproxy -f "$DIR/haproxy.cfg" -D -p "$DIR/haproxy.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$lb/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  {
    echo "CLUSTER_URL=http://127.0.0.1:$lb"
    echo "CLUSTER_NODE1_PID=$(cat "$DIR/node1.pid")"
    echo "CLUSTER_NODE2_PID=$(cat "$DIR/node2.pid")"
    echo "CLUSTER_NODE1_PORT=${ports[0]}"
    echo "CLUSTER_NODE2_PORT=${ports[1]}"
  } >"$DIR/env"
  echo "cluster: http://127.0.0.1:$lb (HAProxy) -> nodes 127.0.0.1:${ports[0]} and :${ports[1]}"
  echo "  PostgreSQL $LANYARD_DATABASE__URL, Redis $LANYARD_TEST_REDIS_URL; logs in .cluster/"
  echo "  sign in as learner@demo.test / Lanyard-demo-pass-2026; stop with make cluster-stop"
}

case "${1:-}" in
  start)
    cargo build --release --quiet --bin lanyard
    start "$PWD/target/release/lanyard"
    ;;
  stop)
    stop
    ;;
  smoke)
    cargo build --quiet --bin lanyard
    trap stop EXIT
    CLUSTER_PORT="$(free_port)" start "$PWD/target/debug/lanyard"
    python3 tests/cluster/smoke.py "$DIR/env"
    ;;
  faults)
    # The fault suite (tests/cluster/faults.py): `faults` for the full run, `faults --short`
    # for the few-second version `make test` runs.
    shift
    profile=release
    [ "${1:-}" = "--short" ] && profile=debug
    if [ "$profile" = release ]; then cargo build --release --quiet --bin lanyard; else cargo build --quiet --bin lanyard; fi
    trap stop EXIT
    CLUSTER_PORT="$(free_port)" start "$PWD/target/$profile/lanyard"
    python3 tests/cluster/faults.py "$DIR/env" "$@"
    ;;
  # Used by the fault suite while a cluster runs.
  node-kill) kill -9 "$(cat "$DIR/node$2.pid")" ;;
  node-start) run_node "$2" ;;
  halt-redis | run-redis | halt-postgres | run-postgres) bash scripts/test-services.sh "$1" ;;
  *) echo "usage: $0 start|stop|smoke|faults [--short]" >&2; exit 2 ;;
esac
