#!/usr/bin/env bash
# Run the fuzz targets built by tests/fuzz/fuzz.mk.
#
#   run.sh fuzz BUILD SECONDS JOBS TARGET...
#       fuzz each target for SECONDS, JOBS targets at a time, seeded from
#       tests/fuzz/corpus/<target>/ (and tests/fuzz/crashes/<target>/),
#       with the dictionary tests/fuzz/dict/<target>.dict if there is one;
#       new inputs go to BUILD/corpus-<target>, never to the committed
#       corpus
#   run.sh regress BUILD 0 JOBS TARGET...
#       run each target once over every committed input (-runs=0)
#
# Prints one line per target as it finishes ("ok   fuzz/<target>: N runs,
# no crash" or "FAIL fuzz/<target>: crash, reproducer saved at PATH"),
# then "N passed, N failed". Exits 1 if any target failed. Each target's
# libFuzzer output stays in BUILD/logs/<target>.log.
set -u
cd "$(dirname "$0")/../.."

if [ $# -lt 5 ]; then
    echo "usage: $0 fuzz|regress BUILD SECONDS JOBS TARGET..." >&2
    exit 2
fi
mode=$1
build=$2
seconds=$3
jobs=$4
shift 4
results=$build/results
mkdir -p "$build/logs" "$results"
rm -f "$results"/*

# Common libFuzzer flags: bounded memory, a hang counts as a crash.
flags=(-rss_limit_mb=2048 -timeout=10)

# fuzz_one TARGET: fuzz, print the verdict, record it in $results.
fuzz_one() {
    local t=$1
    local log=$build/logs/$t.log art=$build/artifacts/$t/
    local dirs=("$build/corpus-$t" "tests/fuzz/corpus/$t")
    local rc line
    mkdir -p "$build/corpus-$t" "$art"
    local extra=()
    [ -d "tests/fuzz/crashes/$t" ] && dirs+=("tests/fuzz/crashes/$t")
    [ -f "tests/fuzz/dict/$t.dict" ] && extra+=(-dict="tests/fuzz/dict/$t.dict")
    "$build/$t" "${flags[@]}" "${extra[@]}" -max_total_time="$seconds" \
        -print_final_stats=1 -artifact_prefix="$art" "${dirs[@]}" \
        >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        local runs
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        line="ok   fuzz/$t: ${runs:-?} runs, no crash"
    else
        local repro
        repro=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
        line="FAIL fuzz/$t: crash, reproducer saved at ${repro:-?} (log $log)"
    fi
    echo "$line"
    echo "$rc" >"$results/$t"
}

# regress_one TARGET: every committed input once.
regress_one() {
    local t=$1
    local log=$build/logs/$t.log art=$build/artifacts/$t/
    local inputs=() rc line f
    mkdir -p "$art"
    for f in "tests/fuzz/corpus/$t"/* "tests/fuzz/crashes/$t"/*; do
        [ -f "$f" ] && inputs+=("$f")
    done
    if [ ${#inputs[@]} -eq 0 ]; then
        line="FAIL fuzz-regress/$t: no inputs in tests/fuzz/corpus/$t"
        rc=1
    else
        "$build/$t" "${flags[@]}" -runs=0 -artifact_prefix="$art" \
            "${inputs[@]}" >"$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
            line="ok   fuzz-regress/$t: ${#inputs[@]} inputs, no crash"
        else
            local input
            input=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
            line="FAIL fuzz-regress/$t: crash on ${input:-?} (log $log)"
        fi
    fi
    echo "$line"
    echo "$rc" >"$results/$t"
}

for t in "$@"; do
    if [ ! -x "$build/$t" ]; then
        echo "no fuzz target $build/$t" >&2
        exit 2
    fi
done
for t in "$@"; do
    while [ "$(jobs -pr | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    if [ "$mode" = fuzz ]; then
        fuzz_one "$t" &
    else
        regress_one "$t" &
    fi
done
wait

passed=0
failed=0
for t in "$@"; do
    if [ "$(cat "$results/$t" 2>/dev/null)" = 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
