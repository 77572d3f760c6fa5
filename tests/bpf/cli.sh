#!/usr/bin/env bash
# The controller's command line on an attached veth: every refusal exits 1
# with a clear message and changes nothing; interrupted applies are resolved.
. "$(dirname "$0")/../lib.sh"
require_root
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
xt_cli_fixture c
W=$STATE/web.json
cat >$W <<'JSON'
{ "services": [ { "name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
  "table_size": 65537, "guards": { "min_active": 2, "max_share": 0.5, "max_churn": 0.5 },
  "backends": [ { "address": "198.51.100.1" }, { "address": "198.51.100.2" },
                { "address": "198.51.100.3" } ] } ] }
JSON
x attach $DEV >/dev/null 2>&1

check "validate a good file" x config validate $W
check_exit "validate a missing file exits 1" 1 x config validate /nonexistent.json
out=$(x config validate $ROOT/tests/unit/configs/bad/18-weight-range.json 2>&1); rc=$?
check "validate names file, path and value" bash -c "[ $rc = 1 ] && grep -q '18-weight-range.json: services\[0\].backends\[0\].weight: 70000: out of range' <<<'$out'"
err=$(x -j config validate $ROOT/tests/unit/configs/bad/21-dup-backend.json 2>&1 >/dev/null)
check "validation errors are JSON with -j" bash -c "jq -e '.errors[0].path == \"services[0].backends[1].address\"' <<<'$err'"
check "plan touches nothing" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x config plan $W >/dev/null && [ \$(x -j status | jq -r '.[0].generation') = 0 ]"
check "apply" x config apply $W --reason "first"
check "generation 1 is live" test "$(gen)" = 1
check "table matches the configuration" x table web
out=$(x config apply $W)
check "applying the same file changes nothing" bash -c "grep -q 'nothing to apply' <<<'$out' && [ $(gen) = 1 ]"
# a plan's columns line up, whatever the widest weight/state cell
jq '.services[0].backends[1].state = "drain" | .services[0].backends[2].weight = 1000' $W >$STATE/wide.json
plan=$(x config plan $STATE/wide.json 2>&1)
cols=$(grep -E '^  (backend|198\.)' <<<"$plan" | awk '{print index($0, " -> ")}' | sort -u | wc -l)
check "plan: one column for the shares in every row ($(grep -c '^  198' <<<"$plan") rows)" \
	test "$cols" = 1 -a "$(grep -c '^  198' <<<"$plan")" = 3

check_exit "backend add to an unknown service exits 1" 1 x backend add nosuch 198.51.100.9
check_exit "backend add of a bad address exits 1" 1 x backend add web 198.51.100.999
check_exit "backend add of a duplicate exits 1" 1 x backend add web 198.51.100.1
check_exit "backend set of an unknown address exits 1" 1 x backend set web 198.51.100.9 weight 5
check_exit "backend set of a bad weight exits 1" 1 x backend set web 198.51.100.1 weight 70000
check_exit "backend set of a bad state exits 1" 1 x backend set web 198.51.100.1 state up
check_exit "backend add of the other family exits 1" 1 x backend add web 2001:db8::1
check "refused edits left generation 1" test "$(gen)" = 1
check "the refused ones are not in the history" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x -j config history | jq -e 'length == 1'"

check "backend add" x backend add web 198.51.100.4
check "backend set drain" x backend set web 198.51.100.4 state drain
check "backend remove" x backend remove web 198.51.100.4
check "three edits are three generations" test "$(gen)" = 4
out=$(x backend set web 198.51.100.1 weight 900 2>&1); rc=$?
check "a skewing weight is refused by the guards" bash -c "[ $rc = 1 ] && grep -q 'REFUSED: 198.51.100.1 would hold' <<<'$out'"
check "the refusal changed nothing" test "$(gen)" = 4
sed 's/"198.51.100.2" }/"198.51.100.2", "state": "drain" }/; s/"198.51.100.3" }/"198.51.100.3", "state": "drain" }/' $W >$STATE/drain2.json
check_exit "draining two of three is refused (min_active 2)" 1 x config apply $STATE/drain2.json
check "forced skew applies" x backend set web 198.51.100.1 weight 900 --force --reason "test force"
check "history records the force" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x -j config history | jq -e '.[-1].forced == true and .[-1].reason == \"test force\" and .[-1].live == true'"
check "rollback to generation 1" x config rollback 1 --force
check "rollback restores generation 1's configuration" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; [ \"\$(x -j config history | jq -r '.[0].fingerprint')\" = \"\$(x -j config history | jq -r '.[-1].fingerprint')\" ]"
check_exit "rollback to a missing generation exits 1" 1 x config rollback 999
check_exit "an unknown service in table exits 1" 1 x table nosuch
check_exit "flow of an unknown service exits 1" 1 x flow nosuch 203.0.113.10 40000
check_exit "flow of a bad client address exits 1" 1 x flow web 203.0.113.999 40000
check_exit "flow of the other family exits 1" 1 x flow web 2001:db8:c::10 40000
check_exit "flow of port 0 exits 1" 1 x flow web 203.0.113.10 0
check_exit "flow with another VIP port than the service's exits 1" 1 x flow web 203.0.113.10 40000 81
check "flow -j: a backend of the service; a new connection goes to the table's" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x -j flow web 203.0.113.10 40000 | jq -e '(.current | test(\"^198.51.100.[123]\$\")) and .new_connection == .current and (.table_size | . > 0)'"
check_exit "daemon --fleet-peer that is not http:// exits 1" 1 x daemon --fleet-peer 198.51.100.2:9145 --announce /tmp/x.sock
check_exit "daemon --fleet-peer without --announce exits 1" 1 x daemon --fleet-peer http://198.51.100.2:9145
hg() {	# daemon --health-grace $1 (with a store unless $2 = none): its exit and first line
	local st="--store http://127.0.0.1:1 --fleet f --node n"
	[ "${2:-}" = none ] && st=
	out=$(x daemon --health-grace "$1" $st 2>&1); echo "$? ${out%%$'\n'*}"
}
for bad in 1.5h 2h abc -1s 10x nan ""; do
	r=$(hg "$bad")
	check "daemon --health-grace '$bad' exits 1, saying what it takes ($r)" \
		bash -c '[[ $0 == "1 "*"--health-grace takes a duration of at most 1h"* ]]' "$r"
done
r=$(hg 10s none)
check "daemon --health-grace without --store exits 1, saying it needs one ($r)" \
	bash -c '[[ $0 == "1 "*"it needs --store"* ]]' "$r"
check "stats --watch --count 2" x stats web --watch --count 2
check "stats -j" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x -j stats | jq -e '.services[0].backends | length == 3'"
check "backend list -j" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x -j backend list web | jq -e 'length == 3 and .[0].table_share > 0.3'"
check_exit "an unwritable state directory exits 2" 2 nsenter --net=/run/netns/$NS $XLB --state /proc/xlb config apply $W

# kill -9 in the middle of an apply: before the switch, then after it
g=$(gen)
# the xlb process itself in the background, so that kill -9 reaches it
kill_mid_apply() {
	XLB_PAUSE_AT=$1 XLB_PAUSE_SECONDS=30 nsenter --net=/run/netns/$NS $XLB_FAULTS --state "$STATE" \
		backend add web "$2" >/dev/null 2>"$STATE/pause.err" &
	local pid=$!
	# it holds the lock and stands at the step: then kill it
	wait_for 20 grep -q "paused at step '$1'" "$STATE/pause.err" ||
		echo "# the apply never reached step $1: $(cat "$STATE/pause.err")"
	pkill -9 -f "backend add web $2"
	{ wait $pid; } 2>/dev/null
}
kill_mid_apply switch 198.51.100.5
check "killed before the switch: old generation live" test "$(gen)" = "$g"
check "killed before the switch: no record of the lost generation" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x config history >/dev/null; x -j config history | jq -e 'all(.[]; .generation <= $g) and all(.[]; .pending != true)'"
kill_mid_apply finalize 198.51.100.6
g2=$(gen)
check "killed after the switch: the new generation is live" test "$g2" -gt "$g"
check "killed after the switch: the next command records it" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x backend list >/dev/null; x -j config history | jq -e '.[-1].generation == $g2 and .[-1].live and (.[-1].pending != true)'"
check "and its configuration is the running one" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; }; x -j backend list | jq -e 'any(.[]; .address == \"198.51.100.6\")'"
# fault injection is the test build's alone: build/xlb holds no trace of it and ignores it
check "build/xlb holds no XLB_FAIL_AT, XLB_PAUSE_AT" bash -c "! grep -qaE 'XLB_(FAIL|PAUSE)_AT' '$XLB'"
check "the control: build/xlb-faults holds them" grep -qa XLB_FAIL_AT "$XLB_FAULTS"
g=$(gen)
XLB_FAIL_AT=tables nsenter --net=/run/netns/$NS $XLB_FAULTS --state "$STATE" \
	backend add web 198.51.100.7 >/dev/null 2>"$STATE/fail.err"
check "the control: xlb-faults fails at XLB_FAIL_AT=tables, nothing applied" bash -c \
	"grep -q \"injected failure at step 'tables'\" '$STATE/fail.err' && [ $(gen) = $g ]"
XLB_FAIL_AT=tables XLB_PAUSE_AT=tables XLB_PAUSE_SECONDS=30 timeout 20 \
	nsenter --net=/run/netns/$NS $XLB --state "$STATE" backend add web 198.51.100.7 >/dev/null
check "build/xlb ignores XLB_FAIL_AT and XLB_PAUSE_AT: applied (exit $?), not paused" \
	test "$(gen)" = $((g + 1))
done_testing
