#!/bin/sh
# Mutation check of the simulator: build raftkv-sim once per bug planted in
# the core (the RAFT_MUTATION_* macros of src/raft/) and check that a seed
# sweep catches each one, first with 3 nodes, then with 5.
# Usage: tests/sim/mutation.sh [MAX_SEEDS]   (default 3000)
# Prints one ok/FAIL line per mutant, then "N passed, N failed"; exits 1 if
# any mutant builds badly or survives.
set -u
cd "$(dirname "$0")/../.." || exit 2
max=${1:-3000}
passed=0
failed=0

# Sweep one mutant binary; print "seed S --nodes K (invariant)" if caught.
catch() {
    for nodes in 3 5; do
        out=$("$1" --seeds "1-$max" --nodes "$nodes" --stop-on-violation)
        rc=$?
        if [ "$rc" -eq 1 ]; then
            printf '%s\n' "$out" | sed -n \
                's/^VIOLATION seed=\([0-9]*\) nodes=\([0-9]*\) \([^:]*\):.*/seed \1 --nodes \2 (\3)/p' |
                head -n 1
            return 0
        fi
        if [ "$rc" -ne 0 ]; then
            echo "raftkv-sim exited with status $rc (--nodes $nodes)" >&2
            return 1
        fi
    done
    return 1
}

for name in commit_old_term vote_no_uptodate no_truncate read_no_confirm \
    no_persist_vote; do
    macro=RAFT_MUTATION_$(echo "$name" | tr '[:lower:]' '[:upper:]')
    build=build/mutants/$name
    mkdir -p "$build"
    if ! make --no-print-directory MODE=release BUILD="$build" \
        EXTRA_CFLAGS="-D$macro" "$build/raftkv-sim" >"$build/make.log" 2>&1
    then
        echo "FAIL mutation/$name: build failed, see $build/make.log"
        failed=$((failed + 1))
        continue
    fi
    if caught=$(catch "$build/raftkv-sim"); then
        echo "ok   mutation/$name: caught by $caught"
        passed=$((passed + 1))
    else
        echo "FAIL mutation/$name: not caught in seeds 1-$max"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
