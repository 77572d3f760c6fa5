#!/usr/bin/env bash
# Fleet consistency: two nodes with the same configuration reached through
# different histories (one rebuilt) number their backends differently but
# send every flow to the same backend: their table fingerprints are equal,
# and xlb fleet check says they agree; a node whose table differs is named;
# a source that cannot be read is said so (exit 2).
. "$(dirname "$0")/../lib.sh"
require_root
command -v jq >/dev/null || skip_all "needs jq (make deps)"
NS1=${XT_NS}f1 NS2=${XT_NS}f2
DEV1=xf1$$ DEV2=xf2$$
DEV1=${DEV1:0:15} DEV2=${DEV2:0:15}
STATE=$(mktemp -d /tmp/xlb-fleet-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; nsenter --net=/run/netns/$NS1 $XLB detach $DEV1 >/dev/null 2>&1
      nsenter --net=/run/netns/$NS2 $XLB detach $DEV2 >/dev/null 2>&1; rm -rf "$STATE"; xt_cleanup' EXIT
xt_veth_ns $NS1 $DEV1
xt_veth_ns $NS2 $DEV2
n1() { nsenter --net=/run/netns/$NS1 $XLB --state "$STATE/1" "$@"; }
n2() { nsenter --net=/run/netns/$NS2 $XLB --state "$STATE/2" "$@"; }
cfg() {	# backends by last octet
	local bes="" sep="" i
	for i in "$@"; do bes="$bes$sep{\"address\":\"198.51.100.$i\"}"; sep=,; done
	printf '{"services":[{"name":"web","vip":"192.0.2.10","port":80,"protocol":"tcp",'
	printf '"table_size":1009,"guards":{"max_churn":1,"max_share":1},"backends":[%s]}]}\n' "$bes"
}
cfg 1 2 3 4 5 6 >$STATE/a.json
cfg 3 4 5 6 7 8 >$STATE/b.json
check "node 1 attaches" n1 attach $DEV1 --src4 198.51.100.254
check "node 2 attaches" n2 attach $DEV2 --src4 198.51.100.254
# node 1 has history (six backends, then two replaced); node 2 is new
check "node 1: a first configuration" n1 config apply $STATE/a.json
check "node 1: then the fleet's" n1 config apply $STATE/b.json
check "node 2 (rebuilt): the fleet's at once" n2 config apply $STATE/b.json
ids1=$(n1 -j backend list web | jq -c '[.[] | .id] | sort')
ids2=$(n2 -j backend list web | jq -c '[.[] | .id] | sort')
check "their backend ids differ ($ids1 vs $ids2)" test "$ids1" != "$ids2"
fp1=$(n1 -j table web | jq -r .table_fingerprint)
fp2=$(n2 -j table web | jq -r .table_fingerprint)
check "their table fingerprints are equal ($fp1)" test "$fp1" = "$fp2" -a -n "$fp1"
daemon() {	# node number: a daemon writing its metrics to a file
	nsenter --net=/run/netns/$(eval echo \$NS$1) $XLB --state "$STATE/$1" \
		--dev $(eval echo \$DEV$1) daemon --no-metrics --metrics-file $STATE/m$1.prom \
		2>$STATE/d$1.log &
}
daemon 1
daemon 2
has_table() { grep -q '^xlb_table_info{service="web"' "$1"; }
check "node 1 exports its table fingerprint" wait_for 10 has_table $STATE/m1.prom
check "node 2 too" wait_for 10 has_table $STATE/m2.prom
check "the exported fingerprint is the table's" grep -q "fingerprint=\"$fp1\"" $STATE/m1.prom
check "fleet check: the nodes agree (exit 0)" $XLB fleet check $STATE/m1.prom $STATE/m2.prom
out=$($XLB -j fleet check $STATE/m1.prom $STATE/m2.prom)
check "and says so in JSON" jq -e '.agree and (.nodes | length == 2)' <<<"$out"
# node 2 drifts: one weight differs
jq -c '.services[0].backends[0].weight = 150' $STATE/b.json >$STATE/c.json
check "node 2 takes another weight" n2 config apply $STATE/c.json
changed() { ! grep -q "fingerprint=\"$fp1\"" $STATE/m2.prom; }
check "its exported fingerprint changes" wait_for 10 changed
cp $STATE/m1.prom $STATE/m3.prom	# a third node like node 1: node 2 is the odd one
check_exit "fleet check: they disagree (exit 1)" 1 $XLB fleet check $STATE/m1.prom \
	$STATE/m2.prom $STATE/m3.prom
out=$($XLB -j fleet check $STATE/m1.prom $STATE/m2.prom $STATE/m3.prom)
check "node 2 is named, in its configuration and its table" \
	jq -e '.nodes[1].agrees == false and (.nodes[1].differs_in | index("configuration") and
	       index("table web")) and .nodes[0].agrees and .nodes[2].agrees' <<<"$out"
check_exit "a source that cannot be read: exit 2" 2 $XLB fleet check $STATE/m1.prom \
	$STATE/missing.prom
check "and it says which and why" bash -c "$XLB fleet check $STATE/m1.prom $STATE/missing.prom |
	grep -q 'missing.prom: UNREADABLE: No such file'"
check_exit "a URL nobody answers: exit 2" 2 $XLB fleet check $STATE/m1.prom http://127.0.0.1:9
check_exit "one source: usage (exit 1)" 1 $XLB fleet check $STATE/m1.prom
done_testing
