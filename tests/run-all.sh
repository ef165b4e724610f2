#!/usr/bin/env bash
# Run every test group of `make test` and end with "N passed, N failed".
# Each group prints its own lines; a group that reports its own counts
# ("N passed, N failed") adds them, any other counts as one test.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()

# run NAME CMD...: run a group, tally its result.
run() {
    local name=$1
    shift
    local log
    log=$(mktemp)
    local start=$SECONDS
    echo "=== $name: $*"
    "$@" >"$log" 2>&1
    local rc=$?
    # Keep the output short: failures in full, successes summarized.
    if [ $rc -ne 0 ]; then
        tail -n 80 "$log"
    else
        grep -E '^(FAIL|SKIP|ok   mutation|seeds=|violations|faults:|ops:|lost acknowledged|linearizable:|planted bug)' "$log" | head -n 20
    fi
    local summary
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$summary" ]; then
        local p f
        p=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        passed=$((passed + p))
        failed=$((failed + f))
        [ $rc -ne 0 ] && [ "$f" -eq 0 ] && { failed=$((failed + 1)); }
    elif [ $rc -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    [ $rc -ne 0 ] && failures+=("$name")
    echo "--- $name: rc=$rc ($((SECONDS - start)) s)"
    rm -f "$log"
}

# deterministic: the same seed prints the same bytes twice.
sim_deterministic() {
    local a b
    a=$(./build/raftkv-sim --seed 42 --nodes 5 --trace | md5sum)
    b=$(./build/raftkv-sim --seed 42 --nodes 5 --trace | md5sum)
    echo "seed 42 trace: $a / $b"
    [ "$a" = "$b" ]
}

run "core dependencies" make --no-print-directory check-core-deps
run "format" make --no-print-directory fmt-check
run "unit tests (asan)" ./build/asan/unit-tests
run "sim sweep, 3 nodes (asan)" ./build/asan/raftkv-sim --seeds 1-1000 --nodes 3
run "sim sweep, 5 nodes (asan)" ./build/asan/raftkv-sim --seeds 1-1000 --nodes 5
run "sim sweep, snapshots + torn writes (asan)" ./build/asan/raftkv-sim --seeds 1-1000 --nodes 5 --crash-disk --snapshot-every 50
run "sim sweep, membership changes + transfers (asan)" ./build/asan/raftkv-sim --seeds 1-500 --nodes 5 --membership --snapshot-every 50 --crash-disk
run "sim pinned seeds (asan)" ./build/asan/raftkv-sim --seeds-file tests/sim/seeds.txt
run "sim deterministic replay" sim_deterministic
run "mutation check" tests/sim/mutation.sh
run "fuzz regression: every target over its corpus (asan)" make --no-print-directory fuzz-regress
run "cluster tests (asan, real processes)" tests/cluster/run.py
run "Redis protocol (RESP) on a real cluster" python3 tests/cluster/test_resp.py
run "nemesis checker" tests/nemesis/test_checker.py
run "nemesis, 60 s of faults (asan)" tests/nemesis/nemesis.py --duration 60
run "nemesis, planted bug caught" tests/nemesis/nemesis.py --planted-bug --duration 20

if [ ${#failures[@]} -gt 0 ]; then
    echo "failed groups: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
