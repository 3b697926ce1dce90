#!/bin/sh
# run.sh MODE SRCDIR OUT: run the harnesses built in OUT (fuzz.mk).
#   run     each harness for FUZZ_SECONDS (default 120) from the seed
#           corpus, new inputs kept in OUT/corpus/NAME, crashes in
#           OUT/artifacts; libFuzzer's final statistics printed
#   smoke   each harness for FUZZ_SMOKE_SECONDS (default 15), then a
#           replay of the seed corpus and of tests/fuzz/regressions
#   cover   a replay of the seed and kept corpora through the coverage
#           builds, then llvm-cov's report on the core's files
# Exit status: 0 when no harness found anything. A finding prints the
# input file to keep; see tests/fuzz/README.md for what to do with it.
set -u
mode=${1:?usage: run.sh run|smoke|cover SRCDIR OUT}
top=$(cd "${2:?}" && pwd)
out=${3:?}
corpus="$top/tests/fuzz/corpus"
mkdir -p "$out/artifacts"
status=0

# max_len: the seeds are up to 5 KB; longer inputs only fuzz slower.
fuzz_opts="-max_len=16384 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1"

# fuzz NAME SECONDS [OPTION...]: one bounded run; the statistics and any
# finding shown, the rest of libFuzzer's chatter kept in OUT/NAME.log
fuzz() {
    name=$1 secs=$2 short=${1#fuzz_}
    shift 2
    mkdir -p "$out/corpus/$name"
    echo "--- $name: $secs s from $(ls "$corpus/$short" | wc -l) seeds" \
         "and $(ls "$out/corpus/$name" | wc -l) kept inputs"
    # shellcheck disable=SC2086
    "$out/$name" $fuzz_opts "$@" -max_total_time="$secs" \
        -artifact_prefix="$out/artifacts/$name-" \
        -dict="$top/tests/fuzz/$short.dict" \
        "$out/corpus/$name" "$corpus/$short" >"$out/$name.log" 2>&1
    rc=$?
    grep -E '^(#[0-9]+ +DONE|stat::|Done [0-9]+ runs|known bug)' \
        "$out/$name.log"
    if [ "$rc" -ne 0 ]; then
        grep -E -A 30 'INVARIANT BROKEN|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' \
            "$out/$name.log" | head -n 60
        grep -E '^(artifact_prefix|Test unit written)' "$out/$name.log"
        echo "!!! $name found something (log: $out/$name.log)"
        status=1
    fi
}

# replay NAME PATH...: every file once through the harness
replay() {
    name=$1
    shift
    files=$(find "$@" -type f ! -name '*.md' 2>/dev/null | sort)
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    if "$out/$name" $files >"$out/$name.replay.log" 2>&1; then
        echo "--- $name: replayed $(echo "$files" | wc -l) files"
    else
        grep -E -A 30 'INVARIANT BROKEN|ERROR: |runtime error|Running: ' \
            "$out/$name.replay.log" | head -n 60
        echo "!!! $name: a replayed file failed (log: $out/$name.replay.log)"
        status=1
    fi
}

case $mode in
    run)
        for name in fuzz_message fuzz_plan fuzz_json; do
            fuzz "$name" "${FUZZ_SECONDS:-120}"
        done
        ;;
    smoke)
        # a fixed seed: the same mutations on every fresh machine
        for name in fuzz_message fuzz_plan fuzz_json; do
            fuzz "$name" "${FUZZ_SMOKE_SECONDS:-15}" -seed=1
        done
        replay fuzz_message "$corpus/message" \
            "$top/tests/fuzz/regressions/message"
        replay fuzz_plan "$corpus/plan" "$top/tests/fuzz/regressions/plan"
        replay fuzz_json "$corpus/json"
        ;;
    cover)
        prof=${LLVM_PROFDATA:-llvm-profdata}
        cov=${LLVM_COV:-llvm-cov}
        for name in fuzz_message fuzz_plan fuzz_json; do
            short=${name#fuzz_}
            rm -f "$out/cov/$name.profraw"
            LLVM_PROFILE_FILE="$out/cov/$name.profraw" \
                "$out/cov/$name-cov" "$corpus/$short" \
                "$out/corpus/$name" >/dev/null 2>&1 || status=1
            "$prof" merge -sparse "$out/cov/$name.profraw" \
                -o "$out/cov/$name.profdata" || status=1
            echo "--- $name: line and branch coverage of the core"
            "$cov" report "$out/cov/$name-cov" \
                -instr-profile="$out/cov/$name.profdata" \
                "$top/mod_huiminbao" || status=1
        done
        ;;
    *)
        echo "run.sh: unknown mode $mode" >&2
        exit 2
        ;;
esac
exit $status
