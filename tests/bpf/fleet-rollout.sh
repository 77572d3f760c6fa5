#!/usr/bin/env bash
# Fleet rollouts (issue 24 part 4): three daemons with --store on three veths
# of one namespace, a real etcd there, no traffic.  xlb fleet apply --steps 3
# starts one; the leader writes each step once (history: one generation per
# step, source rollout, by the leader), waits for every node, judges the
# window and ends it done with every node on the target.  A step whose
# backends fail their health checks (a TCP check to addresses nothing
# answers) rolls the whole fleet back by itself: desired is the start's
# configuration again, source rollback, the record says why.  Pause, resume
# and abort (rolled back) through the leader; the leader killed mid-rollout:
# another resumes from the record, each step once in history.  Refused
# inputs: steps 0 and 101, a bad duration, no desired yet, a second rollout,
# a plain apply or rollback meanwhile, requests with no rollout or an ended one.
. "$(dirname "$0")/../lib.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
command -v jq >/dev/null || skip_all "needs jq"
xt_cli_fixture fr
etcd_up $NS 2379 || { not_ok "etcd starts in $NS"; done_testing; exit 1; }
ectl() { ip netns exec $NS etcdctl --endpoints $ETCD_URL "$@"; }
S="--store $ETCD_URL --fleet f1"
K=/xlb/fleets/f1
xt_three_nodes
start() {	# start I: daemon n$I on its veth
	nsenter --net=/run/netns/$NS $XLB --state "$STATE" --dev ${DEVS[$1]} daemon \
		--metrics 127.0.0.1:916$1 $S --node n$1 2>>$STATE/n$1.log &
	PIDS[$1]=$!
	disown	# killed on purpose below: no job notice
}
conf() {	# conf FILE EXTRA N:W...: service web, backends 198.51.100.N of weight W
	local file=$1 extra=$2 list="" b
	shift 2
	for b in "$@"; do
		list+="{\"address\": \"198.51.100.${b%:*}\", \"weight\": ${b#*:}},"
	done
	printf '{"services": [{"name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
	  "table_size": 1009, "guards": {"max_churn": 1}%s, "backends": [%s]}]}\n' \
		"$extra" "${list%,}" >"$STATE/$file"
}
conf a.json "" 1:100 2:100 3:100
conf b.json "" 1:100 2:100 3:100 4:100
conf c.json "" 1:100 2:100 3:100 4:100 5:100
# nothing answers 198.51.100.0/24 here: every check fails
HC=', "health": {"type": "tcp", "via": "direct", "port": 80, "interval_ms": 200, "timeout_ms": 150, "rise": 1, "fall": 50}'
conf bad.json "$HC" 1:100 2:100 3:100 6:100
rec() { ectl get --print-value-only $K/decide/rollout; }
field() { rec | jq -r ".$1"; }
dgen() { ectl get --print-value-only $K/desired | jq -r .generation; }
dfp() { ectl get --print-value-only $K/desired | jq -r .fingerprint; }
hist() { x -j fleet history $S | jq .generations; }
leader() { ectl get --print-value-only $K/decide/leader | jq -r '.node // empty' 2>/dev/null; }
on_gen() {	# every node's status record says generation $1
	local i
	for i in 1 2 3; do
		[ -z "${PIDS[i]}" ] && continue
		[ "$(ectl get --print-value-only $K/nodes/n$i | jq -r .generation)" = "$1" ] || return 1
	done
}

# ---- refused inputs, before any daemon ------------------------------------------------
check_exit "a rollout with no desired configuration yet: refused (exit 1)" 1 \
	x fleet apply "$STATE/b.json" --steps 3 --step-time 1s $S
check "xlb fleet apply a.json (generation 1)" x fleet apply "$STATE/a.json" $S
for bad in "--steps 0 --step-time 1s" "--steps 101 --step-time 1s" "--steps 3 --step-time 2x" \
	   "--steps 3 --step-time 10ms" "--steps 3"; do
	out=$(x fleet apply "$STATE/b.json" $bad $S 2>&1); rc=$?
	check "fleet apply $bad: exit 1, said ($out)" \
		bash -c "[ $rc -eq 1 ] && grep -q -- '--step' <<<\"\$0\"" "$out"
done
check_exit "the same configuration in steps: nothing to roll out (exit 1)" 1 \
	x fleet apply "$STATE/a.json" --steps 3 --step-time 1s $S
out=$(x fleet rollout abort $S 2>&1); rc=$?
check "rollout abort with none: exit 1, said ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'has no rollout' <<<\"\$0\"" "$out"
check "rollout status with none: exit 0, says so" eval "x fleet rollout status \$S | grep -q 'no rollout has run'"
check_exit "the store unreachable: exit 2" 2 \
	x fleet apply "$STATE/b.json" --steps 3 --step-time 1s --store http://127.0.0.1:2999 --fleet f1
check "nothing written by any of them: no decide/rollout, desired generation 1" \
	eval '[ -z "$(rec)" ] && [ "$(dgen)" = 1 ]'

# ---- a 3-step rollout completes ----------------------------------------------------------
for i in 1 2 3; do start $i; done
check "the nodes apply generation 1 and one leads" wait_for 20 eval 'on_gen 1 && [ -n "$(leader)" ]'
check "their status records carry counters" eval \
	"ectl get --print-value-only $K/nodes/n1 | jq -e '.counters.drops >= 0 and (.counters.backends.web | length) == 3'"
out=$(x fleet apply "$STATE/b.json" --steps 3 --step-time 1s --reason "four backends" $S 2>&1)
check "fleet apply b.json --steps 3 --step-time 1s starts a rollout ($out)" \
	grep -q "rollout r[0-9a-f]* started: 3 steps" <<<"$out"
ID=$(field id)
out=$(x fleet apply "$STATE/c.json" --steps 2 --step-time 1s $S 2>&1); rc=$?
check "a second rollout meanwhile: exit 1, names the first ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q '$ID is running' <<<\"\$0\"" "$out"
out=$(x fleet apply "$STATE/c.json" $S 2>&1); rc=$?
check "a plain apply meanwhile: exit 1, says how to stop it ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'rollout abort' <<<\"\$0\"" "$out"
check_exit "a rollback meanwhile: exit 1" 1 x fleet rollback $S
check "the rollout ends done" wait_for 40 eval '[ "$(field state)" = done ]'
check "every node on the target (generation 4, its fingerprint)" wait_for 10 eval \
	'on_gen 4 && [ "$(dfp)" = "$(field target_fp)" ]'
check "the record: step 3 of 3, generations [2,3,4]" eval \
	"rec | jq -e '.step == 3 and .gens == [2,3,4]'"
check "history: one generation per step, source rollout, by the leader" eval \
	"hist | jq -e '[.[] | select(.source == \"rollout\")] | length == 3 and all(.who | startswith(\"leader n\"))'"
check "history names each step once (step 1, 2, 3 of 3)" eval \
	"hist | jq -e '[.[] | .reason | capture(\"step (?<k>[0-9]) of 3\").k] == [\"1\",\"2\",\"3\"]'"
check "events: three step writes, one done" eval \
	"ectl get --prefix --print-value-only $K/decide/events/ | jq -se '(map(select(.kind == \"step\" and (.what | test(\": generation\")))) | length) == 3 and (map(select(.kind == \"done\")) | length) == 1'"
check "rollout status: done, step 3 of 3, the nodes on step 3" eval \
	"x fleet rollout status \$S | grep -q 'done, step 3 of 3' && x fleet rollout status \$S | grep -q 'generation 4 (step 3)'"
out=$(x fleet rollout pause $S 2>&1); rc=$?
check "pause an ended rollout: exit 1 ($out)" bash -c "[ $rc -eq 1 ] && grep -q 'already ended' <<<\"\$0\"" "$out"

# ---- a bad step: the fleet rolled back by itself ------------------------------------
out=$(x fleet apply "$STATE/bad.json" --steps 2 --step-time 2s $S 2>&1)
check "a rollout to a configuration whose checks fail starts ($out)" grep -q started <<<"$out"
check "rolled back by the leader" wait_for 30 eval '[ "$(field state)" = rolled_back ]'
check "why names the health failures: $(field why)" eval "field why | grep -q 'health checks'"
check "desired is the start's configuration again, source rollback" eval \
	"ectl get --print-value-only $K/desired | jq -e '.source == \"rollback\" and .fingerprint == \"$(rec | jq -r .from_fp)\"'"
G=$(dgen)
check "every node on it (generation $G)" wait_for 15 eval 'on_gen $G'
check "a rollback event" eval \
	"ectl get --prefix --print-value-only $K/decide/events/ | jq -se 'map(select(.kind == \"rollback\")) | length == 1'"
# what every node shows of it: metrics and the status page (decidelog.c)
metric() { ip netns exec $NS curl -s -m 2 http://127.0.0.1:916$1/metrics | grep -qxF -- "$2"; }
page() { ip netns exec $NS curl -s -m 5 http://127.0.0.1:916$1/; }
L=$(leader); L=${L#n}; F=$(( L % 3 + 1 ))
check "the leader n$L counts the rollback it wrote" \
	wait_for 5 metric $L "xlb_fleet_rollout_rollbacks_total 1"
check "control: a follower (n$F) wrote none" metric $F "xlb_fleet_rollout_rollbacks_total 0"
back() { metric $1 'xlb_fleet_rollout_state{state="rolled_back"} 1' &&
	 metric $1 'xlb_fleet_rollout_state{state="running"} 0'; }
for i in 1 2 3; do
	check "n$i: xlb_fleet_rollout_state{state=\"rolled_back\"} 1, running 0" wait_for 5 back $i
done
check "n$F's page: the fleet rollout row says rolled back and why" eval \
	"page $F | grep -o '<tr id=\"fleet-rollout\">.*</tr>' | grep -q 'rolled_back</b>, step .* of 2; why: .*health checks'"
check "n$F's page: the rollback among the decisions, by the leader n$L" eval \
	"page $F | grep -q '<td>rollback</td><td>n$L</td><td>rollout $(field id) rolled back'"

# ---- pause, resume, abort ------------------------------------------------------------
check "a rollout to c.json in 3 steps of 3 s" x fleet apply "$STATE/c.json" --steps 3 --step-time 3s $S
check "step 1 written" wait_for 15 eval '[ "$(field step)" -ge 1 ]'
check "pause: taken by the leader" eval "x fleet rollout pause --reason 'look first' \$S | grep -q paused"
k=$(field step)
sleep 5	# not a wait for readiness: a paused rollout must not move for longer than a step
check "paused: no step since ($k)" eval '[ "$(field step)" = $k ] && [ "$(field state)" = paused ]'
check "resume" eval "x fleet rollout resume \$S | grep -q running"
check "it moves on" wait_for 15 eval '[ "$(field step)" -gt $k ]'
check "abort: rolled back" eval "x fleet rollout abort --reason 'enough' \$S | grep -q aborted"
check "the record: aborted, why names who and why" eval "field why | grep -q 'enough'"
check "desired is the start's configuration again" eval '[ "$(dfp)" = "$(field from_fp)" ]'

# ---- the leader killed mid-rollout ------------------------------------------------------
G0=$(dgen)
ms() { echo $(( $(date +%s%N) / 1000000 )); }
restarts() { ectl get --prefix --print-value-only $K/decide/events/ |
	jq -s '[.[] | select(.kind == "step" and (.what | test("starts again")))] | length'; }
check "a rollout to c.json in 3 steps of 4 s" x fleet apply "$STATE/c.json" --steps 3 --step-time 4s $S
check "step 1 in its window (every node runs it, step_since set)" wait_for 15 eval \
	'[ "$(field step)" = 1 ] && [ "$(field step_since)" != null ]'
check "control: no window restarted so far" test "$(restarts)" = 0
L=$(leader); L=${L#n}
t0=$(ms)
kill -9 ${PIDS[L]}; PIDS[L]=
check "n$L killed: another leads within the lease (10 s)" wait_for 14 eval \
	'[ -n "$(leader)" ] && [ "$(leader)" != n$L ]'
check "the new leader moves the rollout on (step 2 written)" wait_for 20 eval '[ "$(field step)" -ge 2 ]'
echo "# step 2 written $(( $(ms) - t0 )) ms after the leader was killed in step 1's window"
check "it restarted step 1's window, and said so in an event" test "$(restarts)" = 1
check "the rollout completes" wait_for 60 eval '[ "$(field state)" = done ]'
check "each step once in history after generation $G0" eval \
	"hist | jq -e '[.[] | select(.generation > $G0) | .reason | capture(\"step (?<k>[0-9]) of 3\").k] == [\"1\",\"2\",\"3\"]'"
check "the live nodes on the target" wait_for 10 eval 'on_gen $(dgen) && [ "$(dfp)" = "$(field target_fp)" ]'
done_testing
