#!/usr/bin/env bash
# pktgen and bench-node on a veth pair between two namespaces: refusals exit 1
# with a message, the generator stays inside lab namespaces, it names the
# engine it uses (and why the ones before it could not run), and every frame
# it counts as sent is counted by the sink on the other side, whatever the
# engine: each one this kernel allows is run, a refused one must say why.
. "$(dirname "$0")/../lib.sh"
require_root
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKTGEN=$ROOT/build/pktgen
NODE=$ROOT/build/bench-node
A=${XT_NS}a B=${XT_NS}b
ip netns add $A
ip netns add $B
# no IPv6 chatter (MLD, router solicitations): the sink sees only what pktgen sends
for n in $A $B; do nsenter --net=/run/netns/$n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
ip -n $A link add ga0 type veth peer name gb0 netns $B
ip -n $A link set ga0 up
ip -n $B link set gb0 up
MAC=$(ip -n $B -j link show gb0 | jq -r '.[0].address')
in_a() { nsenter --net=/run/netns/$A "$@"; }
base=(--dev ga0 --dst-mac "$MAC" --src 203.0.113.10 --dst 192.0.2.10)

# refusals: exit 1, a message naming the problem, nothing sent
refuse() {	# NAME MESSAGE ARGS...
	local name=$1 msg=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	if [ $rc = 1 ] && grep -qF -- "$msg" <<<"$out"; then ok "$name"; else
		not_ok "$name (exit $rc)"; printf '#   %s\n' "$out" | head -5; fi
}
refuse "required options" "--dev, --dst-mac, --src and --dst are required" in_a $PKTGEN --dev ga0
refuse "bad MAC" "--dst-mac: 'zz' is not a MAC address" in_a $PKTGEN --dev ga0 --dst-mac zz --src 203.0.113.10 --dst 192.0.2.10
refuse "zero flows" "--flows: '0' is not a number" in_a $PKTGEN "${base[@]}" --flows 0
refuse "negative count" "--count: '-5' is not a number" in_a $PKTGEN "${base[@]}" --count -5
refuse "unbounded duration" "--duration: '4000' is not a duration" in_a $PKTGEN "${base[@]}" --duration 4000
refuse "bad rate" "--rate: 'fast' is not a rate" in_a $PKTGEN "${base[@]}" --rate fast
refuse "bad protocol" "--proto: 'icmp' is not udp, syn or ack" in_a $PKTGEN "${base[@]}" --proto icmp
refuse "frame too small" "--size 64: an IPv6 UDP frame needs at least 66 bytes" \
	in_a $PKTGEN --dev ga0 --dst-mac "$MAC" --src 2001:db8:c::1 --dst 2001:db8:a::10
refuse "families mixed" "not two IPv4 or two IPv6" in_a $PKTGEN --dev ga0 --dst-mac "$MAC" --src 203.0.113.10 --dst 2001:db8:a::10
refuse "stray argument" "unexpected argument 'now'" in_a $PKTGEN "${base[@]}" now
refuse "unknown engine" "--engine: 'turbo' is not auto, live, af_xdp, af_packet, tc" in_a $PKTGEN "${base[@]}" --engine turbo
refuse "no such interface" "no interface nope0 in this network namespace" in_a $PKTGEN "${base[@]/ga0/nope0}"
refuse "not in the host's namespace" "refusing to run outside a lab namespace" $PKTGEN --dev lo --dst-mac "$MAC" --src 203.0.113.10 --dst 192.0.2.10
refuse "only veths" "lo is not a veth" in_a $PKTGEN --dev lo --dst-mac "$MAC" --src 203.0.113.10 --dst 192.0.2.10
refuse "bench-node: fwd needs its options" "fwd needs --vip, --port and at least one --backend" in_a $NODE fwd ga0
refuse "bench-node: bad backend" "want ADDR,IF,MAC" in_a $NODE fwd ga0 --vip 192.0.2.10 --port 53 --backend 198.51.100.1
refuse "bench-node: --l2 only for fwd" "--l2 is an option of fwd, not sink" in_a $NODE sink ga0 --l2
refuse "bench-node: only veths" "lo is not a veth" in_a $NODE sink lo
refuse "bench-node: bad mode" "unknown option or value: --mode turbo" in_a $NODE sink ga0 --mode turbo
refuse "bench-node: unbounded duration" "--duration '0': 1..86400 seconds" in_a $NODE sink ga0 --duration 0
check "bench-node: nothing left attached after refusals" bash -c "! ip -n $B link show gb0 | grep -q xdp && ! ip -n $A link show ga0 | grep -q xdp"
refuse "bench: runs out of range" "bench: --runs: 1..20" $ROOT/tools/bench --runs 0
refuse "bench: unbounded seconds" "bench: --seconds: 1..60" $ROOT/tools/bench --seconds 600
refuse "bench: unknown scenario" "bench: --only: udp, tcp or prog, not 'dns'" $ROOT/tools/bench --only udp,dns
refuse "bench-node: host namespace" "refusing to run outside a lab namespace" $NODE sink lo

# every frame sent is counted by the sink (sent = delivered + xmit errors)
# pktgen's engines in auto's order, from its help: "or one of: live, tc, ..."
ENGINES=$($PKTGEN --help | sed -nE 's/.*or one of: ([a-z_, ]+)$/\1/p' | tr -d ,)
SECOND=$(awk '{print $2}' <<<"$ENGINES")
sink() {	# run the sink on gb0 until the generator is done; prints its count
	# nsenter itself in the background: $! must be the sink, not a subshell
	nsenter --net=/run/netns/$B $NODE sink gb0 --duration 60 >/tmp/$B.sink &
	local pid=$!
	wait_for 5 grep -q attached /tmp/$B.sink
	"$@" >/tmp/$B.gen 2>/tmp/$B.err
	echo $? >/tmp/$B.rc
	kill $pid; wait $pid
	jq -r 'select(has("packets")) | .packets' /tmp/$B.sink
}
# pktgen with BPF_PROG_RUN refused (EPERM), as a locked-down kernel refuses
# live frames: a seccomp filter on bpf(BPF_PROG_TEST_RUN), x86-64
no_test_run() {
	/usr/bin/python3 - "$@" <<'PY'
import ctypes, os, struct, sys
def op(code, k, jt=0, jf=0): return struct.pack("HBBI", code, jt, jf, k)
LD, JEQ, RET, ALLOW = 0x20, 0x15, 0x06, 0x7fff0000
prog = b"".join([op(LD, 4), op(JEQ, 0xc000003e, 1, 0), op(RET, ALLOW),	# x86-64 only
		 op(LD, 0), op(JEQ, 321, 0, 3),				# bpf(
		 op(LD, 16), op(JEQ, 10, 0, 1),				# BPF_PROG_TEST_RUN
		 op(RET, 0x00050000 | 1), op(RET, ALLOW)])		# EPERM
buf = ctypes.create_string_buffer(prog)
class fprog(ctypes.Structure):
	_fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
f = fprog(len(prog) // 8, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(f), 0, 0):
	sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])
PY
}

got=$(sink in_a $PKTGEN "${base[@]}" --flows 1000 --count 200000 -q -j)
sent=$(jq -r .sent /tmp/$B.gen) errs=$(jq -r .xmit_errors /tmp/$B.gen) eng=$(jq -r .engine /tmp/$B.gen)
check "200000 frames sent ($sent)" test "$sent" = 200000
check "the sink counted every frame that left ($got + $errs errors = $sent)" test $((got + errs)) = "$sent"
check "the engine is named: $eng, and said on stderr ($(head -c 200 /tmp/$B.err))" \
	grep -qE "using $eng( |\$)" /tmp/$B.err
WORKS=
for e in $ENGINES; do
	got=$(sink in_a taskset -c 0 $PKTGEN "${base[@]}" --engine $e --flows 1000 --count 100000 -q -j)
	if [ "$(cat /tmp/$B.rc)" = 2 ] && grep -q "no engine can send on ga0: $e" /tmp/$B.err; then
		# not a skip: the refusal must say why, and auto must get past it
		ok "$e: refused by this kernel, saying why: $(sed 's/.*: //' /tmp/$B.err | head -c 150)"
		continue
	fi
	sent=$(jq -r .sent /tmp/$B.gen) errs=$(jq -r .xmit_errors /tmp/$B.gen) xmit=$(jq -r .xmit /tmp/$B.gen)
	check "$e: 100000 frames sent ($sent), the engine named ($(jq -r .engine /tmp/$B.gen))" \
		test "$sent" = 100000 -a "$(jq -r .engine /tmp/$B.gen)" = $e
	check "$e: the sink counted every frame that left ($got + $errs errors = $sent; xmit $xmit)" \
		test $((got + errs)) = "$sent" -a "$xmit" = "$got"
	got=$(sink in_a $PKTGEN --dev ga0 --dst-mac "$MAC" --src 2001:db8:c::1 --dst 2001:db8:a::10 \
		--proto syn --size 78 --count 5000 --engine $e -q -j)
	check "$e: IPv6 SYNs: 5000 counted ($got)" test "$got" = 5000
	WORKS="$WORKS $e"
done
if [ "$(uname -m)" = x86_64 ]; then
	got=$(sink no_test_run nsenter --net=/run/netns/$A $PKTGEN "${base[@]}" --flows 1000 --count 50000 -q -j)
	sent=$(jq -r .sent /tmp/$B.gen) errs=$(jq -r .xmit_errors /tmp/$B.gen)
	check "live frames refused: auto says so and falls back to $SECOND ($(head -c 200 /tmp/$B.err))" \
		grep -q "live frames refused (Operation not permitted): using $SECOND" /tmp/$B.err
	check "... and the fallback's frames are all counted ($got + $errs errors = $sent of 50000)" \
		test "$sent" = 50000 -a $((got + errs)) = "$sent"
	check_exit "--engine live refused: exit 2" 2 no_test_run nsenter --net=/run/netns/$A $PKTGEN "${base[@]}" --engine live --count 10
fi
for e in auto af_xdp; do
	t0=$(date +%s%N)
	got=$(sink in_a $PKTGEN "${base[@]}" --rate 2000 --duration 1 --engine $e -q -j)
	ms=$((($(date +%s%N) - t0) / 1000000))
	sent=$(jq -r .sent /tmp/$B.gen)
	check "$e: --rate 2000 --duration 1 sends about 2000 ($sent, $got counted)" \
		test "$sent" -ge 1800 -a "$sent" -le 2000 -a "$got" -le "$sent"
	check "$e: --duration bounds the run (${ms} ms)" test "$ms" -lt 5000
done
# live frames come in 100 ms bursts: under --rate auto takes the first engine
# that paces, and says why live came last
paced=$(tr ' ' '\n' <<<"$WORKS" | grep -v -x -e live -e '' | head -1)
in_a $PKTGEN "${base[@]}" --rate 1000 --count 10 -q -j >/dev/null 2>/tmp/$B.err
if [[ " $WORKS " == *" live "* ]] && [ -n "$paced" ]; then
	check "--rate: auto paces with $paced, live tried last ($(head -c 200 /tmp/$B.err))" \
		grep -q "using $paced (--rate: live frames come in bursts.*tried last)" /tmp/$B.err
else
	check "--rate: auto names its engine ($(head -c 200 /tmp/$B.err))" grep -q "using " /tmp/$B.err
fi
lines=$(in_a $PKTGEN "${base[@]}" --rate 100000 --duration 2 -j 2>/dev/null | wc -l)
check "one report a second, then the total ($lines lines)" test "$lines" -ge 2 -a "$lines" -le 4
rm -f /tmp/$B.sink /tmp/$B.gen /tmp/$B.err /tmp/$B.rc
done_testing
