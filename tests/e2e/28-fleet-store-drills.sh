#!/usr/bin/env bash
# The fleet's source of truth in etcd, changes under live traffic (issue 23's
# drills 1, 3, 4 and 8): three xlb nodes behind the BIRD router follow a
# 3-member etcd store on lab links (tools/lab up --nodes 3 --store 3);
# 200 keep-alive connections (IPv4 and IPv6) and 3 checksummed downloads
# run through each drill but the fourth.
#   1. a backend added by xlb fleet apply reaches every node: the time from
#      the command's return to the last node applied; same table
#      fingerprints on every data plane; 0 connections broken;
#   3. one node cut off from the store while a change is applied: it serves
#      on its old generation, fleet status names it behind (exit 1); on
#      repair it catches up; 0 broken;
#   4. two operators apply different files at the same instant, 20 times:
#      exactly one wins each time, or both in turn; history has every
#      generation once (no lost update, no gap);
#   8. xlb fleet rollback: every node back to the previous tables (the same
#      fingerprints), 0 broken.
# Negative controls: the change moves live flows and table fingerprints (so
# "equal" and "0 broken" are not vacuous); a node forced off the fleet by a
# local change shows other tables and fleet status names it.
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

# ---- drill 4: two operators apply different files at the same instant, 20 times ---------
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
collided=0 serial=0 bad=0 gated=0
for i in $(seq 1 20); do
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
echo "# operators: $collided of 20 rounds collided (one refused), $serial went one after the other, $bad wrong; $gated gated together"
# the last refused one's words (a later round that went one after the other overwrites .out)
echo "# the refused one was told: $(grep -m1 "plan again" /tmp/$LP-loser.out)"
check "drill 4: each of 20 rounds, exactly one apply won or both in turn ($bad wrong)" test $bad = 0
check "drill 4: the operators met: most rounds collided ($collided of 20)" test $collided -ge 10
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

# ---- negative control: a node forced off the fleet by a local change -----------------------
check_exit "a local change on a fleet node is refused (exit 1)" 1 node 2 backend set web 198.51.100.1 weight 300
node 2 backend set web 198.51.100.1 weight 300 --force --reason "negative control" >/dev/null 2>&1
differ() { ! same_tables >/dev/null; }
check "negative control: forced, node 2 holds other tables ($(tables 2))" differ
diverged() { fleet -j status | jq -e '[.nodes[] | select(.node == "lb2" and .local_change != null)] | length == 1'; }
check "negative control: the store shows node 2's local change" wait_for 10 diverged
check_exit "negative control: fleet status exits 1" 1 fleet status
done_testing
