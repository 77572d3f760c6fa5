#!/usr/bin/env bash
# The fleet's source of truth in etcd, failures (issue 23's drills 2, 5, 6
# and 7): three xlb nodes behind the BIRD router follow a 3-member etcd store
# on lab links (tools/lab up --nodes 3 --store 3); 200 keep-alive connections
# (IPv4 and IPv6) and 3 checksummed downloads run through drills 2 and 5.
#   2. the store's leader killed (kill -9) during an apply, ten times, at
#      ten moments of the command: each apply lands exactly once (exit 0) or
#      is refused with nothing written; history has no gap and no duplicate;
#      no node ever applies what is not a complete desired record;
#   5. the whole store stopped: 0 broken, every node keeps announcing, fleet
#      status exits 2 naming the store; back: the nodes publish again without
#      re-applying what they run (their own history gets no generation);
#   6. a node restarted while the store is down does not announce until the
#      store is back and it runs the desired generation; then it joins;
#   7. a bad configuration written straight into the store with etcdctl:
#      every node refuses it, keeps its generation and tables; fleet status
#      (exit 1) and the refusal metric name it; so does a desired record
#      whose body is missing.
# Negative controls: a good record written the same way with etcdctl is
# applied (the refusal is about the content); a node restarted with the store
# up announces within the window drill 6 watches; history checked on planted
# gaps.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetstore-lib.sh"
require_root
fleetstore_up
check "the router has all three nodes as next hops, IPv4 and IPv6" all_hops
check "fleet status: every node runs the lab's generation 1 (exit 0)" fleet status
store_healthy() { ectl endpoint health >/dev/null 2>&1; }

# ---- drill 2: the leader killed during an apply, ten times ---------------------------------
traffic leader
landed=0 refused=0 during=0 bad=0 worst=0
for i in $(seq 1 10); do
	L=$(store leader)
	g=$(desired_gen)
	f=/tmp/$LP-k$i.json
	jq --argjson w $((100 + i)) '.services |= map(.backends[0].weight = $w)' $CFG4 >$f
	want=$(file_fp $f)
	d=$(( (i - 1) * 6 ))	# the kill lands 0..54 ms after the command starts
	t0=$(ms)
	fleet apply $f --reason "drill 2: round $i" >/tmp/$LP-k$i.out 2>&1 &
	pa=$!
	sleep "$(printf '0.%03d' $d)"
	kill -9 $(ip netns pids $LP-st$L)
	tk=$(ms)
	wait $pa
	rc=$? te=$(ms)
	[ "$tk" -lt "$te" ] && during=$((during + 1))
	[ $((te - t0)) -le "$worst" ] || worst=$((te - t0))
	store kill $L
	store start $L
	wait_for 20 store_healthy || echo "# round $i: the store is not healthy again"
	g2=$(desired_gen) fp2=$(desired_fp)
	if [ $rc = 0 ] && [ "$g2" = $((g + 1)) ] && [ "$fp2" = "$want" ]; then
		landed=$((landed + 1))
	elif [ $rc != 0 ] && [ "$g2" = "$g" ]; then
		refused=$((refused + 1))
		echo "# round $i: leader st$L killed $((tk - t0)) ms in; exit $rc after $((te - t0)) ms, nothing written: $(grep -m1 'error' /tmp/$LP-k$i.out | cut -c1-240)"
	else
		bad=$((bad + 1))
		echo "# round $i: leader st$L killed $((tk - t0)) ms in; exit $rc after $((te - t0)) ms; generation $g -> $g2 ($fp2, want $want): $(grep -m1 error /tmp/$LP-k$i.out | cut -c1-300)"
	fi
done
echo "# leader: $during of 10 kills landed while the command ran; $landed landed (exit 0), $refused refused with nothing written, $bad wrong; the longest command took $worst ms"
check "drill 2: each of 10 applies landed once or was refused with nothing written ($landed landed, $refused refused, $bad wrong)" \
	test $bad = 0
check "drill 2: the kills landed during the commands ($during of 10)" test $during -ge 5
check "drill 2: history holds every generation once, 1..$(desired_gen): no gap, no duplicate" history_whole
# negative control: the history check sees a gap (a record planted in a copy of the fleet)
planted() {
	ectl put /xlb/fleets/ctl/history/00000000000000000001 '{"generation":1}' >/dev/null &&
		ectl put /xlb/fleets/ctl/history/00000000000000000003 '{"generation":3}' >/dev/null &&
		ectl put /xlb/fleets/ctl/desired '{"generation":3}' >/dev/null &&
		[ "$($LAB etcdctl --prefix $LP get --prefix /xlb/fleets/ctl/history/ --print-value-only |
			jq -cs '[.[].generation]')" != "$(seq 1 3 | jq -cs .)" ]
}
check "negative control: a planted gap (1, 3) is not a whole history" planted
ectl del --prefix /xlb/fleets/ctl/ >/dev/null
lag=$(until_all_at "$(desired_gen)" 20)
check "drill 2: every node follows to generation $(desired_gen) ($lag ms)" test "$lag" != timeout
fleet -j history | jq -r '.generations[].fingerprint' | sort -u >/tmp/$LP-fleetfps
foreign=""
for k in 1 2 3; do
	foreign="$foreign$(local_fps $k | comm -23 - /tmp/$LP-fleetfps | tr '\n' ' ')"
done
check "drill 2: no node ever applied a configuration that is not a desired record's" test -z "$foreign"
check "drill 2: every data plane holds the same tables" same_tables
settle
finish
check "drill 2: $KEPT of $CONNS connections kept their backend, $BROKEN broken, no request failed" kept_all
check "drill 2: the downloads are intact ($INTACT of 3)" downloads_intact

# ---- negative control of drill 6: a node restarted with the store up joins --------------
labnode 3 kill
check "node 3 killed: the router drops it" wait_for 10 no_hop 3
labnode 3 attach
t0=$(ms)
labnode 3 start
check "negative control: node 3 restarted with the store up announces" wait_for 30 has_hop 3
join=$(( $(ms) - t0 ))
echo "# restart with the store up: node 3 announced $join ms after its start"

# ---- drill 5: the whole store stopped ---------------------------------------------------
G=$(desired_gen)
TB=$(tables 1)
h1=$(local_gens 1) h2=$(local_gens 2)
traffic store-down
store kill all
t0=$(ms)
out=$(fleet status 2>&1)
rc=$?
check "drill 5: fleet status exits 2 with the store down (exit $rc, $(( $(ms) - t0 )) ms)" test $rc = 2
check "drill 5: and names the store" grep -q "store.*198\.51\.100\.13" <<<"$out"
[ $rc = 2 ] || printf '#   %s\n' "$out"
lost() { for k in 1 2 3; do metric $k 'xlb_fleet_store_reachable 0' >/dev/null || return 1; done; }
check "drill 5: every daemon finds the store unreachable (xlb_fleet_store_reachable 0)" wait_for 20 lost
echo "# store down: every daemon saw it $(( $(ms) - t0 )) ms after the kill"
check "drill 5: every node still announces (fail static)" all_hops
check "drill 5: every node keeps its tables" same_tables "$TB"
settle
finish
check "drill 5: $KEPT of $CONNS connections kept their backend, $BROKEN broken, no request failed" kept_all
check "drill 5: the downloads are intact ($INTACT of 3)" downloads_intact

# ---- drill 6: a node restarted while the store is down ---------------------------------
labnode 3 kill
check "drill 6: node 3 killed: the router drops it" wait_for 10 no_hop 3
labnode 3 attach
labnode 3 start
W=$(( join * 2 / 1000 + 1 ))
[ $W -ge 5 ] || W=5
stays_off() {	# node 3 never a next hop for $1 s
	local end=$(( $(ms) + $1 * 1000 ))
	while [ "$(ms)" -lt $end ]; do has_hop 3 && return 1; sleep 0.1; done
}
check "drill 6: node 3 does not announce while the store is down (watched $W s, twice its join time)" stays_off $W
check "drill 6: and says why" grep -q "not announcing until the desired generation" /tmp/$LP-lb3.daemon.log
store start all
t0=$(ms)
check "drill 5: the store is back" wait_for 30 store_healthy
lag=$(until_all_at "$G" 30)
check "drill 5: every node publishes generation $G again $lag ms after the store's start" test "$lag" != timeout
check "drill 5: nodes 1 and 2 did not re-apply what they run (own history: $(local_gens 1), $(local_gens 2) records)" \
	test "$(local_gens 1)" = "$h1" -a "$(local_gens 2)" = "$h2"
check "drill 6: node 3 joins once it runs generation $G" wait_for 30 has_hop 3
echo "# store back: node 3 announced $(( $(ms) - t0 )) ms after the store's start"
check "drill 6: with the fleet's tables" same_tables "$TB"
check "fleet status: every node on the desired generation (exit 0)" wait_for 15 fleet status

# ---- drill 7: a bad configuration written straight into the store ---------------------
put_record() {	# GEN FP [BODY-FILE]: what an apply writes, by hand with etcdctl
	local gen=$1 fp=$2 rec
	rec=$(jq -cn --argjson g "$gen" --arg fp "$fp" --arg when "$(date -u +%FT%TZ)" \
		'{generation: $g, fingerprint: $fp, hash_key_id: "", who: "etcdctl", when: $when,
		  reason: "drill 7", source: "apply", forced: false, replaces: ($g - 1)}')
	[ -z "${3:-}" ] || ectl put $KEY/config/$fp "$(jq -c . "$3")" >/dev/null
	ectl put $KEY/history/"$(printf %020d "$gen")" "$rec" >/dev/null &&
		ectl put $KEY/desired "$rec" >/dev/null
}
G=$(desired_gen)
jq '.services |= map(.backends[1].weight = 150)' $CFG4 >/tmp/$LP-good.json
put_record $((G + 1)) "$(file_fp /tmp/$LP-good.json)" /tmp/$LP-good.json
check "negative control: a good record written with etcdctl is applied by every node" wait_for 15 all_at $((G + 1))
G=$((G + 1))
TB=$(tables 1)
# a body that does not validate: a backend listed twice
jq '.services[0].backends += [.services[0].backends[0]]' $CFG4 >/tmp/$LP-bad.json
check_exit "the bad body does not validate (exit 1)" 1 "$XLB" config validate /tmp/$LP-bad.json
put_record $((G + 1)) 0123456789abcdef /tmp/$LP-bad.json
refused_all() {	# every node refused generation $1 and stays on $2
	nodes_json | jq -e --argjson r "$1" --argjson g "$2" \
		'length == 3 and all(.[]; .refused.generation == $r and .generation == $g)' >/dev/null
}
check "drill 7: every node refuses generation $((G + 1)) and stays on $G" wait_for 15 refused_all $((G + 1)) $G
echo "# refused: $(node_rec 1 | jq -r .refused.why)"
check "drill 7: every data plane keeps its tables" same_tables "$TB"
hops_why() {	# all hops, or the router's routes and what each node says
	all_hops && return
	lab rt ip route show $VIP4
	for k in 1 2 3; do node $k node status | grep -i withdrawn; done
	return 1
}
check "drill 7: every node still announces (the fleet keeps its VIPs)" hops_why
out=$(fleet status 2>&1)
rc=$?
check "drill 7: fleet status exits 1 (exit $rc)" test $rc = 1
check "drill 7: and names the refusal on every node" test "$(grep -Ec "^lb[123] .*refused" <<<"$out")" = 3
[ $rc = 1 ] || printf '#   %s\n' "$out"
refused_metric() { for k in 1 2 3; do metric $k 'xlb_fleet_generation_refused 1' >/dev/null || return 1; done; }
check "drill 7: each node's xlb_fleet_generation_refused is 1 (the alert's signal)" wait_for 10 refused_metric
# a desired record whose body is not in the store
put_record $((G + 2)) fedcba9876543210
check "drill 7: a record without its body: every node refuses it, stays on $G" wait_for 15 refused_all $((G + 2)) $G
check "drill 7: the tables still" same_tables "$TB"
check_exit "after the refusals, xlb fleet apply cannot plan against the missing body (exit 1)" 1 \
	fleet apply $CFG4 --reason "after drill 7"
check "xlb fleet apply --force moves the fleet on" fleet apply $CFG4 --force --reason "after drill 7"
check "and every node follows" wait_for 15 all_at $((G + 3))
check "and announces" wait_for 15 all_hops
done_testing
