#!/usr/bin/env bash
# A backend's decap sends a second chance on only to its peers (--peer): a
# tunnel forged with a balancer's address as its source (spoofed at an
# unfiltered edge) and an inner tunnel to a victim beyond the backend's
# default route must not be relayed there.  b1 routes by default to rt, the
# victim sits behind rt.  Control first: with the victim on the peer list
# (what every destination was before --peer) the forged tunnels reach it;
# with the lab's peers (the backends) they are dropped and counted
# second_chance_not_peer, nothing reaches the victim, while a second chance
# to b2 still arrives there.  IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
lab_up --backends 2 --ipv6
XB=$ROOT/build/xlb
FORGE="/usr/bin/python3 $ROOT/tests/e2e/forge-chance.py"
DEV=${LP}b1 N=20
LB4=198.51.100.254 LB6=2001:db8:b::fe CL4=203.0.113.10 CL6=2001:db8:c::10
B2_4=198.51.100.2 B2_6=2001:db8:b::2 RT4=198.51.100.250 RT6=2001:db8:b::fa
V4=192.0.2.99 V6=2001:db8:f::99
FROM="--from $LB4 --from $LB6"
PEERS="--second-chance --peer 198.51.100.0/27 --peer 2001:db8:b::/123"	# the lab's

# rt on the backends' switch, the victim behind it; b1's default routes via rt
ip netns add $LP-rt
ip netns add $LP-victim
ip -n $LP-rt link add ${LP}rt0 type veth peer name ${LP}srt netns $LP-sw
ip -n $LP-rt link add ${LP}rv type veth peer name ${LP}v0 netns $LP-victim
lab sw ip link set ${LP}srt master ${LP}br up
lab rt sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
lab rt ip addr add $RT4/24 dev ${LP}rt0
lab rt ip -6 addr add $RT6/64 dev ${LP}rt0 nodad
lab rt ip addr add 192.0.2.97/28 dev ${LP}rv
lab rt ip -6 addr add 2001:db8:f::1/64 dev ${LP}rv nodad
lab victim ip addr add $V4/28 dev ${LP}v0
lab victim ip -6 addr add $V6/64 dev ${LP}v0 nodad
for n in rt victim; do lab $n ip link set lo up; done
lab rt ip link set ${LP}rt0 up
lab rt ip link set ${LP}rv up
lab victim ip link set ${LP}v0 up
lab victim ip route add default via 192.0.2.97
lab victim ip -6 route add default via 2001:db8:f::1
lab b1 ip route add default via $RT4
lab b1 ip -6 route add default via $RT6
# XDP cannot resolve neighbours: b1 keeps rt's and b2's (as a fleet's backends
# keep their peers'), rt the victim's; XDP_TX from b1's veth needs a program
# on its switch port
for a in $RT4 $RT6 $B2_4 $B2_6; do
	lab b1 ping -c1 -W1 $a >/dev/null 2>&1
	lab b1 ip neigh replace $a dev $DEV managed
done
lab rt ping -c1 -W1 $V4 >/dev/null 2>&1
lab rt ping -c1 -W1 $V6 >/dev/null 2>&1
lab sw "$XB" decap attach ${LP}sb1 $FROM >/dev/null
resolved() { for a in $RT4 $RT6 $B2_4 $B2_6; do lab b1 ip neigh show $a | grep -q lladdr || return 1; done; }
check "b1 holds rt's and b2's neighbour entries" wait_for 5 resolved

# Tunnels that reached the victim: it has no tunnel device, so each one it
# receives counts as an unknown protocol (IPIP, IPv6-in-IPv6); neighbour
# discovery, MLD and the like never count there
victim_in() {	# $1: 4 or 6
	local k=IpInUnknownProtos
	[ $1 = 4 ] || k=Ip6InUnknownProtos
	lab victim nstat -az $k | awk -v k=$k '$1 == k {n = $2} END {print n + 0}'
}
decap_n() { lab $1 "$XB" -j decap stats ${LP}$1 | jq -r ".packets.$2"; }
reattach() { lab b1 "$XB" decap detach $DEV >/dev/null; lab b1 "$XB" decap attach $DEV "$@"; }
at_least() { [ "$("${@:3}")" -ge "$(( $1 + $2 ))" ]; }	# BASE ADD CMD...
addrs() {	# $1 family: sets src, b1, b2, vic, cl, vip
	if [ $1 = 4 ]; then src=$LB4 b1=198.51.100.1 b2=$B2_4 vic=$V4 cl=$CL4 vip=$VIP4
	else src=$LB6 b1=2001:db8:b::1 b2=$B2_6 vic=$V6 cl=$CL6 vip=$VIP6; fi
}

check_exit "--second-chance without --peer is refused" 1 reattach $FROM --second-chance
check "and leaves nothing attached" bash -c "! ip -n $LP-b1 link show $DEV | grep -q prog/xdp"
check_exit "--peer 0.0.0.0/0 (a relay again) is refused" 1 \
	lab b1 "$XB" decap attach $DEV $FROM --second-chance --peer 0.0.0.0/0
check_exit "--peer without --second-chance is refused" 1 \
	lab b1 "$XB" decap attach $DEV $FROM --peer $B2_4

# control: the victim on the peer list, as any destination was before --peer
check "attach with the victim as a peer (control)" lab b1 "$XB" decap attach $DEV $FROM \
	--second-chance --peer $V4 --peer $V6
for fam in 4 6; do
	addrs $fam
	v0=$(victim_in $fam)
	lab client $FORGE $src $b1 $vic $cl $vip $N
	check "control, IPv$fam: $N forged tunnels from a spoofed balancer reach the victim" \
		wait_for 5 at_least $v0 $N victim_in $fam
done

check "attach with the backends as peers" reattach $FROM $PEERS
for fam in 4 6; do
	addrs $fam
	v0=$(victim_in $fam) d0=$(decap_n b1 second_chance_not_peer)
	lab client $FORGE $src $b1 $vic $cl $vip $N
	check "IPv$fam: $N forged tunnels to the victim are dropped as second_chance_not_peer" \
		wait_for 5 at_least $d0 $N decap_n b1 second_chance_not_peer
	check "IPv$fam: none reached the victim (+$(( $(victim_in $fam) - v0 )))" \
		test "$(victim_in $fam)" = "$v0"
	# a second chance to a peer still goes on: b2's decap takes it
	k=decap_v$fam f0=$(decap_n b1 second_chance_forwarded) p0=$(decap_n b2 $k)
	lab client $FORGE $src $b1 $b2 $cl $vip $N
	check "IPv$fam: $N second chances to b2 (a peer) arrive at b2's decap" \
		wait_for 5 at_least $p0 $N decap_n b2 $k
	check "IPv$fam: and b1 counts them second_chance_forwarded" \
		at_least $f0 $N decap_n b1 second_chance_forwarded
done

# --any-source: anyone may tunnel to b1, and still reaches no one but the peers
check "attach --any-source with the backends as peers" reattach --any-source $PEERS
for fam in 4 6; do
	addrs $fam
	v0=$(victim_in $fam) d0=$(decap_n b1 second_chance_not_peer)
	lab client $FORGE $cl $b1 $vic $cl $vip $N
	check "--any-source, IPv$fam: the client's own tunnels to the victim are dropped" \
		wait_for 5 at_least $d0 $N decap_n b1 second_chance_not_peer
	check "--any-source, IPv$fam: none reached the victim" test "$(victim_in $fam)" = "$v0"
done

# without --second-chance nothing is sent on, not even to a backend
check "attach without --second-chance" reattach $FROM
addrs 4
d0=$(decap_n b1 second_chance_not_peer) p0=$(decap_n b2 decap_v4)
lab client $FORGE $src $b1 $b2 $cl $vip $N
check "without --second-chance a second chance to b2 is dropped as second_chance_not_peer" \
	wait_for 5 at_least $d0 $N decap_n b1 second_chance_not_peer
check "and does not reach b2" test "$(decap_n b2 decap_v4)" = "$p0"
done_testing
