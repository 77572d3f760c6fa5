#!/usr/bin/env bash
# A reboot comes back by itself.  Attached with options that are not the
# defaults, a configuration changed after its file, the node drained; then a
# reboot as the node sees it: the daemon killed, the pins and with them the
# XDP link gone, the state directory kept.  What the unit runs (its
# ExecStartPre, then the daemon) brings back the same options, the same
# tables (fingerprints), traffic, and the node stays drained until undrained.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
command -v bird >/dev/null || skip_all "needs bird2 (make deps)"
DEV=${LP}lb0 S=/tmp/$LP-state
check "attach with --flows 4096 --flow-rate 5000 --icmp-rate 50 --src4 198.51.100.250" \
	xlb attach $DEV --flows 4096 --flow-rate 5000 --icmp-rate 50 --src4 198.51.100.250
check "the options are recorded in the state directory" \
	jq -e '.version == 1 and .flows == 4096 and .src4 == "198.51.100.250"' $S/$DEV/attach.json
opts() { xlb -j status | jq -c '.[0] | [.mode, .flows.max, .flood_guard.flow_rate,
	.too_big_answers.icmp_rate, .tunnel_source.ipv4]'; }
fps() { local s; for s in web dns; do xlb -j table $s | jq -r .table_fingerprint; done; }
config 1 2 3 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
check "a change after the file: b1 weight 2" xlb backend set web 198.51.100.1 weight 2
# the daemon's file is the running configuration (the unit reloads it at start)
xlb -j config show | jq 'del(.generation, .fingerprint)' >/tmp/$LP-live.json
OPTS=$(opts) FPS=$(fps) GEN=$(xlb -j status | jq '.[0].generation')
check "options as given ($OPTS)" test "$OPTS" = '["native",4096,5000,50,"198.51.100.250"]'
answered() { local a; a=$(requests 20 http://$VIP4/); ! grep -q FAIL <<<"$a" && [ "$(wc -l <<<"$a")" = 20 ]; }
check "traffic flows" answered

# the node's BGP speaker: its VIP's protocol, off until the daemon says
NSOCK=/tmp/$LP-bird.sock
cat >/tmp/$LP-bird.conf <<BIRD
router id 198.51.100.254;
protocol device { scan time 1; }
protocol static xlb_192_0_2_10 { disabled; ipv4; route $VIP4/32 unreachable; }
BIRD
check "the node's BIRD starts" lab lb bird -c /tmp/$LP-bird.conf -s $NSOCK -P /tmp/$LP-bird.pid
vip_up() { birdc -s $NSOCK show protocols xlb_192_0_2_10 | grep -q ' up '; }
vip_down() { birdc -s $NSOCK show protocols xlb_192_0_2_10 | grep -q ' down '; }
# ExecStart of the unit, with XLB_DAEMON_OPTS="--no-metrics --announce SOCKET"
daemon() { nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state $S daemon \
	--config /tmp/$LP-live.json --no-metrics --announce $NSOCK 2>/tmp/$LP-daemon$1.log & }
daemon 1
check "the daemon announces the VIP" wait_for 10 vip_up
check "node drain withdraws it" xlb node drain --wait 2
check "withdrawn" vip_down

# the reboot: processes gone, bpffs empty (pins, and with the link the XDP program), state kept
kill -9 $! && wait $! 2>/dev/null
rm -rf /sys/fs/bpf/xlb/$DEV
check "after the 'reboot' nothing is attached" bash -c "! $LAB exec --prefix $LP lb ip link show $DEV | grep -q xdp"
check_exit "control: xlb status says not attached" 1 xlb status
check_exit "control: and the daemon alone cannot start (exit 1)" 1 \
	nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state $S --dev $DEV daemon --no-metrics
# none of 20 new connections is answered: made at once, each waits its 5 s
# (one after the other they took 20 x 5 s; and "not all 20 answered" was all
# the control asked)
noanswer() {
	local a
	a=$(lab client bash -c "for i in \$(seq 20); do curl -s -m 5 -H 'Connection: close' \
		-o /dev/null -w '%header{x-backend}\n' http://$VIP4/ || echo FAIL & done; wait")
	[ "$(grep -c FAIL <<<"$a")" = 20 ] || { echo "answered: $(grep -v FAIL <<<"$a" | grep . | tr '\n' ' ')"; return 1; }
}
check "control: no traffic is answered" noanswer

# what the unit runs: ExecStartPre, then ExecStart
PRE=$(sed -n 's|^ExecStartPre=@SBINDIR@/xlb ||p' "$ROOT/doc/xlb.service.in")
check "the unit has an ExecStartPre ($PRE)" test -n "$PRE"
out=$(lab lb "$ROOT/build/xlb" --state $S $PRE 2>&1); rc=$?
check "ExecStartPre succeeds: $out" test $rc = 0
check "the same options ($(opts))" test "$(opts)" = "$OPTS"
check "the same tables (fingerprints $(fps | tr '\n' ' '))" test "$(fps)" = "$FPS"
check "generation $GEN restored through the change path" bash -c "$LAB xlb --prefix $LP -j \
	config history | jq -en 'input | .[-1].source == \"restore\" and (.[-1].reason | test(\"restore generation $GEN\"))'"
check "traffic flows" answered
daemon 2
check "the daemon runs" wait_for 10 grep -q 'daemon: running' /tmp/$LP-daemon2.log
drained() { xlb -j node status | jq -en 'input | .drained and .attached and .daemon and (.vips[0].announced | not)'; }
check "the drain mark is honoured: attached, drained, not announced" wait_for 10 drained
check "the VIP stays withdrawn" vip_down
check "the tables are still the same (the daemon's reload changed nothing)" test "$(fps)" = "$FPS"
check "node undrain announces it again" xlb node undrain
check "announced" vip_up
check "a second ExecStartPre on the attached node changes nothing" bash -c "$LAB exec --prefix \
	$LP lb $ROOT/build/xlb --state $S $PRE | grep -q 'already attached' && [ \"\$($LAB xlb \
	--prefix $LP -j config history | jq -r '.[-1].source')\" = restore ]"
# a reboot in the middle of a rollout: the restore is not refused (the rollout
# owns the configuration otherwise); the daemon then stops the rollout where it was
ro() { xlb -j rollout status | jq -r ".$1"; }
stepped() { [ "$(ro step)" -ge 1 ] && [ "$(ro state)" = running ]; }
config 1 1 2 >/tmp/$LP-b.json
check "a rollout in two steps of an hour starts" xlb config apply /tmp/$LP-b.json --steps 2 --step-time 1h
check "its first step goes live" wait_for 10 stepped
FPS=$(fps) GEN=$(xlb -j status | jq '.[0].generation')
kill -9 $! && wait $! 2>/dev/null
rm -rf /sys/fs/bpf/xlb/$DEV
out=$(lab lb "$ROOT/build/xlb" --state $S $PRE 2>&1); rc=$?
check "ExecStartPre restores generation $GEN under the rollout: $out" test $rc = 0
check "the same tables as its step" test "$(fps)" = "$FPS"
daemon 3
failed() { [ "$(ro state)" = failed ]; }
check "the daemon stops the rollout where it was" wait_for 10 failed
check "nothing rolled back: the tables are its step's" test "$(fps)" = "$FPS"
check "detach forgets the options: a reboot leaves it detached" bash -c "$LAB xlb --prefix $LP \
	detach $DEV >/dev/null && [ ! -e $S/$DEV/attach.json ]"
done_testing
