#!/usr/bin/env bash
# An interface deleted without detach and made again under the same name:
# the balancer and the decap program both find the pins of a link whose
# device is gone, say so, and attach; a live link is still refused.
. "$(dirname "$0")/../lib.sh"
require_root
# attach records its options in the state directory: a private one
XST=$(mktemp -d /tmp/xlb-attach-XXXXXX)
XLB="$XLB --state $XST"

NS=${XT_NS}r
DEV=xt$$r0
DEV=${DEV:0:15}
ip netns add $NS
in_ns() { nsenter --net=/run/netns/$NS "$@"; }
make_dev() {
	ip -n $NS link add $DEV type veth peer name ${DEV}p &&
	ip -n $NS addr add 198.51.100.254/24 dev $DEV &&
	ip -n $NS link set $DEV up && ip -n $NS link set ${DEV}p up
}
cleanup() {
	in_ns $XLB detach $DEV >/dev/null 2>&1
	in_ns $XLB decap detach $DEV >/dev/null 2>&1
	rm -rf "$XST"
	xt_cleanup
}
trap cleanup EXIT
has_xdp() { ip -n $NS link show $DEV | grep -q 'prog/xdp'; }

for prog in balancer decap; do
	case $prog in
	balancer) attach() { in_ns $XLB attach $DEV; }; detach() { in_ns $XLB detach $DEV; }
		  PIN=/sys/fs/bpf/xlb/$DEV ;;
	decap)	  attach() { in_ns $XLB decap attach $DEV --from 198.51.100.0/24; }; detach() { in_ns $XLB decap detach $DEV; }
		  PIN=/sys/fs/bpf/xlb-decap/$DEV ;;
	esac
	make_dev
	check "$prog: attach" attach
	ip -n $NS link del $DEV		# no detach: the pins stay, the link is defunct
	check "$prog: the pins outlive the device" test -e $PIN/link
	make_dev
	err=$(attach 2>&1 >/dev/null); rc=$?
	check "$prog: attach to the new device succeeds (exit $rc)" test $rc = 0
	check "$prog: and says what it found" grep -q "device that is gone\|device is gone" <<<"$err"
	check "$prog: the new device carries the program" has_xdp
	if [ $prog = decap ]; then
		check_exit "$prog: a live link is still refused" 1 attach
		check "$prog: stats read the new pins" bash -c \
			"nsenter --net=/run/netns/$NS $XLB -j decap stats $DEV | jq -e '.packets | has(\"decap_v4\")'"
	fi
	check "$prog: detach" detach
	check "$prog: nothing left pinned" test ! -e $PIN
	check "$prog: nothing left attached" bash -c "! ip -n $NS link show $DEV | grep -q 'prog/xdp'"
	ip -n $NS link del $DEV
done
check_exit "decap stats of a device without decap exits 1" 1 in_ns $XLB decap stats $DEV
# bad source lists are refused before anything is attached
make_dev
for args in "--from 300.1.1.1" "--from 198.51.100.0/33" "--from 2001:db8::/129" \
	    "--from 198.51.100.0/24 --any-source" "--from 198.51.100.0/24 203.0.113.0/24" ""; do
	err=$(in_ns $XLB decap attach $DEV $args 2>&1); rc=$?
	check "decap attach ${args:-with no source list} exits 1 (exit $rc)" test $rc = 1
	check "  and says what is wrong" grep -q -e "--from" -e "any-source" <<<"$err"
	check "  and attaches nothing" bash -c "! ip -n $NS link show $DEV | grep -q prog/xdp && test ! -e /sys/fs/bpf/xlb-decap/$DEV"
done
err=$(in_ns $XLB decap attach $DEV --from 198.51.100.0/24 203.0.113.0/24 2>&1)
check "--from A B says to repeat the option" grep -q "repeat it for each" <<<"$err"
# bad GUE ports are refused before anything is attached
for port in 0 65536 gue -1 +80 80x "" "off --gue-port 6080" "6080 --gue-port off"; do
	err=$(in_ns $XLB decap attach $DEV --from 198.51.100.0/24 --gue-port $port 2>&1); rc=$?
	[ -z "$port" ] && err=$(in_ns $XLB decap attach $DEV --from 198.51.100.0/24 --gue-port 2>&1); rc=$?
	check "decap attach --gue-port '$port' exits 1 (exit $rc)" test $rc = 1
	check "  and says what is wrong" grep -q -e "--gue-port" <<<"$err"
	check "  and attaches nothing" bash -c "! ip -n $NS link show $DEV | grep -q prog/xdp && test ! -e /sys/fs/bpf/xlb-decap/$DEV"
done
# the GUE ports taken: 6080 by default, those given, none with off (decap_gue_ports, pinned)
gue_pinned() {	# the keys are the port's two bytes, "0x17" "0xc0": network order
	bpftool -j map dump pinned /sys/fs/bpf/xlb-decap/$DEV/decap_gue_ports |
		jq -r '.[].key | join(" ")' | while read -r hi lo; do echo $((hi * 256 + lo)); done |
		jq -sc 'sort'
}
for args in "" "--gue-port 6081 --gue-port 7000" "--gue-port off"; do
	case $args in
	"") want='[6080]' ;; *off) want='[]' ;; *) want='[6081,7000]' ;;
	esac
	out=$(in_ns $XLB -j decap attach $DEV --from 198.51.100.0/24 $args)
	check "decap attach ${args:-with no --gue-port} says GUE ports $want" \
		test "$(jq -c .gue_ports <<<"$out")" = "$want"
	check "  and puts them in decap_gue_ports (got $(gue_pinned))" test "$(gue_pinned)" = "$want"
	st=$(in_ns $XLB -j decap stats $DEV)
	check "  stats count gue" jq -e '.packets | has("gue_v4") and has("gue_v6")' <<<"$st"
	check "  stats say the ports $want" test "$(jq -c .gue_ports <<<"$st")" = "$want"
	in_ns $XLB decap detach $DEV >/dev/null
done
check "without -j it says GUE is refused" bash -c \
	"nsenter --net=/run/netns/$NS $XLB decap attach $DEV --any-source --gue-port off | grep -q 'GUE refused'"
check "  and stats say gue_ports=off" bash -c "nsenter --net=/run/netns/$NS $XLB decap stats $DEV | grep -q ' gue_ports=off'"
in_ns $XLB decap detach $DEV >/dev/null
ip -n $NS link del $DEV
# names that are not interfaces never reach the top of the BPF filesystem
for name in .. . ../xlb "a/b"; do
	check_exit "decap detach '$name' is refused" 1 $XLB decap detach "$name"
done
check "the pin roots are intact" test -d /sys/fs/bpf/xlb-decap -a -d /sys/fs/bpf
done_testing
