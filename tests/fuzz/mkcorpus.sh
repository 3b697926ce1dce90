#!/bin/sh
# mkcorpus.sh SRCDIR: (re)make the seed corpora tests/fuzz/corpus/message
# and tests/fuzz/corpus/plan from the fixtures, in the framing of
# fuzz_message.c (5 header bytes, request, NUL, response). Run it after a
# fixture changes and commit the result; the runs never write there.
set -eu
top=$(cd "${1:?usage: mkcorpus.sh SRCDIR}" && pwd)
msg="$top/tests/fuzz/corpus/message"
plan="$top/tests/fuzz/corpus/plan"
fx="$top/tests/fixtures"
mkdir -p "$msg" "$plan"
rm -f "$msg"/* "$plan"/*

# bytes N...: each number as one byte
bytes() {
    for b in "$@"; do
        printf "\\$(printf '%03o' "$b")"
    done
}

# pair NAME FLAGS YTD0 YTD1 YTD2 SLICE REQ RESP: a seed with a request
pair() {
    name=$1 req=$7 resp=$8
    { bytes "$2" "$3" "$4" "$5" "$6"; cat "$req"; bytes 0; cat "$resp"; } \
        >"$msg/$name"
}

# alone NAME FLAGS YTD0 YTD1 YTD2 SLICE RESP: a response without request
alone() {
    name=$1 resp=$7
    { bytes "$2" "$3" "$4" "$5" "$6"; cat "$resp"; } >"$msg/$name"
}

we="$fx/worked-example"
pair we-1-presettle 5 0 0 0 0 "$we/1.req.xml" "$we/1.resp.xml"
pair we-2-settle 1 0 0 0 0 "$we/2.req.xml" "$we/2.resp.xml"
pair we-2-ytd 4 27 28 9 0 "$we/2.req.xml" "$we/2.resp.xml"
pair we-2-slices 37 0 0 0 3 "$we/2.req.xml" "$we/2.resp.xml"
pair we-2-capped-plan 133 44 45 0 0 "$we/2.req.xml" "$we/2.resp.xml"
pair we-3-gbk 33 0 0 0 0 "$we/3.req.xml" "$we/3.resp.xml"
pair we-4-cancel 1 0 0 0 0 "$we/4.req.xml" "$we/4.resp.xml"

# the demo's requests and the sample upstream's answers to them
for req in "$top"/conf/conformance/0*.req.xml; do
    n=$(basename "$req" | cut -c1-2)
    resp="${req%.req.xml}.resp.xml"
    case $n in
        02) flags=0 ;;      # not enrolled
        03) flags=2 ;;      # pre-existing condition
        04) flags=3 ;;      # hardship class
        07) flags=17 ;;     # with the fund line
        *) flags=1 ;;
    esac
    pair "demo-$n" "$flags" 0 0 0 0 "$req" "$resp"
done

pair valid-gb18030 37 0 0 0 1 "$fx/messages/valid/gb18030.req.xml" \
    "$fx/messages/valid/gb18030.resp.xml"
slice=0
for resp in "$fx"/messages/valid/*.resp.xml "$fx"/messages/invalid/*.xml \
            "$fx"/messages/hostile/*.xml; do
    # the large hostile files would only slow every run down
    [ "$(wc -c <"$resp")" -le 16384 ] || continue
    dir=$(basename "$(dirname "$resp")")
    alone "$dir-$(basename "$resp" .xml)" 33 0 0 0 "$slice" "$resp"
    slice=$(((slice + 1) % 8))
done

for f in "$top"/conf/plans/*.xml "$fx"/plans/*.xml "$we/plan.xml" \
         "$fx"/props/plan.xml "$fx"/module/plans/*.xml; do
    rel=${f#"$top"/}
    cp "$f" "$plan/$(echo "$rel" | sed 's|^tests/fixtures/||; s|/|-|g')"
done
echo "mkcorpus: $(ls "$msg" | wc -l) message seeds, $(ls "$plan" | wc -l) plan seeds"
