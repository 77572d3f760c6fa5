#!/usr/bin/env bash
# The daemon's descriptors are bounded: 1,100 idle connections to the metrics
# port while 300 healthy backends are checked for a minute.  No backend goes
# down, the metrics server closes what it does not serve (a connection limit,
# a per-address limit, an idle timeout), the daemon takes its whole
# RLIMIT_NOFILE.  (A check it cannot make is "not checked", not "failed":
# tests/unit/test_probe.c, with the descriptors exhausted.)
. "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip_all "needs python3 (make deps)"
command -v prlimit >/dev/null || skip_all "needs prlimit (util-linux)"
NS=${XT_NS}d
DEV=xd$$
DEV=${DEV:0:15}
STATE=$(mktemp -d /tmp/xlb-limits-XXXXXX)
HOLD=${XLB_TEST_HOLD:-60}	# seconds the idle connections are held (the issue: a minute)
trap 'kill $(jobs -p) 2>/dev/null; nsenter --net=/run/netns/$NS $XLB detach $DEV >/dev/null 2>&1; rm -rf "$STATE"; xt_cleanup' EXIT
xt_veth_ns $NS $DEV
in_ns() { nsenter --net=/run/netns/$NS "$@"; }
x() { in_ns $XLB --state "$STATE" "$@"; }

# 300 backends, all answering TCP on port 8080 in this namespace
bes=""
for i in $(seq 300); do
	if [ $i -le 200 ]; then a=198.51.100.$i; else a=203.0.113.$((i - 200)); fi
	ip -n $NS addr add $a/32 dev lo
	bes="$bes${bes:+,}{\"address\":\"$a\"}"
done
for i in $(seq 20); do ip -n $NS addr add 127.0.0.$((100 + i))/32 dev lo 2>/dev/null; done
in_ns python3 -c 'import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(4096)
while True: s.accept()[0].close()' &
wait_for 10 in_ns bash -c "exec 3<>/dev/tcp/198.51.100.1/8080" || echo "# the backends' listener never bound"
CONF=$STATE/xlb.json
cat >$CONF <<JSON
{ "services": [ { "name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
  "health": { "type": "tcp", "via": "direct", "port": 8080, "interval_ms": 1000, "timeout_ms": 500,
              "rise": 2, "fall": 2 },
  "backends": [ $bes ] } ] }
JSON
x attach $DEV >/dev/null 2>&1

# 400 descriptors, 512 at most: 1,100 accepted connections would exhaust them
LOG=$STATE/daemon.log
nsenter --net=/run/netns/$NS prlimit --nofile=400:512 $XLB --state "$STATE" --dev $DEV daemon \
	--config $CONF --metrics 127.0.0.1:9146 2>$LOG &
dpid=$!
scrape() { in_ns curl -s -m 2 --interface 127.0.0.99 http://127.0.0.1:9146/metrics; }
ip -n $NS addr add 127.0.0.99/32 dev lo
check "the daemon serves metrics" wait_for 20 scrape
up() { x -j backend list web | jq '[.[] | select(.state == "active")] | length'; }
check "300 backends active" wait_for 20 bash -c "[ \$(nsenter --net=/run/netns/$NS $XLB --state '$STATE' -j backend list web | jq '[.[] | select(.state == \"active\")] | length') = 300 ]"
check "the daemon took its whole descriptor limit" bash -c "grep -q 'Max open files *512 *512' /proc/$dpid/limits"
check "it says the limit is small for many backends" grep -q "512 file descriptors at most" $LOG

# 1,100 idle connections from 20 addresses for a minute, while the checks go on
in_ns python3 "$ROOT/tests/e2e/idle-conns.py" 127.0.0.1 9146 1100 "$HOLD" 127.0.0 20 \
	>$STATE/idle.json 2>$STATE/idle.err &
ipid=$!
maxfd=0 min_up=300 t_end=$(( $(date +%s) + HOLD + 30 ))
while kill -0 $ipid 2>/dev/null && [ "$(date +%s)" -lt $t_end ]; do
	n=$(ls /proc/$dpid/fd 2>/dev/null | wc -l)
	[ "$n" -gt "$maxfd" ] && maxfd=$n
	u=$(up)
	[ -n "$u" ] && [ "$u" -lt "$min_up" ] && min_up=$u
	sleep 1	# a sampling period, not a readiness wait
done
wait $ipid
idle=$(cat $STATE/idle.json)
echo "# idle connections: $idle; daemon descriptors at most $maxfd"
check "no backend went down during the minute (fewest active: $min_up)" test "$min_up" = 300
check "the log has no check=down" bash -c "! grep -q 'check=down' $LOG"
# 64 metrics connections + one socket per backend's check + ~40 of its own:
# 1,100 accepted connections would have taken all 512
check "the daemon's descriptors stayed bounded (max $maxfd of 512)" test "$maxfd" -le 404
check "all 1,100 were attempted" jq -e '.made + .refused == 1100' <<<"$idle"
check "idle connections were closed by the server after its 10 s timeout" \
	jq -e '.closed_by_server >= 64 and .last_close_s >= 9' <<<"$idle"
check "metrics answer again after the flood" wait_for 15 scrape
check "checks were made all along (none 'not checked')" bash -c "scrape() { nsenter --net=/run/netns/$NS curl -s -m 2 --interface 127.0.0.99 http://127.0.0.1:9146/metrics; }; scrape | grep -q '^xlb_daemon_checks_unchecked_total 0'"
check "history and free space are exported" bash -c "scrape() { nsenter --net=/run/netns/$NS curl -s -m 2 --interface 127.0.0.99 http://127.0.0.1:9146/metrics; }; scrape | grep -Eq '^xlb_state_free_bytes [1-9]' && scrape | grep -Eq '^xlb_history_records [1-9]'"

kill $dpid; wait $dpid 2>/dev/null
done_testing
