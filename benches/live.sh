#!/usr/bin/env bash
# Live capture at line rate: spandump (each receive mode) against tcpdump, same packets,
# same run. Needs root, iproute2, tcpreplay, tcpdump and capinfos (tshark's package).
#
#   sudo bash benches/live.sh [PACKETS] [MIX]     (default 1000000 imix; MIX: imix|small|large)
#   MODES="listen ring" sudo bash benches/live.sh  (a subset of the modes; VERBOSE=1 shows their stderr)
#   ENCAP=vxlan sudo bash benches/live.sh 200000 large   (VXLAN mirrors: modes listen ring udp tcpdump)
#
# Builds two namespaces joined by a veth pair (documentation addresses only), generates
# a mixed GRE / ERSPAN II / ERSPAN III / L3 GRE underlay capture, and for each receiver
# replays it once with `tcpreplay --topspeed -K` into the sink end. Prints per receiver:
# packets sent, frames in the output file (counted by capinfos, not by the receiver's
# own counters), drops the receiver reported, the receiver's CPU seconds (user + system,
# from /proc/PID/stat) and per packet, and the whole machine's busy CPU seconds from the
# start of the replay until the output stopped growing (sender and kernel included: the
# receiver's own figure is noisy, as softirq work is charged to whatever task runs).
# tcpdump only copies the outer packets to a file (`tcpdump -i IF -w`): the cost of
# capturing without decapsulating.
set -euo pipefail

PACKETS=${1:-1000000}
MIX=${2:-imix}
ENCAP=${ENCAP:-mixed}
if [ "$ENCAP" = vxlan ]; then
    MODES=${MODES:-listen ring udp tcpdump}
else
    MODES=${MODES:-listen raw-socket ring ring-2 tcpdump}
fi
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "live.sh: needs root (network namespaces)" >&2; exit 1; }
for tool in ip tcpreplay tcpdump capinfos; do
    command -v "$tool" >/dev/null || { echo "live.sh: $tool is required" >&2; exit 1; }
done

cargo build --release --quiet --bin spandump --example gen-underlay
SPANDUMP=${SPANDUMP:-$PWD/target/release/spandump}
GEN=$PWD/target/release/examples/gen-underlay

TAG=$$
SENDER=spandump-bench-$TAG-tx
SINK=spandump-bench-$TAG-rx
WORK=$(mktemp -d /dev/shm/spandump-live.XXXXXX)
cleanup() {
    ip netns del "$SENDER" 2>/dev/null || true
    ip netns del "$SINK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# gen-underlay's packets go from 192.0.2.1 to 198.51.100.1, MAC 02:aa:00:00:00:01 to
# 02:bb:00:00:00:01: the sink end carries that MAC and address.
ip netns add "$SENDER"
ip netns add "$SINK"
ip link add tx0 netns "$SENDER" type veth peer name rx0 netns "$SINK" address 02:bb:00:00:00:01
ip -n "$SINK" addr add 198.51.100.1/24 dev rx0
for ns_if in "$SENDER tx0" "$SINK rx0"; do
    set -- $ns_if
    ip -n "$1" link set "$2" mtu 9000 up
    ip -n "$1" link set lo up
done
ip -n "$SINK" route add 192.0.2.0/24 dev rx0

case $MIX in
    imix|small|large) "$GEN" --packets "$PACKETS" --mix "$MIX" --encap "$ENCAP" "$WORK/in.pcap" ;;
    *) echo "live.sh: MIX is imix, small or large" >&2; exit 2 ;;
esac
echo "== $PACKETS packets, mix $MIX, encapsulation $ENCAP, $(nproc) CPUs, kernel $(uname -r)"

# Busy CPU seconds of the whole machine so far (all CPUs, /proc/stat): the receiver's
# share of the work includes softirq time the kernel charges to whatever task runs.
machine_busy() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}

cpu_seconds() { # pid -> utime + stime in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# Waits until FILE contains PATTERN (the receiver's "listening on" line), 10 s at most.
wait_for() {
    local deadline=$((SECONDS + 10))
    until grep -q "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "live.sh: receiver did not start:" >&2; cat "$1" >&2; exit 1; }
        sleep 0.05
    done
}

# Waits until FILE stops growing (the receiver has written what it got).
settle() {
    local last=-1 size
    while :; do
        size=$(stat -c %s "$1" 2>/dev/null || echo 0)
        [ "$size" = "$last" ] && break
        last=$size
        sleep 0.5
    done
}

printf '%-10s %10s %10s %10s %9s %11s %12s %10s\n' receiver sent written drops "cpu s" "cpu us/pkt" "machine cpu s" "pps sent"
run_mode() {
    local mode=$1 out=$WORK/$1.pcap err=$WORK/$1.err ready
    local -a cmd
    case $mode in
        listen) cmd=("$SPANDUMP" --listen 198.51.100.1 ${SPANDUMP_ARGS:-} -w "$out"); ready="listening on" ;;
        raw-socket) cmd=("$SPANDUMP" --listen 198.51.100.1 --raw-socket -w "$out"); ready="listening on" ;;
        ring) cmd=("$SPANDUMP" -i rx0 -w "$out"); ready="listening on" ;;
        ring-2) cmd=("$SPANDUMP" -i rx0 --threads 2 -w "$out"); ready="listening on" ;;
        udp) cmd=("$SPANDUMP" --udp 198.51.100.1 ${SPANDUMP_ARGS:-} -w "$out"); ready="listening on" ;;
        tcpdump) cmd=(tcpdump -i rx0 -n -w "$out" -Z root); ready="listening on" ;;
        *) echo "live.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
    ip netns exec "$SINK" "${cmd[@]}" 2>"$err" &
    local pid=$!
    wait_for "$err" "$ready"
    local replay busy0 busy
    busy0=$(machine_busy)
    replay=$(ip netns exec "$SENDER" tcpreplay -i tx0 --topspeed -K "$WORK/in.pcap" 2>&1)
    local sent pps
    sent=$(awk '/Successful packets:/ {print $3}' <<<"$replay")
    pps=$(grep -o '[0-9.]* pps' <<<"$replay" | head -1 | cut -d' ' -f1)
    settle "$out"
    busy=$(awk -v a="$(machine_busy)" -v b="$busy0" 'BEGIN { print a - b }')
    local cpu
    cpu=$(cpu_seconds "$pid")
    kill -INT "$pid"
    wait "$pid" || true
    local written drops
    written=$(capinfos -c -M "$out" | awk '/Number of packets/ {print $NF}')
    if [ "$mode" = tcpdump ]; then
        drops=$(awk '/dropped by kernel/ {print $1}' "$err")
    else
        drops=$(awk '/dropped by kernel/ {d += $2} /frames dropped: the writer/ {d += $2} END {print d + 0}' "$err")
    fi
    [ -z "${VERBOSE:-}" ] || sed "s/^/    $mode: /" "$err"
    printf '%-10s %10s %10s %10s %9.2f %11.2f %12.2f %10s\n' "$mode" "$sent" "$written" "${drops:-?}" "$cpu" \
        "$(awk -v c="$cpu" -v n="$sent" 'BEGIN {print c * 1e6 / n}')" "$busy" "$pps"
}

for mode in $MODES; do
    run_mode "$mode"
done
