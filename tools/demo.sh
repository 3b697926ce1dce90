#!/bin/bash
# demo.sh BUILD_DIR [stop]: start Debian's apache2 with mod_huiminbao, a
# SQLite ledger and the sample upstream settlement service on 127.0.0.1,
# settle a handful of discharges through it and print a line for each.
# The servers keep running until `demo.sh BUILD_DIR stop`.
set -eu

build=$(cd "${1:?usage: demo.sh BUILD_DIR [stop]}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
run=${HMB_DEMO_DIR:-$top/run/demo}
port=${HMB_DEMO_PORT:-8480}
up_port=${HMB_DEMO_UPSTREAM_PORT:-8481}
harness="$top/tests/integration/harness.sh"

stop_demo() {
    [ -f "$run/httpd.conf" ] && "$harness" stop "$run" >/dev/null 2>&1 || true
    if [ -f "$run/upstream.pid" ]; then
        kill "$(cat "$run/upstream.pid")" 2>/dev/null || true
        rm -f "$run/upstream.pid"
    fi
}

if [ "${2:-}" = stop ]; then
    stop_demo
    echo "demo stopped"
    exit 0
fi

stop_demo
rm -rf "$run"
mkdir -p "$run/ledger" "$run/spool" "$run/out"

echo "== ledger: $run/ledger/ledger.db (SQLite), enrollments from conf/enroll-sample.csv"
"$build/hmbctl" --ledger "sqlite3:$run/ledger/ledger.db" \
    enroll --plan "$top/conf/plans/yichun-2024.xml" \
    "$top/conf/enroll-sample.csv"
# httpd's children run as www-data when started as root
if [ "$(id -u)" -eq 0 ]; then
    chown -R www-data:www-data "$run/ledger" "$run/spool"
fi

echo "== sample upstream settlement service on 127.0.0.1:$up_port"
setsid "$build/hmb-sandbox" --listen "127.0.0.1:$up_port" \
    --cases "$top/conf/conformance" --pidfile "$run/upstream.pid" \
    --log "$run/upstream.log" --max-seconds 86400 </dev/null \
    >"$run/upstream.out" 2>&1 &
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$up_port") 2>/dev/null && break
    sleep 0.1
done

cat > "$run/huiminbao.conf" <<CONF
LoadModule huiminbao_module "$build/mod_huiminbao.so"
LogLevel warn huiminbao:info
HuiminbaoPlan "$top/conf/plans/yichun-2024.xml"
HuiminbaoSpool "$run/spool"
DBDriver sqlite3
DBDParams "$run/ledger/ledger.db"
<Location "/fsi/api">
    ProxyPass "http://127.0.0.1:$up_port/fsi/api"
    Huiminbao On
</Location>
<Location "/huiminbao-status">
    SetHandler huiminbao-status
    Require ip 127.0.0.1
</Location>
CONF

echo "== apache2 with mod_huiminbao on 127.0.0.1:$port"
"$harness" start "$run" "$port" "$run/huiminbao.conf"

echo "== settling discharges through http://127.0.0.1:$port/fsi/api"
for req in "$top"/conf/conformance/*.req.xml; do
    name=$(basename "$req" .req.xml)
    infno=$(LC_ALL=C sed -n 's/.*<infno>\([0-9]*\)<.*/\1/p' "$req")
    curl -sS --max-time 10 -H 'Content-Type: text/xml; charset=UTF-8' \
        --data-binary "@$req" -o "$run/out/$name.xml" \
        "http://127.0.0.1:$port/fsi/api/$infno"
    printf '%-20s %s  ' "$name" "$infno"
    # an answer without <hmbinfo> (the upstream's own error) is shown so,
    # not as hmbctl's complaint about it
    if ! out=$("$build/hmbctl" show "$run/out/$name.xml" 2>/dev/null); then
        out="no <hmbinfo>: the upstream's answer went back untouched"
    fi
    echo "$out"
done

echo "== counters (http://127.0.0.1:$port/huiminbao-status?auto)"
curl -sS --max-time 5 "http://127.0.0.1:$port/huiminbao-status?auto" || true
echo
echo "== the ledger after these (hmbctl totals) for 36090000000000000001:"
"$build/hmbctl" --ledger "sqlite3:$run/ledger/ledger.db" totals \
    --plan-code YCHMB --year 2024 36090000000000000001
cat <<MSG

The demo is running: httpd on http://127.0.0.1:$port/fsi/api (error log
$run/logs/error_log), the sample upstream on 127.0.0.1:$up_port, responses in
$run/out/. Try:
  curl -s --data-binary @conf/conformance/01-enrolled.req.xml http://127.0.0.1:$port/fsi/api/2304
Stop it with:
  $top/tools/demo.sh $build stop
MSG
