#!/usr/bin/env bash
# A health verdict always lands: commits made to fail (injected) leave the
# change pending and retried until they recover; three of five backends
# failing at once all go out (health is exempt from max_churn, which refuses
# the same change from a person), never below min_active; a CLI holding the
# interface lock delays the change without freezing the checks.
. "$(dirname "$0")/lib.sh"
lab_up --backends 5
command -v promtool >/dev/null || skip_all "needs promtool (make deps)"
attach
CONF=/tmp/$LP-health.json
INTERVAL=500
backends() { local i sep=""; for i in 1 2 3 4 5; do
	printf '%s{ "address": "198.51.100.%d"%s }' "$sep" $i "${1:+, \"state\": \"$1\"}"; sep=,; done; }
cat >$CONF <<JSON
{ "services": [ { "name": "web", "vip": "$VIP4", "port": 80, "protocol": "tcp",
  "guards": { "min_active": 2 },
  "health": { "type": "http", "path": "/healthz", "interval_ms": $INTERVAL, "timeout_ms": 300,
              "rise": 2, "fall": 2 },
  "backends": [ $(backends) ] } ] }
JSON
check "apply five backends" xlb config apply $CONF
# the control: the same change from a person is refused by max_churn
sed 's/"address": "198.51.100.\([345]\)" }/"address": "198.51.100.\1", "state": "down" }/g' $CONF \
	>/tmp/$LP-three-down.json
out=$(xlb config plan /tmp/$LP-three-down.json 2>&1); rc=$?
check "control: taking 3 of 5 out at once by hand is refused (exit $rc)" \
	bash -c "[ $rc = 1 ] && grep -q 'of new flows would move' <<<'$out'"

FAIL=/tmp/$LP-fail-at LOG=/tmp/$LP-daemon.log
XLB_FAIL_AT_FILE=$FAIL nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb-faults" --state /tmp/$LP-state \
	--dev ${LP}lb0 daemon --config $CONF --metrics 127.0.0.1:9146 2>$LOG &
metrics() { lab lb curl -s -m 2 http://127.0.0.1:9146/metrics; }
check "the daemon serves metrics" wait_for 10 metrics
metric() { metrics | awk -v k="$1" '$1 == k {print $2}'; }
down_count() { xlb -j backend list web | jq '[.[] | select(.state == "down")] | length'; }
down_is() { [ "$(down_count)" = "$1" ]; }
up_of() { metric "xlb_backend_up{service=\"web\",backend=\"198.51.100.$1\"}"; }
seen_down() { [ "$(up_of 3)" = 0 ] && [ "$(up_of 4)" = 0 ] && [ "$(up_of 5)" = 0 ]; }
retries_failed_at_least() { [ "$(metric 'xlb_daemon_health_retries_total{reason="failed"}')" -ge $1 ]; }

# commits fail while three servers stop
echo switch >$FAIL
for i in 3 4 5; do lab b$i sh -c "kill \$(cat /run/$LP-b$i.nginx.pid)"; done
check "the checks see b3, b4 and b5 fail" wait_for 10 seen_down
check "their commit fails and is retried" wait_for 10 retries_failed_at_least 3
check "the change is pending" test "$(metric xlb_daemon_health_pending)" = 1
check "a failed commit changed nothing: all five still active" down_is 0
check "the log says why and that it retries" grep -q 'health: change pending (failed: injected failure' $LOG

# recovery: the pending change lands within one retry interval
rm -f $FAIL
t0=$(date +%s%N)
check "after recovery the three go out together" wait_for 10 down_is 3
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "within $ms ms of recovery (retry interval $INTERVAL ms)" test $ms -lt $((2 * INTERVAL))
check "in one health commit naming all three" bash -c "$LAB xlb --prefix $LP -j config history |
	jq -e '.[-1].source == \"health\" and (.[-1].reason | test(\"198.51.100.3 down\") and
	test(\"198.51.100.4 down\") and test(\"198.51.100.5 down\"))'"
check "nothing was refused" bash -c "! grep -q 'refused by the guards' $LOG"
pending_zero() { [ "$(metric xlb_daemon_health_pending)" = 0 ]; }
# the metrics are rendered once a second: the gauge may lag the commit by one
check "the pending gauge is back to 0" wait_for 5 pending_zero
check "the log says it landed" grep -q 'health: pending change applied after' $LOG
answers=$(requests 40 http://$VIP4/)
check "new connections go to b1 and b2 only, all answered" \
	test "$(grep -c '^b[12]$' <<<"$answers")" = 40

# the floor still holds: a fourth failure would leave one, below min_active 2
lab b2 sh -c "kill \$(cat /run/$LP-b2.nginx.pid)"
floor() { [ "$(metric 'xlb_service_floor_alert{service="web"}')" = 1 ]; }
check "a fourth failure hits the floor" wait_for 10 floor
check "and stays in: three out, not four" down_is 3
lab b2 nginx -c /tmp/$LP-b2.nginx.conf

# a CLI holding the lock: the daemon tries it, keeps checking, applies later
timeout 30 flock /run/xlb/${LP}lb0.lock sh -c "while [ ! -e /tmp/$LP-release ]; do sleep 0.1; done" &
holder=$!
locked_retries() { [ "$(metric 'xlb_daemon_health_retries_total{reason="locked"}')" -ge 1 ]; }
lab b3 nginx -c /tmp/$LP-b3.nginx.conf
check "while a CLI holds the lock the change waits" wait_for 10 locked_retries
c0=$(metric 'xlb_backend_health_checks_total{service="web",backend="198.51.100.1"}')
checks_go_on() { [ "$(metric 'xlb_backend_health_checks_total{service="web",backend="198.51.100.1"}')" -ge $((c0 + 2)) ]; }
check "and the checks go on meanwhile" wait_for 10 checks_go_on
check "b3 is still down while the lock is held" down_is 3
touch /tmp/$LP-release
wait $holder
check "after the lock is released b3 comes back" wait_for 10 down_is 2
check "the log says the lock was busy" grep -q 'health: change pending (locked' $LOG
metrics >/tmp/$LP-scrape.prom
check "metrics pass promtool" promtool check metrics </tmp/$LP-scrape.prom
rm -f /tmp/$LP-release /tmp/$LP-three-down.json
done_testing
