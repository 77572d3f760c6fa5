#!/usr/bin/env bash
# xlb attach/detach/status on a veth in a namespace of the test's own:
# pins and modes, adoption keeps the maps, a foreign program is not replaced.
. "$(dirname "$0")/../lib.sh"
require_root
# attach records its options in the state directory: a private one
XST=$(mktemp -d /tmp/xlb-attach-XXXXXX)
trap 'rm -rf "$XST"; xt_cleanup' EXIT
XLB="$XLB --state $XST"

NS=${XT_NS}a
ip netns add $NS
ip -n $NS link add v0 type veth peer name v1
ip -n $NS addr add 198.51.100.254/24 dev v0
ip -n $NS link set v0 up
ip -n $NS link set v1 up
# nsenter --net, not ip netns exec: the latter hides the host bpffs
in_ns() { nsenter --net=/run/netns/$NS "$@"; }
# bpffs is shared between namespaces: the pins of this netns' v0 must not
# collide with a real v0, so the test uses its own interface name
ip -n $NS link set v0 name xt$$v0 2>/dev/null && DEV=xt$$v0 || DEV=v0
DEV=${DEV:0:15}
PIN=/sys/fs/bpf/xlb/$DEV

# ip netns exec runs xlb in a mount namespace of its own: pins made there would
# vanish with it, so attach refuses before it touches the interface
out=$(ip netns exec $NS $XLB attach $DEV 2>&1); rc=$?
check "attach under ip netns exec is refused, exit 1 (exit $rc)" test $rc = 1
check "  and says to run it with nsenter" grep -q "nsenter --net=/run/netns/NS" <<<"$out"
check "  and attaches nothing" bash -c "! ip -n $NS link show $DEV | grep -q prog/xdp && test ! -e $PIN"
out=$(ip netns exec $NS $XLB decap attach $DEV --any-source 2>&1); rc=$?
check "decap attach under ip netns exec is refused too (exit $rc)" \
	bash -c "[ $rc = 1 ] && ! ip -n $NS link show $DEV | grep -q prog/xdp"
check "  and says to run it with nsenter" grep -q "nsenter --net=/run/netns/NS" <<<"$out"
check "attach native" in_ns $XLB attach $DEV
check "what attach reports holds: the interface runs the pinned link's program" bash -c \
	"[ \"\$(bpftool -j link show pinned $PIN/link | jq .prog_id)\" = \"\$(ip -n $NS -j -d link show $DEV | jq '.[0].xdp.prog.id')\" ]"
check "link and maps are pinned" test -e $PIN/link -a -e $PIN/xlb_flows -a -e $PIN/xlb_tables
check "pins are mode 0600" bash -c "[ -z \"\$(find $PIN -type f ! -perm 0600)\" ]"
check "interface carries an XDP program" bash -c "ip -n $NS link show $DEV | grep -q 'prog/xdp'"
st=$(in_ns $XLB -j status $DEV)
check "status -j says attached, native" bash -c "jq -e '.[0].attached == true and .[0].mode == \"native\" and .[0].flows.max == 1048576' <<<'$st'"
id1=$(jq -r '.[0].prog_id' <<<"$st")

# the data plane keeps running with no xlb process: the link is pinned
# (an xlb of another test on the machine is no concern: only this namespace's)
xlb_in_ns() { ip netns pids $NS | xargs -r ps -o comm= -p 2>/dev/null | grep -qx xlb; }
attached_alone() { ! xlb_in_ns && ip -n $NS -d link show $DEV | grep -q "prog/xdp id $id1"; }
check "no xlb process, program still attached" attached_alone

# state written into the maps survives a second attach (adoption)
bpftool map update pinned $PIN/xlb_active key 0 0 0 0 value 1 0 0 0
out=$(in_ns $XLB -j attach $DEV)
check "second attach adopts" bash -c "jq -e '.adopted == true' <<<'$out'"
check "adoption keeps map contents" bash -c "bpftool -j map lookup pinned $PIN/xlb_active key 0 0 0 0 | jq -e '.value == [\"0x01\",\"0x00\",\"0x00\",\"0x00\"]'"
id2=$(in_ns $XLB -j status $DEV | jq -r '.[0].prog_id')
check "adoption replaces the program through the link" test "$id1" != "$id2"
check_exit "changing the mode on adopt is refused" 1 in_ns $XLB attach $DEV --mode generic
check_exit "a different --flows on adopt is refused" 1 in_ns $XLB attach $DEV --flows 4096
# the state version: shown, a newer one refused untouched, a version-1 state
# (pinned before xlb_version existed) adopted and marked
sv() { in_ns $XLB -j status $DEV | jq -r '.[0].state_version'; }
check "status shows the state version (5)" test "$(sv)" = 5
bpftool map update pinned $PIN/xlb_version key 0 0 0 0 value 9 0 0 0
idv=$(in_ns $XLB -j status $DEV | jq -r '.[0].prog_id')
out=$(in_ns $XLB attach $DEV 2>&1); rc=$?
check "a newer state version is refused (exit $rc)" test "$rc" = 1
check "and the message names both versions" grep -q "is of version 9 and this xlb knows versions 1 to 5" <<<"$out"
check "and the program stayed" test "$(in_ns $XLB -j status $DEV | jq -r '.[0].prog_id')" = "$idv"
rm $PIN/xlb_version
check "state without a version reads as version 1" test "$(sv)" = 1
in_ns $XLB attach $DEV >/dev/null 2>&1
check "attach adopts it and records version 5" test "$(sv)" = 5
# version 4 kept the SYNs of moved slots in the hash map xlb_syns: adopting it
# drops that pin (the array xlb_syn_cells holds them now)
bpftool map create $PIN/xlb_syns type lru_hash key 40 value 8 entries 1024 name xlb_syns
bpftool map update pinned $PIN/xlb_version key 0 0 0 0 value 4 0 0 0
check "a version-4 state reads as such" test "$(sv)" = 4
check "and adopting it succeeds" in_ns $XLB attach $DEV
check "records version 5" test "$(sv)" = 5
check "removes the old xlb_syns pin" test ! -e $PIN/xlb_syns
check "and pins xlb_syn_cells" test -e $PIN/xlb_syn_cells

# the flood guard: default, set on adopt, kept by a later attach, refusals
fg() { in_ns $XLB -j status $DEV | jq -c '.[0].flood_guard.flow_rate'; }
check "the flood guard is on by default (125000/s per CPU)" test "$(fg)" = 125000
check "attach --flow-rate 1000 sets it on adopt" bash -c "nsenter --net=/run/netns/$NS $XLB attach $DEV --flow-rate 1000 >/dev/null && [ \$(nsenter --net=/run/netns/$NS $XLB -j status $DEV | jq '.[0].flood_guard.flow_rate') = 1000 ]"
in_ns $XLB attach $DEV >/dev/null 2>&1
check "a later attach without it keeps it" test "$(fg)" = 1000
check_exit "--flow-rate 0 exits 1" 1 in_ns $XLB attach $DEV --flow-rate 0
check_exit "--flow-rate abc exits 1" 1 in_ns $XLB attach $DEV --flow-rate abc
check "refusals left it as it was" test "$(fg)" = 1000
in_ns $XLB attach $DEV --flow-rate unlimited >/dev/null 2>&1
check "--flow-rate unlimited turns it off" test "$(fg)" = '"unlimited"'

# the too-big answers' rate: the same ways
ir() { in_ns $XLB -j status $DEV | jq -c '.[0].too_big_answers.icmp_rate'; }
check "too-big answers are on by default (1000/s per CPU)" test "$(ir)" = 1000
in_ns $XLB attach $DEV --icmp-rate 50 >/dev/null 2>&1
check "attach --icmp-rate 50 sets it on adopt" test "$(ir)" = 50
in_ns $XLB attach $DEV >/dev/null 2>&1
check "a later attach without it keeps it" test "$(ir)" = 50
for bad in 0 -1 fast 1000001 ""; do
	out=$(in_ns $XLB attach $DEV --icmp-rate "$bad" 2>&1); rc=$?
	check "--icmp-rate '$bad' exits 1 (exit $rc)" test $rc = 1
	check "  naming the option" grep -q -- "--icmp-rate" <<<"$out"
done
check "refusals left it as it was" test "$(ir)" = 50
in_ns $XLB attach $DEV --icmp-rate off >/dev/null 2>&1
check "--icmp-rate off turns them off" test "$(ir)" = '"off"'
check "status says so" bash -c "nsenter --net=/run/netns/$NS $XLB status $DEV | grep -q 'no ICMP answers'"

check "detach" in_ns $XLB detach $DEV
check "detach removes pins" test ! -e $PIN
check "detach removes the program" bash -c "! ip -n $NS link show $DEV | grep -q 'prog/xdp'"
check_exit "detach twice is refused" 1 in_ns $XLB detach $DEV

# a foreign XDP program is never replaced silently
bpftool prog loadall "$(dirname "$0")/../../build/baseline.bpf.o" /sys/fs/bpf/$NS-foreign type xdp
in_ns ip link set dev $DEV xdpgeneric pinned /sys/fs/bpf/$NS-foreign/xlb_baseline
fid=$(ip -n $NS -d link show $DEV | grep -o 'prog/xdp id [0-9]*' | awk '{print $3}')
err=$(in_ns $XLB -j attach $DEV --mode generic 2>&1 >/dev/null); rc=$?
err=$(grep '"error"' <<<"$err")
check "attach over a foreign program exits 1" test $rc -eq 1
check "the error names the foreign program" bash -c "jq -e '.error | test(\"id $fid\")' <<<'$err'"
check "the foreign program is still there" bash -c "ip -n $NS -d link show $DEV | grep -q 'prog/xdp id $fid'"
check "a refused fresh attach leaves no pins" test ! -e $PIN
in_ns ip link set dev $DEV xdpgeneric off
rm -rf /sys/fs/bpf/$NS-foreign

check "attach generic" in_ns $XLB attach $DEV --mode generic --flows 8192 --src4 192.0.2.1
st=$(in_ns $XLB -j status $DEV)
check "status shows generic mode, flows and source" bash -c "jq -e '.[0].mode == \"generic\" and .[0].flows.max == 8192 and .[0].tunnel_source.ipv4 == \"192.0.2.1\"' <<<'$st'"
REC=$XST/$DEV/attach.json
check "attach records what runs" jq -e '.version == 1 and .mode == "generic" and .flows == 8192 and
	.src4 == "192.0.2.1"' $REC
cp $REC $XST/good.json
echo '{ "version": 1, "mode": "generic", "flows": 8192, "flow_rate": 0 }' >$REC
out=$(in_ns $XLB --dev $DEV attach --recorded 2>&1); rc=$?
check "a damaged record is refused, naming the file and field (exit $rc): $out" \
	bash -c "[ $rc = 1 ] && grep -q '$REC is damaged: flow_rate' <<<'$out'"
jq '.version = 2' $XST/good.json >$REC
out=$(in_ns $XLB --dev $DEV attach --recorded 2>&1); rc=$?
check "a record of another version is refused (exit $rc): $out" \
	bash -c "[ $rc = 1 ] && grep -q 'version (1 expected)' <<<'$out'"
cp $XST/good.json $REC
check "attach --recorded on an attached interface leaves it" bash -c "nsenter --net=/run/netns/$NS \
	$XLB --dev $DEV attach --recorded | grep -q 'already attached'"
check_exit "attach --recorded takes nothing else" 1 in_ns $XLB attach --recorded $DEV
check "detach generic" in_ns $XLB detach $DEV
check "detach forgets the record" test ! -e $REC
out=$(in_ns $XLB attach --recorded 2>&1); rc=$?
check "nothing recorded: nothing to attach, exit 0 ($out)" \
	bash -c "[ $rc = 0 ] && grep -q 'nothing to attach' <<<'$out'"

check_exit "attach to a missing device exits 1" 1 in_ns $XLB attach nosuchdev0
check_exit "a bad mode exits 1" 1 in_ns $XLB attach $DEV --mode turbo
check_exit "a bad --src4 exits 1" 1 in_ns $XLB attach $DEV --src4 2001:db8::1
check "a bad --src4 leaves nothing behind" test ! -e $PIN
err=$(in_ns $XLB -j attach nosuchdev0 2>&1 >/dev/null)
check "errors are JSON with -j" bash -c "jq -e '.error == \"no interface named nosuchdev0\"' <<<'$err'"
check_exit "an unknown command exits 1" 1 $XLB frobnicate
done_testing
