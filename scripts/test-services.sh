#!/usr/bin/env bash
# Starts (or stops) the real servers the tests need, on free loopback ports, under
# .test-services/. `start` writes .test-services/env with the addresses for the tests.
# Usage: scripts/test-services.sh start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
# LANYARD_SERVICES_DIR lets `make cluster` keep its own servers apart from the tests'.
ROOT="${LANYARD_SERVICES_DIR:-$PWD/.test-services}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  dirname "$(command -v pg_ctl)"
}

start_postgres() {
  local bin port data
  bin="$(pg_bin)"
  port="$(free_port)"
  data="$ROOT/pg"
  rm -rf "$data" && mkdir -p "$data" "$ROOT/pg-sock"
  # PostgreSQL refuses to run as root; run it as the 'postgres' system user when we are root.
  local as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$ROOT" postgres
    chown -R postgres "$ROOT/pg" "$ROOT/pg-sock"
    touch "$ROOT/pg.log" && chown postgres "$ROOT/pg.log"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$data" -U lanyard --auth=trust --no-sync -E UTF8 >"$ROOT/pg-init.log" 2>&1
  echo "$port" >"$ROOT/pg.port"
  run_postgres
  echo "LANYARD_TEST_POSTGRES_URL=postgres://lanyard@127.0.0.1:$port/postgres" >>"$ROOT/env"
  echo "postgres on 127.0.0.1:$port"
}

# Starts the initialised cluster on its port (again, after halt_postgres).
run_postgres() {
  local bin as=()
  bin="$(pg_bin)"
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$ROOT/pg" -l "$ROOT/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $(cat "$ROOT/pg.port") -k $ROOT/pg-sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
}

# What an administrator's shutdown does: sessions are ended (57P01), new connections refused.
halt_postgres() {
  local bin as=()
  bin="$(pg_bin)"
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$ROOT/pg" -m fast -w stop >/dev/null
}

stop_postgres() {
  [ -d "$ROOT/pg" ] || return 0
  local bin as=()
  bin="$(pg_bin)"
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$ROOT/pg" -m immediate -w stop >/dev/null 2>&1 || true
}

start_redis() {
  local port
  port="$(free_port)"
  mkdir -p "$ROOT/redis"
  echo "$port" >"$ROOT/redis/port"
  run_redis
  echo "LANYARD_TEST_REDIS_URL=redis://127.0.0.1:$port/0" >>"$ROOT/env"
  echo "redis on 127.0.0.1:$port"
}

# Starts Redis on its port (again, after halt_redis), from its append-only file.
run_redis() {
  local port
  port="$(cat "$ROOT/redis/port")"
  # The persistence docs/operations.md asks of production: an append-only file, fsync each second.
  redis-server --bind 127.0.0.1 --port "$port" --dir "$ROOT/redis" --save "" --appendonly yes --appendfsync everysec \
    --daemonize yes --pidfile "$ROOT/redis/redis.pid" --logfile "$ROOT/redis/redis.log"
  for _ in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
}

# A clean stop (the append-only file is flushed), as an operator's restart does.
halt_redis() {
  redis-cli -p "$(cat "$ROOT/redis/port")" shutdown >/dev/null 2>&1 || true
}

stop_redis() {
  [ -f "$ROOT/redis/redis.pid" ] || return 0
  kill "$(cat "$ROOT/redis/redis.pid")" 2>/dev/null || true
}

case "${1:-}" in
  start)
    "$0" stop || true
    mkdir -p "$ROOT" && : >"$ROOT/env"
    chmod 755 "$ROOT"
    start_postgres
    start_redis
    ;;
  stop)
    stop_redis
    stop_postgres
    rm -rf "$ROOT"
    ;;
  halt-postgres) halt_postgres ;;
  run-postgres) run_postgres ;;
  halt-redis) halt_redis ;;
  run-redis) run_redis ;;
  *) echo "usage: $0 start|stop|halt-postgres|run-postgres|halt-redis|run-redis" >&2; exit 2 ;;
esac
