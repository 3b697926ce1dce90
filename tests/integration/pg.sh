#!/bin/bash
# Start and stop a throwaway PostgreSQL for the integration tests: one
# cluster in DIR, listening on 127.0.0.1:PORT only, its unix socket in DIR,
# trust authentication for the role `hmb`, which owns the database `hmb`.
#
#   pg.sh start DIR PORT    initdb on first use, then start (bounded wait)
#   pg.sh stop DIR          pg_ctl -m fast; SIGKILL if that does not work
#   pg.sh status DIR        exit 0 when the server in DIR is running
#   pg.sh standby DIR PORT PRIMARY_DIR
#                           a hot standby of the running server in
#                           PRIMARY_DIR, made synchronous (see below)
#   pg.sh promote DIR       promote the standby in DIR; returns once it
#                           accepts writes
#   pg.sh kill DIR          SIGKILL the server in DIR and all its processes
#                           at once, as if its machine had died
#
# Starting again a DIR that was stopped keeps its data (a restart).
# `standby` copies the primary with pg_basebackup over 127.0.0.1 (streaming
# replication, application_name hmb_standby), starts the copy, then sets
# the primary's synchronous_standby_names to it and waits until the
# primary reports it as `sync`: from then on a COMMIT on the primary
# returns only once the standby has the transaction (synchronous_commit
# on). The setting is made after the copy, so a promoted standby does not
# wait for a standby of its own.
# Run as root, the server runs as HMB_PG_USER (default postgres), which then
# owns DIR; a parent directory of DIR must be searchable by that user.
# Environment: HMB_PG_BIN (default /usr/lib/postgresql/15/bin),
# HMB_PG_USER, HMB_PG_START_SECONDS (default 30), HMB_PG_FSYNC (default off:
# a throwaway cluster needs no crash safety; even `kill` ends processes
# only, never the kernel's cache).

set -u

PG_BIN=${HMB_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=${HMB_PG_USER:-postgres}
START_SECONDS=${HMB_PG_START_SECONDS:-30}
FSYNC=${HMB_PG_FSYNC:-off}
STANDBY_NAME=hmb_standby

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '6,15p' "$0" | sed 's/^# *//' >&2
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

# Check PORT, create DIR for the server's user; prints DIR's absolute path.
prepare_dir() {
    local dir="$1" port="$2"
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
    echo "$dir"
}

# Start the cluster in DIR/data on PORT, more server options in $3;
# -w waits until the server accepts connections, at most -t seconds.
launch() {
    local dir="$1" port="$2" more="${3:-}"
    if ! as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
            -w -t "$START_SECONDS" -o "-p $port -k $dir \
            -c listen_addresses=127.0.0.1 -c max_connections=200 \
            -c fsync=$FSYNC -c full_page_writes=$FSYNC \
            -c unix_socket_permissions=0777 $more" \
            start >"$dir/pg_ctl.out" 2>&1; then
        cat "$dir/pg_ctl.out" >&2
        show_log "$dir"
        cmd_stop "$dir" >/dev/null 2>&1
        die "PostgreSQL did not start in $START_SECONDS s"
    fi
}

# One value from the server in DIR (its unix socket), as the role hmb.
sql_value() {
    as_owner "$PG_BIN/psql" -X -q -A -t -h "$1" -p "$(pid_line "$1" 4)" \
        -U hmb -d hmb -c "$2" 2>>"$1/psql.err"
}

# Line N of DIR's postmaster.pid (4: the port, 7: the shared memory key
# and id), without surrounding blanks.
pid_line() {
    sed -n "${2}p" "$1/data/postmaster.pid" 2>/dev/null | tr -s ' ' |
        sed 's/^ //; s/ $//'
}

cmd_start() {
    local dir port="$2" i
    dir=$(prepare_dir "$1" "$port") || exit 1

    local fresh=0
    if [ ! -s "$dir/data/PG_VERSION" ]; then
        fresh=1
        as_owner "$PG_BIN/initdb" -D "$dir/data" -U hmb -A trust -E UTF8 \
            --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        }
    fi
    launch "$dir" "$port"
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

cmd_standby() {
    local dir port="$2" primary pport state i
    primary=$(cd "$3" 2>/dev/null && pwd) || die "no directory $3"
    running "$primary" || die "no server running in $primary"
    pport=$(pid_line "$primary" 4)
    dir=$(prepare_dir "$1" "$port") || exit 1

    if [ ! -s "$dir/data/PG_VERSION" ]; then
        # -R writes standby.signal and primary_conninfo (over 127.0.0.1,
        # as a standby on another machine would connect); -X stream
        # brings the WAL written during the copy
        as_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$pport" -U hmb \
            -D "$dir/data" -R -X stream -c fast --no-sync \
            >"$dir/basebackup.log" 2>&1 || {
            cat "$dir/basebackup.log" >&2
            die "pg_basebackup from 127.0.0.1:$pport failed"
        }
    fi
    # the walreceiver's application_name is the cluster_name
    launch "$dir" "$port" "-c cluster_name=$STANDBY_NAME"
    sql_value "$primary" "ALTER SYSTEM SET synchronous_standby_names = \
        '$STANDBY_NAME'" >/dev/null &&
    sql_value "$primary" "SELECT pg_reload_conf()" >/dev/null ||
        die "cannot set synchronous_standby_names on the primary"
    for ((i = 0; i < START_SECONDS * 10; i++)); do
        state=$(sql_value "$primary" "SELECT sync_state FROM \
            pg_stat_replication WHERE application_name = '$STANDBY_NAME'")
        [ "$state" = sync ] && break
        sleep 0.1
    done
    if [ "$state" != sync ]; then
        show_log "$dir"
        die "the primary does not see $dir as its synchronous standby" \
            "(state '$state')"
    fi
    echo "pg.sh: PostgreSQL standby pid $(postmaster_pid "$dir") on" \
         "127.0.0.1:$port, synchronous to 127.0.0.1:$pport ($dir)"
}

cmd_promote() {
    local dir ro
    dir=$(cd "$1" 2>/dev/null && pwd) || die "no directory $1"
    running "$dir" || die "no server running in $dir"
    # -w: until the server has left recovery, at most -t seconds
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -w -t "$START_SECONDS" \
        promote >>"$dir/pg_ctl.out" 2>&1 || {
        cat "$dir/pg_ctl.out" >&2
        show_log "$dir"
        die "pg_ctl promote failed"
    }
    ro=$(sql_value "$dir" "SELECT pg_is_in_recovery()")
    [ "$ro" = f ] || die "$dir still in recovery after promote ('$ro')"
    echo "pg.sh: PostgreSQL in $dir promoted: it accepts writes"
}

# 0 when one of the pids is a process that has not died yet (a zombie
# waiting for its parent has); one ps for all of them.
any_alive() {
    local list
    list=$(echo "$@" | tr ' ' ,)
    ps -o stat= -p "$list" 2>/dev/null | grep -qv '^[ZX]'
}

# The postmaster and every process it started: stopped first, so that
# none of them answers a client or the standby any more, then killed,
# like a machine that lost power (the kernel's cache stays: fsync=off is
# no risk here). The System V segment PostgreSQL leaves is removed.
cmd_kill() {
    local dir pid kids shm i
    dir=$(cd "$1" 2>/dev/null && pwd) || die "no directory $1"
    pid=$(postmaster_pid "$dir")
    if [ -z "$pid" ] || ! any_alive "$pid"; then
        die "no PostgreSQL running in $dir"
    fi
    shm=$(pid_line "$dir" 7)
    kill -STOP "$pid"
    kids=$(pgrep -P "$pid")
    kill -STOP $kids 2>/dev/null
    kill -KILL "$pid" $kids 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        any_alive "$pid" $kids || break
        sleep 0.1
    done
    if any_alive "$pid" $kids; then
        die "processes of $pid still there after SIGKILL"
    fi
    shm=${shm##* }
    if [ -n "$shm" ] && [ "$shm" != 0 ]; then
        ipcrm -m "$shm" 2>/dev/null
    fi
    echo "pg.sh: PostgreSQL $pid and its $(echo $kids | wc -w) processes" \
         "killed ($dir)"
}

cmd_stop() {
    local dir="$1" pid i
    dir=$(cd "$dir" 2>/dev/null && pwd) || die "no directory $1"
    pid=$(postmaster_pid "$dir")
    if [ -z "$pid" ] || ! any_alive "$pid"; then
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
    # a killed postmaster may linger as a zombie, which pg_ctl counts
    running "$dir" && any_alive "$(postmaster_pid "$dir")"
}

[ $# -ge 2 ] || usage
case "$1" in
    start)   [ $# -eq 3 ] || usage; cmd_start "$2" "$3" ;;
    stop)    [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
    status)  [ $# -eq 2 ] || usage; cmd_status "$2" ;;
    standby) [ $# -eq 4 ] || usage; cmd_standby "$2" "$3" "$4" ;;
    promote) [ $# -eq 2 ] || usage; cmd_promote "$2" ;;
    kill)    [ $# -eq 2 ] || usage; cmd_kill "$2" ;;
    *)      usage ;;
esac
