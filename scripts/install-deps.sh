#!/usr/bin/env bash
# Install the Debian packages raftkv needs to build and test, only those
# missing. `make`, `make test` and `make cluster` run this first, so a fresh
# machine needs no other set-up step. Needs root (or sudo) only when
# something is actually missing.
set -euo pipefail

pkgs=(
    gcc libc6-dev make  # the build (libc6-dev is only recommended by gcc)
    liblmdb-dev         # the key-value state machine (src/kv)
    libuv1-dev          # event loop, TCP, timers (src/net)
    libhttp-parser-dev  # HTTP/1.1 request parsing (src/net/http.c)
    libjansson-dev      # JSON bodies (src/net/http.c)
    python3             # test scripts
    clang libclang-rt-14-dev  # libFuzzer targets (make fuzz, fuzz-regress)
    iproute2            # network namespaces for the partition tests
)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
