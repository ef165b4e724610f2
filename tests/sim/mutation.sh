#!/bin/sh
# Mutation check of the simulator: build raftkv-sim once per bug planted in
# the core (the RAFT_MUTATION_* macros of src/raft/) and check that a seed
# sweep catches each one, first with 3 nodes, then with 5; and catches it
# again with snapshots, compaction and torn writes on, so that the checks
# keep their edge on those paths.
# Usage: tests/sim/mutation.sh [MAX_SEEDS]   (default 3000)
# The mutants are built under $MUTANT_BUILD (default build/mutants).
# Prints one ok/FAIL line per mutant, then "N passed, N failed"; exits 1 if
# any mutant builds badly or survives.
set -u
cd "$(dirname "$0")/../.." || exit 2
max=${1:-3000}
root=${MUTANT_BUILD:-build/mutants}
snap_flags="--snapshot-every 50 --crash-disk"
passed=0
failed=0

# Sweep one mutant binary with extra flags; print "seed S --nodes K [flags]
# (invariant)" if caught.
catch() {
    bin=$1
    shift
    for nodes in 3 5; do
        out=$("$bin" --seeds "1-$max" --nodes "$nodes" "$@" --stop-on-violation)
        rc=$?
        if [ "$rc" -eq 1 ]; then
            printf '%s\n' "$out" | sed -n \
                's/^VIOLATION seed=\([0-9]*\) nodes=\([0-9]*\) \([^:]*\):.*/seed \1 --nodes \2 (\3)/p' |
                head -n 1
            return 0
        fi
        if [ "$rc" -ne 0 ]; then
            echo "raftkv-sim exited with status $rc (--nodes $nodes $*)" >&2
            return 1
        fi
    done
    return 1
}

for name in commit_old_term vote_no_uptodate no_truncate read_no_confirm \
    no_persist_vote; do
    macro=RAFT_MUTATION_$(echo "$name" | tr '[:lower:]' '[:upper:]')
    build=$root/$name
    mkdir -p "$build"
    if ! make --no-print-directory MODE=release BUILD="$build" \
        EXTRA_CFLAGS="-D$macro" "$build/raftkv-sim" >"$build/make.log" 2>&1
    then
        echo "FAIL mutation/$name: build failed, see $build/make.log"
        failed=$((failed + 1))
        continue
    fi
    if caught=$(catch "$build/raftkv-sim") &&
        caught_snap=$(catch "$build/raftkv-sim" $snap_flags); then
        echo "ok   mutation/$name: caught by $caught;" \
            "with $snap_flags by $caught_snap"
        passed=$((passed + 1))
    else
        echo "FAIL mutation/$name: not caught in seeds 1-$max" \
            "(plain: ${caught:-no}; $snap_flags: ${caught_snap:-no})"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
