#!/usr/bin/env bash
# `make bench`: install what the benchmark needs from Debian (only what is
# missing), then run bench/bench.py, which starts raftkv, etcd and Redis on
# 127.0.0.1, loads them and writes bench/RESULTS.md. QUICK=1 for a short run;
# PROFILE=1 adds a perf profile of the raftkv leader under 64-connection
# writes. Needs root (or sudo) only when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
    etcd-server etcd-client   # the 3-node etcd cluster and etcdctl
    redis-server redis-tools  # Redis and redis-benchmark / redis-cli
    wrk                       # HTTP load
    python3                   # bench/bench.py
)
[ "${PROFILE:-0}" = 1 ] && pkgs+=(linux-perf)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing missing packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Keep the packages' own services (etcd on 2379, Redis on 6379) from
    # starting: they would take CPU from the benchmark.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        own_policy=1
    fi
    $sudo apt-get update -qq
    rc=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" || rc=$?
    [ "$own_policy" = 0 ] || $sudo rm -f "$policy"
    [ "$rc" = 0 ] || exit "$rc"
fi

exec python3 bench/bench.py "$@"
