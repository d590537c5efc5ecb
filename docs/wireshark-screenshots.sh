#!/usr/bin/env bash
# Takes the README's Wireshark screenshots: Wireshark's capture dialog listing
# spandump's extcap interfaces, and a capture through spandump-interface with one
# Wireshark interface per mirror session. Not part of CI (it needs a display server).
#
#   sudo bash docs/wireshark-screenshots.sh      (root: it builds two namespaces)
#
# Needs: wireshark-qt, xvfb, imagemagick (import), xdotool, tcpreplay, setpriv.
# Wireshark runs as uid 65534 with only CAP_NET_RAW, as a user would after
# `setcap cap_net_raw+ep`, with spandump in a private extcap folder; mirrored traffic
# is the recorded OVN underlay of testdata/, replayed into a veth of the sink namespace.
# Documentation addresses only; everything is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wireshark Xvfb import xdotool tcpreplay setpriv; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is required" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root (network namespaces)" >&2; exit 1; }

cargo build --release --quiet --bin spandump
WORK=$(mktemp -d)
chmod 777 "$WORK"
SND=spandump-shot-snd SNK=spandump-shot-snk
DISPLAY_NO=:97
cleanup() {
    [ -n "${WS_PID:-}" ] && kill "$WS_PID" 2>/dev/null || true
    [ -n "${REPLAY_PID:-}" ] && kill "$REPLAY_PID" 2>/dev/null || true
    [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
    ip netns del "$SND" 2>/dev/null || true
    ip netns del "$SNK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$SND"
ip netns add "$SNK"
ip link add shot-snd netns "$SND" type veth peer name shot-snk netns "$SNK"
ip -n "$SND" addr add 198.51.100.1/24 dev shot-snd
ip -n "$SNK" addr add 198.51.100.2/24 dev shot-snk
for ns in "$SND" "$SNK"; do ip -n "$ns" link set lo up; done
ip -n "$SND" link set shot-snd up
ip -n "$SNK" link set shot-snk up

cp target/release/spandump "$WORK/spandump"
chmod 755 "$WORK/spandump"
Xvfb "$DISPLAY_NO" -screen 0 1400x900x24 >/dev/null 2>&1 &
XVFB_PID=$!
sleep 1

as_user() {
    ip netns exec "$SNK" setpriv --reuid=65534 --regid=65534 --clear-groups \
        --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw --bounding-set=-all,+net_raw \
        env DISPLAY="$DISPLAY_NO" HOME="$WORK" WIRESHARK_EXTCAP_DIR="$WORK" \
        XDG_RUNTIME_DIR="$WORK" QT_QPA_PLATFORM=xcb "$@"
}

shot() { # window-title seconds file: the whole screen, Wireshark's window filling it
    local win
    win=$(DISPLAY="$DISPLAY_NO" xdotool search --sync --onlyvisible --name "$1" | head -1)
    DISPLAY="$DISPLAY_NO" xdotool windowmove "$win" 0 0 windowsize "$win" 1400 900
    sleep "$2"
    DISPLAY="$DISPLAY_NO" import -window root "docs/$3"
    echo "wrote docs/$3"
}

# 1. The welcome screen's interface list, with spandump's two interfaces.
as_user wireshark >/dev/null 2>&1 &
WS_PID=$!
shot "Wireshark" 8 wireshark-interfaces.png
kill "$WS_PID"; wait "$WS_PID" 2>/dev/null || true

# 2. A capture through spandump-interface: the OVN mirrors (GRE key 99 and 7, ERSPAN II
#    sessions 77, 10, 301) with the interface name as a column.
ip netns exec "$SND" tcpreplay -q --loop=0 --pps=20 -i shot-snd testdata/ovn-mirrors.pcap >/dev/null 2>&1 &
REPLAY_PID=$!
# A long title makes the column wide enough for the session names.
COLUMNS='"No.","%m","Mirror session (pcapng interface name)","%Cus:frame.interface_name:0:R","Source","%s","Destination","%d","Protocol","%p","Info","%i"'
as_user wireshark -k -i spandump-interface \
    -o "extcap.spandump_interface.interface:shot-snk" \
    -o "gui.column.format:$COLUMNS" -Y "icmp or icmpv6 or tcp or udp" >/dev/null 2>&1 &
WS_PID=$!
shot "spandump-interface" 12 wireshark-capture.png
