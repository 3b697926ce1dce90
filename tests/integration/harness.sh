#!/bin/bash
# Start and stop Debian's apache2 with a generated configuration, for the
# integration tests and the demo.  Everything lives in RUNDIR; only
# 127.0.0.1 is listened on; every wait is bounded.
#
#   harness.sh start RUNDIR PORT [EXTRA_CONF_FILE]
#   harness.sh stop RUNDIR
#   harness.sh graceful RUNDIR
#   harness.sh check-log RUNDIR     error-log lines at level error or worse
#   harness.sh check-sanitizers RUNDIR   sanitizer reports (exit 1 if any)
#   harness.sh configtest RUNDIR CONF    apache2 -t on CONF
#
# The generated RUNDIR/httpd.conf defines HMB_RUNDIR and HMB_PORT, so the
# extra file can say e.g. DBDParams "${HMB_RUNDIR}/ledger/ledger.db".
# Environment: HMB_APACHE2 (default /usr/sbin/apache2), HMB_APACHE_MODULES
# (default /usr/lib/apache2/modules), HMB_HTTPD_USER (default www-data, used
# only when run as root), HMB_START_SECONDS (default 10), and
# HMB_HTTPD_PRELOAD: a sanitizer runtime (gcc's libasan.so) that a module in
# the configuration was built with. Debian's apache2 is not, so the runtime
# is preloaded into every apache2 run here; ASan and UBSan then write their
# reports to RUNDIR/sanitizer/, and `stop` fails (status 3) when it finds
# any there or in the error log.

set -u

APACHE2=${HMB_APACHE2:-/usr/sbin/apache2}
MODDIR=${HMB_APACHE_MODULES:-/usr/lib/apache2/modules}
RUN_USER=${HMB_HTTPD_USER:-www-data}
START_SECONDS=${HMB_START_SECONDS:-10}
PRELOAD=${HMB_HTTPD_PRELOAD:-}

die() {
    echo "harness.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '6,12p' "$0" | sed 's/^# *//' >&2
    exit 2
}

# Debian's apache2ctl sources /etc/apache2/envvars; we call the binary
# directly with a complete configuration, so none of that may leak in.
clean_env() {
    local v
    for v in $(compgen -e | grep '^APACHE_'); do
        unset "$v"
    done
    export LANG=C
}

# run_apache2 RUNDIR ARGS...: Debian's apache2 with ARGS, and with the
# sanitizer runtime first in it when there is one. Leaks are not looked for: httpd
# leaves its pools to the exit. The children, as $RUN_USER, write their
# reports into RUNDIR/sanitizer (prepare_dirs makes it theirs).
run_apache2() {
    local rundir="$1"
    shift
    if [ -z "$PRELOAD" ]; then
        "$APACHE2" "$@"
        return
    fi
    LD_PRELOAD="$PRELOAD" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$rundir/sanitizer/asan" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$rundir/sanitizer/ubsan" \
        "$APACHE2" "$@"
}

# What a sanitizer said while httpd ran in RUNDIR, on stdout; 0 when it said
# anything. A report goes to RUNDIR/sanitizer/asan.PID (or ubsan.PID), or,
# from a process that could not open that, to its stderr: the error log.
sanitizer_reports() {
    local rundir="$1" f found=1
    for f in "$rundir"/sanitizer/*; do
        [ -s "$f" ] || continue
        echo "---- $f ----"
        head -n 80 "$f"
        found=0
    done
    if grep -h -E 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer|: runtime error: |ASan runtime does not come first' \
            "$rundir/logs/error_log" "$rundir/logs/start.out" 2>/dev/null
    then
        found=0
    fi
    return $found
}

# 0 when something accepts connections on 127.0.0.1:$1.
port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# 0 when an HTTP server on 127.0.0.1:$1 answers a request within 2 s.  A bare
# connect is not enough: the parent holds the listening socket while no
# child is serving yet (at start and during a graceful restart).
http_answers() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        case "$line" in HTTP/1.*) exit 0 ;; esac
        exit 1
    ) 2>/dev/null
}

pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

read_pid() {
    local f="$1/run/httpd.pid"
    [ -s "$f" ] && tr -dc '0-9' < "$f"
}

# Children of the httpd parent (all MPM processes).
children_of() {
    local pid="$1" p stat
    for p in /proc/[0-9]*; do
        stat=$(cat "$p/stat" 2>/dev/null) || continue
        # field 4 is the parent pid; the name in field 2 may hold spaces
        stat=${stat##*) }
        set -- $stat
        [ "${2:-}" = "$pid" ] && echo "${p#/proc/}"
    done
}

show_error_log() {
    local rundir="$1"
    echo "---- $rundir/logs/error_log (last 40 lines) ----" >&2
    tail -n 40 "$rundir/logs/error_log" >&2 2>/dev/null
    if [ -s "$rundir/logs/start.out" ]; then
        echo "---- apache2 start output ----" >&2
        cat "$rundir/logs/start.out" >&2
    fi
    echo "----" >&2
}

# LoadModule lines for what this apache2 does not have compiled in.
load_modules() {
    local builtin m
    builtin=$("$APACHE2" -l 2>/dev/null) || die "cannot run $APACHE2 -l"
    for m in mpm_event unixd authz_core authz_host log_config mime proxy \
             proxy_http dbd status; do
        if ! grep -q "mod_$m\.c" <<<"$builtin"; then
            [ -f "$MODDIR/mod_$m.so" ] || die "no $MODDIR/mod_$m.so"
            echo "LoadModule ${m}_module \"$MODDIR/mod_$m.so\""
        fi
    done
}

write_conf() {
    local rundir="$1" port="$2" extra="$3" user_lines=""
    if [ "$(id -u)" = 0 ]; then
        user_lines="User $RUN_USER
Group $(id -gn "$RUN_USER")"
    fi
    local mime_types=/etc/mime.types
    if [ ! -r "$mime_types" ]; then
        mime_types="$rundir/mime.types"
        : > "$mime_types"
    fi
    cat > "$rundir/httpd.conf" <<EOF
# Generated by tests/integration/harness.sh; overwritten at each start.
Define HMB_RUNDIR "$rundir"
Define HMB_PORT $port
ServerRoot "$rundir"
ServerName 127.0.0.1:$port
Listen 127.0.0.1:$port
PidFile "$rundir/run/httpd.pid"
DefaultRuntimeDir "$rundir/run"
Mutex "file:$rundir/run" default
ErrorLog "$rundir/logs/error_log"
LogLevel warn
$(load_modules)
$user_lines

<IfModule mpm_event_module>
    StartServers            2
    ServerLimit             4
    ThreadLimit             16
    ThreadsPerChild         16
    MaxRequestWorkers       64
    MinSpareThreads         16
    MaxSpareThreads         64
    MaxConnectionsPerChild  0
</IfModule>
KeepAlive On
MaxKeepAliveRequests 1000
KeepAliveTimeout 5
Timeout 30

TypesConfig "$mime_types"
LogFormat "%h %t \"%r\" %>s %b %D stas=%{HUIMINBAO_STAS}e pay=%{HUIMINBAO_PAY}e" hmb
CustomLog "$rundir/logs/access_log" hmb

DocumentRoot "$rundir/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$rundir/htdocs">
    Require all granted
</Directory>

ExtendedStatus On
<Location "/server-status">
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
EOF
    if [ -n "$extra" ]; then
        echo "Include \"$extra\"" >> "$rundir/httpd.conf"
    fi
}

# As root, httpd's children run as $RUN_USER: the ledger and spool (and the
# run directory itself, for files the module may create) must be theirs.
prepare_dirs() {
    local rundir="$1"
    local dirs=("$rundir/ledger" "$rundir/spool")
    [ -z "$PRELOAD" ] || dirs+=("$rundir/sanitizer")
    mkdir -p "$rundir/run" "$rundir/logs" "$rundir/htdocs" "${dirs[@]}" ||
        die "cannot create $rundir"
    if [ "$(id -u)" = 0 ]; then
        id "$RUN_USER" >/dev/null 2>&1 || die "no user $RUN_USER"
        chown "$RUN_USER:" "$rundir" "${dirs[@]}" ||
            die "cannot chown $rundir to $RUN_USER"
        chmod 0755 "$rundir"
        chmod 0770 "${dirs[@]}"
        # mkdtemp's 0700 or a private parent would hide RUNDIR from the
        # children; say so now rather than as a puzzling runtime error.
        if ! runuser -u "$RUN_USER" -- test -w "$rundir/ledger" 2>/dev/null
        then
            die "$RUN_USER cannot write $rundir/ledger: a parent directory" \
                "of $rundir is not searchable by $RUN_USER"
        fi
    fi
}

cmd_start() {
    local rundir="$1" port="$2" extra="${3:-}" pid i
    case "$port" in
        ''|*[!0-9]*) die "PORT must be a number, got '$port'" ;;
    esac
    [ -x "$APACHE2" ] || die "no executable $APACHE2"
    if [ -n "$extra" ]; then
        [ -r "$extra" ] || die "cannot read $extra"
        extra=$(cd "$(dirname "$extra")" && pwd)/$(basename "$extra")
    fi
    mkdir -p "$rundir" || die "cannot create $rundir"
    rundir=$(cd "$rundir" && pwd)
    pid=$(read_pid "$rundir")
    if pid_alive "$pid"; then
        die "httpd already running in $rundir (pid $pid); stop it first"
    fi
    rm -f "$rundir/run/httpd.pid"
    if port_answers "$port"; then
        die "port $port on 127.0.0.1 is already in use"
    fi
    prepare_dirs "$rundir"
    write_conf "$rundir" "$port" "$extra"

    clean_env
    if ! run_apache2 "$rundir" -d "$rundir" -f "$rundir/httpd.conf" -k start \
            </dev/null >"$rundir/logs/start.out" 2>&1; then
        echo "harness.sh: apache2 refused to start" >&2
        show_error_log "$rundir"
        exit 1
    fi
    for ((i = 0; i < START_SECONDS * 10; i++)); do
        pid=$(read_pid "$rundir")
        if pid_alive "$pid" && http_answers "$port"; then
            echo "harness.sh: httpd pid $pid on 127.0.0.1:$port ($rundir)"
            return 0
        fi
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            break       # started, then died: no point waiting
        fi
        sleep 0.1
    done
    echo "harness.sh: httpd did not answer on 127.0.0.1:$port" >&2
    show_error_log "$rundir"
    cmd_stop "$rundir" >/dev/null 2>&1
    exit 1
}

# Stop httpd, then fail (status 3) on any sanitizer report of its run.
cmd_stop() {
    local rundir
    rundir=$(cd "$1" 2>/dev/null && pwd) || die "no directory $1"
    stop_httpd "$rundir" || return
    if sanitizer_reports "$rundir" >&2; then
        echo "harness.sh: sanitizer reports in $rundir (above)" >&2
        return 3
    fi
}

stop_httpd() {
    local rundir="$1" pid kids k i left
    pid=$(read_pid "$rundir")
    if ! pid_alive "$pid"; then
        echo "harness.sh: no httpd running in $rundir"
        return 0
    fi
    kids=$(children_of "$pid")
    clean_env
    # -k stop is SIGTERM to the parent, which then ends its children
    run_apache2 "$rundir" -d "$rundir" -f "$rundir/httpd.conf" -k stop \
        </dev/null >>"$rundir/logs/start.out" 2>&1 || kill -TERM "$pid"
    # 30 s: children built with the sanitizers, on a loaded machine, can
    # take many seconds to end
    for ((i = 0; i < 300; i++)); do
        left=""
        for k in $pid $kids; do
            pid_alive "$k" && left="$left $k"
        done
        [ -z "$left" ] && break
        sleep 0.1
    done
    if [ -n "$left" ]; then
        echo "harness.sh: httpd did not stop in 30 s; killing$left" >&2
        kill -KILL $left 2>/dev/null
        sleep 0.2
        return 1
    fi
    echo "harness.sh: httpd stopped ($rundir)"
}

cmd_graceful() {
    local rundir="$1" pid before after i port
    rundir=$(cd "$rundir" 2>/dev/null && pwd) || die "no directory $1"
    pid=$(read_pid "$rundir")
    pid_alive "$pid" || die "no httpd running in $rundir"
    port=$(sed -n 's/^Define HMB_PORT //p' "$rundir/httpd.conf")
    # AH00489 ("resuming normal operations") is logged at every (re)start
    before=$(grep -c AH00489 "$rundir/logs/error_log" 2>/dev/null)
    clean_env
    if ! run_apache2 "$rundir" -d "$rundir" -f "$rundir/httpd.conf" \
            -k graceful </dev/null >>"$rundir/logs/start.out" 2>&1; then
        echo "harness.sh: graceful restart refused" >&2
        show_error_log "$rundir"
        exit 1
    fi
    for ((i = 0; i < START_SECONDS * 10; i++)); do
        after=$(grep -c AH00489 "$rundir/logs/error_log" 2>/dev/null)
        if [ "${after:-0}" -gt "${before:-0}" ] && pid_alive "$pid" &&
           http_answers "$port"; then
            echo "harness.sh: httpd restarted gracefully (pid $pid)"
            return 0
        fi
        pid_alive "$pid" || break
        sleep 0.1
    done
    echo "harness.sh: graceful restart did not complete" >&2
    show_error_log "$rundir"
    exit 1
}

cmd_check_log() {
    local rundir="$1" bad=0
    [ -f "$rundir/logs/error_log" ] || die "no $rundir/logs/error_log"
    if grep -E '\[[a-z_0-9]*:(error|crit|alert|emerg)\]' \
            "$rundir/logs/error_log"; then
        bad=1
    fi
    if sanitizer_reports "$rundir"; then
        bad=1
    fi
    return $bad
}

cmd_check_sanitizers() {
    ! sanitizer_reports "$1"
}

# apache2 -t on CONF, in an environment with nothing but PATH and LANG
# (and the sanitizer runtime when there is one).
cmd_configtest() {
    local rundir="$1" conf="$2" v
    (
        for v in $(compgen -e); do
            unset "$v" 2>/dev/null
        done
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C
        run_apache2 "$rundir" -d "$rundir" -f "$conf" -t
    )
}

[ $# -ge 2 ] || usage
case "$1" in
    start)     [ $# -ge 3 ] && [ $# -le 4 ] || usage
               cmd_start "$2" "$3" "${4:-}" ;;
    stop)      [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
    graceful)  [ $# -eq 2 ] || usage; cmd_graceful "$2" ;;
    check-log) [ $# -eq 2 ] || usage; cmd_check_log "$2" ;;
    check-sanitizers)
               [ $# -eq 2 ] || usage; cmd_check_sanitizers "$2" ;;
    configtest)
               [ $# -eq 3 ] || usage; cmd_configtest "$2" "$3" ;;
    *)         usage ;;
esac
