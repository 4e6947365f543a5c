#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, in a temporary folder, on a free loopback port.
#
#   scripts/postgres-cluster.sh start DIR   # initdb + start; prints the server URL (postgres://thaw@127.0.0.1:PORT/postgres)
#   scripts/postgres-cluster.sh stop DIR    # stop (fast shutdown) and delete DIR
#
# Runs the server as the unprivileged `postgres` user when called as root (initdb refuses root). Trust
# authentication on 127.0.0.1 only; nothing listens elsewhere. fsync is off unless THAW_PG_FSYNC=on:
# this cluster holds test data only (benchmarks that measure durability turn it on).
set -euo pipefail
bin=${THAW_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?start|stop}
dir=${2:?folder}
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
    [ -x "$bin/initdb" ] || { echo "postgres-cluster: no PostgreSQL server at $bin (apt-get install postgresql)" >&2; exit 1; }
    # DIR (e.g. from mktemp -d) must be reachable by the server's user; its parents usually are.
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chmod 755 "$dir"
        chown postgres:postgres "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U thaw --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    fsync=${THAW_PG_FSYNC:-off}
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "postgres://thaw@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
