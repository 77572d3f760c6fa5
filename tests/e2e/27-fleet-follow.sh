#!/usr/bin/env bash
# A node follows its fleet in the store (xlb daemon --store --fleet --node):
# a real etcd on the node's loopback, the node's BGP speaker and a router
# (BIRD).  It does not announce before it applied the desired generation;
# it applies each generation written with xlb fleet apply and publishes its
# status under its lease; with the store killed it keeps forwarding and
# announcing (fail static) and catches up when the store is back; a bad
# configuration put straight into the store with etcdctl is refused with why
# and the node keeps its generation; local changes are refused beside the
# fleet unless forced with a reason, which is recorded and published.  A
# store lost after a new generation's record arrived, before its body was
# read, keeps the VIP announced past the grace (fail static): the grace
# counts only while the store answers.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
command -v bird >/dev/null || skip_all "needs bird2 (make deps)"
command -v etcd >/dev/null || skip_all "needs etcd (make deps)"
attach
# the store: one etcd member on the node's own loopback
etcd_up $LP-lb 2379 || { echo "not ok 1 - etcd up"; exit 1; }
trap 'kill -CONT $(jobs -p) $(etcd_pid) 2>/dev/null; kill $(jobs -p) 2>/dev/null; $LAB down --prefix $LP >/dev/null 2>&1; rm -rf /tmp/$LP-lb-etcd; xt_cleanup' EXIT
S="--store $ETCD_URL --fleet f1"
etcdctl() { lab lb env ETCDCTL_API=3 etcdctl --endpoints $ETCD_URL "$@"; }
etcd_pid() {
	local p
	for p in $(ip netns pids $LP-lb); do [ "$(cat /proc/$p/comm 2>/dev/null)" = etcd ] && echo $p; done
}
# the router and the node's speaker, as in 18-announce.sh
lab client ip addr add 198.51.100.200/24 dev ${LP}c0 noprefixroute
RSOCK=/tmp/$LP-bird-rt.sock NSOCK=/tmp/$LP-bird-node.sock
cat >/tmp/$LP-bird-rt.conf <<BIRD
router id 198.51.100.200;
protocol device { scan time 1; }
protocol bgp node1 {
	local 198.51.100.200 as 64512; neighbor 198.51.100.254 as 64601;
	ipv4 { import all; export none; };
	hold time 3; connect retry time 1; error wait time 1, 5;
}
BIRD
cat >/tmp/$LP-bird-node.conf <<BIRD
router id 198.51.100.254;
protocol device { scan time 1; }
protocol static xlb_192_0_2_10 { disabled; ipv4; route $VIP4/32 unreachable; }
protocol bgp upstream {
	local 198.51.100.254 as 64601; neighbor 198.51.100.200 as 64512;
	ipv4 { import none; export where source = RTS_STATIC; next hop self; };
	hold time 3; connect retry time 1; error wait time 1, 5;
}
BIRD
check "the router's BIRD starts" lab client bird -c /tmp/$LP-bird-rt.conf -s $RSOCK -P /tmp/$LP-bird-rt.pid
check "the node's BIRD starts" lab lb bird -c /tmp/$LP-bird-node.conf -s $NSOCK -P /tmp/$LP-bird-node.pid
established() { birdc -s $RSOCK show protocols node1 | grep -q Established; }
check "the BGP session comes up" wait_for 20 established
learned() { birdc -s $RSOCK show route $VIP4/32 | grep -q "$VIP4/32"; }
withdrawn() { ! learned; }

# a configuration the node runs before it follows the fleet: the VIP is there
config 100 100 100 >/tmp/$LP-local.json
check "a local configuration before the fleet" xlb config apply /tmp/$LP-local.json
config 100 100 - >/tmp/$LP-a.json
config 100 100 100 >/tmp/$LP-b.json
METRICS=127.0.0.1:9145
metric() { lab lb curl -s http://$METRICS/metrics | awk -v m="$1" '$1 == m {print $2}'; }
LOG=/tmp/$LP-daemon.log
nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --metrics $METRICS --announce $NSOCK $S --node n1 2>$LOG &
dpid=$!	# nsenter execs xlb: the daemon itself
check "the daemon follows fleet f1: the store answers (metrics)" wait_for 10 \
	eval '[ "$(metric xlb_fleet_store_reachable)" = 1 ]'
said_none() { xlb node status | grep -q 'withdrawn: fleet f1 has no desired generation yet'; }
check "no desired generation yet: not announced, node status says why" wait_for 10 said_none
check "the router does not have the VIP" withdrawn
check_exit "fleet.json present: a local config apply is refused (exit 1)" 1 \
	xlb config apply /tmp/$LP-b.json
check "it says to use xlb fleet" eval "xlb config apply /tmp/$LP-b.json 2>&1 | \
	grep -q 'this node follows fleet f1 in the store: use xlb fleet apply|rollback'"
check_exit "a local backend edit too (exit 1)" 1 xlb backend remove web 198.51.100.3
check_exit "a local rollback too (exit 1)" 1 xlb config rollback

# generation 1 through xlb fleet apply: applied, published, then announced
check "xlb fleet apply a.json" xlb fleet apply /tmp/$LP-a.json $S --reason "e2e first"
want=$(etcdctl get --print-value-only /xlb/fleets/f1/desired | jq -r .fingerprint)
running_fp() { xlb -j config show | jq -r .fingerprint; }
check "the node runs generation 1's configuration (fingerprint $want)" wait_for 10 \
	eval '[ "$(running_fp)" = "$want" ]'
node_rec() { etcdctl get --print-value-only /xlb/fleets/f1/nodes/n1; }
# (jq 1.6 -e exits 0 on no input: a record not there yet must not pass)
published() { local r; r=$(node_rec) && [ -n "$r" ] && jq -e "$1" <<<"$r" >/dev/null; }
check "its status record says generation 1, that fingerprint" wait_for 10 \
	published ".generation == 1 and .fingerprint == \"$want\" and .refused == null"
check "the record has the documented fields" published \
	'has("tables") and has("hash_key_id") and .attached and (.health|has("up")) and
	 has("local_change") and has("store_lost_since") and .lease_ttl > 0 and .node == "n1"'
check "the record lives under a lease" eval "etcdctl get -w json /xlb/fleets/f1/nodes/n1 | \
	jq -e '.kvs[0].lease > 0' >/dev/null"
check "applied: the VIP is announced" wait_for 10 learned
check "the log said why it was not announced before" \
	grep -q "not announcing xlb_192_0_2_10: fleet f1 has no desired generation yet" $LOG
answers=$(requests 20 http://$VIP4/)
check "real clients reach b1 and b2 only" test "$(grep -c '^b[12]$' <<<"$answers")" = 20
check "fleet.json records it" jq -e '.fleet == "f1" and .node == "n1" and .applied.generation == 1' \
	/tmp/$LP-state/${LP}lb0/fleet.json
page() { lab lb curl -s -m 5 http://$METRICS/; }
row() { page | grep -o "<tr id=\"fleet-$1\">.*</tr>"; }
check "the status page has the fleet section" wait_for 5 eval 'page | grep -q "<h2 id=\"fleet\">fleet f1</h2>"'
check "it names the node and the store answering" eval 'row node | grep -q "<td>n1</td>" &&
	row store | grep -q "$ETCD_URL answering"'
check "desired generation 1 with who, when and why" eval \
	'row desired | grep -qE "<td>1, apply by [a-z]+ at [0-9T:Z-]+: e2e first</td>"'
check "applied generation 1 with its configuration, nothing refused, no local change" eval \
	'row applied | grep -q "<td>1 (configuration $want)</td>" && row refused | grep -q "<td>none</td>" &&
	 row local | grep -q "<td>none</td>"'
check "the lease is kept alive, the announce gate open" eval \
	'row lease | grep -qE "kept alive [0-9]+ s ago" && row gate | grep -q "<td>open"'
check "metrics: desired 1, applied 1" eval '[ "$(metric xlb_fleet_desired_generation)" = 1 ] &&
	[ "$(metric xlb_fleet_applied_generation)" = 1 ]'

# the store killed: forwarding and announcing go on (fail static)
kill -9 $(etcd_pid)
check "metrics say the store cannot be reached" wait_for 10 \
	eval '[ "$(metric xlb_fleet_store_reachable)" = 0 ]'
check "the log says fail static" wait_for 5 grep -q "forwarding and announcing go on" $LOG
# past a keepalive period (TTL/3) without the store: nothing the node runs or announces moves
check "the lease is not kept alive for 4 s" wait_for 10 \
	eval '[ "$(metric xlb_fleet_lease_age_seconds)" -ge 4 ]'
answers=$(requests 20 http://$VIP4/)
check "store down: clients are still served" test "$(grep -c '^b[12]$' <<<"$answers")" = 20
check "store down: the VIP stays announced" learned
check "the page says the store is unreachable since when, and why" eval \
	'row store | grep -qE "unreachable since [0-9T:Z-]+</b>: .*127.0.0.1:2379"'
check "and alerts on it" eval 'page | grep -q "<li>the fleet store cannot be reached since"'
check "the gate stays open (fail static)" eval 'row gate | grep -q "<td>open"'
etcd_up $LP-lb 2379 || echo "# etcd did not come back"
check "store back: reachable again" wait_for 10 eval '[ "$(metric xlb_fleet_store_reachable)" = 1 ]'
check "xlb fleet apply b.json (generation 2)" xlb fleet apply /tmp/$LP-b.json $S --reason "e2e b3"
check "the node catches up: generation 2 applied" wait_for 10 published '.generation == 2'
answers=$(requests 30 http://$VIP4/)
check "clients reach b3 now" grep -q '^b3$' <<<"$answers"

# a bad configuration straight into the store: refused with why, generation 2 kept
bad='{"services":[{"name":"web","vip":"192.0.2.10","port":80,"protocol":"tcp","backends":[{"address":"198.51.100.300","weight":100}]}]}'
etcdctl put /xlb/fleets/f1/config/00000000000000aa "$bad" >/dev/null
rec='{"generation":3,"fingerprint":"00000000000000aa","hash_key_id":"","who":"etcdctl","when":"2026-01-01T00:00:00Z","reason":"by hand","source":"apply","forced":false,"replaces":2}'
etcdctl put /xlb/fleets/f1/desired "$rec" >/dev/null
check "the node refuses generation 3, says why in its status" wait_for 10 \
	published '.refused.generation == 3 and (.refused.why | test("not valid")) and .generation == 2'
check "metrics: generation refused" wait_for 5 eval '[ "$(metric xlb_fleet_generation_refused)" = 1 ]'
check "it keeps running generation 2" eval '[ "$(xlb -j config show | jq -r .generation)" -ge 2 ] &&
	[ "$(running_fp)" = "$(jq -r .applied.fingerprint /tmp/$LP-state/${LP}lb0/fleet.json)" ]'
check "the log says why" grep -q "fleet: generation 3 refused: its configuration 00000000000000aa is not valid" $LOG
check "refused for what it is: the VIP stays announced on generation 2" learned
check "the page: generation 3 refused and why, desired 3 by etcdctl, applied 2 behind" wait_for 5 eval \
	'row refused | grep -q "<b class=\"state-down\">3</b>: its configuration 00000000000000aa is not valid" &&
	 row desired | grep -q "<td>3, apply by etcdctl at 2026-01-01T00:00:00Z: by hand" &&
	 row applied | grep -q "<td>2 (configuration .*behind"'
check "and alerts on the refusal" eval 'page | grep -q "<li>fleet generation 3 was refused here: "'

# a local change forced with a reason: applied, recorded, published
check "local config apply --force --reason: applied" \
	xlb config apply /tmp/$LP-a.json --force --reason "e2e emergency"
check "fleet.json records the local change" jq -e '.local_change.reason == "e2e emergency"' \
	/tmp/$LP-state/${LP}lb0/fleet.json
check "the status record publishes it" wait_for 10 published '.local_change.reason == "e2e emergency"'
check "metrics: local change forced" wait_for 5 eval '[ "$(metric xlb_fleet_local_change)" = 1 ]'
check "the page: local change forced by whom and why" wait_for 5 eval \
	'row local | grep -qE "forced</b> by [a-z]+ at [0-9T:Z-]+: e2e emergency"'
check "node status shows the fleet part" eval "xlb node status | grep -q 'LOCAL CHANGE forced'"
# the fleet's next generation replaces the bad one (which cannot be planned against:
# --force) and ends the local change
check "xlb fleet apply b.json again (generation 4)" xlb fleet apply /tmp/$LP-b.json $S \
	--force --reason "replace the bad one"
check "generation 4 applied: the local change is over" wait_for 10 \
	published '.generation == 4 and .local_change == null and .refused == null'
check "fleet.json: no local change" jq -e '.local_change == null and .applied.generation == 4' \
	/tmp/$LP-state/${LP}lb0/fleet.json
check "still announced" learned

# the store lost between the desired record and its body: the VIP stays past the grace
withdrawals() { grep -c "announce: xlb_192_0_2_10 withdrawn" $LOG; }
w0=$(withdrawals)
kill -STOP $dpid
check "xlb fleet apply a.json (generation 5) while the daemon is paused" \
	xlb fleet apply /tmp/$LP-a.json $S --reason "e2e outage"
kill -STOP $(etcd_pid)	# the watch's event is in the daemon's socket already
kill -CONT $dpid
check "the node has generation 5 desired from the watch" wait_for 10 \
	eval '[ "$(metric xlb_fleet_desired_generation)" = 5 ]'
check "and cannot read its body: the store does not answer" wait_for 10 \
	eval '[ "$(metric xlb_fleet_store_reachable)" = 0 ]'
sleep 13	# a duration, not a readiness wait: past the 10 s grace from its arrival
check "past the grace, the store unreachable: the VIP stays announced (fail static)" learned
check "the gate stays open on generation 4" eval 'row gate | grep -q "<td>open" &&
	[ "$(metric xlb_fleet_applied_generation)" = 4 ]'
check "the log says no withdrawal" test "$(withdrawals)" = "$w0"
kill -CONT $(etcd_pid)
check "store back: generation 5 applied and published" wait_for 15 published '.generation == 5'
check "announced throughout" learned
done_testing
