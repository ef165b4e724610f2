#!/usr/bin/env bash
# A private network of network namespaces for partition tests (issue 5):
# one namespace per node, each with its own address on a bridge that lives
# in a namespace of its own (the "hub", where the test's clients sit), so
# the host's interfaces and routes are never touched. Partitions are
# blackhole routes inside the nodes' namespaces: nodes on opposite sides
# cannot reach each other, while every node still answers clients on the
# hub. Needs root and iproute2.
#
#   netns.sh up PREFIX N            create PREFIXhub and PREFIXn1..PREFIXnN
#   netns.sh down PREFIX            delete them (idempotent)
#   netns.sh addr I                 the address of node I (0: the hub)
#   netns.sh partition PREFIX A B   cut every node of list A ("1 2 3") off
#                                   from every node of list B ("4 5")
#   netns.sh heal PREFIX            remove every partition
#   netns.sh exec PREFIX I CMD...   run CMD in node I's namespace (0: the
#                                   hub); it replaces this script, PID too
#
# The subnet is $RKV_NETNS_NET.0/24 (default 10.213.0): the hub is .1 and
# node I is .(10+I). PREFIX: a-z0-9, at most 10 characters ("rkv1234").
#
# The seed's partition exercise by hand, with conf lines "I 10.213.0.1I 2000":
#   scripts/netns.sh up rkv 5
#   for i in 1 2 3 4 5; do scripts/netns.sh exec rkv $i build/raftkv \
#       --id $i --config conf --data-dir /tmp/n$i & done
#   scripts/netns.sh exec rkv 0 curl http://10.213.0.11:3000/status
#   scripts/netns.sh partition rkv "1 2 3" "4 5"
#   scripts/netns.sh heal rkv
#   scripts/netns.sh down rkv
set -euo pipefail

net=${RKV_NETNS_NET:-10.213.0}

die() {
    echo "netns.sh: $*" >&2
    exit 2
}

# ns PREFIX I: the namespace of node I (0: the hub).
ns() {
    if [ "$2" = 0 ]; then echo "$1hub"; else echo "$1n$2"; fi
}

# addr I: the address of node I (0: the hub).
addr() {
    if [ "$1" = 0 ]; then echo "$net.1"; else echo "$net.$((10 + $1))"; fi
}

check_prefix() {
    [[ "$1" =~ ^[a-z][a-z0-9]{0,9}$ ]] ||
        die "bad PREFIX '$1': a-z0-9, at most 10 characters"
}

up() {
    local p=$1 n=$2 i
    [[ "$n" =~ ^[1-9]$ ]] || die "N must be 1..9"
    ip netns add "$p"hub
    ip -n "$p"hub link set lo up
    ip -n "$p"hub link add br0 type bridge
    ip -n "$p"hub addr add "$(addr 0)/24" dev br0
    ip -n "$p"hub link set br0 up
    for i in $(seq 1 "$n"); do
        ip netns add "$p"n"$i"
        ip -n "$p"n"$i" link set lo up
        # Created inside the hub, so no interface ever appears on the host.
        ip -n "$p"hub link add v"$i" type veth peer name eth0 netns "$p"n"$i"
        ip -n "$p"hub link set v"$i" master br0 up
        ip -n "$p"n"$i" addr add "$(addr "$i")/24" dev eth0
        ip -n "$p"n"$i" link set eth0 up
    done
}

# Deleting a namespace destroys its interfaces, veth peers included.
down() {
    local p=$1 name
    for name in $(ip netns list | awk '{print $1}'); do
        case "$name" in
            "$p"hub | "$p"n[1-9]) ip netns del "$name" ;;
        esac
    done
}

partition() {
    local p=$1 a b
    for a in $2; do
        for b in $3; do
            ip -n "$(ns "$p" "$a")" route add blackhole "$(addr "$b")/32"
            ip -n "$(ns "$p" "$b")" route add blackhole "$(addr "$a")/32"
        done
    done
}

heal() {
    local p=$1 name
    for name in $(ip netns list | awk '{print $1}'); do
        case "$name" in
            "$p"n[1-9]) ip -n "$name" route flush type blackhole ;;
        esac
    done
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

case "${1:-}" in
    up)
        [ $# -eq 3 ] || usage
        check_prefix "$2"
        up "$2" "$3"
        ;;
    down)
        [ $# -eq 2 ] || usage
        check_prefix "$2"
        down "$2"
        ;;
    addr)
        [ $# -eq 2 ] || usage
        addr "$2"
        ;;
    partition)
        [ $# -eq 4 ] || usage
        check_prefix "$2"
        partition "$2" "$3" "$4"
        ;;
    heal)
        [ $# -eq 2 ] || usage
        check_prefix "$2"
        heal "$2"
        ;;
    exec)
        [ $# -ge 4 ] || usage
        check_prefix "$2"
        p=$2 i=$3
        shift 3
        exec ip netns exec "$(ns "$p" "$i")" "$@"
        ;;
    *) usage ;;
esac
