#!/usr/bin/env bash
# The fleet's leader (issue 24): three daemons with --store on three veths of
# one namespace, a real etcd there.  Exactly one leads (decide/leader under
# its status lease, its metrics say so, fleet status names it); killed with
# SIGKILL, another takes over within the lease's TTL (10 s; the takeover is
# measured); stopped with SIGTERM, it resigns and another leads within about
# a second; a leader record written by hand over it (another node, another
# term) deposes it: it says so, leads no more and writes nothing; removed,
# the daemons elect one again.  Elections are counted in the metrics and
# every one is in xlb fleet history.
. "$(dirname "$0")/../lib.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
command -v jq >/dev/null || skip_all "needs jq"
xt_cli_fixture fl
etcd_up $NS 2379 || { not_ok "etcd starts in $NS"; done_testing; exit 1; }
ectl() { ip netns exec $NS etcdctl --endpoints $ETCD_URL "$@"; }
S="--store $ETCD_URL --fleet f1"
K=/xlb/fleets/f1/decide
xt_three_nodes
start() {	# start I: daemon n$I on its veth, metrics on 127.0.0.1:915$I
	nsenter --net=/run/netns/$NS $XLB --state "$STATE" --dev ${DEVS[$1]} daemon \
		--metrics 127.0.0.1:915$1 $S --node n$1 2>>$STATE/n$1.log &
	PIDS[$1]=$!
	disown	# killed on purpose below: no job notices in the output
}
metric() { ip netns exec $NS curl -s -m 2 http://127.0.0.1:915$1/metrics | awk -v m="$2" '$1 == m {print $2}'; }
leader() { ectl get --print-value-only $K/leader | jq -r '.node // empty' 2>/dev/null; }
term() { ectl get -w json $K/leader | jq -r '.kvs[0].create_revision // empty'; }
leading() {	# the nodes whose metrics say they lead, by number
	local i
	for i in 1 2 3; do [ "$(metric $i xlb_fleet_leader)" = 1 ] && printf '%s ' $i; done
}
one_leads() {	# exactly one node leads, decide/leader names it, all see its term
	local l t i
	l=$(leading); t=$(term)
	[ "$(echo $l | wc -w)" = 1 ] && [ "$(leader)" = "n${l% }" ] || return 1
	for i in 1 2 3; do
		[ -z "${PIDS[i]}" ] || [ "$(metric $i xlb_fleet_leader_term)" = "$t" ] || return 1
	done
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- one leader of three ---------------------------------------------------------
check_exit "control: fleet status with no daemon names no leader" 0 \
	eval 'x -j fleet status $S | jq -e ".leader == null"'
for i in 1 2 3; do start $i; done
check "one daemon of three leads, decide/leader names it" wait_for 15 one_leads
L=$(leading); L=${L% }
check "the others lead not (xlb_fleet_leader 0)" eval \
	'[ "$(for i in 1 2 3; do metric $i xlb_fleet_leader; done | sort | tr -d "\n")" = 001 ]'
check "decide/leader lives under the leader's lease" \
	eval '[ "$(ectl get -w json $K/leader | jq -r ".kvs[0].lease")" != null ]'
check "its record: node, since, elections 1" eval \
	"ectl get --print-value-only $K/leader | jq -e '.node == \"n$L\" and (.since | test(\"Z$\")) and .elections == 1'"
check "xlb_fleet_elections_total 1 on n$L" eval '[ "$(metric $L xlb_fleet_elections_total)" = 1 ]'
check "fleet status names the leader (JSON: node, term, since)" eval \
	"x -j fleet status \$S | jq -e '.leader.node == \"n$L\" and .leader.term == $(term) and (.leader.since | length) > 0'"
check "fleet status names the leader (text)" eval "x fleet status \$S | grep -q '^leader: *n$L (term $(term)'"
check "n$L's log says it won" grep -q "node n$L won the election: it leads fleet f1" $STATE/n$L.log
check "an election event record in decide/events" eval \
	"ectl get --prefix --print-value-only $K/events/ | jq -se 'map(select(.kind == \"election\" and .node == \"n$L\")) | length == 1'"
check "the status page names it" eval \
	"ip netns exec $NS curl -s http://127.0.0.1:915$L/ | grep -o '<tr id=\"fleet-leader\">.*</tr>' | grep -q 'n$L (this node), term'"

# ---- SIGKILL: another takes over within the lease's TTL -------------------------------
T0=$(term)
t0=$(ms)
kill -9 ${PIDS[L]}; PIDS[L]=
check "SIGKILL n$L: another node leads within the lease's TTL (10 s) and a second" \
	wait_for 12 eval '[ -n "$(leading)" ] && [ "$(term)" != "$T0" ] && [ -n "$(term)" ]'
t1=$(ms)
L2=$(leading); L2=${L2% }
echo "# takeover after SIGKILL: $((t1 - t0)) ms (the lease's TTL is 10 s)"
check "the new leader is another node" test "$L2" != "$L" -a -n "$L2"
check "a new term, seen by the other" wait_for 3 one_leads
check "leader changes counted by the survivor" eval '[ "$(metric $L2 xlb_fleet_leader_changes_total)" -ge 1 ]'
start $L
check "n$L back: it does not lead (one leader)" wait_for 10 eval \
	'[ "$(metric $L xlb_fleet_leader)" = 0 ] && one_leads'

# ---- SIGTERM: the leader resigns, another leads within about a second ----------------
T1=$(term)
t0=$(ms)
kill -TERM ${PIDS[L2]}
check "SIGTERM n$L2: another leads within 2 s" wait_for 2 \
	eval '[ -n "$(term)" ] && [ "$(term)" != "$T1" ] && [ -n "$(leading)" ]'
t1=$(ms)
echo "# takeover after SIGTERM (resigned): $((t1 - t0)) ms"
check "n$L2's daemon ends" wait_for 5 eval '! kill -0 ${PIDS[L2]}'
PIDS[L2]=
check "n$L2 says it resigned" grep -q "node n$L2 resigned the leadership of fleet f1" $STATE/n$L2.log
check "a resignation event record" eval \
	"ectl get --prefix --print-value-only $K/events/ | jq -se 'map(select(.node == \"n$L2\" and (.what | test(\"resigns\")))) | length == 1'"
L3=$(leading); L3=${L3% }
start $L2

# ---- fencing: a record written by hand over the leader -----------------------------------
check "n$L2 back, one leader (n$L3)" wait_for 10 one_leads
ev() { ectl get --prefix --keys-only $K/events/ | grep -c .; }
T3=$(term)
for i in 1 2 3; do kill -STOP ${PIDS[i]}; done
ectl del $K/leader >/dev/null
ectl put $K/leader '{"node":"intruder","since":"2026-01-01T00:00:00Z","elections":1}' >/dev/null
for i in 1 2 3; do kill -CONT ${PIDS[i]}; done
e0=$(ev)
check "deposed: n$L3 leads no more (xlb_fleet_leader 0)" wait_for 5 \
	eval '[ "$(metric $L3 xlb_fleet_leader)" = 0 ]'
check "it says why" grep -q "node n$L3 lost the leadership of fleet f1 (term $T3): decide/leader" \
	$STATE/n$L3.log
check "no daemon leads while the hand-written record stands" eval '[ -z "$(leading)" ]'
check "the record is still the hand-written one (nobody wrote over it)" \
	eval '[ "$(leader)" = intruder ]'
check "every node sees the intruder's term" wait_for 3 eval \
	'[ "$(for i in 1 2 3; do metric $i xlb_fleet_leader_term; done | sort -u)" = "$(term)" ]'
check "no event was written since" eval '[ "$(ev)" = "$e0" ]'
check "fleet status names the intruder" eval 'x -j fleet status $S | jq -e ".leader.node == \"intruder\""'
# the same record rewritten in place (the same create revision) with another node: deposed too
ectl del $K/leader >/dev/null
check "the record removed: the daemons elect one again" wait_for 5 one_leads
L4=$(leading); L4=${L4% }
ectl put $K/leader "$(ectl get --print-value-only $K/leader | jq -c '.node = "intruder"')" >/dev/null
check "rewritten in place (same term, another node): n$L4 leads no more" wait_for 5 \
	eval '[ -z "$(leading)" ]'
ectl del $K/leader >/dev/null
check "removed again: one leader" wait_for 5 one_leads

# ---- the history ------------------------------------------------------------------------------
n=0; for i in 1 2 3; do n=$((n + $(metric $i xlb_fleet_elections_total))); done
won=$(ectl get --prefix --print-value-only $K/events/ | jq -s 'map(select(.kind == "election" and (.what | test("leads")))) | length')
check "elections won (metrics of the daemons running: $n) <= election records ($won), 4 at least" \
	eval '[ "$n" -le "$won" ] && [ "$won" -ge 4 ]'
check "fleet history -j: every election record, in time order" eval \
	"x -j fleet history \$S | jq -e '[.events[] | select(.kind == \"election\" and (.what | test(\"leads\")))] | length == $won'"
check "fleet history -j: events in time order" eval \
	"x -j fleet history \$S | jq -e '[.events[].when] | . == sort'"
check "fleet history (text): a line per election" eval \
	"[ \"\$(x fleet history \$S | grep -c ' election ')\" -ge $won ]"
done_testing
