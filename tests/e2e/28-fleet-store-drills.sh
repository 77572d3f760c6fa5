#!/usr/bin/env bash
# The fleet's source of truth in etcd, issue 23's eight drills on one lab:
# three xlb nodes behind the BIRD router follow a 3-member etcd store on lab
# links (tools/lab up --nodes 3 --store 3); 200 keep-alive connections (IPv4
# and IPv6) and 3 checksummed downloads run through drills 1, 2, 3, 5 and 8.
# (Until they shared a lab, changes were 28-fleet-store-drills.sh and failures
# 29-fleet-store-outages.sh: each brought up the same lab.)
# Changes under live traffic:
#   1. a backend added by xlb fleet apply reaches every node: the time from
#      the command's return to the last node applied; same table
#      fingerprints on every data plane; 0 connections broken;
#   3. one node cut off from the store while a change is applied: it serves
#      on its old generation, fleet status names it behind (exit 1); on
#      repair it catches up; 0 broken;
#   4. two operators apply different files at the same instant, 20 to 60 times (until 10 collide):
#      exactly one wins each time, or both in turn; history has every
#      generation once (no lost update, no gap);
#   8. xlb fleet rollback: every node back to the previous tables (the same
#      fingerprints), 0 broken.
# Failures:
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
# Negative controls: the change moves live flows and table fingerprints (so
# "equal" and "0 broken" are not vacuous); a good record written the same way
# with etcdctl is applied (the refusal is about the content); a node restarted
# with the store up announces within the window drill 6 watches; history
# checked on planted gaps; last, a node forced off the fleet by a local change
# shows other tables and fleet status names it (last: drill 2 checks that no
# node ever applied what is not a desired record).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetstore-lib.sh"
require_root
fleetstore_up
check "the router has all three nodes as next hops, IPv4 and IPv6" all_hops
check "fleet status: every node runs the lab's generation 1 (exit 0)" fleet status
check "the nodes hold the same tables" same_tables
g=$(desired_gen)
fleet apply $CFG3 --reason "drills: b1..b3" >/dev/null
check "the drills' configuration (b1..b3) reaches every node" wait_for 15 all_at $((g + 1))

# ---- drill 1: a backend added through the store -------------------------------------------
kept_prev() {	# flows kept on their previous backend in slots a change moved, all nodes
	local k n=0 v
	for k in 1 2 3; do
		v=$(node $k -j stats | jq '.events.flow_kept_previous // 0')
		n=$((n + v))
	done
	echo $n
}
T3=$(tables 1)
h0=$(local_gens 1)
moved0=$(kept_prev)
traffic apply
t0=$(ms)
fleet apply $CFG4 --reason "drill 1: b4 joins" >/tmp/$LP-d1.out 2>&1
rc=$?
tret=$(( $(ms) - t0 ))
G=$(desired_gen)
lag=$(until_all_at "$G" 20)
check "drill 1: fleet apply returned (exit $rc) in $tret ms; the last node applied generation $G $lag ms after" \
	test "$rc" = 0 -a "$lag" != timeout
T4=$(tables 1)
check "drill 1: every data plane holds the same tables ($T4)" same_tables "$T4"
check "negative control: they are not the tables before the change ($T3)" test "$T4" != "$T3"
check "drill 1: each node's own history got one generation for it" \
	test "$(local_gens 1)" = $((h0 + 1)) -a "$(local_gens 2)" = "$(local_gens 1)"
settle
finish
check "drill 1: $KEPT of $CONNS connections kept their backend, $BROKEN broken, no request failed" kept_all
check "drill 1: the downloads are intact ($INTACT of 3)" downloads_intact
moved=$(( $(kept_prev) - moved0 ))
check "negative control: the change moved live flows ($moved kept on their previous backend)" \
	test "$moved" -gt 0

# ---- drill 3: one node cut off from the store while a change is applied -----------------
# the change: b1's weight doubled (a change that removes a backend breaks
# that backend's connections by design: the drills change what keeps them)
jq '.services |= map(.backends[0].weight = 200)' $CFG4 >/tmp/$LP-cfg4w.json
traffic cut
store cut 3
check "drill 3: node 3 no longer reaches the store" \
	bash -c "! $LAB exec --prefix $LP lb3 curl -sf -m 1 http://198.51.100.131:2379/health"
fleet apply /tmp/$LP-cfg4w.json --reason "drill 3: b1 weighs twice" >/dev/null
G=$(desired_gen)
two_at() { [ "$(at_gen "$G")" = 2 ] && [ "$(node_gen 3)" = $((G - 1)) ]; }
check "drill 3: nodes 1 and 2 apply generation $G, node 3 stays on $((G - 1))" wait_for 10 two_at
out=$(fleet status 2>&1)
rc=$?
check "drill 3: fleet status exits 1 (exit $rc)" test $rc = 1
check "drill 3: and names lb3 behind" grep -Eq "^lb3 +$((G - 1)) +1 " <<<"$out"
[ $rc = 1 ] || printf '#   %s\n' "$out"
old=$(tables 3)
check "drill 3: node 3 serves on its old tables ($old)" test "$old" = "$T4"
check "drill 3: the router still sends to node 3" has_hop 3
# past its lease (10 s), the cut node's status record leaves the store; its
# member record stays, and fleet status still names it (lost, behind)
check "drill 3: every node has its member record" \
	test "$(ectl get --prefix $KEY/members/ --keys-only | grep -c .)" = 3
t0=$(ms)
gone() { [ -z "$(node_rec 3)" ]; }
check "drill 3: cut off past its lease, lb3's status record expires" wait_for 20 gone
out=$(fleet status 2>&1)
rc=$?
echo "# cut: lb3's status record expired $(( $(ms) - t0 )) ms after the check; fleet status then exits $rc: $(tail -1 <<<"$out")"
check "drill 3: past the lease, fleet status still exits 1 (exit $rc)" test $rc = 1
check "drill 3: and names lb3 lost, behind" grep -Eq "^lb3 +$((G - 1)) +1 .*lost: no status since" <<<"$out"
[ $rc = 1 ] || printf '#   %s\n' "$out"
store repair 3
t0=$(ms)
lag=$(until_all_at "$G" 30)
check "drill 3: repaired, node 3 catches up with generation $G in $lag ms" test "$lag" != timeout
T4W=$(tables 1)
check "drill 3: every data plane holds the same tables again ($T4W)" same_tables "$T4W"
check "negative control: not node 3's old ones" test "$T4W" != "$T4"
check "fleet status: all nodes on the desired generation (exit 0)" fleet status
settle
finish
check "drill 3: $KEPT of $CONNS connections kept their backend, $BROKEN broken, no request failed" kept_all
check "drill 3: the downloads are intact ($INTACT of 3)" downloads_intact

# ---- drill 4: two operators apply different files at the same instant, 20-60 times -----
# Both commands wait on a lock the test holds (flock -s) and start when it
# lets go: the same instant, to a few milliseconds.
GATE=/tmp/$LP-gate
: >$GATE
waiters() { [ "$(grep -c -- "-> FLOCK .*:$(stat -c %i $GATE) " /proc/locks)" = 2 ]; }
op() {	# $1 operator, $2 file, $3 round
	flock -s $GATE $LAB fleet --prefix $LP apply "$2" --reason "drill 4: operator $1, round $3" \
		>/tmp/$LP-op$1.out 2>&1
	echo $? >/tmp/$LP-op$1.rc
}
# On a loaded machine the two may not meet every round: rounds go on (at most
# 60) until 10 have collided, and at least 20 run.
collided=0 serial=0 bad=0 gated=0 rounds=0
for i in $(seq 1 60); do
	[ $rounds -ge 20 ] && [ $collided -ge 10 ] && break
	rounds=$i
	jq --argjson w $((100 + i)) '.services |= map(.backends[0].weight = $w)' $CFG3 >/tmp/$LP-a$i.json
	jq --argjson w $((100 + i)) '.services |= map(.backends[1].weight = $w)' $CFG3 >/tmp/$LP-b$i.json
	g=$(desired_gen)
	exec 9>>$GATE
	flock -x 9
	op a /tmp/$LP-a$i.json $i & pa=$!
	op b /tmp/$LP-b$i.json $i & pb=$!
	wait_for 5 waiters && gated=$((gated + 1))
	flock -u 9
	exec 9>&-
	wait $pa $pb
	ra=$(cat /tmp/$LP-opa.rc) rb=$(cat /tmp/$LP-opb.rc)
	g2=$(desired_gen) fp=$(desired_fp)
	if [ "$ra$rb" = 01 ] && [ $g2 = $((g + 1)) ] && [ "$fp" = "$(file_fp /tmp/$LP-a$i.json)" ]; then
		collided=$((collided + 1)); cp /tmp/$LP-opb.out /tmp/$LP-loser.out
	elif [ "$ra$rb" = 10 ] && [ $g2 = $((g + 1)) ] && [ "$fp" = "$(file_fp /tmp/$LP-b$i.json)" ]; then
		collided=$((collided + 1)); cp /tmp/$LP-opa.out /tmp/$LP-loser.out
	elif [ "$ra$rb" = 00 ] && [ $g2 = $((g + 2)) ]; then
		serial=$((serial + 1))
	else
		bad=$((bad + 1))
		echo "# round $i: exits $ra $rb, generation $g -> $g2 ($(cat /tmp/$LP-opa.out /tmp/$LP-opb.out | tr '\n' ' '))"
	fi
done
echo "# operators: $collided of $rounds rounds collided (one refused), $serial went one after the other, $bad wrong; $gated gated together"
# the last refused one's words (a later round that went one after the other overwrites .out)
echo "# the refused one was told: $(grep -m1 "plan again" /tmp/$LP-loser.out)"
check "drill 4: each of $rounds rounds, exactly one apply won or both in turn ($bad wrong)" test $bad = 0
check "drill 4: the operators met: 10 rounds collided ($collided of $rounds)" test $collided -ge 10
check "drill 4: the refused one is told to plan again" grep -q "plan again" /tmp/$LP-loser.out
check "drill 4: history holds every generation once, 1..$(desired_gen): no gap, no duplicate" history_whole
lag=$(until_all_at "$(desired_gen)" 20)
check "drill 4: every node follows to generation $(desired_gen) ($lag ms after the last round)" \
	test "$lag" != timeout
check "drill 4: every data plane holds the same tables" same_tables

# ---- drill 8: xlb fleet rollback ---------------------------------------------------------
# connections open before the change and through it (a rollback that takes
# out a backend breaks the connections opened on it since: by design)
prev=$(tables 1)
traffic rollback
fleet apply $CFG4 --reason "drill 8: the change to roll back" >/dev/null
G=$(desired_gen)
check "drill 8: a change (b4 back) reaches every node (generation $G)" wait_for 15 all_at "$G"
before=$(fleet -j history | jq -r --argjson g $((G - 1)) '.generations[] | select(.generation == $g) | .fingerprint')
after=$(tables 1)
settle
t0=$(ms)
check "drill 8: xlb fleet rollback" fleet rollback --reason "drill 8"
tret=$(( $(ms) - t0 ))
lag=$(until_all_at $((G + 1)) 20)
check "drill 8: rollback returned in $tret ms; every node applied it $lag ms after" test "$lag" != timeout
check "drill 8: the desired configuration is generation $((G - 1))'s again ($before)" \
	test "$(desired_fp)" = "$before"
check "drill 8: recorded as a rollback" test "$(fleet -j history | jq -r '.generations[-1].source')" = rollback
check "drill 8: every data plane holds the previous tables again ($prev)" same_tables "$prev"
check "negative control: the rolled-back change had other tables ($after)" test "$after" != "$prev"
settle
finish
check "drill 8: $KEPT of $CONNS connections kept their backend, $BROKEN broken, no request failed" kept_all
check "drill 8: the downloads are intact ($INTACT of 3)" downloads_intact


# ---- the failures, on the same lab (drills 2, 5, 6, 7) ------------------------------------
check "the router has all three nodes as next hops, IPv4 and IPv6" all_hops
check "fleet status: every node runs the desired generation (exit 0)" fleet status
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

# ---- negative control: a node forced off the fleet by a local change -----------------------
check_exit "a local change on a fleet node is refused (exit 1)" 1 node 2 backend set web 198.51.100.1 weight 300
node 2 backend set web 198.51.100.1 weight 300 --force --reason "negative control" >/dev/null 2>&1
differ() { ! same_tables >/dev/null; }
check "negative control: forced, node 2 holds other tables ($(tables 2))" differ
diverged() { fleet -j status | jq -e '[.nodes[] | select(.node == "lb2" and .local_change != null)] | length == 1'; }
check "negative control: the store shows node 2's local change" wait_for 10 diverged
check_exit "negative control: fleet status exits 1" 1 fleet status
done_testing
