#!/usr/bin/env bash
# The daemon in the lab: health checks take a stopped backend out and bring
# it back, never below min_active (fail open, alert); SIGHUP with a broken
# file keeps the running configuration; metrics pass promtool and move with
# traffic; new connections skewed to one backend raise the deviation alert;
# sd_notify.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
command -v promtool >/dev/null || skip_all "needs promtool (make deps)"
command -v python3 >/dev/null || skip_all "needs python3 (make deps)"
attach
CONF=/tmp/$LP-daemon.json
checked_config >$CONF
NOTIFY=/tmp/$LP-notify.sock
python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
while True: print(s.recv(4096).decode().replace("\n", " "), flush=True)' $NOTIFY >/tmp/$LP-notify.log 2>&1 &
wait_for 10 test -S $NOTIFY || echo "# the notify listener never bound $NOTIFY"
LOG=/tmp/$LP-daemon.log
NOTIFY_SOCKET=$NOTIFY nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state \
	--dev ${LP}lb0 daemon --config $CONF --metrics 127.0.0.1:9145 \
	--metrics-file /tmp/$LP-metrics.prom --skew-window 4000 --skew-for 1000 \
	--skew-min-flows 30 --skew-threshold 0.25 2>$LOG &
dpid=$!
metrics() { lab lb curl -s -m 2 http://127.0.0.1:9145/metrics; }
wait_for 10 metrics
state_of() { xlb -j backend list web | jq -r ".[] | select(.address == \"198.51.100.$1\") | .state"; }
wait_state() {	# backend, state, seconds
	local i
	for i in $(seq $(($3 * 10))); do [ "$(state_of $1)" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
check "the daemon is up and serves metrics" bash -c "$LAB exec --prefix $LP lb curl -s -m 2 http://127.0.0.1:9145/metrics | grep -q '^xlb_config_generation 1'"
check "sd_notify READY" wait_for 5 grep -q 'READY=1' /tmp/$LP-notify.log

requests 60 http://$VIP4/ >/dev/null
new_flows() { metrics | awk '/^xlb_backend_new_flows_total/ {s += $2} END {print s + 0}'; }
# the counters are read at scrape time: wait until the 60 connections show
flows_at_least() { [ "$(new_flows)" -ge "$1" ]; }
wait_for 10 flows_at_least 55
metrics >/tmp/$LP-scrape.prom
check "scraped metrics pass promtool check metrics" promtool check metrics </tmp/$LP-scrape.prom
check "the metrics file passes too" bash -c "promtool check metrics </tmp/$LP-metrics.prom"
flows=$(awk '/^xlb_backend_new_flows_total/ {s += $2} END {print s + 0}' /tmp/$LP-scrape.prom)
check "counters move with traffic ($flows new flows counted)" test "$flows" -ge 55
for name in xlb_backend_packets_total xlb_backend_bytes_total xlb_backend_up xlb_backend_weight \
	    xlb_backend_table_share xlb_backend_share_deviation xlb_drops_total xlb_passes_total \
	    xlb_config_info xlb_build_info; do
	grep -q "^$name" /tmp/$LP-scrape.prom || missing="${missing:-} $name"
done
check "every contract metric is there${missing:+ (missing:$missing)}" test -z "${missing:-}"

# one backend's server stops: out within fall x interval + timeout (0.8 s) + a commit
lab b2 sh -c "kill \$(cat /run/$LP-b2.nginx.pid)"
t0=$(date +%s%N)
check "b2 is marked down" wait_state 2 down 3
t1=$(date +%s%N)
check "within 2 s of its server stopping ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2000
answers=$(requests 60 http://$VIP4/)
check "new connections avoid b2, and all 60 are answered" bash -c "! grep -q -e b2 -e FAIL <<<'$answers'"
check "the history says why" bash -c "$LAB xlb --prefix $LP -j config history | jq -e '.[-1].source == \"health\"'"
check "the log line names service, backend, old and new state and reason" \
	grep -q 'health: service=web backend=198.51.100.2 state=active->down reason=health' $LOG
lab b2 nginx -c /tmp/$LP-b2.nginx.conf
check "b2 returns after rise checks" wait_state 2 active 3

# all but one fail with min_active 2: the floor holds (fail open) and alerts
lab b2 sh -c "kill \$(cat /run/$LP-b2.nginx.pid)"
lab b3 sh -c "kill \$(cat /run/$LP-b3.nginx.pid)"
floor_alert() { metrics | grep -q '^xlb_service_floor_alert{service="web"} 1'; }
wait_for 10 floor_alert
# the daemon's one thread checks and commits in turn: two more checks of b3
# after the alert mean every commit of that verdict has landed
checks_b3() { metrics | awk '/^xlb_backend_health_checks_total\{service="web",backend="198.51.100.3"\}/ {print $2}'; }
c0=$(checks_b3)
checks_past() { [ "$(checks_b3)" -ge $((c0 + 2)) ]; }
wait_for 10 checks_past
downs=$(xlb -j backend list web | jq '[.[] | select(.state == "down")] | length')
check "the floor holds: only $downs of the 2 failing backends is out" test "$downs" = 1
check "the floor alert metric is set" floor_alert
check "the log says so" grep -q 'floor: service=web ALERT' $LOG
lab b2 nginx -c /tmp/$LP-b2.nginx.conf
lab b3 nginx -c /tmp/$LP-b3.nginx.conf
all_active() { [ "$(xlb -j backend list web | jq '[.[] | select(.state == "active")] | length')" = 3 ]; }
check "both come back" wait_for 10 all_active

# SIGHUP with a broken file keeps the running configuration
g=$(xlb -j status | jq -r '.[0].generation')
cp $CONF $CONF.good
echo '{"services": [' >$CONF
kill -HUP $dpid
reloaded_invalid() { metrics | grep -q '^xlb_daemon_reloads_total{result="invalid"} 1'; }
wait_for 10 reloaded_invalid
check "a broken file on SIGHUP keeps generation $g" test "$(xlb -j status | jq -r '.[0].generation')" = "$g"
check "the reload is counted as invalid" reloaded_invalid
check "sd_notify RELOADING" grep -q 'RELOADING=1' /tmp/$LP-notify.log
cp $CONF.good $CONF

# skew: 80 new connections from client ports the table sends to b1 (xlb flow
# says which: a SYN takes the table's backend, whatever state is installed)
ports=()
for p in $(seq 61000 61999); do
	[ "$(xlb -j flow web 203.0.113.10 $p | jq -r .new_connection)" = 198.51.100.1 ] && ports+=($p)
	[ ${#ports[@]} -ge 80 ] && break
done
check "80 client ports whose new connections go to b1 (${#ports[@]})" test ${#ports[@]} = 80
lab client bash -c 'for p in '"${ports[*]}"'; do curl -s -m 3 --local-port $p -o /dev/null http://'$VIP4'/; done'
alerted=no
for i in $(seq 40); do
	metrics | grep -q '^xlb_backend_share_alert{service="web",backend="198.51.100.1"} 1' && { alerted=yes; break; }
	sleep 0.2
done
check "new connections skewed to b1 raise the deviation alert" test $alerted = yes
dev=$(metrics | awk -F' ' '/^xlb_backend_share_deviation\{service="web",backend="198.51.100.1"\}/ {print $2}')
check "its deviation is large ($dev)" awk -v d="$dev" 'BEGIN {exit !(d > 0.4)}'
check "and the log says so" grep -q 'skew: ALERT service=web backend=198.51.100.1' $LOG

# SIGTERM stops the daemon; the data plane keeps forwarding
kill -TERM $dpid
wait $dpid; rc=$?
check "SIGTERM stops the daemon (exit $rc)" test $rc = 0
check "sd_notify STOPPING" wait_for 5 grep -q 'STOPPING=1' /tmp/$LP-notify.log
answers=$(requests 30 http://$VIP4/)
check "forwarding goes on without the daemon" test "$(grep -c '^b[123]$' <<<"$answers")" = 30
kill %1 2>/dev/null
done_testing
