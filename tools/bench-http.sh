#!/bin/bash
# bench-http.sh BUILD_DIR: mod_huiminbao through Debian's apache2 and
# mod_proxy in front of hmb-sandbox (a fast loopback settlement server),
# loaded by wrk on 127.0.0.1: module Off against On, for pre-settlements
# (2303) and settlements (2304), on an SQLite and on a PostgreSQL ledger,
# side by side in one run; then settlements from 32 clients over two httpd
# sharing one PostgreSQL; then the peak memory an in-flight request costs,
# against the size of its message. Prints one table (`make bench-http`).
#
# Every settlement has a setl_id of its own, so each is a new claim; after
# each run the status page and the ledger must agree with what wrk counted
# (no deferral, nothing passed untouched, every answered settlement
# recorded), else the run is marked INVALID and the script exits 1.
#
# Environment: HMB_BENCH_SECONDS per run (default 10), HMB_BENCH_CONNS
# (default 16), HMB_BENCH_PERSONS enrolled (default 5000), HMB_BENCH_PG_FSYNC
# (default on: a production PostgreSQL flushes every COMMIT; "off" is what
# the tests use), HMB_BENCH_MEM_LINES (fee lines of the large message,
# default 2400, about 1 MB), HMB_BENCH_SMOKE=1 (a few seconds in all: what
# the test command runs), HMB_KEEP_RUNDIR=1 (keep logs and ledgers).
# Needs wrk, curl, sqlite3, psql (Debian packages), and root or a user that
# may start apache2 and PostgreSQL as the harnesses do.
set -u

build=$(cd "${1:?usage: bench-http.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${HMB_BENCH_SECONDS:-10}
conns=${HMB_BENCH_CONNS:-16}
persons=${HMB_BENCH_PERSONS:-5000}
pg_fsync=${HMB_BENCH_PG_FSYNC:-on}
mem_lines=${HMB_BENCH_MEM_LINES:-2400}
smoke=${HMB_BENCH_SMOKE:-0}
if [ "$smoke" = 1 ]; then
    secs=1
    persons=200
    mem_lines=300
fi
PG_BIN=${HMB_PG_BIN:-/usr/lib/postgresql/15/bin}
harness="$top/tests/integration/harness.sh"
pgsh="$top/tests/integration/pg.sh"
plan="$top/conf/plans/yichun-2024.xml"
lua="$top/tools/bench-http.lua"

for tool in wrk curl sqlite3; do
    command -v "$tool" >/dev/null || { echo "bench-http: no $tool" >&2; exit 2; }
done
[ -x "$build/mod_huiminbao.so" ] && [ -x "$build/hmbctl" ] &&
    [ -x "$build/hmb-sandbox" ] || {
    echo "bench-http: build first (make all check TESTS=)" >&2
    exit 2
}

run=$(mktemp -d /tmp/hmb-bench-XXXXXX)
chmod 755 "$run"
started=()
up_pid=""
invalid=0
cleanup() {
    local d
    for d in "${started[@]}"; do
        "$harness" stop "$d" >/dev/null 2>&1
    done
    [ -z "$up_pid" ] || kill "$up_pid" 2>/dev/null
    [ -d "$run/pg/data" ] && HMB_PG_FSYNC=$pg_fsync "$pgsh" stop "$run/pg" \
        >/dev/null 2>&1
    if [ "${HMB_KEEP_RUNDIR:-0}" = 1 ] || [ "$invalid" != 0 ]; then
        echo "bench-http: run directory kept: $run" >&2
    else
        rm -rf "$run"
    fi
}
trap cleanup EXIT

t_start=$(date +%s.%N)
# elapsed WHAT: a line in the run directory's times.log
elapsed() {
    awk -v t0="$t_start" -v t="$(date +%s.%N)" -v w="$*" \
        'BEGIN { printf "%7.1f s  %s\n", t - t0, w }' >>"$run/times.log"
}

# A loopback port nothing answers on.
free_port() {
    local port
    while :; do
        port=$((40000 + RANDOM % 9000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    echo "$port"
}

# --- the upstream, with a large response for the memory runs -------------
fix="$run/upstream"
mkdir -p "$fix"
cp "$top/tests/fixtures/upstream-load/_template.xml" "$fix/"
big_psn=36099900000000000000
{
    sed -e 's/{{msgid}}/BIGMSG/g' -e "s/{{psn_no[^}]*}}/$big_psn/" \
        -e 's/{{\([a-z_]*\)|\([^}]*\)}}/\2/g' \
        "$top/tests/fixtures/upstream-load/_template.xml" |
        sed -n '/<\/output>/q;p'
    awk -v n="$mem_lines" 'BEGIN { for (i = 1; i <= n; i++) printf \
        "    <feedetail><feedetl_sn>%d</feedetl_sn><med_list_codg>%s" \
        "</med_list_codg><medins_list_codg>H%06d</medins_list_codg>" \
        "<det_item_fee_sumamt>120.00</det_item_fee_sumamt><cnt>1</cnt>" \
        "<pric>120.00</pric><fulamt_ownpay_amt>%s</fulamt_ownpay_amt>" \
        "<overlmt_amt>0.00</overlmt_amt><chrgitm_lv>03</chrgitm_lv>" \
        "<hilist_name>ZhuSheYe-%d</hilist_name></feedetail>\n", i,
        i % 7 ? "XL01CDZ025B002010100421" : "XL01XCP135B002010101832", i,
        i % 3 ? "0.00" : "120.00", i }'
    echo "</output>"
    echo "</response>"
} >"$fix/BIGMSG.xml"
big_bytes=$(stat -c %s "$fix/BIGMSG.xml")
up_port=$(free_port)
"$build/hmb-sandbox" --listen "127.0.0.1:$up_port" \
    --fixtures "$fix" --max-seconds 3600 --threads 512 \
    >"$run/upstream.log" 2>&1 &
up_pid=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$up_port") 2>/dev/null && break
    sleep 0.1
done

# --- enrollments, ledgers and servers ------------------------------------
{
    echo "plan_code,plan_year,psn_no,cover_from,preexisting,person_class,admdvs,payer,premium"
    awk -v n="$persons" 'BEGIN { for (i = 0; i < n; i++) printf \
        "YCHMB,2024,3609990000%010d,2024-01-01,0,,360902,account,69.00\n", i }'
} >"$run/enroll.csv"

hmbctl() {
    elapsed "hmbctl $1 $2"
    "$build/hmbctl" --ledger "$@" >>"$run/hmbctl.log" 2>&1 || {
        echo "bench-http: hmbctl $*: see $run/hmbctl.log" >&2
        tail -5 "$run/hmbctl.log" >&2
        exit 1
    }
}

# start_httpd NAME DBD_LINES [MORE_CONF]
start_httpd() {
    local name=$1 d="$run/$1" port
    mkdir -p "$d/ledger" "$d/spool"
    [ "$(id -u)" != 0 ] || chown www-data: "$d" "$d/ledger" "$d/spool"
    cat >"$d/bench.conf" <<EOF
LoadModule huiminbao_module "$build/mod_huiminbao.so"
LogLevel warn
HuiminbaoPlan "$plan"
HuiminbaoSpool "\${HMB_RUNDIR}/spool"
$2
DBDMax 16
# every child started before the runs and kept between them: a child
# the MPM retires between two runs resets its keep-alive connections
<IfModule mpm_event_module>
    StartServers 4
    MinSpareThreads 64
    MaxSpareThreads 64
</IfModule>
${3:-}
<Location "/off">
    ProxyPass "http://127.0.0.1:$up_port/fsi/api"
</Location>
<Location "/on">
    ProxyPass "http://127.0.0.1:$up_port/fsi/api"
    Huiminbao On
</Location>
<Location "/huiminbao-status">
    SetHandler huiminbao-status
    Require ip 127.0.0.1
</Location>
EOF
    elapsed "start httpd $name"
    for _ in 1 2 3; do
        port=$(free_port)
        if "$harness" start "$d" "$port" "$d/bench.conf" \
                >"$d/harness.out" 2>&1; then
            started+=("$d")
            echo "$port" >"$d/port"
            return 0
        fi
    done
    cat "$d/harness.out" >&2
    exit 1
}

sqlite_db="$run/sqlite/ledger/ledger.db"
mkdir -p "$run/sqlite/ledger"
[ "$(id -u)" != 0 ] || chown www-data: "$run/sqlite" "$run/sqlite/ledger"
hmbctl "sqlite3:$sqlite_db" enroll --plan "$plan" "$run/enroll.csv"
# an SQLite ledger's settlements commit in groups formed within a child:
# one child with every thread, as docs/operations.md recommends
start_httpd sqlite "DBDriver sqlite3
DBDParams \"\${HMB_RUNDIR}/ledger/ledger.db\"" "<IfModule mpm_event_module>
    ServerLimit 1
    StartServers 1
    ThreadLimit 64
    ThreadsPerChild 64
    MaxRequestWorkers 64
</IfModule>"

pg_port=$(free_port)
elapsed "start PostgreSQL"
HMB_PG_FSYNC=$pg_fsync "$pgsh" start "$run/pg" "$pg_port" \
    >"$run/pg.out" 2>&1 || { cat "$run/pg.out" >&2; exit 1; }
pg_conn="host=127.0.0.1 port=$pg_port dbname=hmb user=hmb"
hmbctl "pgsql:$pg_conn" enroll --plan "$plan" "$run/enroll.csv"
start_httpd pg1 "DBDriver pgsql
DBDParams \"$pg_conn\""
start_httpd pg2 "DBDriver pgsql
DBDParams \"$pg_conn\""

# --- measuring ------------------------------------------------------------
port_of() { cat "$run/$1/port"; }

claims() {
    case $1 in
        sqlite) sqlite3 "$sqlite_db" "SELECT COUNT(*) FROM hmb_claim" ;;
        *) "$PG_BIN/psql" -X -qAt -h 127.0.0.1 -p "$pg_port" -U hmb -d hmb \
               -c "SELECT COUNT(*) FROM hmb_claim" ;;
    esac
}

# the counters that check reads, as KEY=N words, and the ledger's claims
snapshot() {
    curl -s "http://127.0.0.1:$(port_of "$1")/huiminbao-status?auto" |
        sed -n 's/^\(StasPaid\|StasPresettled\|StasIneligible\|StasDeferred\|Passed\|Failures\): \([0-9]*\)$/\1=\2/p' |
        tr '\n' ' '
    printf 'claims=%s\n' "$(claims "$1")"
}

# value KEY LINE: the number after KEY= in LINE
value() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }

# wrk_run NAME PATH INFNO CONNS THREADS TAG -> the HMBBENCH line; TAG
# makes the run's ids its own
wrk_run() {
    local name=$1 path=$2 infno=$3 c=$4 t=$5 tag=$6
    elapsed "wrk $name $path $infno"
    wrk -t"$t" -c"$c" -d"${secs}s" --timeout 10s -s "$lua" \
        "http://127.0.0.1:$(port_of "$name")$path" -- "$infno" "$tag" \
        "$persons" 2>&1 | tee -a "$run/wrk.log" | grep '^HMBBENCH'
}

# check KIND BEFORE AFTER REQUESTS NON2XX ERRORS CONNS [CLAIMS]: "ok" or
# why not; CLAIMS: the claims recorded meanwhile, when not those of the
# snapshots (two servers on one ledger)
check() {
    local kind=$1 b=$2 a=$3 n=$4 non2xx=$5 errs=$6 c=$7 why=""
    local recorded=$(( $(value claims "$3") - $(value claims "$2") ))
    [ -z "${8:-}" ] || recorded=$8
    d() { echo $(( $(value "$1" "$a") - $(value "$1" "$b") )); }
    [ "$non2xx" = 0 ] || why="$why non-2xx=$non2xx"
    [ "$errs" = 0 ] || why="$why socket-errors=$errs"
    [ "$(d StasDeferred)" = 0 ] || why="$why deferred=$(d StasDeferred)"
    [ "$(d Passed)" = 0 ] || why="$why passed=$(d Passed)"
    [ "$(d Failures)" = 0 ] || why="$why failures=$(d Failures)"
    case $kind in
        pre)
            [ "$(d StasPresettled)" -ge "$n" ] ||
                why="$why presettled=$(d StasPresettled)<$n" ;;
        settle)
            # wrk counts what was answered; a request cut at the end may
            # still have been recorded
            local got
            got=$(( $(d StasPaid) + $(d StasIneligible) ))
            [ "$got" -ge "$n" ] && [ "$got" -le $((n + c)) ] ||
                why="$why settled=$got-for-$n"
            [ "$recorded" = "$got" ] ||
                why="$why claims=$recorded-for-$got" ;;
    esac
    if [ -n "$why" ]; then
        echo "INVALID:$why"
    else
        echo ok
    fi
}

# cpu_snap: CPU time so far, in clock ticks, of apache2, PostgreSQL and
# the upstream (every process of each name, living ones: all of them run
# for the whole bench), and of the whole machine (wrk included)
cpu_snap() {
    {
        awk '/^cpu / { print "all", $2 + $3 + $4 + $7 + $8 }' /proc/stat
        cat /proc/[0-9]*/stat 2>/dev/null | awk '{
            o = index($0, "("); c = length($0)
            while (c > o && substr($0, c, 1) != ")") c--
            comm = substr($0, o + 1, c - o - 1)
            n = split(substr($0, c + 2), f, " ")
            if (comm == "apache2" || comm == "postgres" || comm == "hmb-sandbox")
                print comm, f[12] + f[13] }'
    } | awk '{ t[$1] += $2 } END {
        printf "apache2=%d postgres=%d upstream=%d all=%d\n",
            t["apache2"], t["postgres"], t["hmb-sandbox"], t["all"] }'
}
clk_tck=$(getconf CLK_TCK)

# cpu_per BEFORE AFTER REQUESTS: microseconds of CPU per request, as
# "apache2/postgres/upstream/all"
cpu_per() {
    local k out=""
    for k in apache2 postgres upstream all; do
        out="$out${out:+/}$(awk -v a="$(value "$k" "$1")" \
            -v b="$(value "$k" "$2")" -v n="$3" -v t="$clk_tck" \
            'BEGIN { printf "%.0f", n ? (b - a) * 1e6 / t / n : 0 }')"
    done
    echo "$out"
}

rows=()
cpus=()
tag_seq=0
# measure LABEL NAME PATH INFNO KIND [OFF_ROW]
# OFF_ROW: index of the Off row this one is compared with
measure() {
    local label=$1 name=$2 path=$3 infno=$4 kind=$5 off=${6:-} b a line
    local n dur p50 p99 rps ok
    local c0 c1
    tag_seq=$((tag_seq + 1))
    b=$(snapshot "$name")
    c0=$(cpu_snap)
    line=$(wrk_run "$name" "$path" "$infno" "$conns" 2 \
           "$(printf 'R%02d' "$tag_seq")")
    c1=$(cpu_snap)
    a=$(snapshot "$name")
    n=$(value requests "$line")
    cpus+=("$label|$(cpu_per "$c0" "$c1" "$n")")
    dur=$(value duration_us "$line")
    p50=$(value p50_us "$line")
    p99=$(value p99_us "$line")
    rps=$(awk -v n="$n" -v d="$dur" 'BEGIN { printf "%.0f", n * 1e6 / d }')
    if [ "$kind" = off ]; then
        ok=ok
        [ "$(value non2xx "$line")" = 0 ] || { ok=INVALID; invalid=1; }
    else
        ok=$(check "$kind" "$b" "$a" "$n" "$(value non2xx "$line")" \
                   "$(value errors "$line")" "$conns")
        [ "$ok" = ok ] || invalid=1
    fi
    rows+=("$label|$rps|$p50|$p99|$off|$ok")
}

# Warm up with as many connections as the runs use: each new ledger
# connection of a child (a PostgreSQL backend forked for it) prepares its
# statements once, and that belongs to no steady state.
for name in sqlite pg1 pg2; do
    for path in /off /on; do
        wrk -t2 -c"$conns" -d2s -s "$lua" \
            "http://127.0.0.1:$(port_of $name)$path" \
            -- 2303 W "$persons" >/dev/null 2>&1
    done
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
measure "Off (proxy only), 2303" sqlite /off 2303 off
measure "On, pre-settlement 2303, SQLite" sqlite /on 2303 pre 0
measure "On, pre-settlement 2303, PostgreSQL" pg1 /on 2303 pre 0
measure "Off (proxy only), 2304" sqlite /off 2304 off
measure "On, settlement 2304, SQLite" sqlite /on 2304 settle 3
measure "On, settlement 2304, PostgreSQL" pg1 /on 2304 settle 3

# 32 clients over two httpd sharing one PostgreSQL: two wrk at once
b1=$(snapshot pg1)
b2=$(snapshot pg2)
c0=$(cpu_snap)
wrk_run pg1 /on 2304 16 1 T1 >"$run/two.1" &
w1=$!
wrk_run pg2 /on 2304 16 1 T2 >"$run/two.2"
wait "$w1"
c1=$(cpu_snap)
a1=$(snapshot pg1)
a2=$(snapshot pg2)
l1=$(cat "$run/two.1")
l2=$(cat "$run/two.2")
n1=$(value requests "$l1")
n2=$(value requests "$l2")
# each server's answers, and the ledger's claims against both together
both=$(( $(value claims "$a1") - $(value claims "$b1") ))
got1=$(( $(value StasPaid "$a1") + $(value StasIneligible "$a1")
         - $(value StasPaid "$b1") - $(value StasIneligible "$b1") ))
ok1=$(check settle "$b1" "$a1" "$n1" "$(value non2xx "$l1")" \
      "$(value errors "$l1")" 16 "$got1")
ok2=$(check settle "$b2" "$a2" "$n2" "$(value non2xx "$l2")" \
      "$(value errors "$l2")" 16 $((both - got1)))
two_rps=$(awk -v a="$n1" -v b="$n2" -v d1="$(value duration_us "$l1")" \
    -v d2="$(value duration_us "$l2")" \
    'BEGIN { printf "%.0f", a * 1e6 / d1 + b * 1e6 / d2 }')
two_p50=$(( $(value p50_us "$l1") > $(value p50_us "$l2")
            ? $(value p50_us "$l1") : $(value p50_us "$l2") ))
two_p99=$(( $(value p99_us "$l1") > $(value p99_us "$l2")
            ? $(value p99_us "$l1") : $(value p99_us "$l2") ))
if [ "$ok1" = ok ] && [ "$ok2" = ok ]; then
    two_ok=ok
else
    two_ok="$ok1 / $ok2"
    invalid=1
fi
rows+=("On, settlement 2304, PostgreSQL, 2 httpd x 16|$two_rps|$two_p50|$two_p99||$two_ok")
cpus+=("On, settlement 2304, PostgreSQL, 2 httpd x 16|$(cpu_per "$c0" "$c1" $((n1 + n2)))")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# the upstream keeps a thread for each of their idle proxy connections
for name in sqlite pg1 pg2; do
    "$harness" stop "$run/$name" >/dev/null 2>&1
done

# --- peak memory per in-flight request -----------------------------------
# One child (16 threads) of its own per mode, so that its peak resident
# size (VmHWM) is that of every request it held at once: after a warm-up
# with small messages, then after $conns clients sent the large message
# for a while. What On adds over Off, per request in flight, against the
# message's size.
child_hwm() {
    local parent kids k sum=0
    parent=$(cat "$run/$1/run/httpd.pid")
    for k in $(ps -o pid= --ppid "$parent"); do
        k=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$k/status" \
            2>/dev/null)
        sum=$((sum + ${k:-0}))
    done
    echo $((sum * 1024))
}
mem_grow=()
for mode in off on; do
    name=mem-$mode
    start_httpd "$name" "DBDriver sqlite3
DBDParams \"$sqlite_db\"" "<IfModule mpm_event_module>
    StartServers 1
    ServerLimit 1
    ThreadsPerChild 16
    MaxRequestWorkers 16
    MinSpareThreads 1
    MaxSpareThreads 16
</IfModule>"
    wrk -t1 -c"$conns" -d1s -s "$lua" \
        "http://127.0.0.1:$(port_of "$name")/$mode" -- 2303 W 1 \
        >/dev/null 2>&1
    h0=$(child_hwm "$name")
    line=$(wrk -t2 -c"$conns" -d"$(( secs < 3 ? secs : 3 ))s" --timeout 10s \
        -s "$lua" "http://127.0.0.1:$(port_of "$name")/$mode" -- 2303 M 1 \
        BIGMSG 2>&1 | tee -a "$run/wrk.log" | grep '^HMBBENCH')
    h1=$(child_hwm "$name")
    [ "$(value non2xx "$line")" = 0 ] && [ "$(value requests "$line")" -gt 0 ] ||
        invalid=1
    mem_grow+=($((h1 - h0)))
    "$harness" stop "$run/$name" >/dev/null 2>&1
done

elapsed "done"
# --- the table -------------------------------------------------------------
echo
echo "HTTP: apache2 $(apache2 -v | sed -n 's/.*Apache\/\([0-9.]*\).*/\1/p') + mod_proxy -> hmb-sandbox, wrk on 127.0.0.1, ${secs} s per run, $conns connections (2 threads) unless said; $persons persons enrolled; PostgreSQL fsync=$pg_fsync"
echo "load average: before $load_before, after $load_after ($(nproc) cores)"
printf '%-46s %9s %8s %8s %7s %8s %8s  %s\n' case "req/s" "p50 ms" \
    "p99 ms" "On/Off" "+p50 ms" "+p99 ms" check
for r in "${rows[@]}"; do
    IFS='|' read -r label rps p50 p99 off ok <<<"$r"
    if [ -n "$off" ]; then
        IFS='|' read -r _ orps op50 op99 _ _ <<<"${rows[$off]}"
        awk -v l="$label" -v r="$rps" -v a="$p50" -v b="$p99" -v o="$orps" \
            -v oa="$op50" -v ob="$op99" -v k="$ok" 'BEGIN {
            printf "%-46s %9d %8.2f %8.2f %7.2f %8.2f %8.2f  %s\n", l, r,
                a / 1000, b / 1000, r / o, (a - oa) / 1000, (b - ob) / 1000, k }'
    else
        awk -v l="$label" -v r="$rps" -v a="$p50" -v b="$p99" -v k="$ok" \
            'BEGIN { printf "%-46s %9d %8.2f %8.2f %7s %8s %8s  %s\n", l, r,
                a / 1000, b / 1000, "", "", "", k }'
    fi
done
echo
echo "CPU per request, us (the 2 cores' time while the run lasted, over its requests; all: the whole machine, wrk included)"
printf '%-46s %9s %9s %9s %9s\n' case apache2 PostgreSQL upstream all
for r in "${cpus[@]}"; do
    IFS='|' read -r label per <<<"$r"
    IFS='/' read -r ca cp cu cl <<<"$per"
    printf '%-46s %9s %9s %9s %9s\n' "$label" "$ca" "$cp" "$cu" "$cl"
done
awk -v off="${mem_grow[0]}" -v on="${mem_grow[1]}" -v s="$big_bytes" \
    -v c="$conns" 'BEGIN {
    printf "peak memory, %d in flight, %d-byte pre-settlement: child grew %.1f MB Off, %.1f MB On; On adds %.2fx the message per request in flight\n",
        c, s, off / 1048576, on / 1048576, (on - off) / (c * s) }'
[ "$invalid" = 0 ] || { echo "bench-http: INVALID runs (see above)" >&2; exit 1; }
