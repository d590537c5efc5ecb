#!/usr/bin/env bash
# Live capture at line rate: spandump (each receive mode) against tcpdump, same packets,
# same run. Needs root, iproute2, tcpreplay, tcpdump and capinfos (tshark's package).
#
#   sudo bash benches/live.sh [PACKETS] [MIX]     (default 1000000 imix; MIX: imix|small|large)
#   MODES="listen ring" sudo bash benches/live.sh  (a subset of the modes; VERBOSE=1 shows their stderr)
#   ENCAP=vxlan sudo bash benches/live.sh 200000 large   (VXLAN mirrors: modes listen ring udp tcpdump)
#   ROUNDS=3 sudo bash benches/live.sh 300000 large     (each mode 3 times, interleaved)
#   PERF=1 sudo bash benches/live.sh 300000 large       (also kernel receive path per packet, from perf)
#   RING_ARGS="--block-size 64;;--block-timeout 1" sudo bash benches/live.sh 300000 large
#       (the ring modes listen, ring, ring-2 once per ';'-separated set of ring options, an
#       empty set being the defaults, interleaved in each round; labelled listen:b64,
#       listen, listen:t1 after the options: -B -> B, --block-size -> b, --block-timeout -> t)
#   PPS=20000 sudo bash benches/live.sh 100000 large    (replay at 20 000 packets/s, not top speed)
#   TRICKLE=20 sudo bash benches/live.sh 1 large        (latency: 20 lone packets per receiver, below)
#   PERF=1 PERF_KEEP=DIR sudo bash benches/live.sh ...  (keeps each run's perf.data as DIR/LABEL-ROUND.perf)
#
# Builds two namespaces joined by a veth pair (documentation addresses only), generates
# a mixed GRE / ERSPAN II / ERSPAN III / L3 GRE underlay capture, and for each receiver
# replays it once with `tcpreplay --topspeed -K` into the sink end. Prints per receiver:
# packets sent, frames in the output file (counted by capinfos, not by the receiver's
# own counters), drops the receiver reported, the receiver's CPU seconds (its threads'
# run time, from /proc/PID/task/*/schedstat) and per packet, and the whole machine's
# busy CPU seconds from the start of the replay until the output stopped growing
# (sender and kernel included: the receiver's own figure is noisy, as softirq work is
# charged to whatever task runs).
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
# gives, per receiver, the mean CPU seconds, the total lost (sent - written), the CPU per
# packet sent and its ratio to tcpdump's on the same load.
#
# With PERF=1 (and perf installed) the replay runs under `perf record -e cpu-clock -a -g`
# and two more columns come from its samples, which do not depend on where the kernel
# charges softirq work: "krx us" is the kernel's receive path per packet
# (`__netif_receive_skb_one_core` and below: IP, the ring's copy, the raw and UDP
# sockets, ICMP answers), "rx us" the receiver's own samples (its pid) per packet.
#
# With TRICKLE=N each receiver prints text (`-tt -q`, line-buffered: spandump -U,
# tcpdump -l) instead of writing a file, and gets N lone packets, one at a time, each
# sent once the one before it was printed and after a random pause as long as the
# block timeout (1 s for tcpdump, libpcap's timeout in tcpdump), so that it arrives at
# any point of the kernel's retire timer. Per receiver: the latency of each packet from
# its kernel timestamp (the -tt time) to the moment its line was read from the pipe
# (min, median, mean, 90th percentile, max in ms), and how long the receiver took to
# exit after SIGINT on the now idle capture.
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
TRICKLE=${TRICKLE:-}
# The ring option sets: one (the defaults) unless RING_ARGS lists some.
IFS=';' read -ra RING_SETS <<<"${RING_ARGS:-}"
[ ${#RING_SETS[@]} -gt 0 ] || RING_SETS=("")
REPLAY_RATE=(--topspeed)
[ -z "${PPS:-}" ] || REPLAY_RATE=(--pps "$PPS")
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
echo "== $PACKETS packets, mix $MIX, encapsulation $ENCAP, $(nproc) CPUs, kernel $(uname -r), replay ${REPLAY_RATE[*]}"
[ -z "${RING_ARGS:-}" ] || echo "== ring option sets (ring modes): $(printf '[%s] ' "${RING_SETS[@]}")"

# Busy CPU seconds of the whole machine so far (all CPUs, /proc/stat): the receiver's
# share of the work includes softirq time the kernel charges to whatever task runs.
machine_busy() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}

# pid -> CPU seconds of all its threads, in nanoseconds (the scheduler's runtime, from
# /proc/PID/task/*/schedstat: utime + stime in /proc/PID/stat count 10 ms ticks, as
# much as 300 000 small packets cost).
cpu_seconds() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f\n", s / 1e9 }'
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

# The receiver's label: the mode, and its ring option set in short (listen:b256,t10).
label() {
    local tag
    tag=$(sed -e 's/--block-size /b/g; s/--block-timeout /t/g; s/-B /B/g' \
        -e 's/^ *//; s/ *$//; s/  */,/g' <<<"$2")
    echo "$1${tag:+:$tag}"
}

# mode, ring options, output file (or "" for text on stdout) -> the receiver's command
# in CMD.
receiver_command() {
    local mode=$1 out=$3
    local -a ring output
    read -ra ring <<<"$2"
    if [ -n "$out" ]; then
        output=(-w "$out")
    elif [ "$mode" = tcpdump ]; then
        output=(-l -tt -q)
    else
        output=(-U -tt -q)
    fi
    case $mode in
        listen) CMD=("$SPANDUMP" --listen 198.51.100.1 ${SPANDUMP_ARGS:-} "${ring[@]}" "${output[@]}") ;;
        raw-socket) CMD=("$SPANDUMP" --listen 198.51.100.1 --raw-socket "${output[@]}") ;;
        ring) CMD=("$SPANDUMP" -i rx0 "${ring[@]}" "${output[@]}") ;;
        ring-2) CMD=("$SPANDUMP" -i rx0 --threads 2 "${ring[@]}" "${output[@]}") ;;
        udp) CMD=("$SPANDUMP" --udp 198.51.100.1 ${SPANDUMP_ARGS:-} "${output[@]}") ;;
        tcpdump) CMD=(tcpdump -i rx0 -Q in -n "${output[@]}" -Z root ip) ;;
        *) echo "live.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
}

run_mode() {
    local mode=$1 name
    name=$(label "$1" "$2")
    local out=$WORK/$name.pcap err=$WORK/$name.err ready="listening on"
    receiver_command "$mode" "$2" "$out"
    ip netns exec "$SINK" "${CMD[@]}" 2>"$err" &
    local pid=$!
    wait_for "$err" "$ready"
    local replay busy0 busy load icmp0 cpu0
    cpu0=$(cpu_seconds "$pid")
    load=$(cut -d' ' -f1 /proc/loadavg)
    icmp0=$(unreachables)
    busy0=$(machine_busy)
    local -a perf=()
    [ -z "$PERF" ] || perf=(perf record -q -e cpu-clock -F "$PERF_HZ" -a -g -o "$WORK/$name.perf" --)
    replay=$("${perf[@]}" ip netns exec "$SENDER" tcpreplay -i tx0 "${REPLAY_RATE[@]}" -K "$WORK/in.pcap" 2>&1)
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
    [ -z "${VERBOSE:-}" ] || sed "s/^/    $name: /" "$err"
    local icmp=$(($(unreachables) - icmp0)) extra="" krx=0 rx=0
    if [ -n "$PERF" ]; then
        read -r krx rx <<<"$(perf_columns "$WORK/$name.perf" "$sent" "$pid")"
        extra=$(printf ' %7s %7s' "$krx" "$rx")
        if [ -n "${PERF_KEEP:-}" ]; then
            mv "$WORK/$name.perf" "$PERF_KEEP/$name-$ROUND.perf"
            echo "$pid" >"$PERF_KEEP/$name-$ROUND.pid"
        else
            rm -f "$WORK/$name.perf"
        fi
    fi
    printf '%-18s %10s %10s %8s %8s %7s %9.3f %11.3f %12.2f %10s %6s%s\n' "$name" "$sent" "$written" \
        "$((sent - written))" "${drops:-?}" "$icmp" "$cpu" \
        "$(awk -v c="$cpu" -v n="$sent" 'BEGIN {print c * 1e6 / n}')" "$busy" "$pps" "$load" "$extra"
    rm -f "$out"
    echo "$name $sent $written $cpu $krx $rx" >>"$SUMMARY"
}

# Waits until FILE has N lines, DEADLINE seconds at most; 1 if it never did.
wait_lines() {
    local deadline=$((SECONDS + $3))
    until [ "$(wc -l <"$1")" -ge "$2" ]; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.005
    done
}

# TRICKLE=N: N lone packets into one receiver; its latency per packet and stop time.
run_trickle() {
    local mode=$1 name
    name=$(label "$1" "$2")
    local err=$WORK/$name.err lat=$WORK/$name.lat timeout_ms
    receiver_command "$mode" "$2" ""
    if [ "$mode" = tcpdump ]; then
        timeout_ms=1000
    else
        timeout_ms=$(sed -n 's/.*--block-timeout \([0-9]*\).*/\1/p' <<<"$2")
        timeout_ms=${timeout_ms:-$(awk '/^pub const DEFAULT_BLOCK_TIMEOUT_MS/ { gsub(";", ""); print $NF }' src/capture/ring/geometry.rs)}
    fi
    : >"$lat"
    # Each line read stamped with the time it was read: "arrival kernel-timestamp".
    ip netns exec "$SINK" "${CMD[@]}" 2>"$err" > >(
        while IFS= read -r line; do
            case $line in [0-9]*) echo "$EPOCHREALTIME ${line%% *}" ;; esac
        done >"$lat"
    ) &
    local pid=$!
    wait_for "$err" "listening on"
    local load i pause lost=0
    load=$(cut -d' ' -f1 /proc/loadavg)
    for i in $(seq "$TRICKLE"); do
        # A pause of 20 ms plus a random part as long as the timeout: any timer phase.
        pause=$(awk -v r="$RANDOM" -v t="$timeout_ms" 'BEGIN { printf "%.3f", (20 + r / 32768 * t) / 1000 }')
        sleep "$pause"
        ip netns exec "$SENDER" tcpreplay -q -i tx0 "$WORK/one.pcap" >/dev/null 2>&1
        wait_lines "$lat" "$i" $((timeout_ms / 1000 + 5)) || { lost=$((lost + 1)); wait_lines "$lat" "$i" 5 || true; }
    done
    local t0 t1
    t0=$EPOCHREALTIME
    kill -INT "$pid"
    wait "$pid" || true
    t1=$EPOCHREALTIME
    [ -z "${VERBOSE:-}" ] || sed "s/^/    $name: /" "$err"
    sort -n -k1 "$lat" | awk -v name="$name" -v n="$TRICKLE" -v lost="$lost" -v load="$load" \
        -v stop="$(awk -v a="$t1" -v b="$t0" 'BEGIN { print (a - b) * 1000 }')" '
        { d[NR] = ($1 - $2) * 1000; s += d[NR] }
        END {
            m = NR
            # insertion sort: N is small
            for (i = 2; i <= m; i++) { v = d[i]; for (j = i - 1; j >= 1 && d[j] > v; j--) d[j + 1] = d[j]; d[j + 1] = v }
            if (m == 0) { printf "%-18s %6d %6d %9s %9s %9s %9s %9s %9.0f %6s\n", name, n, 0, "-", "-", "-", "-", "-", stop, load; exit }
            med = (m % 2) ? d[(m + 1) / 2] : (d[m / 2] + d[m / 2 + 1]) / 2
            p90 = d[int(0.9 * m + 0.999)]
            printf "%-18s %6d %6d %9.2f %9.2f %9.2f %9.2f %9.2f %9.0f %6s\n", name, n, m, d[1], med, s / m, p90, d[m], stop, load
            print name, d[1], med, s / m, p90, d[m], stop >> summary
        }' summary="$SUMMARY"
}

# Every receiver to run in a round: "mode|ring options"; the ring modes once per set.
RECEIVERS=()
for mode in $MODES; do
    case $mode in
        listen|ring|ring-2) for set in "${RING_SETS[@]}"; do RECEIVERS+=("$mode|$set"); done ;;
        *) RECEIVERS+=("$mode|") ;;
    esac
done
ORDER=""
for r in "${RECEIVERS[@]}"; do ORDER="$ORDER $(label "${r%%|*}" "${r#*|}")"; done

if [ -n "$TRICKLE" ]; then
    "$GEN" --packets 1 --mix "$MIX" --encap "$ENCAP" "$WORK/one.pcap" >/dev/null
    echo "== trickle: $TRICKLE lone packets per receiver; latency from the kernel's timestamp to the line read, ms"
    printf '%-18s %6s %6s %9s %9s %9s %9s %9s %9s %6s\n' receiver sent lines min median mean p90 max "stop ms" load
    for _ in $(seq "$ROUNDS"); do
        for r in "${RECEIVERS[@]}"; do
            run_trickle "${r%%|*}" "${r#*|}"
        done
    done
    [ "$ROUNDS" -gt 1 ] || exit 0
    echo "== trickle summary ($ROUNDS rounds): mean of each column over the rounds"
    awk -v order="$ORDER" '
        { n[$1]++; for (i = 2; i <= 7; i++) v[$1, i] += $i }
        END {
            printf "%-18s %9s %9s %9s %9s %9s %9s\n", "receiver", "min", "median", "mean", "p90", "max", "stop ms"
            split(order, modes, " ")
            for (k = 1; modes[k] != ""; k++) {
                m = modes[k]
                if (!(m in n)) continue
                printf "%-18s", m
                for (i = 2; i <= 7; i++) printf " %9.2f", v[m, i] / n[m]
                printf "\n"
            }
        }' "$SUMMARY"
    exit 0
fi

printf '%-18s %10s %10s %8s %8s %7s %9s %11s %12s %10s %6s%s\n' receiver sent written lost drops icmp "cpu s" "cpu us/pkt" "machine cpu s" "pps sent" load \
    "${PERF:+  krx us   rx us}"
for ROUND in $(seq "$ROUNDS"); do
    for r in "${RECEIVERS[@]}"; do
        run_mode "${r%%|*}" "${r#*|}"
    done
done

# Per receiver: mean CPU, total lost, and the CPU ratio to tcpdump's mean (when it ran).
echo "== summary ($ROUNDS round(s), $ENCAP $MIX, replay ${REPLAY_RATE[*]}): cpu = mean receiver CPU s, lost = sent - written over all rounds"
awk -v order="$ORDER" '
    { n[$1]++; sent[$1] += $2; lost[$1] += $2 - $3; cpu[$1] += $4; krx[$1] += $5; rx[$1] += $6 }
    END {
        t = ("tcpdump" in n) ? cpu["tcpdump"] / sent["tcpdump"] : 0
        tr = ("tcpdump" in n) ? rx["tcpdump"] / n["tcpdump"] : 0
        printf "%-18s %9s %10s %9s %11s %12s", "receiver", "cpu s", "lost", "lost %", "cpu us/pkt", "cpu/tcpdump"
        if (perf) printf " %9s %9s %12s", "krx us", "rx us", "rx/tcpdump"
        printf "\n"
        split(order, modes, " ")
        for (i = 1; modes[i] != ""; i++) {
            m = modes[i]
            if (!(m in n)) continue
            c = cpu[m] / n[m]
            p = cpu[m] / sent[m]
            printf "%-18s %9.2f %10d %8.2f%% %11.3f %12s", m, c, lost[m], 100 * lost[m] / sent[m], p * 1e6, t ? sprintf("%.2f", p / t) : "-"
            if (perf) printf " %9.2f %9.2f %12s", krx[m] / n[m], rx[m] / n[m], tr ? sprintf("%.2f", rx[m] / n[m] / tr) : "-"
            printf "\n"
        }
    }' perf="$PERF" "$SUMMARY"
