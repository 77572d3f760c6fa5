#!/usr/bin/env bash
# Announcement follows health, decided by xlb: the node's BGP speaker (BIRD,
# driven by the daemon through birdc) announces the VIP to a peer router
# (BIRD in the client namespace) only while the balancer is attached, the
# node is not drained and the VIP's service has min_active backends up; it
# withdraws otherwise.  A drained node keeps forwarding what still arrives.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
command -v bird >/dev/null || skip_all "needs bird2 (make deps)"
attach
checked_config >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
# the router: BIRD in the client namespace, a peer on the backends' segment
lab client ip addr add 198.51.100.200/24 dev ${LP}c0 noprefixroute
RSOCK=/tmp/$LP-bird-rt.sock NSOCK=/tmp/$LP-bird-node.sock
cat >/tmp/$LP-bird-rt.conf <<BIRD
router id 198.51.100.200;
protocol device { scan time 1; }
protocol direct { ipv4; }
protocol bgp node1 {
	local 198.51.100.200 as 64512; neighbor 198.51.100.254 as 64601;
	ipv4 { import all; export none; };
	hold time 3; connect retry time 1; error wait time 1, 5;
}
BIRD
# the node's speaker: one static protocol per VIP, xlb_<address>, off until xlb says
cat >/tmp/$LP-bird-node.conf <<BIRD
router id 198.51.100.254;
protocol device { scan time 1; }
protocol static xlb_192_0_2_10 { disabled; ipv4; route $VIP4/32 unreachable; }
protocol bgp upstream {
	local 198.51.100.254 as 64601; neighbor 198.51.100.200 as 64512;
	ipv4 { import none; export where source = RTS_STATIC; next hop self; };
	hold time 3; connect retry time 1; error wait time 1, 5;
}
BIRD
# BIRD daemonizes; the lab's teardown ends every process of its namespaces
check "the router's BIRD starts" lab client bird -c /tmp/$LP-bird-rt.conf -s $RSOCK -P /tmp/$LP-bird-rt.pid
check "the node's BIRD starts" lab lb bird -c /tmp/$LP-bird-node.conf -s $NSOCK -P /tmp/$LP-bird-node.pid
established() { birdc -s $RSOCK show protocols node1 | grep -q Established; }
check "the BGP session comes up" wait_for 20 established
learned() { birdc -s $RSOCK show route $VIP4/32 | grep -q "$VIP4/32"; }
withdrawn() { ! learned; }
check "nothing is announced before xlb decides" withdrawn
LOG=/tmp/$LP-daemon.log
nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --no-metrics --announce $NSOCK 2>$LOG &
dpid=$!
check "the daemon announces the VIP: the router learns it" wait_for 10 learned
status() { xlb -j node status; }
said_announced() { jq -e '.vips[0].announced and .daemon' <<<"$(status)"; }
# the router may learn it before the daemon has collected birdc's answer
check "node status says announced" wait_for 5 said_announced
# two of three backends fail: below min_active 2, the node withdraws
lab b2 sh -c "kill \$(cat /run/$LP-b2.nginx.pid)"
lab b3 sh -c "kill \$(cat /run/$LP-b3.nginx.pid)"
check "below min_active the VIP is withdrawn" wait_for 10 withdrawn
said_why() { xlb node status | grep -q 'withdrawn: service web has 1 backends up, min_active 2'; }
# the router may hear of it before the daemon has collected birdc's answer
check "node status says why" wait_for 5 said_why
check "the log says it" wait_for 5 grep -q "announce: xlb_192_0_2_10 withdrawn: service web" $LOG
lab b2 nginx -c /tmp/$LP-b2.nginx.conf
lab b3 nginx -c /tmp/$LP-b3.nginx.conf
check "backends back: announced again" wait_for 15 learned
# drain: withdrawn first; what still arrives is forwarded
check "node drain withdraws and reports" xlb node drain --wait 10
check "the router no longer has the VIP" withdrawn
answers=$(requests 20 http://$VIP4/)
check "a drained node still forwards what arrives" test "$(grep -c '^b[123]$' <<<"$answers")" = 20
check "node undrain announces again" xlb node undrain
check "the router has it again" learned
# the balancer detached: withdrawn; attached again: announced
xlb_dev() { nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" "$@"; }
xlb_dev detach ${LP}lb0 >/dev/null 2>&1
check "detached: withdrawn" wait_for 10 withdrawn
attach
# attached anew, the data plane holds no service until a configuration is applied:
# a VIP no service has is withdrawn and forgotten
empty() { xlb -j node status | jq -e '.vips == [] and .attached'; }
check "attached again, empty: no VIP left to announce (the daemon reads the new maps)" wait_for 10 empty
check "the log says the VIP is forgotten" grep -q "announce: xlb_192_0_2_10 forgotten: no service has this VIP" $LOG
check "and the router does not have it" withdrawn
check "the configuration applied again" xlb config apply /tmp/$LP-a.json
check "attached and configured: announced" wait_for 10 learned
kill -TERM $dpid; wait $dpid 2>/dev/null
check_exit "without a daemon, drain says nothing withdraws (exit 1)" 1 xlb node drain
check "undrain without a daemon" xlb node undrain
# the drain mark is a state file: a link there is refused, never followed
mark=/tmp/$LP-state/${LP}lb0/history/drain
ln -s /tmp/$LP-elsewhere $mark
check_exit "node drain with a link at the mark: refused (exit 2)" 2 xlb node drain
check "the link was not followed (nothing at /tmp/$LP-elsewhere)" test ! -e /tmp/$LP-elsewhere
rm -f $mark /tmp/$LP-elsewhere
check_exit "node bogus: usage (exit 1)" 1 xlb node bogus
done_testing
