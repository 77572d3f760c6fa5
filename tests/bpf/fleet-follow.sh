#!/usr/bin/env bash
# The daemon's follower against a store rebuilt from nothing (a store restored
# or replaced: its revisions and generations count from 1 again), on a veth
# without traffic: the node had watched up to a revision the new store has not
# reached; it sees the store at an earlier revision, reads the desired record
# again and applies what the new store holds, also when that generation has
# the number the node runs (the fingerprints differ).  Without the re-read its
# watch would wait for a revision the store reaches only much later.  While
# the store is gone its failed status puts back off (not one every loop
# turn); the new store has no desired record yet: the node keeps announcing
# the generation it applied and says the record is absent.  A generation
# that node missed, whose churn from the one it runs trips the guards
# (each step passed them in xlb fleet apply), is applied all the same: the
# fleet judged the guards; and a clean stop revokes the lease quietly.  Then a
# store over TLS with an etcd user: the daemon authenticates and follows it,
# and the password is in none of its log, arguments, environment or pages.
. "$(dirname "$0")/../lib.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
xt_cli_fixture ff
x attach $DEV >/dev/null 2>&1
etcd_up $NS 2379 || { not_ok "etcd starts in $NS"; done_testing; exit 1; }
ectl() { ip netns exec $NS etcdctl --endpoints $ETCD_URL "$@"; }
S="--store $ETCD_URL --fleet f1"
conf() {	# conf FILE N...: service web over backends 198.51.100.N
	local list
	list=$(printf '{"address": "198.51.100.%s"},' "${@:2}")
	printf '{"services": [{"name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
	  "table_size": 1009, "backends": [%s]}]}\n' "${list%,}" >"$STATE/$1"
}
conf a.json 1 2 3
conf b.json 1 2
conf c.json 1 2 3
# the store's revision well ahead of what a new store reaches in this test
for i in $(seq 40); do ectl put /other/k$i v >/dev/null; done
check "xlb fleet apply a.json (generation 1)" x fleet apply "$STATE/a.json" $S
M=127.0.0.1:9146
metric() { ip netns exec $NS curl -s http://$M/metrics | awk -v m="$1" '$1 == m {print $2}'; }
LOG=$STATE/daemon.log
# nsenter execs xlb: $! is the daemon itself
nsenter --net=/run/netns/$NS $XLB --state "$STATE" --dev $DEV daemon --metrics $M $S --node n1 2>$LOG &
dpid=$!
trap 'kill $dpid 2>/dev/null; nsenter --net=/run/netns/$NS $XLB detach $DEV >/dev/null 2>&1; rm -rf "$STATE"; xt_cleanup' EXIT
fp() { x -j config show | jq -r .fingerprint; }
dfp() { ectl get --print-value-only /xlb/fleets/f1/desired | jq -r '.fingerprint // empty'; }
check "the node applies generation 1" wait_for 10 eval '[ -n "$(dfp)" ] && [ "$(fp)" = "$(dfp)" ]'
check "metrics: applied 1, watching past revision 40" wait_for 5 \
	eval '[ "$(metric xlb_fleet_applied_generation)" = 1 ] && [ "$(metric xlb_fleet_watch_revision)" -gt 40 ]'
seen=$(metric xlb_fleet_watch_revision)

# the store replaced by an empty one (same address), which gets generations 1 and 2
puts() { grep -c "cannot publish the status" $LOG; }
kill -9 $(for p in $(ip netns pids $NS); do [ "$(cat /proc/$p/comm)" = etcd ] && echo $p; done)
check "the node sees the store gone" wait_for 15 eval '[ "$(metric xlb_fleet_store_reachable)" = 0 ]'
p0=$(puts)
check "the store gone for 5 s more (lease not kept alive for 8 s)" wait_for 15 \
	eval '[ "$(metric xlb_fleet_lease_age_seconds)" -ge 8 ]'
p1=$(puts)
check "failed status puts back off: $((p1 - p0)) in those seconds (at most 6)" test $((p1 - p0)) -le 6
check "(control: it did try to publish)" test "$p1" -ge 1
rm -rf /tmp/$NS-etcd
etcd_up $NS 2379 || not_ok "a new, empty etcd starts"
page() { ip netns exec $NS curl -s -m 5 http://$M/; }
check "the new store has no desired record: the node read again (reason restored)" wait_for 15 \
	eval '[ "$(metric "xlb_fleet_desired_rereads_total{reason=\"restored\"}")" -ge 1 ]'
check "it keeps desired generation 1 (metrics), says the record is absent" wait_for 5 \
	eval '[ "$(metric xlb_fleet_desired_generation)" = 1 ] && [ "$(metric xlb_fleet_desired_absent)" = 1 ]'
check "the announce gate stays open (not 'no desired generation yet')" eval \
	'page | grep -o "<tr id=\"fleet-gate\">.*</tr>" | grep -q "<td>open"'
check "its status record in the new store says so (error), generation 1" wait_for 15 eval \
	"ectl get --print-value-only /xlb/fleets/f1/nodes/n1 | jq -e '.generation == 1 and
	 (.error | test(\"desired record is absent\"))' >/dev/null"
check "its log too" grep -q "desired record of fleet f1 is absent from the store" $LOG
check "the new store: xlb fleet apply b.json (generation 1 again, another configuration)" \
	x fleet apply "$STATE/b.json" $S
rev=$(ectl get -w json /xlb/fleets/f1/desired | jq -r .header.revision)
check "the new store's revision ($rev) is before the one the node saw ($seen)" test "$rev" -lt "$seen"
check "the node applies the new store's generation 1 (same number, other fingerprint)" \
	wait_for 15 eval '[ "$(fp)" = "$(dfp)" ]'
check "its log says the store is at an earlier revision and it read again" \
	grep -q "cannot go on (the store is at revision [0-9]*, before the one seen here): reading desired again" $LOG
check "the record is back: no longer absent" wait_for 5 eval '[ "$(metric xlb_fleet_desired_absent)" = 0 ]'
check "then it watches on: generation 2 (c.json) reaches it" x fleet apply "$STATE/c.json" $S
check "applied" wait_for 10 eval '[ "$(fp)" = "$(dfp)" ] && [ "$(metric xlb_fleet_applied_generation)" = 2 ]'
check "nothing compacted or canceled here" eval \
	'[ "$(metric "xlb_fleet_desired_rereads_total{reason=\"compacted\"}")" = 0 ] &&
	 [ "$(metric "xlb_fleet_desired_rereads_total{reason=\"canceled\"}")" = 0 ]'
check "the daemon is still running" kill -0 $dpid

# ---- guards: judged by the fleet, not again on a node that missed a generation ----
gconf() {	# gconf FILE N...: as conf, max_churn 0.5 (one backend replaced moves 40%)
	conf "$@"
	jq '.services[0].guards = {max_churn: 0.5}' "$STATE/$1" >"$STATE/$1.t" && mv "$STATE/$1.t" "$STATE/$1"
}
gconf g1.json 1 2 3 4
gconf g2.json 1 2 3 5
gconf g3.json 1 2 5 6
check "xlb fleet apply g1.json (generation 3)" x fleet apply "$STATE/g1.json" $S
check "applied" wait_for 10 eval '[ "$(fp)" = "$(dfp)" ] && [ "$(metric xlb_fleet_applied_generation)" = 3 ]'
expired=$(grep -c "granting another" $LOG)	# the old store's lease, above
kill $dpid; wait $dpid 2>/dev/null
check "the daemon is gone" bash -c '! kill -0 $1 2>/dev/null' _ $dpid
check "a clean stop revokes the lease: its status record is gone" \
	eval '[ -z "$(ectl get --print-value-only /xlb/fleets/f1/nodes/n1)" ]'
check "and the log says no lease expired ($expired before)" \
	eval '[ "$(grep -c "granting another" $LOG)" = "$expired" ]'
check "(control: it logged the revoke)" grep -q "lease [0-9a-f]* revoked" $LOG
check_exit "control: g1 -> g3 at once trips max_churn in xlb fleet apply (exit 1)" 1 \
	x fleet apply "$STATE/g3.json" $S
check "g1 -> g2 -> g3 each pass it (generations 4, 5)" eval \
	'x fleet apply "$STATE/g2.json" $S && x fleet apply "$STATE/g3.json" $S'
nsenter --net=/run/netns/$NS $XLB --state "$STATE" --dev $DEV daemon --metrics $M $S --node n1 2>$LOG &
dpid=$!
check "the node, on generation 3, applies generation 5 (churn past max_churn here)" \
	wait_for 15 eval '[ "$(fp)" = "$(dfp)" ] && [ "$(metric xlb_fleet_applied_generation)" = 5 ]'
check "nothing refused" eval '[ "$(metric xlb_fleet_generation_refused)" = 0 ] &&
	ectl get --print-value-only /xlb/fleets/f1/nodes/n1 | jq -e ".refused == null" >/dev/null'
check "its history records the fleet's generation, judged by the fleet" eval \
	'x config history | grep -q "fleet f1 generation 5 (apply by .*guards judged by the fleet)"'

# ---- over TLS with an etcd user: the daemon authenticates, the password stays secret ----
kill $dpid; wait $dpid 2>/dev/null
check "the first daemon is gone" bash -c '! kill -0 $1 2>/dev/null' _ $dpid
. "$(dirname "$0")/../tls.sh"
PKI=$STATE/pki
tls_certs $PKI 127.0.0.1 || not_ok "certificates (openssl)"
etcd_tls_up $NS $PKI 127.0.0.1 2479 noclient || not_ok "etcd with TLS starts"
PW="pw-$RANDOM-$RANDOM-daemon"
check "etcd: user root, authentication on" eval 'ectls user add root --new-user-password="$PW" &&
	ectls user grant-role root root && ectls auth enable'
printf '%s\n' "$PW" >$PKI/pw && chmod 600 $PKI/pw
jq -n --arg u "$ETCD_URL" --arg p $PKI '{endpoints: [$u], fleet: "f1", ca: "\($p)/ca.pem",
	user: "root", password_file: "\($p)/pw"}' >$PKI/client.json && chmod 600 $PKI/client.json
SF="--store-file $PKI/client.json"
check "xlb fleet apply b.json into the TLS store with the user" x fleet apply "$STATE/b.json" $SF
dfp() { ectls --user "root:$PW" get --print-value-only /xlb/fleets/f1/desired | jq -r '.fingerprint // empty'; }
check "the node runs another configuration before" bash -c '[ "$1" != "$2" ]' _ "$(fp)" "$(dfp)"
nsenter --net=/run/netns/$NS $XLB --state "$STATE" --dev $DEV daemon --metrics $M $SF --node n1 2>$LOG &
dpid=$!
check "the daemon authenticates over TLS and applies it" wait_for 15 eval '[ -n "$(dfp)" ] && [ "$(fp)" = "$(dfp)" ]'
check "and publishes its status there" wait_for 10 eval \
	'ectls --user "root:$PW" get --print-value-only /xlb/fleets/f1/nodes/n1 | grep -q "\"generation\":1"'
check "the password is not in the daemon's log" bash -c '! grep -qF -- "$1" "$2"' _ "${PW#pw-}" $LOG
check "nor in its arguments or environment" bash -c '! tr "\0" "\n" </proc/$1/cmdline | grep -qF -- "$2" &&
	! tr "\0" "\n" </proc/$1/environ | grep -qF -- "$2"' _ $dpid "${PW#pw-}"
check "nor on its metrics or page" bash -c '! ip netns exec $1 curl -s http://$2/ http://$2/metrics | grep -qF -- "$3"' \
	_ $NS $M "${PW#pw-}"
check "(control: the log has lines)" test -s $LOG
done_testing
