#!/usr/bin/env bash
# The fleet drills: three xlb nodes behind a BIRD router (BGP + BFD, ECMP by
# addresses, protocol and ports), IPv4 and IPv6, four backends.  Each drill
# keeps 200 keep-alive connections open (a request every 100 ms, IPv4 and
# IPv6) and three rate-limited downloads, and reports connections kept,
# reset, stalled, answered by another backend, requests failed, and the
# longest gap any connection saw:
#   1. a node drained and undrained;
#   2. a node killed (balancer and speaker kill -9, XDP detached);
#   3. a node's link cut (no BGP goodbye: BFD notices);
#   4. a backend added on every node, then a node killed: flows the change
#      moved still reach their backends on the other nodes, both those open
#      before the change and those opened after it (second chance);
#   5. a node rejoining with another configuration is refused by the fleet
#      check before it announces, and joins once it agrees;
#   6. negative controls: without the second chance, connections opened
#      after a change break when their node is lost; a node given another
#      table breaks connections when traffic moves to it; plain ECMP to the
#      backends (no xlb) breaks connections when one next hop leaves.
. "$(dirname "$0")/lib.sh"
require_root
command -v bird >/dev/null || skip_all "needs bird2 (make deps)"
command -v jq >/dev/null || skip_all "needs jq (make deps)"
lab_up --nodes 3 --backends 4
CONNS=200
node() { local k=$1; shift; $LAB xlb --prefix $LP --node "$k" "$@"; }
labnode() { $LAB node --prefix $LP "$@"; }
ms() { date +%s%3N; }
has_hop() {	# node $1 is a next hop of both VIPs on the router
	lab rt ip route show $VIP4 | grep -q "via 198.51.100.24$1 " &&
		lab rt ip -6 route show $VIP6 | grep -q "via 2001:db8:b::f$1 "
}
no_hop() {	# in neither family
	! lab rt ip route show $VIP4 | grep -q "via 198.51.100.24$1 " &&
		! lab rt ip -6 route show $VIP6 | grep -q "via 2001:db8:b::f$1 "
}
all_hops() { has_hop 1 && has_hop 2 && has_hop 3; }
check "the router has all three nodes as next hops, IPv4 and IPv6" all_hops
# the drills' configuration: b1..b3; b4 joins in drill 4
CFG=/tmp/$LP-drills.json
jq '.services |= map(.backends |= map(select(.address | test("^198\\.51\\.100\\.4$|^2001:db8:b::4$") | not)))' \
	/tmp/$LP-fleet.json >$CFG
for k in 1 2 3; do node $k config apply $CFG --reason drills >/dev/null; done
PEERS="http://198.51.100.241:9145 http://198.51.100.242:9145 http://198.51.100.243:9145"
agree() { node 1 fleet check $PEERS >/dev/null; }
check "the nodes agree (xlb fleet check)" wait_for 10 agree

# xlb flow says which backend a client address and port gets, on any node
predicted() {	# $1 node, $2 service, $3 client, $4 port: bN
	node $1 -j flow $2 $3 $4 | jq -r '.new_connection' | sed 's/.*[.:]/b/'
}
flow_ok=0
for p in 41001 41002 41003 41004 41005 41006; do
	k=$(( p % 3 + 1 ))
	got=$(lab client curl -s -m 5 --local-port $p -o /dev/null -w '%header{x-backend}' http://$VIP4/)
	[ "$got" = "$(predicted $k web 203.0.113.10 $p)" ] && flow_ok=$((flow_ok + 1))
	# another port: an IPv6 socket cannot bind the port the IPv4 one holds
	got=$(lab client curl -s -g -m 5 --local-port $((p + 100)) -o /dev/null -w '%header{x-backend}' "http://[$VIP6]/")
	[ "$got" = "$(predicted $k web6 2001:db8:c::10 $((p + 100)))" ] && flow_ok=$((flow_ok + 1))
done
check "xlb flow predicts the backend of 12 connections of known ports ($flow_ok of 12)" test $flow_ok = 12

# ---- traffic: 200 keep-alive connections and 3 downloads from the client ---------------
traffic() {	# $1: drill name
	T=$1 R=/tmp/$LP-$1.rep
	# nsenter execs python: $! is the client itself (it takes the signals)
	nsenter --net=/run/netns/$LP-client python3 "$ROOT/tests/e2e/fleet-conns.py" --addr $VIP4 --addr $VIP6 \
		--conns $CONNS --status /tmp/$LP-$T.st --report $R --max-time 150 &
	TPID=$!
	DLS=""
	for a in $VIP4 $VIP4 "[$VIP6]"; do
		lab client curl -s -g -m 60 -o /tmp/$LP-$T.dl${#DLS} "http://$a/slow" &
		DLS="$DLS $!"
	done
	wait_for 30 answering || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answering() { jq -e ".alive == $CONNS and .min_answers >= 5" /tmp/$LP-$T.st >/dev/null 2>&1; }
# every connection still open has answered 10 more requests since now
settle() {
	kill -USR1 $TPID
	wait_for 30 answered_since || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answered_since() { jq -e '.marked and .min_since_mark >= 10' /tmp/$LP-$T.st >/dev/null 2>&1; }
downloads_done() { for p in $DLS; do ! kill -0 $p 2>/dev/null || return 1; done; }
finish() {	# end the traffic; print the drill's figures
	kill -TERM $TPID
	wait $TPID
	wait_for 60 downloads_done
	INTACT=0
	for f in /tmp/$LP-$T.dl*; do
		cmp -s "$f" /tmp/$LP-big.bin && INTACT=$((INTACT + 1))
	done
	echo "# $T: $(jq -r '"\(.kept) of \(.conns) connections kept, \(.reset) reset, \(.stalled) stalled, \(.closed) closed, \(.changed) answered by another backend, \(.failed_requests) requests failed of \(.requests), longest gap \(.max_gap_ms) ms"' $R); downloads intact: $INTACT of 3"
}
kept_all() { jq -e ".kept == $CONNS and .failed_requests == 0 and .changed == 0" $R >/dev/null; }
downloads_intact() { [ "$INTACT" = 3 ]; }

# ---- drill 1: drain a node, then undrain it ---------------------------------------------
traffic drain
check "drill 1: node 1 drains (withdrawn, waits for its traffic to leave)" node 1 node drain --wait 20
check "the router no longer sends to node 1" no_hop 1
settle
check "node 1 undrains" node 1 node undrain
check "the router sends to node 1 again" wait_for 15 has_hop 1
settle
finish
check "drill 1: every connection kept its backend, no request failed" kept_all
check "drill 1: the downloads are intact" downloads_intact

# ---- drill 2: kill a node (balancer and speaker kill -9, XDP detached) -----------------
traffic kill
t0=$(ms)
labnode 2 kill
check "drill 2: the router drops node 2" wait_for 10 no_hop 2
echo "# kill: the router converged $(( $(ms) - t0 )) ms after the kill"
settle
finish
check "drill 2: every connection kept its backend, no request failed" kept_all
check "drill 2: the downloads are intact" downloads_intact
labnode 2 attach
node 2 config apply $CFG --reason "back after drill 2" >/dev/null
labnode 2 start
check "node 2 back: it agrees and joins" wait_for 30 has_hop 2

# ---- drill 3: silent death (the node's link cut, no BGP goodbye) ------------------------
traffic silent
t0=$(ms)
lab sw ip link set ${LP}slb3 down
check "drill 3: the router drops node 3 (BFD)" wait_for 10 no_hop 3
echo "# silent: the router converged $(( $(ms) - t0 )) ms after the link was cut"
settle
finish
check "drill 3: every connection kept its backend, no request failed" kept_all
check "drill 3: the downloads are intact" downloads_intact
check "drill 3: no connection waited 3 s or more" jq -e '.max_gap_ms < 3000' $R
lab sw ip link set ${LP}slb3 up
check "node 3's link back: the router has it again" wait_for 30 has_hop 3

# ---- drill 4: a backend added on every node, then a node lost ----------------------------
# Connections open before the change keep their backends in the slots it
# moved (the previous backend, on any node); connections opened after it in
# those slots reach the new backend, and on a node that never saw their SYN
# the second chance carries them there (the previous backend's decap sends
# on what is not its own).
kept_prev() {	# flows kept on their previous backend, all live nodes
	local k n=0 v
	for k in "$@"; do
		v=$(node $k -j stats | jq '.events.flow_kept_previous // 0')
		n=$((n + v))
	done
	echo $n
}
sent_on() {	# second-chance packets the backends sent on to the other backend
	local i n=0 v
	for i in 1 2 3 4; do
		v=$(lab b$i "$ROOT/build/xlb" -j decap stats ${LP}b$i | jq '.packets.second_chance_forwarded // 0')
		n=$((n + v))
	done
	echo $n
}
traffic change
before=$(kept_prev 2 3)
for k in 1 2 3; do
	node $k backend add web 198.51.100.4 >/dev/null && node $k backend add web6 2001:db8:b::4 >/dev/null ||
		echo "not ok - node $k: backend add"
done
check "drill 4: after the change on every node, the nodes agree" wait_for 10 agree
settle
# 200 more connections, opened after the change
nsenter --net=/run/netns/$LP-client python3 "$ROOT/tests/e2e/fleet-conns.py" --addr $VIP4 --addr $VIP6 \
	--conns $CONNS --status /tmp/$LP-after.st --report /tmp/$LP-after.rep --max-time 150 &
APID=$!
after_answering() { jq -e ".alive == $CONNS and .min_answers >= 5" /tmp/$LP-after.st >/dev/null 2>&1; }
after_since() { jq -e '.marked and .min_since_mark >= 10' /tmp/$LP-after.st >/dev/null 2>&1; }
check "drill 4: 200 connections opened after the change answer" wait_for 30 after_answering
sent0=$(sent_on)
labnode 1 kill
check "drill 4: the router drops node 1" wait_for 10 no_hop 1
kill -USR1 $APID
settle
wait_for 30 after_since || echo "# after: $(cat /tmp/$LP-after.st)"
kill -TERM $APID
wait $APID
finish
check "drill 4: every connection open before the change kept its backend, no request failed" kept_all
check "drill 4: the downloads are intact" downloads_intact
R=/tmp/$LP-after.rep
echo "# after the change: $(jq -r '"\(.kept) of \(.conns) connections kept, \(.reset) reset, \(.stalled) stalled, \(.changed) answered by another backend, \(.failed_requests) requests failed of \(.requests), longest gap \(.max_gap_ms) ms"' $R)"
check "drill 4: every connection opened after the change kept its backend too" kept_all
moved=$(( $(kept_prev 2 3) - before ))
sent=$(( $(sent_on) - sent0 ))
echo "# change: $moved flows reached nodes 2 and 3 mid-connection in slots the change moved; backends sent $sent second-chance packets on"
check "drill 4: the change moved live flows (the drill tested what it means to)" test "$moved" -gt 0
check "drill 4: the second chance carried flows opened after the change" test "$sent" -gt 0

# ---- drill 5: node 1 rejoins with another configuration (without b4) --------------------
labnode 1 attach
node 1 config apply $CFG --reason "rejoin with an old configuration" >/dev/null
labnode 1 start
refused() { grep -q "fleet: the fleet disagrees: service web.*table" /tmp/$LP-lb1.daemon.log; }
check "drill 5: the rejoining node finds that the fleet disagrees" wait_for 15 refused
check "its node status says why it does not announce" wait_for 5 \
	bash -c "$LAB xlb --prefix $LP --node 1 node status | grep -q 'withdrawn: the fleet disagrees'"
check "the router never sends to it" no_hop 1
out=$(node 2 fleet check $PEERS)
check_exit "xlb fleet check: the nodes do not agree (exit 1)" 1 node 2 fleet check $PEERS
check "and names node 1" grep -q "198.51.100.241:9145: .*DIFFERS in.* table web" <<<"$out"
node 1 backend add web 198.51.100.4 >/dev/null
node 1 backend add web6 2001:db8:b::4 >/dev/null
check "drill 5: once its configuration agrees, node 1 joins" wait_for 15 has_hop 1
check "and the fleet check agrees" agree

# ---- drill 6c, negative control: the same without the second chance --------------------
# second_chance off, a change (b1's weight), connections opened after it,
# then a node lost: those in moved slots that change nodes break
jq '.second_chance = false' /tmp/$LP-fleet.json >/tmp/$LP-nochance.json
for k in 1 2 3; do node $k config apply /tmp/$LP-nochance.json --reason "negative control" >/dev/null; done
for k in 1 2 3; do node $k backend set web 198.51.100.1 weight 300 >/dev/null
	node $k backend set web6 2001:db8:b::1 weight 300 >/dev/null; done
check "negative control: the nodes agree" wait_for 10 agree
traffic no-second-chance
labnode 2 kill
check "negative control: the router drops node 2" wait_for 10 no_hop 2
settle
finish
broken=$(jq '.conns - .kept' $R)
check "negative control: without the second chance, connections opened after a change break when their node is lost ($broken)" \
	test "$broken" -gt 0

# ---- drill 6a, negative control: one node with another table ----------------------------
# node 3 rebuilt with another table size and no memory of the old table, and
# started without the fleet check: the router sends it flows it maps elsewhere
labnode 3 kill
check "node 3 is out" wait_for 10 no_hop 3
labnode 3 attach
jq '.services |= map(.table_size = 32749)' $CFG >/tmp/$LP-other.json
jq '.services |= map(.backends += [{"address": (if .name == "web" then "198.51.100.4" else "2001:db8:b::4" end)}])' \
	/tmp/$LP-other.json >/tmp/$LP-other4.json
node 3 config apply /tmp/$LP-other4.json --force --reason "negative control" >/dev/null
labnode 3 start --unchecked
check "negative control: node 3 with another table announces (no fleet check)" wait_for 15 has_hop 3
check_exit "xlb fleet check: nodes 1 and 3 disagree (exit 1)" 1 node 1 fleet check \
	http://198.51.100.241:9145 http://198.51.100.243:9145
traffic other-table
node 1 node drain --wait 20 >/dev/null
settle
finish
broken=$(jq '.conns - .kept' $R)
check "negative control: with one node's table different, the drill reports broken connections ($broken)" \
	test "$broken" -gt 0

# ---- drill 6b, negative control: plain ECMP to the backends, no xlb ---------------------
lab rt ip route add $VIP4/32 metric 10 nexthop via 198.51.100.1 nexthop via 198.51.100.2 \
	nexthop via 198.51.100.3 nexthop via 198.51.100.4
lab rt ip -6 route add $VIP6/128 metric 10 nexthop via 2001:db8:b::1 nexthop via 2001:db8:b::2 \
	nexthop via 2001:db8:b::3 nexthop via 2001:db8:b::4
traffic plain-ecmp
# the same drill: one next hop leaves (b4 here, as a node there)
lab rt ip route replace $VIP4/32 metric 10 nexthop via 198.51.100.1 nexthop via 198.51.100.2 \
	nexthop via 198.51.100.3
lab rt ip -6 route replace $VIP6/128 metric 10 nexthop via 2001:db8:b::1 nexthop via 2001:db8:b::2 \
	nexthop via 2001:db8:b::3
settle
finish
survivors=$(jq '[.detail[] | select(.backend != "b4" and .state != "alive")] | length' $R)
echo "# plain-ecmp: $survivors connections to b1..b3 (which stayed) broken by the rehash"
check "negative control: plain ECMP breaks connections to backends that stayed ($survivors)" \
	test "$survivors" -gt 0
done_testing
