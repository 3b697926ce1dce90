#!/bin/bash
# Start and stop a throwaway PostgreSQL for the integration tests: one
# cluster in DIR, listening on 127.0.0.1:PORT only, its unix socket in DIR,
# trust authentication for the role `hmb`, which owns the database `hmb`.
#
#   pg.sh start DIR PORT    initdb on first use, then start (bounded wait)
#   pg.sh stop DIR          pg_ctl -m fast; SIGKILL if that does not work
#   pg.sh status DIR        exit 0 when the server in DIR is running
#
# Starting again a DIR that was stopped keeps its data (a restart).
# Run as root, the server runs as HMB_PG_USER (default postgres), which then
# owns DIR; a parent directory of DIR must be searchable by that user.
# Environment: HMB_PG_BIN (default /usr/lib/postgresql/15/bin),
# HMB_PG_USER, HMB_PG_START_SECONDS (default 30), HMB_PG_FSYNC (default off:
# a throwaway cluster needs no crash safety, and the tests stop it cleanly).

set -u

PG_BIN=${HMB_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=${HMB_PG_USER:-postgres}
START_SECONDS=${HMB_PG_START_SECONDS:-30}
FSYNC=${HMB_PG_FSYNC:-off}

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '6,8p' "$0" | sed 's/^# *//' >&2
    exit 2
}

# Run a command as the cluster's owner: as ourselves unless we are root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

show_log() {
    echo "---- $1/postgres.log (last 30 lines) ----" >&2
    tail -n 30 "$1/postgres.log" >&2 2>/dev/null
    echo "----" >&2
}

postmaster_pid() {
    local f="$1/data/postmaster.pid"
    [ -s "$f" ] && head -n 1 "$f" | tr -dc '0-9'
}

running() {
    as_owner "$PG_BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

cmd_start() {
    local dir="$1" port="$2" i
    case "$port" in
        ''|*[!0-9]*) die "PORT must be a number, got '$port'" ;;
    esac
    [ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb (install postgresql)"
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    # the socket path must fit in sun_path (108 bytes with the NUL)
    if [ $(( ${#dir} + 20 )) -gt 107 ]; then
        die "$dir is too long for a unix socket path; use a shorter DIR"
    fi
    if [ "$(id -u)" = 0 ]; then
        id "$PG_USER" >/dev/null 2>&1 || die "no user $PG_USER"
        chown "$PG_USER:" "$dir" || die "cannot chown $dir to $PG_USER"
        chmod 0700 "$dir"
        runuser -u "$PG_USER" -- test -w "$dir" 2>/dev/null ||
            die "$PG_USER cannot write $dir: a parent directory is not" \
                "searchable by $PG_USER"
    fi
    if running "$dir"; then
        die "a server is already running in $dir; stop it first"
    fi

    local fresh=0
    if [ ! -s "$dir/data/PG_VERSION" ]; then
        fresh=1
        as_owner "$PG_BIN/initdb" -D "$dir/data" -U hmb -A trust -E UTF8 \
            --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        }
    fi
    # -w waits until the server accepts connections, at most -t seconds
    if ! as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
            -w -t "$START_SECONDS" -o "-p $port -k $dir \
            -c listen_addresses=127.0.0.1 -c max_connections=200 \
            -c fsync=$FSYNC -c full_page_writes=$FSYNC \
            -c unix_socket_permissions=0777" \
            start >"$dir/pg_ctl.out" 2>&1; then
        cat "$dir/pg_ctl.out" >&2
        show_log "$dir"
        cmd_stop "$dir" >/dev/null 2>&1
        die "PostgreSQL did not start in $START_SECONDS s"
    fi
    if [ "$fresh" = 1 ]; then
        for ((i = 0; i < 3; i++)); do
            as_owner "$PG_BIN/createdb" -h "$dir" -p "$port" -U hmb -O hmb \
                hmb >>"$dir/initdb.log" 2>&1 && break
            sleep 0.5
        done
        if [ "$i" = 3 ]; then
            cat "$dir/initdb.log" >&2
            cmd_stop "$dir" >/dev/null 2>&1
            die "cannot create database hmb"
        fi
    fi
    echo "pg.sh: PostgreSQL pid $(postmaster_pid "$dir") on 127.0.0.1:$port" \
         "($dir)"
}

cmd_stop() {
    local dir="$1" pid i
    dir=$(cd "$dir" 2>/dev/null && pwd) || die "no directory $1"
    pid=$(postmaster_pid "$dir")
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "pg.sh: no PostgreSQL running in $dir"
        return 0
    fi
    # fast: roll back open transactions, disconnect clients, shut down
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
        >>"$dir/pg_ctl.out" 2>&1
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "pg.sh: PostgreSQL $pid did not stop; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
        # its backends go when the postmaster is gone; give them a moment
        sleep 0.5
        return 1
    fi
    echo "pg.sh: PostgreSQL stopped ($dir)"
}

cmd_status() {
    local dir="$1"
    [ -d "$dir/data" ] || return 1
    running "$dir"
}

[ $# -ge 2 ] || usage
case "$1" in
    start)  [ $# -eq 3 ] || usage; cmd_start "$2" "$3" ;;
    stop)   [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
    status) [ $# -eq 2 ] || usage; cmd_status "$2" ;;
    *)      usage ;;
esac
