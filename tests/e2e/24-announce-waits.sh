#!/usr/bin/env bash
# Nothing the daemon waits on holds its loop or its lock: a fleet peer that
# trickles its answer is cut off at one deadline (xlb fleet check and the
# daemon's join check); the daemon reads its peers beside the loop (the
# loop keeps writing the metrics file, /metrics answers, SIGTERM ends it at
# once); a node that cannot read a peer does not announce until the peer
# answers or `xlb node join --alone`; every peer read and none in service:
# the fleet's first node joins; a birdc that hangs leaves /metrics answering
# and is killed; a VIP removed from the configuration is withdrawn once and
# forgotten (undrain then succeeds), also past 256 VIPs in a daemon's life.
# birdc is a fake on PATH (it logs what it is asked, answers like BIRD, or
# hangs while the file $FAKE_HANG exists).
. "$(dirname "$0")/../lib.sh"
require_root
command -v jq >/dev/null || skip_all "needs jq (make deps)"
command -v curl >/dev/null || skip_all "needs curl"
xt_cli_fixture an
PY=/usr/bin/python3
BIN=$STATE/bin FAKE_LOG=$STATE/birdc.log FAKE_HANG=$STATE/hang
mkdir -p $BIN
cat >$BIN/birdc <<'SH'
#!/bin/bash
# birdc -s SOCKET enable|disable PROTOCOL, or show protocols PROTOCOL (at the
# daemon's start: a fake BIRD's protocols are down, as BIRD's are at its start)
echo "$$ $3 $4" >>"$FAKE_LOG"
[ -e "$FAKE_HANG" ] && exec sleep 600
if [ "$3" = show ]; then
	printf 'BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\n'
	printf '%s Static     master4    down   00:00:00.000\n' "$5"
	exit 0
fi
echo "$4: $3d"
SH
chmod +x $BIN/birdc
export FAKE_LOG FAKE_HANG
ms() { date +%s%3N; }
inns() { nsenter --net=/run/netns/$NS "$@"; }
services() {	# VIPs: a service each, one backend, no health check (up)
	local sep="" v
	printf '{"services":['
	for v in "$@"; do
		printf '%s{"name":"s%s","vip":"%s","port":80,"protocol":"tcp","table_size":101,' \
			"$sep" "${v//[.:]/_}" "$v"
		printf '"backends":[{"address":"198.51.100.1"}]}'
		sep=,
	done
	printf ']}\n'
}
check "attach" x attach $DEV --src4 198.51.100.254
services 192.0.2.11 192.0.2.12 192.0.2.13 >$STATE/three.json
check "three VIPs applied" x config apply $STATE/three.json
M=127.0.0.1:9145
DPID=
daemon() {	# xlb daemon --announce with the fake birdc, and $@ (nsenter and env exec it: $! is xlb)
	nsenter --net=/run/netns/$NS env PATH="$BIN:$PATH" $XLB --state "$STATE" --dev $DEV daemon --metrics $M \
		--metrics-file $STATE/m.prom --announce $STATE/bird.sock "$@" 2>>$STATE/d.log &
	DPID=$!
	wait_for 10 inns curl -sf -m 1 -o /dev/null http://$M/metrics
}
stop_daemon() {	# SIGTERM: gone within 3 s (else killed, for the next part, and 1)
	local rc=0
	kill -TERM $DPID
	wait_for 3 gone $DPID || { rc=1; kill -KILL $DPID; }
	wait $DPID 2>/dev/null
	return $rc
}
gone() { ! kill -0 $1 2>/dev/null; }
metrics_fast() {	# /metrics answers within 1 s, $1 times over about $1 * 0.5 s
	local i
	for i in $(seq $1); do
		inns curl -sf -m 1 -o /dev/null http://$M/metrics || return 1
		inns curl -sf -m 1 -o /dev/null http://$M/ || return 1
		sleep 0.5
	done
}
status_has() { x node status | grep -q "$1"; }
enabled() { grep -q " enable $1\$" $FAKE_LOG; }

# ---- a peer that trickles its answer, one byte every 0.5 s ----------------------------
nsenter --net=/run/netns/$NS $PY "$(dirname "$0")/trickle.py" 127.0.0.1 8001 &
disown	# the namespace's teardown ends it
wait_for 5 inns bash -c 'exec 3<>/dev/tcp/127.0.0.1/8001'
daemon --fleet-peer http://127.0.0.1:8001
check "the daemon exports its metrics" wait_for 10 test -s $STATE/m.prom
t0=$(ms)
out=$(inns timeout 20 $XLB fleet check $STATE/m.prom http://127.0.0.1:8001)
t=$(( $(ms) - t0 ))
check "xlb fleet check gives the slow peer up at its deadline (3 s): ${t} ms" test $t -lt 4500
check "and says so" grep -q "http://127.0.0.1:8001: UNREADABLE: timed out after 3000 ms" <<<"$out"
check "the daemon cannot read its peer: it says so (node status)" \
	wait_for 10 status_has "withdrawn: cannot verify that the fleet agrees: 1 of 1 peers unreadable (http://127.0.0.1:8001: timed out after 1000 ms"
check "the status page says why" bash -c "nsenter --net=/run/netns/$NS curl -s -m 1 http://$M/ |
	grep -q 'cannot verify that the fleet agrees'"
mtime() { stat -c %i $STATE/m.prom; }
rewritten() { [ "$(mtime)" != "$1" ]; }
check "the loop goes on: it writes the metrics file again" wait_for 3 rewritten "$(mtime)"
check "and again" wait_for 3 rewritten "$(mtime)"
check "/metrics and the status page answer within 1 s meanwhile" metrics_fast 4
check "SIGTERM ends the daemon within 3 s while the peer trickles" stop_daemon

# ---- a peer nobody answers: no join; the operator lets the node join alone -----------
daemon --fleet-peer http://127.0.0.1:8009
check "a peer nobody answers: the node says it cannot verify (node status)" \
	wait_for 10 status_has "withdrawn: cannot verify that the fleet agrees: 1 of 1 peers unreadable (http://127.0.0.1:8009: cannot connect: Connection refused)"
any_enable() { grep -q ' enable ' $FAKE_LOG; }
none_in() { ! wait_for $1 any_enable; }
check "and does not announce (no birdc enable in 4 s)" none_in 4
check "node join --alone: announced without the unreadable peer" x node join --alone
check "the fake birdc was asked to enable the three VIPs" \
	bash -c "[ \$(grep -c ' enable xlb_192_0_2_1[123]\$' $FAKE_LOG) = 3 ]"
check "the log says it joined without the peer" grep -q "fleet: joins without 1 unreadable peers.*8009" $STATE/d.log
spent() { ! find $STATE -name join-alone | grep -q .; }
check "the mark is spent once every VIP is announced" wait_for 5 spent
check_exit "node join without --alone: usage (exit 1)" 1 x node join
check "stops" stop_daemon

# ---- every peer read, none in service: the fleet's first node joins ------------------
mkdir -p $STATE/peer
sed 's/^xlb_announced_vips .*/xlb_announced_vips 0/' $STATE/m.prom >$STATE/peer/metrics
check "the peer's copy has this node's tables" grep -q '^xlb_table_info' $STATE/peer/metrics
nsenter --net=/run/netns/$NS $PY -m http.server --bind 127.0.0.1 --directory $STATE/peer 8002 \
	>/dev/null 2>&1 &
disown
wait_for 5 inns curl -sf -o /dev/null http://127.0.0.1:8002/metrics
: >$FAKE_LOG
x node drain --wait 1 >/dev/null 2>&1
daemon --fleet-peer http://127.0.0.1:8002/metrics
check "drained: the VIPs are withdrawn" wait_for 10 status_has "withdrawn: the node is drained"
check "undrain: a peer read and not in service, no difference: the node joins" x node undrain
check "the log says it joins as the fleet's first" grep -q "this node joins as the fleet's first" $STATE/d.log
check "stops" stop_daemon

# ---- a birdc that hangs -------------------------------------------------------------
: >$FAKE_LOG
touch $FAKE_HANG
daemon
hung() { [ "$(wc -l <$FAKE_LOG)" -ge 3 ]; }
check "birdc hangs for the three VIPs" wait_for 10 hung
check "/metrics and the status page answer within 1 s while birdc hangs" metrics_fast 8
check "the hung birdc is killed at 3 s and said so" \
	wait_for 10 grep -q "cannot enable xlb_192_0_2_1[123] through .*: birdc did not answer within 3 s (killed)" $STATE/d.log
killed() { local p; for p in $(awk '{print $1}' $FAKE_LOG | head -3); do gone $p || return 1; done; }
check "no hung birdc is left" wait_for 5 killed
rm -f $FAKE_HANG
all_announced() { x -j node status | jq -e '(.vips | length) > 0 and all(.vips[]; .announced)'; }
check "birdc answers again: every VIP announced" wait_for 10 all_announced

# ---- a VIP removed: withdrawn once, forgotten ---------------------------------------
services 192.0.2.11 192.0.2.13 >$STATE/two.json
check "192.0.2.12 removed from the configuration" x config apply $STATE/two.json
forgotten() { x -j node status | jq -e '(.vips | length) == 2 and
	all(.vips[]; .protocol != "xlb_192_0_2_12")'; }
check "it leaves node status" wait_for 10 forgotten
check "it was withdrawn once" test "$(grep -c ' disable xlb_192_0_2_12$' $FAKE_LOG)" = 1
check "the status page has no alert of it" bash -c "! nsenter --net=/run/netns/$NS curl -s -m 1 http://$M/ |
	grep -q 'xlb_192_0_2_12'"
check "drain" x node drain --wait 10
t0=$(ms)
check "undrain succeeds" x node undrain
t=$(( $(ms) - t0 ))
check "at once (${t} ms)" test $t -lt 5000
# ---- more than 256 VIPs in the daemon's life ----------------------------------------
v1=$(for i in $(seq 1 200); do echo 203.0.113.$i; done)
v2=$(for i in $(seq 1 200); do echo 192.0.2.$i; done)
services $v1 >$STATE/v1.json
services $v2 >$STATE/v2.json
count_announced() {	# $1 VIPs, every one announced, each protocol starting with $2
	x -j node status | jq -e "(.vips | length) == $1 and
		all(.vips[]; .announced and (.protocol | startswith(\"$2\")))"
}
check "200 VIPs applied" x config apply $STATE/v1.json --force
check "all 200 announced" wait_for 30 count_announced 200 xlb_203_0_113_
check "200 others in their place" x config apply $STATE/v2.json --force
check "all 200 new announced, the old ones forgotten (400 in the daemon's life)" \
	wait_for 30 count_announced 200 xlb_192_0_2_
check "the last one too" enabled xlb_192_0_2_200
check "stops" stop_daemon
done_testing
