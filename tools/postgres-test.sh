#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback for the test suite (used by .ci/run; handy locally too).
#
#   tools/postgres-test.sh start DIR   initdb into DIR (made, must not exist), start the server on a free
#                                      127.0.0.1 port, print its URL (postgresql://ragft:<random>@127.0.0.1:PORT/postgres)
#   tools/postgres-test.sh stop DIR    stop it (fast shutdown) and delete DIR
#
# It finds initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin (Debian's `postgresql` package).
# PostgreSQL refuses to run as root, so as root it runs the server as the `postgres` user (made by
# Debian's package). Password authentication (scram-sha-256) with a random password, loopback only.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
[ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] && { usage; exit 0; }
[ $# -eq 2 ] || { usage >&2; exit 2; }
action=$1 dir=$2

bindir() {
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$found" ] || { echo "postgres-test: no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin; install Debian's postgresql package" >&2; exit 1; }
    echo "$found"
}

as_owner() {  # run a command as the user that owns the cluster
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$action" in
start)
    bin=$(bindir)
    [ ! -e "$dir" ] || { echo "postgres-test: $dir exists; give a new folder" >&2; exit 1; }
    mkdir -p "$dir"
    [ "$(id -u)" != 0 ] || chown postgres: "$dir"
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf '%s\n' "$password" >"$dir.pw"
    [ "$(id -u)" != 0 ] || chown postgres: "$dir.pw"
    as_owner "$bin/initdb" -D "$dir/data" -U ragft --auth=scram-sha-256 --pwfile="$dir.pw" --locale=C.UTF-8 -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir.pw"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=on" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://ragft:$password@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(bindir)
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    usage >&2
    exit 2
    ;;
esac
