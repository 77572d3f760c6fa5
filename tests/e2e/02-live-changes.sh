#!/usr/bin/env bash
# Live changes under load: 50 adds, removes, drains and re-weights while wrk
# runs; zero failed requests on connections to backends that stay; new
# connections follow the new table.
. "$(dirname "$0")/lib.sh"
lab_up --backends 4
attach
GUARDS='"guards":{"max_churn":1}' config 100 100 100 - >/tmp/$LP-3.json
check "apply b1..b3" xlb config apply /tmp/$LP-3.json

# wrk's 20 keep-alive connections are made now, on b1..b3 (b4 is not in the table)
lab client wrk -t2 -c20 -d20s --timeout 5s http://$VIP4/ >/tmp/$LP-wrk.txt 2>&1 &
wrk_pid=$!
wrk_connected() { [ "$(lab client ss -Htn state established dst $VIP4 | wc -l)" -ge 20 ]; }
wait_for 10 wrk_connected || echo "# wrk's connections were not all established in 10 s"
changes=0 failed=0
change() { if xlb "$@" >/dev/null 2>&1; then changes=$((changes + 1)); else failed=$((failed + 1)); fi; }
for round in $(seq 10); do
	change backend add web 198.51.100.4 weight 100
	change backend set web 198.51.100.4 weight $((50 + round * 10))
	change backend set web 198.51.100.1 weight $((100 + round))	# a staying backend
	change backend set web 198.51.100.4 state drain
	change backend remove web 198.51.100.4
done
wait $wrk_pid
cat /tmp/$LP-wrk.txt | sed 's/^/# /'
check "50 changes applied under load ($changes applied, $failed refused)" test $changes = 50
reqs=$(awk '/requests in/ {print $1}' /tmp/$LP-wrk.txt)
check "wrk made requests ($reqs)" test "${reqs:-0}" -gt 1000
check "no socket errors (connect, read, write, timeout)" bash -c "! grep -q 'Socket errors' /tmp/$LP-wrk.txt"
check "no non-2xx answers" bash -c "! grep -q 'Non-2xx' /tmp/$LP-wrk.txt"

# new connections follow the final table (b4 back in)
check "add b4 again" xlb backend add web 198.51.100.4
answers=$(requests 200 http://$VIP4/)
n4=$(grep -cx b4 <<<"$answers")
check "new connections reach the added backend ($n4 of 200, expect ~50)" test "$n4" -ge 20 -a "$n4" -le 90
check "and all are answered" test "$(grep -c FAIL <<<"$answers")" = 0
done_testing
