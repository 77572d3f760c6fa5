#!/usr/bin/env bash
# State only where a change moved a flow, in the lab: before any change no
# flow is remembered; a change moves table slots (status and metrics say how
# many) while downloads keep their backends; the daemon releases the slots
# once flow_idle_timeout has passed without a flow needing them, and the
# connection table is empty again.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
attach
status() { xlb -j status | jq -r ".[0].$1"; }
config_idle() {	# weights of b1..b3; flow_idle_timeout 10 s for both services
	config "$@" | jq -c '.services[].flow_idle_timeout = 10'
}
config_idle 100 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
requests 40 http://$VIP4/ >/dev/null
check "no change yet: no slot moved" test "$(status moved_slots)" = 0
check "and no flow remembered (40 connections made)" test "$(status flows.entries)" = 0
LOG=/tmp/$LP-daemon.log
nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --metrics 127.0.0.1:9146 2>$LOG &
dpid=$!
metrics() { lab lb curl -s -m 2 http://127.0.0.1:9146/metrics; }
wait_for 10 metrics
for i in 1 2 3; do
	lab client curl -s -m 60 -o /tmp/$LP-dl$i.out http://$VIP4/slow &
	eval "dl$i=\$!"
done
wait_for 10 test -s /tmp/$LP-dl1.out -a -s /tmp/$LP-dl2.out -a -s /tmp/$LP-dl3.out
config_idle 100 150 100 >/tmp/$LP-b.json
check "a change that moves slots" xlb config apply /tmp/$LP-b.json
moved=$(status moved_slots)
check "status counts the moved slots ($moved)" test "$moved" -gt 0
moved_metric() { metrics | awk '/^xlb_service_moved_slots\{service="web"\}/ {print $2}'; }
metric_positive() { [ "$(moved_metric)" -gt 0 ] 2>/dev/null; }
# the daemon measures them every 5 s, and releases none before flow_idle_timeout
check "the metrics say so too" wait_for 8 metric_positive
answers=$(requests 30 http://$VIP4/)
check "new connections are served meanwhile" test "$(grep -c '^b[123]$' <<<"$answers")" = 30
for i in 1 2 3; do
	eval "wait \$dl$i"; rc=$?
	check "download $i kept its backend through the change (curl $rc)" test $rc = 0
	check "its bytes are intact" cmp -s /tmp/$LP-dl$i.out /tmp/$LP-big.bin
done
released() { [ "$(status moved_slots)" = 0 ]; }
check "the daemon releases every moved slot once idle" wait_for 60 released
table_empty() { [ "$(status flows.entries)" = 0 ]; }
# the entries go in the same sweep as the slots, a moment after the count of slots
check "the connection table is empty again" wait_for 10 table_empty
check "the daemon says what it released" grep -q "released [0-9]* moved table slots" $LOG
rel_metric() { metrics | awk '/^xlb_moved_released_total / {print $2}'; }
rel_all() { [ "$(rel_metric)" -ge "$moved" ] 2>/dev/null; }
check "xlb_moved_released_total counts them" wait_for 10 rel_all
answers=$(requests 30 http://$VIP4/)
check "connections after the release are served" test "$(grep -c '^b[123]$' <<<"$answers")" = 30
kill -TERM $dpid
wait $dpid
rm -f /tmp/$LP-dl?.out
done_testing
