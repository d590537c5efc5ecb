#!/usr/bin/env bash
# Throughput of `spandump -r X -w Y` against `tcpdump -r X -w Y` (which copies the outer
# packets without decapsulating: the cost of reading and writing a pcap) and `cat X > Y`
# (the cost of moving the bytes), on generated underlay files in tmpfs.
#
#   bash benches/vs_tcpdump.sh [PACKETS]     (default 1000000)
#
# Prints, per input file, the mean wall time of each command, the ratios
# spandump/tcpdump and spandump/cat; then, with a filter expression, spandump on the
# underlay against tcpdump filtering the inner frames; and spandump's peak RSS on a small
# and a large input (it must not grow with the input: spandump streams).
# Uses hyperfine when installed, else /usr/bin/time. Needs tcpdump and /usr/bin/time.
set -euo pipefail

PACKETS=${1:-1000000}
SMALL_PACKETS=10000
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "vs_tcpdump: $1 is required" >&2; exit 1; }; }
need tcpdump
[ -x /usr/bin/time ] || { echo "vs_tcpdump: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }

cargo build --release --quiet --bin spandump --example gen-underlay
SPANDUMP=$PWD/target/release/spandump
GEN=$PWD/target/release/examples/gen-underlay

BASE=/dev/shm
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}
WORK=$(mktemp -d "$BASE/spandump-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== generating inputs in $WORK"
"$GEN" --packets "$PACKETS" --mix imix "$WORK/imix.pcap"
"$GEN" --packets "$PACKETS" --mix small "$WORK/small.pcap"
"$GEN" --packets "$SMALL_PACKETS" --mix imix "$WORK/tiny.pcap"

# tcpdump drops root privileges to user "tcpdump" after opening files; -Z root keeps
# it able to write into our directory.
TCPDUMP_Z=()
if [ "$(id -u)" = 0 ]; then TCPDUMP_Z=(-Z root); fi

# Mean wall seconds of one command: hyperfine (10 runs after 2 warm-ups) or /usr/bin/time (3 runs).
declare -A MEAN
measure() { # name input command...
    local name=$1 input=$2; shift 2
    local cmd="$*"
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --style none --warmup 2 --runs 10 --export-csv "$WORK/h.csv" -n "$name" "$cmd" >/dev/null
        MEAN[$name/$input]=$(awk -F, 'NR==2 {print $2}' "$WORK/h.csv")
    else
        local total=0 t
        for _ in 1 2 3; do
            # The command's own redirections stay inside the group; time's line goes to
            # the captured stderr.
            t=$( { /usr/bin/time -f '%e' bash -c "{ $cmd; } >/dev/null 2>&1"; } 2>&1 | tail -1)
            total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
        done
        MEAN[$name/$input]=$(awk -v a="$total" 'BEGIN {print a / 3}')
    fi
}

for f in imix small; do
    X=$WORK/$f.pcap
    echo "== $f.pcap: $(stat -c %s "$X") bytes, $PACKETS packets"
    measure spandump $f "$SPANDUMP -r $X -w $WORK/out-spandump.pcap 2>/dev/null"
    measure tcpdump  $f "tcpdump ${TCPDUMP_Z[*]} -r $X -w $WORK/out-tcpdump.pcap 2>/dev/null"
    measure cat      $f "cat $X > $WORK/out-cat.pcap"
    s=${MEAN[spandump/$f]} t=${MEAN[tcpdump/$f]} c=${MEAN[cat/$f]}
    awk -v s="$s" -v t="$t" -v c="$c" -v n="$PACKETS" -v f="$f" 'BEGIN {
        printf "   spandump %.3f s (%.2f Mpps)   tcpdump %.3f s   cat %.3f s\n", s, n / s / 1e6, t, c
        printf "   %s: spandump/tcpdump = %.2f   spandump/cat = %.2f\n", f, s / t, s / c
    }'
    "$SPANDUMP" -r "$X" -w "$WORK/out-spandump.pcap" 2>&1 | sed -n 1p | sed 's/^/   /'
done

# Filter expressions: spandump decapsulating and filtering the underlay against tcpdump
# merely filtering the already-decapsulated inner frames (the same frames, same output).
echo "== filter expressions (spandump -r underlay EXPR vs tcpdump -r inner EXPR)"
for f in imix small; do
    X=$WORK/$f.pcap
    "$SPANDUMP" -r "$X" -w "$WORK/inner-$f.pcap" 2>/dev/null
    for expr in 'tcp port 80' 'udp'; do
        tag="$f/$expr"
        measure "spandump-expr" "$tag" "$SPANDUMP -r $X -w $WORK/out-spandump.pcap '$expr' 2>/dev/null"
        measure "tcpdump-expr" "$tag" "tcpdump ${TCPDUMP_Z[*]} -r $WORK/inner-$f.pcap -w $WORK/out-tcpdump.pcap '$expr' 2>/dev/null"
        s=${MEAN[spandump-expr/$tag]} t=${MEAN[tcpdump-expr/$tag]}
        kept=$("$SPANDUMP" -r "$X" -w "$WORK/out-spandump.pcap" "$expr" 2>&1 | sed -n 's/.* \([0-9]*\) frames written.*/\1/p')
        awk -v s="$s" -v t="$t" -v f="$f" -v e="$expr" -v k="$kept" 'BEGIN {
            printf "   %s, \x27%s\x27 (%s frames kept): spandump %.3f s   tcpdump %.3f s   spandump/tcpdump = %.2f\n", f, e, k, s, t, s / t
        }'
    done
done

rss_kb() { # input -> peak RSS in kB
    /usr/bin/time -v "$SPANDUMP" -r "$1" -w "$WORK/out-rss.pcap" 2>&1 >/dev/null \
        | awk -F': ' '/Maximum resident set size/ {print $2}'
}
echo "== peak RSS of spandump -r X -w Y"
R_TINY=$(rss_kb "$WORK/tiny.pcap")
R_IMIX=$(rss_kb "$WORK/imix.pcap")
R_SMALL=$(rss_kb "$WORK/small.pcap")
echo "   tiny.pcap  ($SMALL_PACKETS packets, $(stat -c %s "$WORK/tiny.pcap") bytes): $R_TINY kB"
echo "   imix.pcap  ($PACKETS packets, $(stat -c %s "$WORK/imix.pcap") bytes): $R_IMIX kB"
echo "   small.pcap ($PACKETS packets, $(stat -c %s "$WORK/small.pcap") bytes): $R_SMALL kB"
# Flat means: the large inputs need at most 16 MB more than the small one.
for r in "$R_IMIX" "$R_SMALL"; do
    if [ "$r" -gt $((R_TINY + 16384)) ]; then
        echo "   MEMORY NOT FLAT: $r kB on a large input vs $R_TINY kB on a small one" >&2
        exit 1
    fi
done
echo "   memory is flat"
