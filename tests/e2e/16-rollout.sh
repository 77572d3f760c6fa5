#!/usr/bin/env bash
# Stepped changes with automatic rollback, with real traffic (wrk, a new
# connection per request): (1) a good change ramps to the end, every step in
# the history, no failed request; (2) a new backend that passes its health
# check but has no VIP on its loopback (its SYNs are lost) stops the rollout
# at its first step and rolls it back — failed requests counted, against the
# same change applied at once; (3) a daemon killed mid-rollout resumes it
# when it starts again; (4) pause, resume and abort by hand; (5) slow start.
. "$(dirname "$0")/lib.sh"
lab_up --backends 4
attach
STEP=3s
# checks direct: the rollout must catch a backend whose checks pass while its
# clients' SYNs are lost (a check through the tunnel catches it first: e2e 32)
GUARDS='"guards":{"max_churn":1},"rollout":{"min_flows":60},"health":{"type":"http","via":"direct","path":"/healthz","interval_ms":300,"timeout_ms":250,"rise":1,"fall":2}'
config 100 100 100 - >/tmp/$LP-3.json
config 100 100 100 100 >/tmp/$LP-4.json
# web only: the rollout's signals are about it (dns has no traffic here)
for f in 3 4; do jq -c '.services |= map(select(.name == "web"))' /tmp/$LP-$f.json >/tmp/$LP-x.json
	mv /tmp/$LP-x.json /tmp/$LP-$f.json; done
check "apply three backends" xlb config apply /tmp/$LP-3.json
gen3=$(xlb -j status | jq -r '.[0].generation')
LOG=/tmp/$LP-daemon.log
daemon_start() {
	nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
		daemon --metrics 127.0.0.1:9147 2>>$LOG &
	dpid=$!
	wait_for 10 lab lb curl -s -m 1 -o /dev/null http://127.0.0.1:9147/metrics
}
daemon_start
ro() { xlb -j rollout status | jq -r ".$1"; }
state_is() { [ "$(ro state)" = "$1" ]; }
step_is() { [ "$(ro step)" -ge "$1" ]; }

# (1) a good change: b4 enters over 3 steps
load 14 1 >/tmp/$LP-load1 &
lpid=$!
out=$(xlb -j config apply /tmp/$LP-4.json --steps 3 --step-time $STEP --reason "add b4" 2>&1)
check "a stepped apply starts the rollout" bash -c "jq -e '.state == \"running\" and .step == 1' <<<'$out'"
check "it ramps to the end" wait_for 30 state_is done
wait $lpid
read -r n e </tmp/$LP-load1
check "no request failed while it ramped ($n requests, $e failed)" test "$e" = 0 -a "$n" -gt 300
hist=$(xlb -j config history)
check "three generations in the history, source rollout" \
	test "$(jq '[.[] | select(.source == "rollout")] | length' <<<"$hist")" = 3
check "the running configuration is the target" \
	test "$(xlb -j config show | jq '.services[0].backends | length')" = 4
rid=$(ro id)
check "the history names the rollout on each of them" \
	test "$(jq --arg r "$rid" '[.[] | select(.rollout == $r)] | length' <<<"$hist")" = 3
grouped() { xlb config history | grep -q "rollout $rid: generations .*3 generations"; }
check "and shows them as one change" grouped
weights=$(jq -r '[.[] | select(.source == "rollout") | .reason] | join("|")' <<<"$hist")
check "each step is named in its reason" grep -q "step 1 of 3.*step 2 of 3.*step 3 of 3" <<<"$weights"
metrics() { lab lb curl -s -m 2 http://127.0.0.1:9147/metrics; }
completed() { metrics | grep -q '^xlb_rollout_completed_total 1'; }
check "xlb_rollout_completed_total counts it" wait_for 5 completed

# (2) a bad backend: b4 answers its health check but has no VIP on lo
check "back to three backends" xlb config apply /tmp/$LP-3.json --force
lab b4 ip addr del $VIP4/32 dev lo
load 14 2 >/tmp/$LP-load2 &
lpid=$!
t0=$(date +%s%N)
xlb config apply /tmp/$LP-4.json --steps 3 --step-time $STEP --reason "add b4 (no VIP)" >/dev/null 2>&1
check "the rollout is rolled back" wait_for 30 state_is rolled_back
t1=$(date +%s%N)
check "at its first step" test "$(ro step)" = 1
echo "# why: $(ro why)"
check "the reason names the backend" grep -q 198.51.100.4 <<<"$(ro why)"
wait $lpid
read -r n2 e2 </tmp/$LP-load2
check "the running configuration is the start one again" \
	test "$(xlb -j config show | jq '.services[0].backends | length')" = 3
# the same bad change at once, the same traffic
load 14 3 >/tmp/$LP-load3 &
lpid=$!
xlb config apply /tmp/$LP-4.json --force >/dev/null 2>&1
wait $lpid
read -r n3 e3 </tmp/$LP-load3
echo "# bad backend, stepped: $e2 of $n2 requests failed; rolled back $(( (t1 - t0) / 1000000 )) ms after the apply"
echo "# bad backend, at once: $e3 of $n3 requests failed (over the same 14 s)"
check "the stepped change failed fewer requests than the change at once ($e2 < $e3)" test "$e2" -lt "$e3"
lab b4 ip addr add $VIP4/32 dev lo
check "back to three backends again" xlb config apply /tmp/$LP-3.json --force

# (3) the daemon killed mid-rollout, started again: it resumes
xlb config apply /tmp/$LP-4.json --steps 3 --step-time $STEP >/dev/null 2>&1
kill -KILL $dpid; wait $dpid 2>/dev/null
check "killed at step 1, the rollout stays running" test "$(ro state) $(ro step)" = "running 1"
check_exit "a change by hand is refused meanwhile (exit 1)" 1 xlb config apply /tmp/$LP-3.json
daemon_start
out=$(xlb config apply /tmp/$LP-3.json --steps 2 --step-time $STEP 2>&1); rc=$?
check "a second stepped change is refused meanwhile (exit $rc), one at a time" \
	bash -c "[ $rc = 1 ] && grep -q 'one at a time' <<<\"\$1\"" _ "$out"
check "the restarted daemon resumes it to the end" wait_for 40 state_is done
check "and logs that it resumed" grep -q "resuming at step 1 of 3" $LOG

# (4) pause, resume, abort by hand
check "back to three backends once more" xlb config apply /tmp/$LP-3.json --force
g0=$(xlb -j status | jq -r '.[0].generation')
xlb config apply /tmp/$LP-4.json --steps 3 --step-time $STEP >/dev/null 2>&1
check "pause" xlb rollout pause
check "paused" state_is paused
s=$(ro step)
# the assertion is that the deadline passes: two step times without a step
stays() { ! wait_for 7 step_is $(( $1 + 1 )); }
check "a paused rollout does not step on (still at step $s after two step times)" stays $s
check "resume" xlb rollout resume
check "running again" state_is running
check "abort" xlb rollout abort
check "aborted" state_is aborted
check "rolled back to the generation it started from (tables of $g0)" \
	test "$(xlb -j config show | jq '.services[0].backends | length')" = 3
check_exit "abort with none in progress exits 1" 1 xlb rollout abort

# (5) slow start: a backend the checks bring back up, and one added by hand,
# enter in the service's steps
for f in 3 4; do jq -c '.services[0].slow_start = {"steps": 3, "step_time_ms": 2000}' \
	/tmp/$LP-$f.json >/tmp/$LP-s$f.json; done
check "a configuration with slow_start" xlb config apply /tmp/$LP-s3.json --force
weight_of() { xlb -j config show | jq -r ".services[0].backends[] | select(.address == \"198.51.100.$1\") | .state + \" \" + (.weight | tostring)"; }
is() { [ "$(weight_of "$1")" = "$2" ]; }
lab b2 sh -c "kill \$(cat /run/$LP-b2.nginx.pid)"
check "b2's server stops: the checks take it out" wait_for 10 is 2 "down 100"
lab b2 nginx -c /tmp/$LP-b2.nginx.conf
slow_started() { state_is running && grep -q "slow start" <<<"$(ro reason)"; }
check "its server back: a slow start begins" wait_for 10 slow_started
check "b2 enters with a third of its weight" wait_for 5 is 2 "active 33"
check "and ends at its whole weight" wait_for 20 is 2 "active 100"
check "the slow start is done" wait_for 5 state_is done
xlb backend add web 198.51.100.4 weight 100 >/tmp/$LP-add.out 2>&1
check "backend add in a slow-start service steps it in" grep -q "enters in 3 steps" /tmp/$LP-add.out
check "b4 ends at its whole weight" wait_for 20 is 4 "active 100"
check "that rollout is done too" wait_for 5 state_is done
kill -TERM $dpid; wait $dpid 2>/dev/null
check_exit "without a daemon a stepped apply is refused (exit 1)" 1 \
	xlb config apply /tmp/$LP-4.json --steps 2 --step-time 1s
g=$(xlb -j status | jq -r '.[0].generation')
check_exit "--steps 0: usage (exit 1)" 1 xlb config apply /tmp/$LP-4.json --steps 0 --step-time 1s
check_exit "--steps without --step-time: usage (exit 1)" 1 xlb config apply /tmp/$LP-4.json --steps 2
check_exit "--step-time 10x: usage (exit 1)" 1 xlb config apply /tmp/$LP-4.json --steps 2 --step-time 10x
check_exit "--step-time below a second: usage (exit 1)" 1 xlb config apply /tmp/$LP-4.json --steps 2 --step-time 10ms
check_exit "rollout pause with none in progress (exit 1)" 1 xlb rollout pause
check_exit "an unknown rollout verb (exit 1)" 1 xlb rollout bogus
check "none of them changed anything (generation $g)" test "$(xlb -j status | jq -r '.[0].generation')" = "$g"
done_testing
