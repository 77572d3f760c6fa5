# Helpers of the fleet-store drills (tests/e2e/28-*, 29-*; sourced after
# lib.sh, not a test itself): three xlb nodes behind the BIRD router, a
# 3-member etcd store on lab links (tools/lab up --nodes 3 --store 3), live
# keep-alive connections and checksummed downloads as tests/e2e/19 makes them.
CONNS=${CONNS:-200}
KEY=/xlb/fleets/lab
node() { local k=$1; shift; $LAB xlb --prefix $LP --node "$k" "$@"; }
labnode() { $LAB node --prefix $LP "$@"; }
store() { $LAB store --prefix $LP "$@"; }
fleet() { $LAB fleet --prefix $LP "$@"; }
ectl() { $LAB etcdctl --prefix $LP "$@"; }
ms() { date +%s%3N; }

fleetstore_up() {
	command -v bird >/dev/null || skip_all "needs bird2 (make deps)"
	command -v jq >/dev/null || skip_all "needs jq (make deps)"
	command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd (make deps)"
	lab_up --nodes 3 --backends 4 --store 3
	# b1..b3 (CFG3) and b1..b4 (CFG4: the lab's own configuration)
	CFG4=/tmp/$LP-fleet.json CFG3=/tmp/$LP-cfg3.json
	jq '.services |= map(.backends |= map(select(.address | test("^198\\.51\\.100\\.4$|^2001:db8:b::4$") | not)))' \
		$CFG4 >$CFG3
}

# ---- the router ----------------------------------------------------------------------------
has_hop() {	# node $1 is a next hop of both VIPs on the router
	lab rt ip route show $VIP4 | grep -q "via 198.51.100.24$1 " &&
		lab rt ip -6 route show $VIP6 | grep -q "via 2001:db8:b::f$1 "
}
no_hop() {	# in neither family
	! lab rt ip route show $VIP4 | grep -q "via 198.51.100.24$1 " &&
		! lab rt ip -6 route show $VIP6 | grep -q "via 2001:db8:b::f$1 "
}
all_hops() { has_hop 1 && has_hop 2 && has_hop 3; }

# ---- the store (the keyspace of user/store/fleetstore.h, read with etcdctl) ----------------
desired_gen() { ectl get $KEY/desired --print-value-only | jq -r .generation; }
desired_fp() { ectl get $KEY/desired --print-value-only | jq -r .fingerprint; }
nodes_json() { ectl get --prefix $KEY/nodes/ --print-value-only | jq -cs .; }
# how many nodes publish generation $1 (from the status records)
at_gen() { nodes_json | jq --argjson g "$1" '[.[] | select(.generation == $g)] | length'; }
all_at() { [ "$(at_gen "$1")" = 3 ]; }
node_rec() { ectl get $KEY/nodes/lb$1 --print-value-only; }
node_gen() { node_rec "$1" | jq -r .generation; }
# ms from now until every node publishes generation $1 (polled), or "timeout"
until_all_at() {	# $1 generation, $2 deadline seconds
	local t0 end
	t0=$(ms) end=$(( $(ms) + ${2:-20} * 1000 ))
	until all_at "$1"; do
		[ "$(ms)" -lt "$end" ] || { echo timeout; return 1; }
		sleep 0.02
	done
	echo $(( $(ms) - t0 ))
}
file_fp() { "$XLB" -j config validate "$1" | jq -r .fingerprint; }
# every fleet generation, in order, as "GEN FP SOURCE" lines
fleet_history() { fleet -j history | jq -r '.generations[] | "\(.generation) \(.fingerprint) \(.source)"'; }
# generations 1..desired, each once: no gap, no duplicate
history_whole() {
	local g
	g=$(desired_gen)
	[ "$(fleet -j history | jq -c '[.generations[].generation]')" = "$(seq 1 "$g" | jq -cs .)" ]
}

# ---- the data planes -------------------------------------------------------------------------
tables() {	# node $1's live table fingerprints (web, web6), read from its maps
	echo "$(node "$1" -j table web | jq -r .table_fingerprint)/$(node "$1" -j table web6 | jq -r .table_fingerprint)"
}
same_tables() {	# every node holds the tables $1 (or, without $1, the same as node 1); says which
	local t1 t2 t3
	t1=$(tables 1) t2=$(tables 2) t3=$(tables 3)
	echo "want ${1:-the same}: lb1 $t1, lb2 $t2, lb3 $t3"
	[ "$t1" = "${1:-$t1}" ] && [ "$t2" = "$t1" ] && [ "$t3" = "$t1" ]
}
local_gens() { node "$1" -j config history | jq length; }	# records in a node's own history
# the fingerprints a node's own history holds, one a line
local_fps() { node "$1" -j config history | jq -r '.[].fingerprint' | sort -u; }
metric() {	# node $1's metric line(s) matching $2
	lab lb$1 curl -s -m 3 "http://198.51.100.24$1:9145/metrics" | grep -E "^$2"
}

# ---- traffic: $CONNS keep-alive connections and 3 downloads from the client -----------------
traffic() {	# $1: drill name
	T=$1 R=/tmp/$LP-$1.rep
	nsenter --net=/run/netns/$LP-client python3 "$ROOT/tests/e2e/fleet-conns.py" --addr $VIP4 --addr $VIP6 \
		--conns $CONNS --status /tmp/$LP-$T.st --report $R --max-time 200 &
	TPID=$!
	DLS=""
	for a in $VIP4 $VIP4 "[$VIP6]"; do
		lab client curl -s -g -m 90 -o /tmp/$LP-$T.dl${#DLS} "http://$a/slow" &
		DLS="$DLS $!"
	done
	wait_for 30 answering || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answering() { jq -e ".alive == $CONNS and .min_answers >= 5" /tmp/$LP-$T.st >/dev/null 2>&1; }
settle() {	# every connection still open answers 10 more requests from now
	kill -USR1 $TPID
	wait_for 30 answered_since || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answered_since() { jq -e '.marked and .min_since_mark >= 10' /tmp/$LP-$T.st >/dev/null 2>&1; }
downloads_done() { for p in $DLS; do ! kill -0 $p 2>/dev/null || return 1; done; }
finish() {	# end the traffic; KEPT and BROKEN, and the drill's figures as a comment
	kill -TERM $TPID
	wait $TPID
	wait_for 90 downloads_done
	INTACT=0
	for f in /tmp/$LP-$T.dl*; do
		cmp -s "$f" /tmp/$LP-big.bin && INTACT=$((INTACT + 1))
	done
	KEPT=$(jq .kept $R) BROKEN=$(jq '.conns - .kept' $R)
	echo "# $T: $(jq -r '"\(.kept) of \(.conns) connections kept, \(.reset) reset, \(.stalled) stalled, \(.closed) closed, \(.changed) answered by another backend, \(.failed_requests) requests failed of \(.requests), longest gap \(.max_gap_ms) ms"' $R); downloads intact: $INTACT of 3"
}
kept_all() { jq -e ".kept == $CONNS and .failed_requests == 0 and .changed == 0" $R >/dev/null; }
downloads_intact() { [ "$INTACT" = 3 ]; }
