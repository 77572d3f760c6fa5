#!/usr/bin/env bash
# The runbook's fix for XlbStateDiskFull works on a full disk: every change is
# refused there (lowering history.keep in the file too: it is a change), and
# `xlb config prune --keep N`, which only deletes, makes room for the next.
# The state directory is a small tmpfs, filled up.
. "$(dirname "$0")/../lib.sh"
require_root
xt_cli_fixture d
mount -t tmpfs -o size=1m,mode=0700 xlbfull "$STATE" || skip_all "cannot mount a tmpfs"
trap 'nsenter --net=/run/netns/$NS $XLB detach $DEV >/dev/null 2>&1; umount "$STATE";
	rm -rf "$STATE"; xt_cleanup' EXIT
H=$STATE/$DEV/history
records() { find "$H" -maxdepth 1 -name '[0-9]*.json' | wc -l; }
cfg() {	# cfg KEEP
	cat <<JSON
{ "history": { "keep": $1 }, "services": [ { "name": "web", "vip": "192.0.2.10", "port": 80,
  "protocol": "tcp", "guards": { "max_share": 1, "max_churn": 1 },
  "backends": [ { "address": "198.51.100.1" }, { "address": "198.51.100.2" } ] } ] }
JSON
}
cfg 1000 >/tmp/xlb-full-$$.json
cfg 5 >/tmp/xlb-full5-$$.json
check "attach" x attach $DEV
check "apply" x config apply /tmp/xlb-full-$$.json
for w in $(seq 2 41); do x backend set web 198.51.100.1 weight $w >/dev/null || break; done
check "41 generations recorded ($(records))" test "$(records)" = 41
# fill the file system: bytes, then whatever inodes or blocks are left
dd if=/dev/zero of="$STATE/filler" bs=4k status=none 2>/dev/null
for i in $(seq 1000); do echo x >"$STATE/f$i" 2>/dev/null || break; done
check "the state disk is full" bash -c "! echo x >'$STATE/probe' 2>/dev/null"
g=$(gen)
check_exit "a change on the full disk is refused (exit 2)" 2 x backend set web 198.51.100.1 weight 99
check_exit "control: so is lowering history.keep in the file (the old runbook fix)" 2 \
	x config apply /tmp/xlb-full5-$$.json
check "nothing went live meanwhile" test "$(gen)" = $g
out=$(x config prune --keep 5 2>&1); rc=$?
check "xlb config prune --keep 5 works on the full disk: $out" test $rc = 0
check "5 records kept ($(records)), the live one among them" \
	bash -c "[ $(records) = 5 ] && [ -e $H/$g.json ]"
check "bodies no record names are gone too" test "$(ls $H/bodies | wc -l)" -le 5
check "now a change goes through" x backend set web 198.51.100.1 weight 99
check "as generation $((g + 1))" test "$(gen)" = $((g + 1))
check "and lowering history.keep in the file too" x config apply /tmp/xlb-full5-$$.json
check "history and rollback work" x config rollback
check_exit "prune --keep 1 is refused (the live and the previous one stay)" 1 x config prune --keep 1
check_exit "prune without --keep is refused" 1 x config prune
check "prune -j says what it did" bash -c "x() { nsenter --net=/run/netns/$NS $XLB --state '$STATE' \"\$@\"; };
	x -j config prune --keep 3 | jq -en 'input | .pruned >= 1 and .records == 3 and .free_bytes >= 0'"
rm -f /tmp/xlb-full-$$.json /tmp/xlb-full5-$$.json
done_testing
