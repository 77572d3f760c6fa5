#!/usr/bin/env bash
# A node follows its fleet over TLS with a client certificate (xlb daemon
# --store-file), and nothing is missed across cuts and a compaction: the
# store is an etcd member in a namespace of its own behind one link.  Cut
# once, a generation applied meanwhile: back, the watch goes on from the
# revision the node saw (no re-read).  Cut again, two generations applied and
# the store compacted past that revision: back, the watch finds it compacted,
# the node reads the desired record again and applies the newest generation.  The key never shows in the daemon's log, its command line or
# its page.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tls.sh"
lab_up --backends 3
command -v etcd >/dev/null || skip_all "needs etcd (make deps)"
command -v openssl >/dev/null || skip_all "needs openssl"
attach
ST=${XT_NS}st S0=${LP}s0 S1=${LP}s1
ip netns add $ST && ip -n $ST link set lo up
ip link add $S0 netns $LP-lb type veth peer name $S1 netns $ST
ip -n $LP-lb addr add 192.0.2.249/30 dev $S0 && ip -n $LP-lb link set $S0 up
ip -n $ST addr add 192.0.2.250/30 dev $S1 && ip -n $ST link set $S1 up
PKI=/tmp/$LP-pki
trap 'kill $(jobs -p) 2>/dev/null; $LAB down --prefix $LP >/dev/null 2>&1; rm -rf $PKI; xt_cleanup' EXIT
check "a CA, server and client certificates (openssl)" tls_certs $PKI 192.0.2.250
etcd_tls_up $ST $PKI 192.0.2.250 || { echo "not ok 2 - etcd with TLS up"; exit 1; }
client() {	# client FILE: endpoint, CA, client certificate and key (mode 0600)
	jq -n --arg u "$ETCD_URL" --arg p $PKI '{endpoints: [$u], fleet: "f1", ca: "\($p)/ca.pem",
		cert: "\($p)/client.pem", key: "\($p)/client.key"}' >$1
	chmod 600 $1
}
client $PKI/node.json
# the operator works at the store's side of the link
fleet() { ip netns exec $ST "$ROOT/build/xlb" fleet "$@" --store-file $PKI/node.json; }
for n in 1 2 3 4; do config 100 100 $((n * 10)) >/tmp/$LP-g$n.json; done
check "xlb fleet apply over TLS: generation 1" fleet apply /tmp/$LP-g1.json --reason "tls 1"

METRICS=127.0.0.1:9145
metric() { lab lb curl -s http://$METRICS/metrics | awk -v m="$1" '$1 == m {print $2}'; }
LOG=/tmp/$LP-daemon.log
nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --metrics $METRICS --store-file $PKI/node.json --node n1 2>$LOG &
dpid=$!
running_fp() { xlb -j config show | jq -r .fingerprint; }
desired_fp() { ectls get --print-value-only /xlb/fleets/f1/desired | jq -r .fingerprint; }
node_rec() { ectls get --print-value-only /xlb/fleets/f1/nodes/n1; }
# (jq 1.6 -e exits 0 on no input: a record not there yet must not pass)
published() { local r; r=$(node_rec) && [ -n "$r" ] && jq -e "$1" <<<"$r" >/dev/null; }
check "the daemon follows over TLS: generation 1 applied and published" wait_for 15 \
	published '.generation == 1'
check "it runs generation 1's configuration" eval 'echo "$(running_fp) $(desired_fp)"; [ "$(running_fp)" = "$(desired_fp)" ]'
answers=$(requests 30 http://$VIP4/)
check "clients reach the backends" eval 'echo "$answers" | sort | uniq -c; [ "$(grep -c "^b[123]$" <<<"$answers")" = 30 ]'
check "metrics (once a second): reachable, applied 1, a watch revision" wait_for 5 \
	eval '[ "$(metric xlb_fleet_store_reachable)" = 1 ] && [ "$(metric xlb_fleet_applied_generation)" = 1 ] &&
	[ "$(metric xlb_fleet_watch_revision)" -gt 0 ]'
page() { lab lb curl -s -m 5 http://$METRICS/; }
check "the page: the https store answering" wait_for 5 eval \
	'page | grep -q "<tr id=\"fleet-store\"><th>store</th><td>$ETCD_URL answering"'
reread() { metric "xlb_fleet_desired_rereads_total{reason=\"compacted\"}"; }
check "no re-read so far (the watch went on)" test "$(reread)" = 0

# the link cut, a generation applied meanwhile, the link back: the watch goes on
# from the revision the node saw and brings it (control: nothing compacted, no re-read)
ip -n $LP-lb link set $S0 down
unreachable() { [ "$(metric xlb_fleet_store_reachable)" = 0 ]; }
check "the node sees the store unreachable" wait_for 15 unreachable
check "meanwhile xlb fleet apply generation 2" fleet apply /tmp/$LP-g2.json --reason "tls 2"
ip -n $LP-lb link set $S0 up
check "the link back: the node reaches generation 2" wait_for 20 published '.generation == 2'
check "by its watch from the revision it saw: no re-read" test "$(reread)" = 0

# cut again: two generations applied meanwhile, then the store compacted past the
# revision the node saw; back, its watch finds that revision compacted and reads again
check "metrics: the node saw generation 2's revision" wait_for 5 \
	eval '[ "$(metric xlb_fleet_applied_generation)" = 2 ]'
ip -n $LP-lb link set $S0 down
check "cut again: unreachable" wait_for 15 unreachable
seen=$(metric xlb_fleet_watch_revision)
for n in 3 4; do
	check "meanwhile xlb fleet apply generation $n" fleet apply /tmp/$LP-g$n.json --reason "tls $n"
done
rev=$(ectls get -w json /xlb/fleets/f1/desired | jq -r .header.revision)
check "the store compacted to revision $rev (the node saw $seen)" \
	eval "[ $((seen + 1)) -lt $rev ] && ectls compact $rev"
check "cut off: the node still runs generation 2" published '.generation == 2'
answers=$(requests 20 http://$VIP4/)
check "cut off: clients are still served" test "$(grep -c '^b[123]$' <<<"$answers")" = 20

ip -n $LP-lb link set $S0 up
check "the link back: the node reaches generation 4" wait_for 20 published '.generation == 4'
check "it runs generation 4's configuration" test "$(running_fp)" = "$(desired_fp)"
check "its log says the watch found its revision compacted and read again" \
	grep -q "fleet: the watch from revision [0-9]* cannot go on (the store compacted revisions before $rev): reading desired again" $LOG
check "the metric counts the re-read after compaction" wait_for 5 eval '[ "$(reread)" -ge 1 ]'
check "generation 3 was not applied on the way (read again: the newest only)" \
	bash -c '! grep -q "fleet: generation 3 applied" "$1"' _ $LOG
check "metrics: desired 4, applied 4, reachable" wait_for 5 eval '[ "$(metric xlb_fleet_desired_generation)" = 4 ] &&
	[ "$(metric xlb_fleet_applied_generation)" = 4 ] && [ "$(metric xlb_fleet_store_reachable)" = 1 ]'

# the client key stays secret
keyline=$(sed -n 2p $PKI/client.key)
check "the key is in no line of the daemon's log" bash -c '! grep -qF -- "$1" "$2"' _ "$keyline" $LOG
check "nor on its command line (it names the client file only)" \
	bash -c '! tr "\0" " " </proc/$1/cmdline | grep -q "client.key\|BEGIN"' _ $dpid
check "nor on its page" bash -c '! grep -qF -- "$1" <<<"$2"' _ "$keyline" "$(page)"
check "the daemon is still running" kill -0 $dpid
done_testing
