#!/usr/bin/env bash
# Health verdicts outlast the CLI and a lost record.  (1) A backend whose
# checks fail stays out after `xlb config apply` of the same file and after
# `xlb config rollback` (both put it back in the file's state): the daemon
# takes it out again within three check intervals and traffic avoids it.
# (2) With the running generation's record damaged under a running daemon,
# a backend that stops still goes out of the maps within a few intervals
# (the daemon carries on like the CLI: ids from the live maps, a warning
# logged once), and its commit's record replaces the damaged one.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
attach
CONF=/tmp/$LP-kept.json
INTERVAL=300	# checked_config: interval 300 ms, rise 2, fall 2, min_active 2
checked_config >$CONF
check "apply web over b1..b3 with health checks" xlb config apply $CONF
LOG=/tmp/$LP-daemon.log
nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --no-metrics 2>$LOG &
check "the daemon runs" wait_for 10 grep -q 'daemon: running' $LOG
state_of() { xlb -j backend list web | jq -r ".[] | select(.address == \"198.51.100.$1\") | .state"; }
is_state() { [ "$(state_of $1)" = "$2" ]; }
# ms from $1 (date +%s%N) until backend $2 is in state $3 (polled tightly); 99999 if not in 5 s
ms_until() {
	local t0=$1 end=$(( $(date +%s%N) + 5000000000 ))
	until is_state $2 $3; do
		[ "$(date +%s%N)" -lt $end ] || { echo 99999; return; }
		sleep 0.02
	done
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
avoids() {	# backend: 30 new connections, all answered, none by it
	local answers
	answers=$(requests 30 http://$VIP4/)
	! grep -q -e "b$1" -e FAIL <<<"$answers" && [ "$(wc -l <<<"$answers")" = 30 ]
}

# (1) b2's server stops: the checks take it out
lab b2 sh -c "kill \$(cat /run/$LP-b2.nginx.pid)"
check "b2 goes down by its checks" wait_for 5 is_state 2 down
gen=$(xlb -j status | jq '.[0].generation')
t0=$(date +%s%N)
check "apply the same file again: it puts b2 back (a new generation)" xlb config apply $CONF
check "the apply made generation $((gen + 1))" test "$(xlb -j status | jq '.[0].generation')" -gt $gen
ms=$(ms_until $t0 2 down)
check "b2 is down again within three check intervals ($ms ms, interval $INTERVAL ms)" \
	test $ms -lt $((3 * INTERVAL))
check "new connections avoid b2" avoids 2
t0=$(date +%s%N)
check "xlb config rollback 1 (b2 active) puts b2 back too" xlb config rollback 1
ms=$(ms_until $t0 2 down)
check "b2 is down again within three check intervals ($ms ms)" test $ms -lt $((3 * INTERVAL))
check "new connections avoid b2 after the rollback" avoids 2
lab b2 nginx -c /tmp/$LP-b2.nginx.conf
check "b2 comes back when its server does" wait_for 5 is_state 2 active

# (2) the running generation's record damaged under the daemon
gen=$(xlb -j status | jq '.[0].generation')
REC=/tmp/$LP-state/${LP}lb0/history/$gen.json
check "the running record is there ($REC)" test -s $REC
echo '{ "damaged' >$REC
check_exit "control: the CLI cannot read the running configuration now" 1 xlb backend list web
lab b3 sh -c "kill \$(cat /run/$LP-b3.nginx.pid)"
t0=$(date +%s%N)
newer() { [ "$(xlb -j status | jq '.[0].generation')" -gt $gen ]; }
check "the daemon commits b3's verdict into the maps all the same" wait_for 5 newer
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "within a few check intervals ($ms ms; fall 2 x $INTERVAL ms + timeout)" test $ms -lt 3000
check "new connections avoid b3" avoids 3
check "its record replaces the damaged one: the CLI reads b3 down" is_state 3 down
both_active() { is_state 1 active && is_state 2 active; }
check "b1 and b2 stay active" both_active
said_once() { grep -n "$1" $LOG; [ "$(grep -c "$1" $LOG)" = 1 ]; }
check "the daemon warned about the damaged record once" said_once 'going on with the configuration it last read'
check "and logged no failure over and over" bash -c "grep -n 'cannot read\|change pending' $LOG;
	[ \$(grep -c 'cannot read\|change pending' $LOG) -le 3 ]"
lab b3 nginx -c /tmp/$LP-b3.nginx.conf
check "b3 comes back" wait_for 5 is_state 3 active
done_testing
