#!/usr/bin/env bash
# xlb fleet apply --steps and xlb fleet rollout against a real one-member etcd
# on a namespace's own loopback, no daemon: the start's transaction is
# conditioned on desired and on the rollout record as read, so of two
# starts at the same instant exactly one wins, and a plain apply that lands
# between a start's read and its write makes the start refuse (nothing of
# it written); the record as written; a request conditioned on the record
# (written, waiting for a leader: exit 2 when none takes it); status.
. "$(dirname "$0")/../lib.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
command -v jq >/dev/null || skip_all "needs jq"
NS=${XT_NS}frc
TMP=$(mktemp -d /tmp/xlb-frc-XXXXXX)
trap 'rm -rf "$TMP"; xt_cleanup' EXIT
etcd_up "$NS" || { not_ok "etcd starts in $NS"; done_testing; exit 1; }
F=t1
K=/xlb/fleets/$F
x() { ip netns exec "$NS" "$XLB" "$@" --store "$ETCD_URL" --fleet $F; }
xp() { ip netns exec "$NS" env XLB_PAUSE_AT=fleet-rollout XLB_PAUSE_SECONDS=${XLB_PAUSE_SECONDS:-1} \
	"$XLB_FAULTS" "$@" --store "$ETCD_URL" --fleet $F; }
ectl() { etcd_in "$NS" etcdctl --endpoints "$ETCD_URL" "$@"; }
rec() { ectl get --print-value-only $K/decide/rollout; }
conf() {	# conf FILE N...: service web over backends 198.51.100.N
	local list
	list=$(printf '{"address": "198.51.100.%s"},' "${@:2}")
	printf '{"services": [{"name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
	  "table_size": 1009, "guards": {"max_churn": 1}, "backends": [%s]}]}\n' "${list%,}" >"$TMP/$1"
}
conf a.json 1 2 3
conf b.json 1 2 3 4
conf c.json 1 2 3 4 5
conf g.json 1 2 3 4 5 6 7 8
check "generation 1 (a.json)" x fleet apply "$TMP/a.json"

# ---- two starts at the same instant: exactly one wins -------------------------------------
xp fleet apply "$TMP/b.json" --steps 2 --step-time 1s >"$TMP/o1" 2>&1 & p1=$!
xp fleet apply "$TMP/c.json" --steps 2 --step-time 1s >"$TMP/o2" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check "two starts at once: one exits 0, the other 1 ($r1, $r2)" \
	test "$(printf '%s\n' $r1 $r2 | sort | tr -d '\n')" = 01
check "the loser says another rollout began meanwhile" \
	grep -q "another rollout began meanwhile" "$TMP/o1" "$TMP/o2"
id=$(rec | jq -r .id)
check "the record is the winner's ($id)" grep -q "rollout $id started" "$TMP/o1" "$TMP/o2"
check "the record as written: running, step 0, no generations, step_since null" eval \
	"rec | jq -e '.state == \"running\" and .step == 0 and .gens == [] and .step_since == null and .start_gen == 1 and .request == \"\"'"
check "its target's body is in the store" eval \
	"[ -n \"\$(ectl get --print-value-only $K/config/\$(rec | jq -r .target_fp))\" ]"

# ---- a request: conditioned on the record, waiting for a leader ------------------------
out=$(x fleet rollout pause --reason "hold on" 2>&1); rc=$?
check "pause with no leader: exit 2 after its wait, said ($rc: $out)" \
	bash -c "[ $rc -eq 2 ] && grep -q 'no leader took it' <<<\"\$0\"" "$out"
check "the request is written for the leader, with who and why" eval \
	"rec | jq -e '.request == \"pause\" and (.request_by | test(\"hold on\"))'"
check "status shows it waiting" eval "x fleet rollout status | grep -q 'requested: pause'"
check "status -j: the record, leader null, nodes []" eval \
	"x -j fleet rollout status | jq -e '.rollout.id == \"$id\" and .leader == null and .nodes == []'"
out=$(x fleet rollout resume 2>&1); rc=$?
check "resume of a running rollout: exit 1 ($out)" bash -c "[ $rc -eq 1 ] && grep -q 'not paused' <<<\"\$0\"" "$out"
check_exit "a bad request option: exit 1" 1 x fleet rollout abort --why x

# ---- ended: a start while desired changed under it ---------------------------------------
ectl put $K/decide/rollout "$(rec | jq -c '.state = "aborted" | .request = ""')" >/dev/null
XLB_PAUSE_SECONDS=5 xp fleet apply "$TMP/c.json" --steps 2 --step-time 1s >"$TMP/o3" 2>&1 & p3=$!
# the start has read desired and waits at its write (the fault says so)
check "the start pauses before its write" wait_for 10 grep -q "paused at step 'fleet-rollout'" "$TMP/o3"
check "a plain apply meanwhile (the rollout record ended): generation 2" x fleet apply "$TMP/b.json"
wait $p3; r3=$?
check "the start refuses: desired changed meanwhile (exit $r3)" \
	bash -c "[ $r3 -eq 1 ] && grep -q 'desired configuration changed meanwhile' '$TMP/o3'"
check "nothing of it written: the record is still the aborted one" eval \
	"rec | jq -e '.id == \"$id\" and .state == \"aborted\"'"
out=$(x fleet rollout abort 2>&1); rc=$?
check "abort of an ended rollout: exit 1 ($out)" bash -c "[ $rc -eq 1 ] && grep -q 'already ended' <<<\"\$0\"" "$out"

# ---- guards of every step ------------------------------------------------------------------
jq '.services[0].guards = {"max_churn": 0.3}' "$TMP/g.json" >"$TMP/g3.json"
ectl put $K/decide/rollout "$(rec | jq -c '.state = "done"')" >/dev/null
out=$(x fleet apply "$TMP/g3.json" --steps 1 --step-time 1s 2>&1); rc=$?
check "a step past max_churn 0.3 (half the flows move): exit 1, --force named ($rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'force' <<<\"\$0\"" "$out"
check "nothing written: the record is still the done one" eval "rec | jq -e '.state == \"done\"'"
check "with --force it starts, forced in the record" eval \
	"x fleet apply \"$TMP/g3.json\" --steps 1 --step-time 1s --force >/dev/null 2>&1 && rec | jq -e '.forced == true and .state == \"running\"'"
ectl put $K/decide/rollout '{"id": "bad"}' >/dev/null
out=$(x fleet rollout status 2>&1); rc=$?
check "a record that is not one: exit 1, named with what is wrong ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'decide/rollout in the store is not a rollout record: \"id\"' <<<\"\$0\"" "$out"
done_testing
