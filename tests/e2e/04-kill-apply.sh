#!/usr/bin/env bash
# kill -9 of the controller in the middle of an apply: forwarding goes on;
# the next command finds the old or the new generation live, consistent
# with the history.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
attach
config 100 100 - >/tmp/$LP-a.json
check "apply b1, b2" xlb config apply /tmp/$LP-a.json
requests 120 http://$VIP4/ >/tmp/$LP-answers &
load=$!
gen() { xlb -j status | jq -r '.[0].generation'; }
kill_at() {	# $1: step to stop at, $2: backend to add
	XLB=$XLB_FAULTS XLB_PAUSE_AT=$1 XLB_PAUSE_SECONDS=30 $LAB xlb --prefix $LP backend add web $2 \
		>/dev/null 2>/tmp/$LP-pause.err &
	local pid=$!
	# it holds the lock and stands at the step: then kill it
	wait_for 20 grep -q "paused at step '$1'" /tmp/$LP-pause.err ||
		echo "# the apply never reached step $1: $(cat /tmp/$LP-pause.err)"
	pkill -9 -f "add web $2"
	{ wait $pid; } 2>/dev/null
}
g=$(gen)
kill_at switch 198.51.100.3
check "killed before the switch: generation $g stays live" test "$(gen)" = "$g"
check "and the history holds nothing newer, nothing pending" bash -c \
	"$LAB xlb --prefix $LP -j config history | jq -e 'all(.[]; .generation <= $g and .pending != true)'"
kill_at finalize 198.51.100.3
g2=$(gen)
check "killed after the switch: the new generation $g2 is live" test "$g2" -gt "$g"
check "and the next command records it as applied" bash -c \
	"$LAB xlb --prefix $LP -j config history | jq -e '.[-1].generation == $g2 and .[-1].live and .[-1].pending != true'"
check "the running configuration has the added backend" bash -c \
	"$LAB xlb --prefix $LP -j backend list web | jq -e 'any(.[]; .address == \"198.51.100.3\")'"
wait $load
check "forwarding never stopped: 120 requests answered during both kills" \
	test "$(grep -c '^b[123]$' /tmp/$LP-answers)" = 120
done_testing
