#!/usr/bin/env bash
# Start and stop the throwaway PostgreSQL and Redis that the tests and the
# benchmarks use, on loopback ports, with data under $SERVICES_DIR.
#   scripts/services.sh install   apt-get what is missing (needs root)
#   scripts/services.sh start     prints DATABASE_URL=… and REDIS_URL=… lines
#   scripts/services.sh stop
set -euo pipefail

SERVICES_DIR=${SERVICES_DIR:-/tmp/interviewer-services}
PG_PORT=${PG_PORT:-54329}
REDIS_PORT=${REDIS_PORT:-63799}

pg_bin() {
  for dir in /usr/lib/postgresql/*/bin /usr/local/bin /usr/bin; do
    [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

install() {
  local missing=()
  pg_bin >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "Missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root." >&2
      exit 1
    fi
    echo "Installing ${missing[*]} with apt-get…" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

start() {
  local bin; bin=$(pg_bin) || { echo "PostgreSQL binaries not found (run: $0 install)" >&2; exit 1; }
  mkdir -p "$SERVICES_DIR"
  chmod 755 "$SERVICES_DIR"
  local pgdata="$SERVICES_DIR/pg" pglog="$SERVICES_DIR/pg.log"
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; fi
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    mkdir -p "$pgdata"; chmod 700 "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres "$pgdata"
    as_postgres "$bin/initdb -D $pgdata -U postgres --auth=trust -E UTF8 >/dev/null"
  fi
  touch "$pglog"; [ "$(id -u)" = 0 ] && chown postgres "$pglog"
  if ! as_postgres "$bin/pg_ctl -D $pgdata status >/dev/null 2>&1"; then
    as_postgres "$bin/pg_ctl -D $pgdata -l $pglog -w -t 60 -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pgdata -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off' start >/dev/null"
  fi
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
      --logfile "$SERVICES_DIR/redis.log" --pidfile "$SERVICES_DIR/redis.pid" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

stop() {
  local bin; bin=$(pg_bin) || true
  if [ -n "${bin:-}" ] && [ -f "$SERVICES_DIR/pg/PG_VERSION" ]; then
    as_postgres "$bin/pg_ctl -D $SERVICES_DIR/pg -m fast -w stop >/dev/null 2>&1" || true
  fi
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

"$@"
