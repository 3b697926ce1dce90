#!/bin/bash
# run-tests.sh BUILD_DIR: every test program, each printing CMocka's
# summary, in four passes: unit, integration (real apache2, SQLite and
# PostgreSQL), unit and some integration again under ASan/UBSan (the module
# in apache2 too), unit again under valgrind; then
# `make fuzz-smoke` (libFuzzer, about 30 s) and `make distcheck` once each,
# each counted as one pass or one failure.
# Builds made here treat compiler warnings as errors (--enable-werror).
# The last line is "N passed, N failed".
set -u
build=$(cd "${1:?usage: run-tests.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
failures=()
log=$(mktemp -d)

# run LABEL CMD...: run one CMocka program, add its counts
run() {
    local label=$1 out rc p f g
    shift
    out="$log/out"
    echo "=== $label"
    "$@" >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" \
        | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" \
        | awk '{s+=$1} END {print s+0}')
    # CMocka counts a failed group setup or teardown (where harness.sh
    # stop finds a sanitizer report) in no test and may exit 0
    g=$(grep -c '^\[  FAILED  \] GROUP ' "$out")
    f=$((f + g))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!!! $label exited with status $rc"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("$label")
}

# configure_in DIR OPTION...: configure a build tree in DIR from the source
# tree, unless it is configured with every OPTION already; from clean when
# it was configured otherwise, so that no object keeps other flags.
configure_in() {
    local dir=$1 conf opt
    shift
    mkdir -p "$dir" && cd "$dir" || return 1
    if [ -f Makefile ] && [ -x config.status ]; then
        conf=" $(./config.status --config | tr -d "'") "
        for opt in "$@"; do
            [[ $conf == *" $opt "* ]] || conf=""
        done
        [ -n "$conf" ] && return 0
        "$top/configure" -q "$@" && make -s clean >/dev/null
        return
    fi
    "$top/configure" -q "$@"
}

unit_tests() {
    local dir=$1 t
    for t in "$dir"/tests/unit/test_*; do
        [ -x "$t" ] && [ -f "$t" ] && [ "${t%.o}" = "$t" ] || continue
        echo "$t"
    done
}

# A throwaway PostgreSQL for the ledger's unit tests (the integration
# tests start their own).
pgdir=$(mktemp -d /tmp/hmb-pg-XXXXXX)
chmod 755 "$pgdir"
trap '"$top/tests/integration/pg.sh" stop "$pgdir/db" >/dev/null 2>&1; rm -rf "$log" "$pgdir"' EXIT
pg_started=0
for _ in 1 2 3; do
    # a port nothing answers on; another try if the server still cannot bind
    pgport=$((54000 + RANDOM % 1000))
    (exec 3<>"/dev/tcp/127.0.0.1/$pgport") 2>/dev/null && continue
    if "$top/tests/integration/pg.sh" start "$pgdir/db" "$pgport" \
        >"$log/pg" 2>&1; then
        pg_started=1
        break
    fi
    "$top/tests/integration/pg.sh" stop "$pgdir/db" >/dev/null 2>&1
done
if [ "$pg_started" -eq 1 ]; then
    export HMB_TEST_PGSQL="host=127.0.0.1 port=$pgport dbname=hmb user=hmb"
else
    cat "$log/pg" 2>/dev/null
    echo "!!! could not start a throwaway PostgreSQL"
    failed=$((failed + 1))
    failures+=("postgresql for unit tests")
fi

echo "##### unit tests"
for t in $(unit_tests "$build"); do
    run "unit $(basename "$t")" "$t"
done
"$top/tests/integration/pg.sh" stop "$pgdir/db" >/dev/null 2>&1
unset HMB_TEST_PGSQL

echo "##### integration tests (Debian apache2 on 127.0.0.1)"
for t in "$build"/tests/integration/test_*; do
    [ -x "$t" ] && [ -f "$t" ] && [ "${t%.o}" = "$t" ] || continue
    run "integration $(basename "$t")" "$t"
done

echo "##### unit tests, and apache2 with the module, under ASan and UBSan"
san_integration="test_sanitizers test_module test_slips test_pii"
asan="$build-asan"
if (configure_in "$asan" --enable-sanitizers --enable-werror \
        && make -s -j"$(nproc)" check TESTS= >/dev/null); then
    for t in $(unit_tests "$asan"); do
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run "asan $(basename "$t")" "$t"
    done
    # The module built so, in Debian's apache2 with the ASan runtime
    # preloaded: any report from httpd fails the program (harness.sh).
    # Those programs that drive the filter and the SQLite ledger (2 to 4
    # minutes on 2 shared cores); test_shared and test_failover, long load
    # and failover runs on PostgreSQL, stay in the plain pass.
    for t in $san_integration; do
        run "asan-httpd $t" "$asan/tests/integration/$t"
    done
else
    echo "!!! sanitizer build failed"
    failed=$((failed + 1))
    failures+=("sanitizer build")
fi

echo "##### unit tests under valgrind"
for t in $(unit_tests "$build"); do
    HMB_PROPS_SCALE=10 run "valgrind $(basename "$t")" \
        valgrind -q --error-exitcode=9 --leak-check=full \
        --suppressions="$top/tests/valgrind.supp" \
        --errors-for-leak-kinds=definite "$t"
done

echo "##### fuzzing smoke (libFuzzer with clang: tests/fuzz/README.md)"
# Each harness for FUZZ_SMOKE_SECONDS from the seed corpus, then every
# seed and regression replayed; known findings are stepped around.
echo "=== fuzz-smoke"
if (cd "$build" && make -s fuzz-smoke) >"$log/fuzz" 2>&1; then
    grep -E '^(--- |Done |stat::(number_of_executed_units|average_exec_per_sec)|known bug)' \
        "$log/fuzz"
    passed=$((passed + 1))
else
    tail -n 80 "$log/fuzz"
    echo "!!! make fuzz-smoke failed (inputs kept in $build/tests/fuzz/build/artifacts)"
    failed=$((failed + 1))
    failures+=("fuzz-smoke")
fi

echo "##### make distcheck (the tarball: VPATH build, make check, install)"
# In a tree of its own; its unit tests run without PostgreSQL.
echo "=== distcheck"
if (unset HMB_TEST_PGSQL && configure_in "$build-distcheck" \
        && make -s -j"$(nproc)" distcheck \
            DISTCHECK_CONFIGURE_FLAGS=--enable-werror) >"$log/distcheck" 2>&1
then
    awk '/^(PASS|FAIL|XPASS|XFAIL|ERROR|SKIP): |^# [A-Z]+: / || ready {
             print; ready = 0 }
         /ready for distribution/ { print; ready = 1 }' "$log/distcheck"
    passed=$((passed + 1))
else
    tail -n 60 "$log/distcheck"
    find "$build-distcheck" -name test-suite.log -exec cat {} + 2>/dev/null
    echo "!!! make distcheck failed (in $build-distcheck)"
    failed=$((failed + 1))
    failures+=("distcheck")
fi

if [ "${#failures[@]}" -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
