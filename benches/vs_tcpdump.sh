#!/usr/bin/env bash
# Throughput of `spandump -r X -w Y` against `tcpdump -r X -w Y` (which copies the outer
# packets without decapsulating: the cost of reading and writing a pcap), `cat X > Y`
# (the cost of moving the bytes inside the kernel) and the floor (`cat X > /dev/null`,
# then writing as many bytes as spandump's output has to the same tmpfs: reading the
# input and writing the output through user space, no per-packet work), on generated
# underlay files in tmpfs.
#
#   bash benches/vs_tcpdump.sh [PACKETS]     (default 1000000)
#
# Prints, per input file, the mean wall time and user CPU of each command, the ratios
# spandump/tcpdump, spandump/floor and spandump/cat, and user CPU spandump/tcpdump;
# then, with a filter expression, spandump on the
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

# Mean wall and user seconds of one command: hyperfine (10 runs after 2 warm-ups) or
# /usr/bin/time (3 runs).
declare -A MEAN USER
measure() { # name input command...
    local name=$1 input=$2; shift 2
    local cmd="$*"
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --style none --warmup 2 --runs 10 --export-csv "$WORK/h.csv" -n "$name" "$cmd" >/dev/null
        MEAN[$name/$input]=$(awk -F, 'NR==2 {print $2}' "$WORK/h.csv")
        USER[$name/$input]=$(awk -F, 'NR==2 {print $5}' "$WORK/h.csv")
    else
        local total=0 user=0 t
        for _ in 1 2 3; do
            # The command's own redirections stay inside the group; time's line goes to
            # the captured stderr.
            t=$( { /usr/bin/time -f '%e %U' bash -c "{ $cmd; } >/dev/null 2>&1"; } 2>&1 | tail -1)
            total=$(awk -v a="$total" -v b="${t% *}" 'BEGIN {print a + b}')
            user=$(awk -v a="$user" -v b="${t#* }" 'BEGIN {print a + b}')
        done
        MEAN[$name/$input]=$(awk -v a="$total" 'BEGIN {print a / 3}')
        USER[$name/$input]=$(awk -v a="$user" 'BEGIN {print a / 3}')
    fi
}

for f in imix small; do
    X=$WORK/$f.pcap
    echo "== $f.pcap: $(stat -c %s "$X") bytes, $PACKETS packets"
    measure spandump $f "$SPANDUMP -r $X -w $WORK/out-spandump.pcap 2>/dev/null"
    measure tcpdump  $f "tcpdump ${TCPDUMP_Z[*]} -r $X -w $WORK/out-tcpdump.pcap 2>/dev/null"
    measure cat      $f "cat $X > $WORK/out-cat.pcap"
    OUT_BYTES=$(stat -c %s "$WORK/out-spandump.pcap")
    measure floor    $f "cat $X > /dev/null && dd if=/dev/zero of=$WORK/out-floor.pcap bs=1M iflag=count_bytes count=$OUT_BYTES status=none"
    s=${MEAN[spandump/$f]} t=${MEAN[tcpdump/$f]} c=${MEAN[cat/$f]} fl=${MEAN[floor/$f]}
    su=${USER[spandump/$f]} tu=${USER[tcpdump/$f]}
    awk -v s="$s" -v t="$t" -v c="$c" -v fl="$fl" -v su="$su" -v tu="$tu" -v n="$PACKETS" -v f="$f" 'BEGIN {
        printf "   spandump %.3f s (%.2f Mpps, user %.3f s)   tcpdump %.3f s (user %.3f s)   floor %.3f s   cat %.3f s\n", s, n / s / 1e6, su, t, tu, fl, c
        printf "   %s: spandump/tcpdump = %.2f   spandump/floor = %.2f   floor/tcpdump = %.2f   spandump/cat = %.2f   user CPU spandump/tcpdump = %.2f\n", f, s / t, s / fl, fl / t, s / c, su / tu
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

# Instructions per packet in user space, by callgrind: repeatable whatever else the
# machine does, unlike the times above. The fixed cost of a run (start-up, headers) is
# taken out by subtracting a run on a file of one packet.
if command -v valgrind >/dev/null 2>&1; then
    CG_PACKETS=100000
    "$GEN" --packets "$CG_PACKETS" --mix small "$WORK/cg-many.pcap" >/dev/null 2>&1
    "$GEN" --packets 1 --mix small "$WORK/cg-one.pcap" >/dev/null 2>&1
    for n in many one; do
        "$SPANDUMP" -r "$WORK/cg-$n.pcap" -w "$WORK/cg-$n-inner.pcap" 2>/dev/null
    done
    instructions() { # command... -> total instructions
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
            | awk '/Collected :/ {print $NF}'
    }
    per_packet() { # label input-suffix command... (with IN where the input goes)
        local label=$1 suffix=$2; shift 2
        local all one
        all=$(instructions "${@//IN/$WORK/cg-many$suffix}")
        one=$(instructions "${@//IN/$WORK/cg-one$suffix}")
        awk -v a="$all" -v o="$one" -v n="$CG_PACKETS" -v l="$label" \
            'BEGIN { printf "   %-44s %5.0f instructions per packet\n", l, (a - o) / (n - 1) }'
    }
    echo "== user-space instructions per packet (callgrind, $CG_PACKETS 64-byte inner frames)"
    per_packet "spandump -r underlay -w Y" .pcap "$SPANDUMP" -r IN -w "$WORK/cg-out.pcap"
    per_packet "tcpdump -r underlay -w Y (a copy)" .pcap tcpdump "${TCPDUMP_Z[@]}" -r IN -w "$WORK/cg-out.pcap"
    per_packet "spandump -r underlay -w Y 'tcp port 80'" .pcap "$SPANDUMP" -r IN -w "$WORK/cg-out.pcap" 'tcp port 80'
    per_packet "tcpdump -r inner -w Y 'tcp port 80'" -inner.pcap tcpdump "${TCPDUMP_Z[@]}" -r IN -w "$WORK/cg-out.pcap" 'tcp port 80'
fi

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
# Many sessions and senders: 100 000 GRE keys from 254 senders, past the session
# table's bound (4096): the table and the sequence tracker stay bounded.
"$GEN" --packets "$PACKETS" --mix small --sessions 100000 "$WORK/sessions.pcap" >/dev/null 2>&1
R_SESSIONS=$(rss_kb "$WORK/sessions.pcap")
echo "   sessions.pcap ($PACKETS packets, 100000 sessions from 254 senders): $R_SESSIONS kB"
# Flat means: the large inputs need at most 16 MB more than the small one.
for r in "$R_IMIX" "$R_SMALL" "$R_SESSIONS"; do
    if [ "$r" -gt $((R_TINY + 16384)) ]; then
        echo "   MEMORY NOT FLAT: $r kB on a large input vs $R_TINY kB on a small one" >&2
        exit 1
    fi
done
echo "   memory is flat"
