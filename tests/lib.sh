# TAP helpers for shell tests: `. tests/lib.sh`, then check/skip_all/done_testing.
# Every test makes its own namespaces with the prefix $XT_NS and removes them
# on exit, also when it fails.
XT_N=0
XT_FAIL=0
XT_NS="xt$$-"	# the dash: xt12- never prefixes xt1234-'s namespaces
XLB=${XLB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/xlb}
# the same command with fault injection (XLB_FAIL_AT, XLB_PAUSE_AT): build/xlb reads neither
XLB_FAULTS=${XLB_FAULTS:-$(dirname "$XLB")/xlb-faults}

ok() { XT_N=$((XT_N + 1)); echo "ok $XT_N - $*"; }
not_ok() { XT_N=$((XT_N + 1)); XT_FAIL=$((XT_FAIL + 1)); echo "not ok $XT_N - $*"; }

# check NAME CMD...: ok when CMD exits 0; prints CMD's output on failure.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name"; printf '#   %s\n' "$out" | head -20; fi
}

# check_exit NAME STATUS CMD...: ok when CMD exits with STATUS.
check_exit() {
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$name"; else
		not_ok "$name (exit $rc, want $want)"; printf '#   %s\n' "$out" | head -20; fi
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it exits 0; 1 when the
# deadline passes first.  A test waits for a condition this way, never for a
# fixed time.
wait_for() {
	local deadline=$(( $(date +%s%N) + ${1%.*} * 1000000000 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

skip_all() { echo "ok 1 - all # SKIP $*"; echo "1..1"; exit 0; }

require_root() {
	[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, BPF)"
	ip netns add "${XT_NS}probe" 2>/dev/null || skip_all "cannot create network namespaces"
	ip netns del "${XT_NS}probe"
}

# xt_veth_ns NS DEV: a namespace NS with a veth pair DEV / pDEV, both up, and
# 198.51.100.254/24 on DEV: somewhere to attach xlb (xt_cleanup removes it).
xt_veth_ns() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n "$1" link add "$2" type veth peer name "p$2"
	ip -n "$1" addr add 198.51.100.254/24 dev "$2"
	ip -n "$1" link set "$2" up
	ip -n "$1" link set "p$2" up
}

# xt_cli_fixture TAG: a namespace with a veth DEV to attach xlb to, a private
# state directory STATE, and x (xlb there with that state) and gen (the live
# generation); detached, removed and cleaned up on exit.
xt_cli_fixture() {
	NS=${XT_NS}$1
	DEV=x$1$$
	DEV=${DEV:0:15}
	STATE=$(mktemp -d /tmp/xlb-$1-XXXXXX)
	trap 'nsenter --net=/run/netns/$NS $XLB detach $DEV >/dev/null 2>&1; rm -rf "$STATE"; xt_cleanup' EXIT
	xt_veth_ns $NS $DEV
}
x() { nsenter --net=/run/netns/$NS $XLB --state "$STATE" "$@"; }

# xt_three_nodes (after xt_cli_fixture): three more veths DEVS[1..3] in NS,
# xlb attached to each, for three daemons (their pids go in PIDS[1..3]);
# stop_all kills those and detaches, also on exit.
xt_three_nodes() {
	local i
	DEVS=() PIDS=()
	for i in 1 2 3; do
		DEVS[i]=${DEV:0:13}d$i
		ip -n $NS link add ${DEVS[i]} type veth peer name p${DEVS[i]}
		ip -n $NS link set ${DEVS[i]} up && ip -n $NS link set p${DEVS[i]} up
		x attach ${DEVS[i]} >/dev/null 2>&1 || not_ok "attach ${DEVS[i]}"
	done
	trap 'stop_all; rm -rf "$STATE"; xt_cleanup' EXIT
}
stop_all() {
	local i
	for i in 1 2 3; do
		[ -n "${PIDS[i]}" ] && kill -9 ${PIDS[i]} 2>/dev/null
		nsenter --net=/run/netns/$NS $XLB --state "$STATE" detach ${DEVS[i]} >/dev/null 2>&1
	done
}
gen() { x -j status | jq -r '.[0].generation'; }

xt_cleanup() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${XT_NS}"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf /tmp/"${XT_NS}"*-etcd
}
trap xt_cleanup EXIT

# etcd_up NS [CLIENT-PORT]: a real one-member etcd inside namespace NS (made
# when missing), listening on that namespace's loopback only, so tests never
# collide on ports: ETCD_URL=http://127.0.0.1:PORT (default 2379).  Waits
# (deadline 20 s) until it answers /health; 1 when it does not.  Its data
# lives in /tmp/NS-etcd; xt_cleanup ends it with the namespace and removes it.
# Call it directly, not under check (which runs it in a subshell): ETCD_URL
# is set in the caller's shell.  etcd_in NS CMD...: CMD inside NS.
etcd_up() {
	local ns=$1 port=${2:-2379} dir=/tmp/$1-etcd
	ip netns list | grep -qw "^$ns" || { ip netns add "$ns" && ip -n "$ns" link set lo up; }
	mkdir -p "$dir"
	ETCD_URL=http://127.0.0.1:$port
	ip netns exec "$ns" etcd --name "m$port" --data-dir "$dir/m$port" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-cluster "m$port=http://127.0.0.1:$((port + 1))" \
		>"$dir/m$port.log" 2>&1 & disown
	wait_for 20 ip netns exec "$ns" curl -sf "$ETCD_URL/health"
}
etcd_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

done_testing() { echo "1..$XT_N"; [ "$XT_FAIL" -eq 0 ]; }
