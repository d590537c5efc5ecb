#!/usr/bin/env bash
# Text output: `spandump -r X -nn > /dev/null` (decapsulate and print) against
# `tcpdump -nn -r inner.pcap > /dev/null` (print the same inner frames, which spandump
# wrote beforehand), on the generated 1M-packet IMIX underlay file in tmpfs; then
# spandump's peak RSS printing a small file and a file of a million distinct TCP
# connections (the relative-sequence table must keep memory flat).
#
#   bash benches/text_vs_tcpdump.sh [PACKETS]     (default 1000000)
#
# Prints the mean wall time of each and the ratio spandump/tcpdump (goal: <= 1), then
# the same on FLOW_PACKETS (default 100000) distinct TCP connections.
# Uses hyperfine when installed, else /usr/bin/time (3 runs). Needs tcpdump and
# /usr/bin/time. Both run with TZ=UTC.
set -euo pipefail

PACKETS=${1:-1000000}
SMALL_PACKETS=10000
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "text_vs_tcpdump: $1 is required" >&2; exit 1; }; }
need tcpdump
[ -x /usr/bin/time ] || { echo "text_vs_tcpdump: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
export TZ=UTC

cargo build --release --quiet --bin spandump --example gen-underlay
SPANDUMP=$PWD/target/release/spandump
GEN=$PWD/target/release/examples/gen-underlay

BASE=/dev/shm
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}
WORK=$(mktemp -d "$BASE/spandump-text-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== generating inputs in $WORK"
"$GEN" --packets "$PACKETS" --mix imix "$WORK/imix.pcap"
"$GEN" --packets "$PACKETS" --mix tcp-flows "$WORK/flows.pcap"
"$GEN" --packets "$SMALL_PACKETS" --mix tcp-flows "$WORK/tiny.pcap"
"$SPANDUMP" -r "$WORK/imix.pcap" -w "$WORK/inner.pcap" 2>/dev/null

declare -A MEAN
measure() { # name command...
    local name=$1; shift
    local cmd="$*"
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --style none --warmup 1 --runs 5 --export-csv "$WORK/h.csv" -n "$name" "$cmd" >/dev/null
        MEAN[$name]=$(awk -F, 'NR==2 {print $2}' "$WORK/h.csv")
    else
        local total=0 t
        for _ in 1 2 3; do
            t=$( { /usr/bin/time -f '%e' bash -c "$cmd" >/dev/null 2>/dev/null; } 2>&1 | tail -1)
            total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
        done
        MEAN[$name]=$(awk -v a="$total" 'BEGIN {print a / 3}')
    fi
}

echo "== imix.pcap: $PACKETS packets"
measure spandump "$SPANDUMP -r $WORK/imix.pcap -nn > /dev/null 2>/dev/null"
measure tcpdump "tcpdump -nn -r $WORK/inner.pcap > /dev/null 2>/dev/null"
s=${MEAN[spandump]} t=${MEAN[tcpdump]}
awk -v s="$s" -v t="$t" -v n="$PACKETS" 'BEGIN {
    printf "   spandump -nn %.3f s (%.2f Mpps)   tcpdump -nn %.3f s (%.2f Mpps)\n", s, n / s / 1e6, t, n / t / 1e6
    printf "   imix: spandump/tcpdump = %.2f\n", s / t
}'

# One connection per packet: spandump's table stays at 65536 slots. tcpdump's chained
# hash table grows with every connection and its lookups with it (more than a minute
# for 1M connections), so it is timed only on the first FLOW_PACKETS of them.
FLOW_PACKETS=${FLOW_PACKETS:-100000}
"$GEN" --packets "$FLOW_PACKETS" --mix tcp-flows "$WORK/some-flows.pcap"
"$SPANDUMP" -r "$WORK/some-flows.pcap" -w "$WORK/some-flows-inner.pcap" 2>/dev/null
echo "== flows.pcap: $PACKETS TCP connections, one packet each"
flows_start=$(date +%s.%N)
"$SPANDUMP" -r "$WORK/flows.pcap" -nn > /dev/null 2>/dev/null
awk -v a="$flows_start" -v b="$(date +%s.%N)" -v n="$PACKETS" 'BEGIN {
    printf "   spandump -nn %.3f s (%.2f Mpps, one run)\n", b - a, n / (b - a) / 1e6
}'
echo "== some-flows.pcap: $FLOW_PACKETS TCP connections"
measure spandump-flows "$SPANDUMP -r $WORK/some-flows.pcap -nn > /dev/null 2>/dev/null"
measure tcpdump-flows "tcpdump -nn -r $WORK/some-flows-inner.pcap > /dev/null 2>/dev/null"
s=${MEAN[spandump-flows]} t=${MEAN[tcpdump-flows]}
awk -v s="$s" -v t="$t" 'BEGIN {
    printf "   spandump -nn %.3f s   tcpdump -nn %.3f s   spandump/tcpdump = %.4f\n", s, t, s / t
}'

rss_kb() { # input -> peak RSS in kB of spandump printing it
    /usr/bin/time -v "$SPANDUMP" -r "$1" -nn 2>&1 >/dev/null \
        | awk -F': ' '/Maximum resident set size/ {print $2}'
}
echo "== peak RSS of spandump -r X -nn > /dev/null"
R_TINY=$(rss_kb "$WORK/tiny.pcap")
R_FLOWS=$(rss_kb "$WORK/flows.pcap")
echo "   tiny.pcap  ($SMALL_PACKETS TCP connections): $R_TINY kB"
echo "   flows.pcap ($PACKETS TCP connections): $R_FLOWS kB"
if [ "$R_FLOWS" -gt $((R_TINY + 16384)) ]; then
    echo "   MEMORY NOT FLAT: $R_FLOWS kB for $PACKETS connections vs $R_TINY kB" >&2
    exit 1
fi
echo "   memory is flat"
