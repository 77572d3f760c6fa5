#!/usr/bin/env bash
# Health verdicts the fleet shares (issue 24): three daemons with --store on
# veths, each in its own namespace, each checking the same three backends
# (198.51.100.1-3, TCP port 80) on its own loopback, so a backend can die for
# every node (its address removed everywhere) or for one node only (its path
# cut there).  A real etcd in a fourth namespace, reached over a bridge.
#   drill 1: a backend down on every node: one fleet verdict takes it out,
#            every node's table fingerprint equal (the time measured)
#   drill 2: a backend down on one node only: tables unchanged everywhere,
#            that node alone withdraws after 3 checks (event, page, metric),
#            rejoins when it sees the backend again
#   drill 5: the store stopped, then a backend dies: each node takes it out by
#            itself after --health-grace; the store back: the fleet's view
#            again, with no table change
#   negative control: the same fault on one node without --store (per-node
#            verdicts): that node's table diverges.
# FV_KEEP=DIR keeps the three daemons' logs there.
. "$(dirname "$0")/../lib.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
PY=/usr/bin/python3
[ -x $PY ] || skip_all "needs $PY (the backends' listener)"
SNS=${XT_NS}vs
ROOT=$(mktemp -d /tmp/xlb-fv-XXXXXX)
DPIDS=()
cleanup() {
	for p in "${DPIDS[@]}"; do kill "$p" 2>/dev/null; done
	for k in 1 2 3; do
		nsenter --net=/run/netns/${XT_NS}v$k $XLB detach $(dev $k) >/dev/null 2>&1
	done
	[ -n "$FV_KEEP" ] && cp $ROOT/*.log "$FV_KEEP"/; rm -rf "$ROOT"
	xt_cleanup
}
dev() { local d=fv$1x$$; echo "${d:0:15}"; }
trap cleanup EXIT

# the store's namespace: a bridge 203.0.113.1/24, etcd on it
ip netns add $SNS
ip -n $SNS link set lo up
ip -n $SNS link add br0 type bridge
ip -n $SNS addr add 203.0.113.1/24 dev br0
ip -n $SNS link set br0 up
store_up() {
	local dir=/tmp/$SNS-etcd
	mkdir -p $dir
	ip netns exec $SNS etcd --name m1 --data-dir $dir/m1 \
		--listen-client-urls http://203.0.113.1:2379 --advertise-client-urls http://203.0.113.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster m1=http://127.0.0.1:2380 >>$dir/m1.log 2>&1 & disown
	wait_for 20 ip netns exec $SNS curl -sf http://203.0.113.1:2379/health
}
store_up || { not_ok "etcd starts"; done_testing; exit 1; }
URL=http://203.0.113.1:2379
ectl() { ip netns exec $SNS etcdctl --endpoints $URL "$@"; }
S="--store $URL --fleet f1"

# three nodes: a veth to the bridge (203.0.113.1K), a veth to attach xlb to,
# the backends on lo with a listener on port 80
node_up() {
	local k=$1 ns=${XT_NS}v$1 d
	d=$(dev $k)
	xt_veth_ns $ns $d
	ip -n $ns link add s$k type veth peer name b$k netns $SNS
	ip -n $ns addr add 203.0.113.1$k/24 dev s$k
	ip -n $ns link set s$k up
	ip -n $SNS link set b$k master br0 up
	for b in 1 2 3; do ip -n $ns addr add 198.51.100.$b/32 dev lo; done
	ip netns exec $ns $PY -c 'import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(128)
while True:
    c, _ = s.accept(); c.close()' & disown
	mkdir -p $ROOT/n$k
	nsenter --net=/run/netns/$ns $XLB --state $ROOT/n$k attach $d >/dev/null
}
xn() { local k=$1; shift; nsenter --net=/run/netns/${XT_NS}v$k $XLB --state $ROOT/n$k "$@"; }
for k in 1 2 3; do node_up $k; done
reach() { for k in 1 2 3; do ip netns exec ${XT_NS}v$k curl -sf $URL/health >/dev/null || return 1; done; }
check "every node reaches the store" reach

cat >$ROOT/web.json <<'EOF'
{"services": [{"name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
  "table_size": 1009, "guards": {"min_active": 1},
  "health": {"type": "tcp", "via": "direct", "port": 80, "interval_ms": 200,
             "timeout_ms": 150, "rise": 2, "fall": 2},
  "backends": [{"address": "198.51.100.1"}, {"address": "198.51.100.2"},
               {"address": "198.51.100.3"}]}]}
EOF
check "xlb fleet apply web.json (generation 1)" xn 1 fleet apply $ROOT/web.json $S

daemon() {	# daemon K ARGS...
	local k=$1; shift
	nsenter --net=/run/netns/${XT_NS}v$k $XLB --state $ROOT/n$k --dev $(dev $k) daemon \
		--metrics 127.0.0.1:9146 "$@" 2>>$ROOT/n$k.log &
	DPIDS[$k]=$!
}
for k in 1 2 3; do daemon $k $S --node n$k --health-grace 3s; done
metric() { ip netns exec ${XT_NS}v$1 curl -s -m 2 http://127.0.0.1:9146/metrics |
	awk -v m="$2" '$1 == m {print $2}'; }
tfp() { ip netns exec ${XT_NS}v$1 curl -s -m 2 http://127.0.0.1:9146/metrics |
	sed -n 's/^xlb_table_info{service="web",fingerprint="\([0-9a-f]*\)"} 1$/\1/p'; }
fps() { echo "$(tfp 1) $(tfp 2) $(tfp 3)"; }
equal() { local a b c; read -r a b c <<<"$(fps)"; [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ]; }
health() { ectl get --print-value-only /xlb/fleets/f1/decide/health; }
mode() { metric $1 'xlb_fleet_health_mode{mode="fleet"}'; }
events() { ectl get --prefix --print-value-only /xlb/fleets/f1/decide/events/ | jq -c "select($1)"; }
all_fleet() { every 'xlb_fleet_health_mode{mode="fleet"}' 1; }

every() {	# every METRIC VALUE: on the three nodes
	for k in 1 2 3; do [ "$(metric $k "$1")" = "$2" ] || return 1; done
}
check "every node applies generation 1" wait_for 20 every xlb_fleet_applied_generation 1
check "a leader is elected" wait_for 20 eval '[ -n "$(ectl get --print-value-only /xlb/fleets/f1/decide/leader)" ]'
check "the leader writes decide/health (nothing down)" wait_for 10 eval \
	'health | jq -e ".seq >= 1 and .down == {}" >/dev/null'
check "every node lays the fleet's verdicts over its tables (mode fleet)" wait_for 10 all_fleet
views3() {
	for k in 1 2 3; do ectl get --print-value-only /xlb/fleets/f1/nodes/n$k |
		jq -e ".views.web | length == 3" >/dev/null || return 1; done
}
check "every node publishes its views of the three backends" wait_for 10 views3
check "the tables are equal on every node" wait_for 10 equal
FP0=$(tfp 1)

# ---- drill 1: a backend down on every node ----
t0=$(date +%s%N)
for k in 1 2 3; do ip -n ${XT_NS}v$k addr del 198.51.100.3/32 dev lo; done
check "drill 1: the fleet holds 198.51.100.3 down" wait_for 10 eval \
	'health | jq -e ".down.web == [\"198.51.100.3\"]" >/dev/null'
check "drill 1: every node's table changed and they are equal" wait_for 10 eval \
	'equal && [ "$(tfp 1)" != "$FP0" ]'
t1=$(date +%s%N)
echo "# drill 1: identical new tables $(( (t1 - t0) / 1000000 )) ms after the backend died (fall 2 x 200 ms)"
FP1=$(tfp 1)
check "drill 1: one verdict event takes it down" eval \
	'[ "$(events ".kind == \"verdict\" and .what == \"service web backend 198.51.100.3 down\"" | wc -l)" = 1 ]'
check "drill 1: it says why (3 of 3 nodes, or 2 of 3 first)" eval \
	'events ".kind == \"verdict\" and (.what | test(\"198.51.100.3 down\"))" | grep -q "of 3 nodes see it down"'
check "drill 1: the records' seq counts up, this node's metric with it" eval \
	'[ "$(health | jq .seq)" -ge 2 ] && [ "$(metric 1 xlb_fleet_health_seq)" -ge 2 ]'
for k in 1 2 3; do ip -n ${XT_NS}v$k addr add 198.51.100.3/32 dev lo; done
check "drill 1: back on every node: the tables are the first ones again" wait_for 10 eval \
	'equal && [ "$(tfp 1)" = "$FP0" ] && health | jq -e ".down == {}" >/dev/null'

# ---- drill 2: a backend down on one node only (its path cut) ----
commits() { echo "$(metric 1 xlb_daemon_health_commits_total) $(metric 2 xlb_daemon_health_commits_total) $(metric 3 xlb_daemon_health_commits_total)"; }
C2=$(commits)
ip -n ${XT_NS}v3 addr del 198.51.100.2/32 dev lo
check "drill 2: node 3 sees it down alone (xlb_fleet_disagree_backends 1)" wait_for 10 eval \
	'[ "$(metric 3 xlb_fleet_disagree_backends)" = 1 ]'
check "drill 2: node 3 withdraws after 3 checks (event withdrawn, its why)" wait_for 10 eval \
	'events ".kind == \"withdrawn\" and .node == \"n3\"" | grep -q "this node alone sees service web backend 198.51.100.2 down (the fleet holds it up: 2 of 3 nodes see it up) for 3 checks"'
check "drill 2: its status record says so (fleet_health.disagree, checks >= 3)" wait_for 5 eval \
	'ectl get --print-value-only /xlb/fleets/f1/nodes/n3 | jq -e ".fleet_health.disagree[0] |
		.backend == \"198.51.100.2\" and .checks >= 3" >/dev/null'
check "drill 2: its page says withdrawn" wait_for 5 eval \
	'ip netns exec ${XT_NS}v3 curl -s http://127.0.0.1:9146/ | grep -q "withdrawn</b>: this node alone sees"'
check "drill 2: its log says why" grep -q "withdrawing this node's VIPs: this node alone sees service web backend 198.51.100.2" $ROOT/n3.log
check "drill 2: the fleet holds it up, the tables unchanged everywhere" eval \
	'health | jq -e ".down == {}" >/dev/null && equal && [ "$(tfp 3)" = "$FP0" ]'
check "drill 2: no other node disagrees" eval \
	'[ "$(metric 1 xlb_fleet_disagree_backends)" = 0 ] && [ "$(metric 2 xlb_fleet_disagree_backends)" = 0 ]'
ip -n ${XT_NS}v3 addr add 198.51.100.2/32 dev lo
check "drill 2: node 3 sees it again and rejoins (event rejoin)" wait_for 10 eval \
	'events ".kind == \"rejoin\" and .node == \"n3\"" | grep -q "agrees with the fleet again"'
check "drill 2: nothing disagrees, tables still the first" eval \
	'[ "$(metric 3 xlb_fleet_disagree_backends)" = 0 ] && equal && [ "$(tfp 1)" = "$FP0" ]'
check "drill 2: no health commit on any node through it ($C2)" eval '[ "$(commits)" = "$C2" ]'

# ---- drill 5: the store stopped, then a backend dies ----
stop_store() { for p in $(ip netns pids $SNS); do [ "$(cat /proc/$p/comm)" = etcd ] && kill -STOP $p; done; }
cont_store() { for p in $(ip netns pids $SNS); do [ "$(cat /proc/$p/comm)" = etcd ] && kill -CONT $p; done; }
stop_store
check "drill 5: the nodes find the store gone" wait_for 15 every xlb_fleet_store_reachable 0
t0=$(date +%s%N)
for k in 1 2 3; do ip -n ${XT_NS}v$k addr del 198.51.100.1/32 dev lo; done
# not a wait for readiness: past the fall (2 x 200 ms), within the grace (3 s), nothing may change
check "drill 5: within the grace, the fleet's verdicts stand (tables unchanged)" eval \
	'sleep 0.8; all_fleet && equal && [ "$(tfp 1)" = "$FP0" ]'
check "drill 5: past --health-grace every node takes it out by itself (mode own)" wait_for 10 eval \
	'every "xlb_fleet_health_mode{mode=\"own\"}" 1 && equal && [ "$(tfp 1)" != "$FP0" ]'
t1=$(date +%s%N)
echo "# drill 5: own verdicts on every node $(( (t1 - t0) / 1000000 )) ms after the backend died (store lost, grace 3 s)"
FP5=$(tfp 1)
C5=$(commits)
said() { for k in 1 2 3; do grep -q "$1" $ROOT/n$k.log || return 1; done; }
check "drill 5: each says why in its log" said "falling back to this node.s own verdicts: the store has been lost"
cont_store
check "drill 5: the store back: every node follows the fleet's verdicts again" wait_for 20 all_fleet
check "drill 5: the fleet holds 198.51.100.1 down" wait_for 10 eval \
	'health | jq -e ".down.web == [\"198.51.100.1\"]" >/dev/null'
check "drill 5: no table change on any node (still the own verdicts' tables, no health commit: $C5)" eval \
	'equal && [ "$(tfp 1)" = "$FP5" ] && [ "$(commits)" = "$C5" ]'
check "drill 5: fallback and rejoin events recorded" wait_for 10 eval \
	'[ "$(events ".kind == \"fallback\"" | wc -l)" -ge 1 ] && [ "$(events ".kind == \"rejoin\" and (.why | test(\"decide/health\"))" | wc -l)" -ge 1 ]'
for k in 1 2 3; do ip -n ${XT_NS}v$k addr add 198.51.100.1/32 dev lo; done
check "drill 5: back everywhere: the first tables" wait_for 10 eval 'equal && [ "$(tfp 1)" = "$FP0" ]'
check "the leader counted its records (xlb_fleet_verdicts_total)" eval \
	'n=0; for k in 1 2 3; do v=$(metric $k xlb_fleet_verdicts_total); n=$((n + ${v:-0})); done; [ $n -ge 4 ]'

# ---- negative control: per-node verdicts (no --store) diverge ----
for k in 1 2 3; do kill ${DPIDS[$k]}; wait ${DPIDS[$k]} 2>/dev/null; done
for k in 1 2 3; do daemon $k; done
tables3() { for k in 1 2 3; do [ -n "$(tfp $k)" ] || return 1; done; }
check "control: daemons without --store run" wait_for 10 tables3
check "control: tables equal before" wait_for 10 equal
ip -n ${XT_NS}v3 addr del 198.51.100.2/32 dev lo
check "control: per-node verdicts: node 3's table diverges from the others'" wait_for 10 eval \
	'[ "$(tfp 1)" = "$(tfp 2)" ] && [ "$(tfp 3)" != "$(tfp 1)" ]'
done_testing
