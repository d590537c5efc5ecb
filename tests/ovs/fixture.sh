#!/usr/bin/env bash
# A hypervisor running Open vSwitch (or OVN on top of it) that mirrors pod traffic to a sink,
# all inside network namespaces this script makes and removes. Driven by tests/ovs.rs and
# tests/ovs_cloud.rs.
#
#   fixture.sh up DIR TAG MODE      build it; MODE ovs, ovn or cloud; DIR is an empty private
#                                   directory (databases, sockets, logs, pid files), TAG a short
#                                   unique word in the namespace names. Prints nothing on
#                                   success.
#   fixture.sh traffic DIR          the traffic of one test run (see `traffic` below)
#   fixture.sh down DIR             stop the daemons this fixture started (by pid file, never by
#                                   name) and delete its namespaces; safe to run twice or after
#                                   a failed `up`
#
# The picture (documentation addresses and MACs only: RFC 5737, RFC 3849, RFC 7042):
#
#   pod1 eth0 192.0.2.11 2001:db8:1::11 --veth-- vpod1 \
#   pod2 eth0 192.0.2.12 2001:db8:1::12 --veth-- vpod2  > br-int (netdev) -- mirror ports
#   pod3 eth0 192.0.2.13 2001:db8:1::13 --veth-- vpod3 /
#                      (hv namespace: ovsdb-server, ovs-vswitchd [, ovn-controller])
#   br-phy (netdev) 198.51.100.1 2001:db8:100::1, port phy0 --veth-- sink eth0 198.51.100.2
#                                                                       2001:db8:100::2
#
# The kernel here has no gre / erspan / openvswitch modules: both bridges use the userspace
# datapath (datapath_type=netdev), which builds the tunnel headers itself and sends them out
# of br-phy. The route and neighbour of the sink are given to OVS explicitly, so the first
# mirrored packet does not wait for ARP.
#
# Mirrors (modes ovs and cloud, made here with ovs-vsctl; mode ovn, made by ovn-controller
# from `ovn-nbctl mirror-add`): see mirrors_ovs, mirrors_cloud and mirrors_ovn. tests/ovs.rs
# and tests/ovs_cloud.rs hold the same tables. The vxlan and geneve ports of mode cloud are
# built by the userspace datapath too (no vxlan / geneve kernel device is made).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DEADLINE=20

POD_MACS=(00:00:5e:00:53:11 00:00:5e:00:53:12 00:00:5e:00:53:13)
POD_V4=(192.0.2.11 192.0.2.12 192.0.2.13)
POD_V6=(2001:db8:1::11 2001:db8:1::12 2001:db8:1::13)
PHY_MAC=00:00:5e:00:53:01
SINK_MAC=00:00:5e:00:53:02
SINK_V4=198.51.100.2
SINK_V6=2001:db8:100::2

die() {
    echo "fixture: $*" >&2
    exit 1
}

# Runs "$@" until it succeeds, for at most DEADLINE seconds.
wait_for() {
    local what=$1
    shift
    local end=$((SECONDS + DEADLINE))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || die "timed out waiting for $what"
        sleep 0.05
    done
}

names() {
    TAG=$(cat "$DIR/tag")
    HV=sd-$TAG-hv
    SINK=sd-$TAG-sink
    PODS=(sd-$TAG-pod1 sd-$TAG-pod2 sd-$TAG-pod3)
    export OVS_RUNDIR=$DIR/run OVS_LOGDIR=$DIR/log OVS_DBDIR=$DIR/db OVS_SYSCONFDIR=$DIR/etc
    export OVN_RUNDIR=$DIR/run OVN_LOGDIR=$DIR/log OVN_DBDIR=$DIR/db OVN_SYSCONFDIR=$DIR/etc
    DB=unix:$DIR/run/db.sock
    NB=unix:$DIR/run/nb.sock
    SB=unix:$DIR/run/sb.sock
}

vsctl() { ovs-vsctl --db="$DB" --timeout=$DEADLINE "$@"; }
appctl() { ovs-appctl -t "$DIR/run/ovs-vswitchd.ctl" "$@"; }
nbctl() { ovn-nbctl --db="$NB" --timeout=$DEADLINE "$@"; }
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

add_ns() {
    # Recorded before it exists, so `down` removes it even if this script dies right after.
    echo "$1" >>"$DIR/netns"
    ip netns add "$1"
    ip -n "$1" link set lo up
}

# veth NS_A NAME_A NS_B NAME_B: a veth pair with its ends renamed inside the namespaces.
veth() {
    local a="v${TAG}a" b="v${TAG}b"
    ip link add "$a" netns "$1" type veth peer name "$b" netns "$3"
    ip -n "$1" link set "$a" name "$2"
    ip -n "$3" link set "$b" name "$4"
}

# daemon NAME PROGRAM ARGS...: starts PROGRAM detached in the hv namespace with its pid file,
# log and control socket in DIR, named after NAME.
daemon() {
    local name=$1
    shift
    # (ovn-controller has no --unixctl: its socket goes to OVN_RUNDIR, inside DIR too.)
    local ctl=(--unixctl="$DIR/run/$name.ctl")
    [ "$name" != ovn-controller ] || ctl=()
    in_ns "$HV" "$@" --pidfile="$DIR/run/$name.pid" --detach --no-chdir \
        --log-file="$DIR/log/$name.log" "${ctl[@]}" -vconsole:off 2>>"$DIR/log/$name.stderr"
    echo "$DIR/run/$name.pid" >>"$DIR/pidfiles"
}

up() {
    mkdir -p "$DIR/run" "$DIR/log" "$DIR/db" "$DIR/etc"
    echo "$1" >"$DIR/tag"
    MODE=$2
    names
    : >"$DIR/netns"
    : >"$DIR/pidfiles"
    add_ns "$HV"
    # The hv kernel's own IPv6 (router solicitations, MLD) on vpodN would reach the pods
    # without passing OVS, so no mirror would see it: IPv6 only where it is wanted (br-phy).
    in_ns "$HV" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    add_ns "$SINK"
    for p in "${PODS[@]}"; do add_ns "$p"; done

    # The underlay: sink <-> phy0 on br-phy. MTU 9000 end to end: OVS drops a frame that
    # does not fit once encapsulated, without a word.
    veth "$SINK" eth0 "$HV" phy0
    ip -n "$SINK" link set eth0 address $SINK_MAC mtu 9000 up
    ip -n "$SINK" addr add $SINK_V4/24 dev eth0
    ip -n "$SINK" addr add $SINK_V6/64 dev eth0 nodad
    ip -n "$HV" link set phy0 mtu 9000 up

    for i in 0 1 2; do
        local pod=${PODS[$i]}
        veth "$pod" eth0 "$HV" "vpod$((i + 1))"
        # Quiet pods: no DAD, no router solicitations; what they send is what the test does.
        # MLD reports at once (at link up, before any capture starts) instead of up to a
        # second later, and no neighbour probes (5 s after a use) during a test.
        for s in conf.eth0.accept_dad=0 conf.eth0.accept_ra=0 conf.eth0.router_solicitations=0 \
            conf.eth0.mldv1_unsolicited_report_interval=1 \
            conf.eth0.mldv2_unsolicited_report_interval=1 neigh.eth0.delay_first_probe_time=600; do
            in_ns "$pod" sysctl -qw "net.ipv6.$s"
        done
        in_ns "$pod" sysctl -qw net.ipv4.neigh.eth0.delay_first_probe_time=600
        ip -n "$pod" link set eth0 address "${POD_MACS[$i]}"
        ip -n "$pod" addr add "${POD_V4[$i]}/24" dev eth0
        ip -n "$pod" addr add "${POD_V6[$i]}/64" dev eth0 nodad
        # Full checksums and no GSO: a mirror copies the frame as the pod sent it, and so
        # does tcpdump; partial checksums or 64 KB super-frames would differ from the wire.
        in_ns "$pod" ethtool -K eth0 tx off tso off gso off >/dev/null
        ip -n "$pod" link set eth0 up
        ip -n "$HV" link set "vpod$((i + 1))" up
    done

    ovsdb-tool create "$DIR/db/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    daemon ovsdb-server ovsdb-server "$DIR/db/conf.db" --remote="p$DB"
    ovs-vsctl --db="$DB" --no-wait init
    daemon ovs-vswitchd ovs-vswitchd "$DB"

    vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev \
        other_config:hwaddr=$PHY_MAC -- set interface br-phy mtu_request=9000 \
        -- add-port br-phy phy0
    in_ns "$HV" sysctl -qw net.ipv6.conf.br-phy.disable_ipv6=0
    ip -n "$HV" addr add 198.51.100.1/24 dev br-phy
    ip -n "$HV" addr add 2001:db8:100::1/64 dev br-phy nodad
    ip -n "$HV" link set br-phy up
    appctl ovs/route/add $SINK_V4/32 br-phy >/dev/null
    appctl ovs/route/add $SINK_V6/128 br-phy >/dev/null
    appctl tnl/neigh/set br-phy $SINK_V4 $SINK_MAC >/dev/null
    appctl tnl/neigh/set br-phy $SINK_V6 $SINK_MAC >/dev/null

    case $MODE in
        ovs) up_ovs ;;
        ovn) up_ovn ;;
        cloud) up_cloud ;;
        *) die "unknown mode $MODE" ;;
    esac

    for i in 0 1 2; do
        local log="$DIR/serve$((i + 1)).log"
        # Not through a shell function, and `ip netns exec` execs python: $! is its pid.
        ip netns exec "${PODS[$i]}" python3 "$HERE/pod.py" serve "$DIR" >"$log" 2>&1 &
        echo $! >"$DIR/run/serve$((i + 1)).pid"
        echo "$DIR/run/serve$((i + 1)).pid" >>"$DIR/pidfiles"
        wait_for "the echo server of pod$((i + 1))" grep -q serving "$log"
    done
}

# mirror NAME PORT SELECT OUTPUT: an OVS mirror of PORT (select_src_port: what the bridge
# receives from it; select_dst_port: what it sends to it) to the port OUTPUT.
mirror() {
    vsctl -- --id=@p get port "$2" -- --id=@o get port "$4" \
        -- --id=@m create mirror name="$1" "$3=@p" output_port=@o \
        -- add bridge br-int mirrors @m >/dev/null
}

# tunnel NAME TYPE OPTIONS...: a tunnel port on br-int.
tunnel() {
    local name=$1 type=$2
    shift 2
    local opts=()
    for o in "$@"; do opts+=("options:$o"); done
    vsctl add-port br-int "$name" -- set interface "$name" type="$type" "${opts[@]}"
}

up_ovs() {
    vsctl add-br br-int -- set bridge br-int datapath_type=netdev
    for i in 1 2 3; do vsctl add-port br-int "vpod$i"; done
    mirrors_ovs
}

# The OVS mirrors, two or more sessions per sink address. Keep in step with OVS_MIRRORS in
# tests/ovs.rs. erspan_idx and erspan_hwid are hexadecimal to OVS; key is decimal.
mirrors_ovs() {
    tunnel gre99 gre remote_ip=$SINK_V4 key=99
    mirror m-gre99 vpod1 select_src_port gre99
    tunnel span77 erspan remote_ip=$SINK_V4 key=77 erspan_ver=1 erspan_idx=77
    mirror m-span77 vpod1 select_dst_port span77
    tunnel span5 erspan remote_ip=$SINK_V4 key=5 erspan_ver=2 erspan_hwid=1f erspan_dir=0
    mirror m-span5 vpod2 select_src_port span5
    tunnel span6 erspan remote_ip=$SINK_V4 key=6 erspan_ver=2 erspan_hwid=2a erspan_dir=1
    mirror m-span6 vpod2 select_dst_port span6
    tunnel gre7 ip6gre remote_ip=$SINK_V6 key=7
    mirror m-gre7 vpod3 select_src_port gre7
    tunnel span300 ip6erspan remote_ip=$SINK_V6 key=300 erspan_ver=1 erspan_idx=abcde
    mirror m-span300 vpod3 select_dst_port span300
    # A second mirror of the same port: GRE with checksum and sequence numbers.
    tunnel gre8 gre remote_ip=$SINK_V4 key=8 csum=true seq=true
    mirror m-gre8 vpod3 select_src_port gre8
}

up_cloud() {
    vsctl add-br br-int -- set bridge br-int datapath_type=netdev
    for i in 1 2 3; do vsctl add-port br-int "vpod$i"; done
    mirrors_cloud
}

# The VXLAN and GENEVE mirrors, both families. Keep in step with CLOUD in
# tests/ovs_cloud.rs. key is the VNI (decimal).
mirrors_cloud() {
    tunnel vx5569041 vxlan remote_ip=$SINK_V4 key=5569041
    mirror m-vx5569041 vpod1 select_src_port vx5569041
    tunnel gnv4242 geneve remote_ip=$SINK_V4 key=4242
    mirror m-gnv4242 vpod2 select_dst_port gnv4242
    tunnel gnv100 geneve remote_ip=$SINK_V6 key=100
    mirror m-gnv100 vpod3 select_src_port gnv100
    tunnel vx7 vxlan remote_ip=$SINK_V6 key=7
    mirror m-vx7 vpod3 select_dst_port vx7
}

up_ovn() {
    ovsdb-tool create "$DIR/db/nb.db" /usr/share/ovn/ovn-nb.ovsschema
    ovsdb-tool create "$DIR/db/sb.db" /usr/share/ovn/ovn-sb.ovsschema
    daemon ovsdb-nb ovsdb-server "$DIR/db/nb.db" --remote="p$NB"
    daemon ovsdb-sb ovsdb-server "$DIR/db/sb.db" --remote="p$SB"
    daemon ovn-northd ovn-northd --ovnnb-db="$NB" --ovnsb-db="$SB"
    # The chassis: ovn-controller makes br-int itself, on the userspace datapath.
    vsctl set open_vswitch . external_ids:system-id=hv1 external_ids:ovn-remote="$SB" \
        external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip=198.51.100.1 \
        external_ids:ovn-bridge-datapath-type=netdev
    daemon ovn-controller ovn-controller "$DB"
    wait_for "ovn-controller to make br-int" vsctl br-exists br-int
    # OVN drops 802.1Q-tagged frames from VIFs unless told to pass them (from-lport
    # mirrors copy them all the same: mirroring comes before the logical pipeline).
    nbctl ls-add ls1 -- set logical_switch ls1 other_config:vlan-passthru=true
    for i in 1 2 3; do
        nbctl lsp-add ls1 "pod$i" -- lsp-set-addresses "pod$i" \
            "${POD_MACS[$((i - 1))]} ${POD_V4[$((i - 1))]} ${POD_V6[$((i - 1))]}"
        vsctl add-port br-int "vpod$i" -- set interface "vpod$i" external_ids:iface-id="pod$i"
    done
    mirrors_ovn
    # ovn-controller has bound the ports and installed its flows...
    nbctl --wait=hv sync
    for i in 1 2 3; do wait_for "pod$i to be up in OVN" lsp_up "pod$i"; done
    # ...and written the mirrors into the OVS database; a change of our own, which
    # ovs-vsctl waits on until ovs-vswitchd has applied it, makes sure they are in force.
    wait_for "ovn-controller to make 5 OVS mirrors" mirror_count 5
    vsctl set open_vswitch . external_ids:spandump-fixture=ready
}

lsp_up() { [ "$(nbctl get logical_switch_port "$1" up)" = true ]; }
mirror_count() { [ "$(vsctl --bare --columns=_uuid list mirror | grep -c .)" = "$1" ]; }

# The OVN mirrors. Keep in step with OVN_MIRRORS in tests/ovs.rs.
mirrors_ovn() {
    nbctl mirror-add gre99 gre 99 from-lport $SINK_V4
    nbctl mirror-add span77 erspan 77 from-lport $SINK_V4
    nbctl mirror-add span10 erspan 10 to-lport $SINK_V4
    nbctl mirror-add gre7 gre 7 to-lport $SINK_V6
    nbctl mirror-add span301 erspan 301 from-lport $SINK_V6
    nbctl lsp-attach-mirror pod1 gre99
    nbctl lsp-attach-mirror pod1 span10
    nbctl lsp-attach-mirror pod2 span77
    nbctl lsp-attach-mirror pod3 gre7
    nbctl lsp-attach-mirror pod3 span301
}

# One run of traffic: markers that open the window, then in a ring (pod1 -> pod2 -> pod3
# -> pod1) ARP and ND from empty neighbour tables, ICMP and ICMPv6 echo (small and
# 1400-byte payloads), UDP and TCP exchanges over IPv4 and IPv6, 802.1Q-tagged frames,
# then markers that close the window.
traffic() {
    names
    local pod=("${PODS[@]}")
    for i in 0 1 2; do in_ns "${pod[$i]}" python3 "$HERE/pod.py" mark begin "pod$((i + 1))"; done
    for i in 0 1 2; do
        local j=$(((i + 1) % 3))
        local p=${pod[$i]} v4=${POD_V4[$j]} v6=${POD_V6[$j]}
        in_ns "$p" ip neigh flush dev eth0
        in_ns "$p" ping -q -c 1 -W 5 "$v4" >/dev/null
        in_ns "$p" ping -q -c 1 -W 5 -s 1400 "$v4" >/dev/null
        in_ns "$p" ping -q -6 -c 1 -W 5 "$v6" >/dev/null
        in_ns "$p" ping -q -6 -c 1 -W 5 -s 1400 "$v6" >/dev/null
        for a in "$v4" "$v6"; do
            in_ns "$p" python3 "$HERE/pod.py" udp "$a" 300
            in_ns "$p" python3 "$HERE/pod.py" tcp "$a" 2000
        done
        in_ns "$p" python3 "$HERE/pod.py" vlan "${POD_MACS[$j]}" 100 "${POD_V4[$i]}" "$v4"
    done
    for i in 0 1 2; do in_ns "${pod[$i]}" python3 "$HERE/pod.py" mark end "pod$((i + 1))"; done
}

down() {
    [ -f "$DIR/tag" ] || return 0
    names
    local pids=()
    if [ -f "$DIR/pidfiles" ]; then
        while read -r f; do
            [ -f "$f" ] || continue
            local pid
            pid=$(cat "$f")
            # Only a process this fixture started: its pid file names it, and it still runs
            # one of our commands (a recycled pid would not).
            if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
                tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR"; then
                kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
            fi
        done <"$DIR/pidfiles"
    fi
    local end=$((SECONDS + 5))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.02; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -f "$DIR/netns" ]; then
        while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done <"$DIR/netns"
    fi
}

[ $# -ge 2 ] || die "usage: fixture.sh up DIR TAG ovs|ovn|cloud | traffic DIR | down DIR"
CMD=$1
DIR=$(cd "$2" && pwd)
case $CMD in
    up) up "$3" "$4" ;;
    traffic) traffic ;;
    down) down ;;
    *) die "unknown command $CMD" ;;
esac
