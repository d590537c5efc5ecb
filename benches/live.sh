#!/usr/bin/env bash
# Live capture at line rate: spandump (each receive mode) against tcpdump, same packets,
# same run. Needs root, iproute2, tcpreplay, tcpdump and capinfos (tshark's package).
#
#   sudo bash benches/live.sh [PACKETS] [MIX]     (default 1000000 imix; MIX: imix|small|large)
#   MODES="listen ring" sudo bash benches/live.sh  (a subset of the modes; VERBOSE=1 shows their stderr)
#   ENCAP=vxlan sudo bash benches/live.sh 200000 large   (VXLAN mirrors: modes listen ring udp tcpdump)
#   ROUNDS=3 sudo bash benches/live.sh 300000 large     (each mode 3 times, interleaved)
#   PERF=1 sudo bash benches/live.sh 300000 large       (also kernel receive path per packet, from perf)
#   PERF=1 PERF_KEEP=DIR sudo bash benches/live.sh ...  (keeps each run's perf.data as DIR/MODE-N.perf)
#
# Builds two namespaces joined by a veth pair (documentation addresses only), generates
# a mixed GRE / ERSPAN II / ERSPAN III / L3 GRE underlay capture, and for each receiver
# replays it once with `tcpreplay --topspeed -K` into the sink end. Prints per receiver:
# packets sent, frames in the output file (counted by capinfos, not by the receiver's
# own counters), drops the receiver reported, the receiver's CPU seconds (user + system,
# from /proc/PID/stat) and per packet, and the whole machine's busy CPU seconds from the
# start of the replay until the output stopped growing (sender and kernel included: the
# receiver's own figure is noisy, as softirq work is charged to whatever task runs).
# tcpdump only copies the incoming outer IPv4 packets to a file (`tcpdump -i IF -Q in
# -w F ip`): the cost of capturing without decapsulating. The receiver's CPU is counted
# from its "listening on" line: what it spent starting (spandump's 32 MiB ring is
# allocated and zeroed by the kernel: 0-90 ms, more than 300 000 small packets cost)
# is left out, as it does not grow with the packets.
#
# Each line also gives the 1-minute load average when the replay started (the machine
# is shared: a busy one steals the receiver's CPU and makes it lose) and the number of
# ICMP destination-unreachable messages the sink's kernel sent during the run (what a
# receiver that does not silence the mirror costs the sender). The summary at the end
# gives, per mode, the mean CPU seconds, the total lost (sent - written) and the ratio
# of its CPU to tcpdump's on the same load.
#
# With PERF=1 (and perf installed) the replay runs under `perf record -e cpu-clock -a -g`
# and two more columns come from its samples, which do not depend on where the kernel
# charges softirq work: "krx us" is the kernel's receive path per packet
# (`__netif_receive_skb_one_core` and below: IP, the ring's copy, the raw and UDP
# sockets, ICMP answers), "rx us" the receiver's own samples (its pid) per packet.
set -euo pipefail

PACKETS=${1:-1000000}
MIX=${2:-imix}
ENCAP=${ENCAP:-mixed}
if [ "$ENCAP" = vxlan ]; then
    MODES=${MODES:-listen ring udp tcpdump}
else
    MODES=${MODES:-listen raw-socket ring ring-2 tcpdump}
fi
ROUNDS=${ROUNDS:-1}
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

# ICMP destination-unreachable messages the sink namespace sent so far.
unreachables() {
    ip netns exec "$SINK" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "OutDestUnreachs") c = i; h = 1 } else print $c }' /proc/net/snmp
}

SUMMARY=$WORK/summary
PERF=${PERF:-}
if [ -n "$PERF" ] && ! command -v perf >/dev/null; then
    echo "live.sh: PERF=1 needs perf" >&2
    exit 1
fi
PERF_HZ=2000

# perf.data, packets, pid -> "kernel receive path us/pkt  receiver us/pkt"
perf_columns() {
    local total krx rx
    total=$(perf report -i "$1" --stdio -n --sort comm -g none 2>/dev/null |
        awk '!/^#/ && NF >= 4 { s += $3 } END { print s + 0 }')
    krx=$(perf report -i "$1" --children --stdio -n -g none --sort sym 2>/dev/null |
        awk '$NF == "__netif_receive_skb_one_core" { gsub("%", "", $1); print $1; exit }')
    rx=$(perf report -i "$1" --pid "$3" --stdio -n --sort pid -g none 2>/dev/null |
        awk '!/^#/ && NF >= 4 { s += $3 } END { print s + 0 }')
    awk -v t="$total" -v k="${krx:-0}" -v r="$rx" -v n="$2" -v hz="$PERF_HZ" \
        'BEGIN { printf "%.2f %.2f", k / 100 * t / hz * 1e6 / n, r / hz * 1e6 / n }'
}

printf '%-10s %10s %10s %8s %8s %7s %9s %11s %12s %10s %6s%s\n' receiver sent written lost drops icmp "cpu s" "cpu us/pkt" "machine cpu s" "pps sent" load \
    "${PERF:+  krx us   rx us}"
run_mode() {
    local mode=$1 out=$WORK/$1.pcap err=$WORK/$1.err ready
    local -a cmd
    case $mode in
        listen) cmd=("$SPANDUMP" --listen 198.51.100.1 ${SPANDUMP_ARGS:-} -w "$out"); ready="listening on" ;;
        raw-socket) cmd=("$SPANDUMP" --listen 198.51.100.1 --raw-socket -w "$out"); ready="listening on" ;;
        ring) cmd=("$SPANDUMP" -i rx0 -w "$out"); ready="listening on" ;;
        ring-2) cmd=("$SPANDUMP" -i rx0 --threads 2 -w "$out"); ready="listening on" ;;
        udp) cmd=("$SPANDUMP" --udp 198.51.100.1 ${SPANDUMP_ARGS:-} -w "$out"); ready="listening on" ;;
        tcpdump) cmd=(tcpdump -i rx0 -Q in -n -w "$out" -Z root ip); ready="listening on" ;;
        *) echo "live.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
    ip netns exec "$SINK" "${cmd[@]}" 2>"$err" &
    local pid=$!
    wait_for "$err" "$ready"
    local replay busy0 busy load icmp0 cpu0
    cpu0=$(cpu_seconds "$pid")
    load=$(cut -d' ' -f1 /proc/loadavg)
    icmp0=$(unreachables)
    busy0=$(machine_busy)
    local -a perf=()
    [ -z "$PERF" ] || perf=(perf record -q -e cpu-clock -F "$PERF_HZ" -a -g -o "$WORK/$mode.perf" --)
    replay=$("${perf[@]}" ip netns exec "$SENDER" tcpreplay -i tx0 --topspeed -K "$WORK/in.pcap" 2>&1)
    local sent pps
    sent=$(awk '/Successful packets:/ {print $3}' <<<"$replay")
    pps=$(grep -o '[0-9.]* pps' <<<"$replay" | head -1 | cut -d' ' -f1)
    settle "$out"
    busy=$(awk -v a="$(machine_busy)" -v b="$busy0" 'BEGIN { print a - b }')
    local cpu
    cpu=$(awk -v a="$(cpu_seconds "$pid")" -v b="$cpu0" 'BEGIN { print a - b }')
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
    local icmp=$(($(unreachables) - icmp0)) extra="" krx=0 rx=0
    if [ -n "$PERF" ]; then
        read -r krx rx <<<"$(perf_columns "$WORK/$mode.perf" "$sent" "$pid")"
        extra=$(printf ' %7s %7s' "$krx" "$rx")
        if [ -n "${PERF_KEEP:-}" ]; then
            mv "$WORK/$mode.perf" "$PERF_KEEP/$mode-$ROUND.perf"
            echo "$pid" >"$PERF_KEEP/$mode-$ROUND.pid"
        else
            rm -f "$WORK/$mode.perf"
        fi
    fi
    printf '%-10s %10s %10s %8s %8s %7s %9.2f %11.2f %12.2f %10s %6s%s\n' "$mode" "$sent" "$written" \
        "$((sent - written))" "${drops:-?}" "$icmp" "$cpu" \
        "$(awk -v c="$cpu" -v n="$sent" 'BEGIN {print c * 1e6 / n}')" "$busy" "$pps" "$load" "$extra"
    echo "$mode $sent $written $cpu $krx $rx" >>"$SUMMARY"
}

for ROUND in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        run_mode "$mode"
    done
done

# Per mode: mean CPU, total lost, and the CPU ratio to tcpdump's mean (when it ran).
echo "== summary ($ROUNDS round(s), $ENCAP $MIX): cpu = mean receiver CPU s, lost = sent - written over all rounds"
awk -v order="$MODES" '
    { n[$1]++; sent[$1] += $2; lost[$1] += $2 - $3; cpu[$1] += $4; krx[$1] += $5; rx[$1] += $6 }
    END {
        t = ("tcpdump" in n) ? cpu["tcpdump"] / n["tcpdump"] : 0
        tr = ("tcpdump" in n) ? rx["tcpdump"] / n["tcpdump"] : 0
        printf "%-10s %9s %10s %9s %12s", "receiver", "cpu s", "lost", "lost %", "cpu/tcpdump"
        if (perf) printf " %9s %9s %12s", "krx us", "rx us", "rx/tcpdump"
        printf "\n"
        split(order, modes, " ")
        for (i = 1; modes[i] != ""; i++) {
            m = modes[i]
            if (!(m in n)) continue
            c = cpu[m] / n[m]
            printf "%-10s %9.2f %10d %8.2f%% %12s", m, c, lost[m], 100 * lost[m] / sent[m], t ? sprintf("%.2f", c / t) : "-"
            if (perf) printf " %9.2f %9.2f %12s", krx[m] / n[m], rx[m] / n[m], tr ? sprintf("%.2f", rx[m] / n[m] / tr) : "-"
            printf "\n"
        }
    }' perf="$PERF" "$SUMMARY"
