#!/usr/bin/env bash
# Uploads through a VIP on a standard network (every link MTU 1500): a
# full-size segment does not fit the tunnel, so xlb answers with ICMP
# "fragmentation needed" / ICMPv6 "packet too big" and the client lowers its
# path MTU.  A 900 KB POST and a 10 MB upload reach a backend byte for byte,
# IPv4 and IPv6.  Negative control first: with the answers off the upload
# stalls.  Generic mode: attach refuses while GRO is on; with it off uploads
# complete; segments that GRO coalesced upstream are dropped and counted as
# coalesced, never forwarded with a partial checksum.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3 --ipv6
F900=/tmp/$LP-up-900k F10M=/tmp/$LP-up-10m	# the lab's files: removed by lab down
head -c 900000 /dev/urandom >$F900
head -c 10000000 /dev/urandom >$F10M
U4=http://$VIP4/upload U6=http://[$VIP6]/upload

# upload FILE URL SECONDS: the backend's answer "bN LENGTH SHA256", or nothing
upload() { lab client curl -s -m "$3" -H 'Expect:' -X POST --data-binary @"$1" "$2"; }
sum() { echo "$(stat -c %s "$1") $(sha256sum "$1" | cut -d' ' -f1)"; }
verdict() { xlb -j stats | jq ".verdicts.$1 // 0"; }
csum_errors() {	# TCP segments with a bad checksum, summed over the backends
	local b n=0
	for b in b1 b2 b3; do
		n=$((n + $(lab $b nstat -az TcpInCsumErrors | awk '/TcpInCsumErrors/ {print $2}')))
	done
	echo $n
}
apply_web() {
	cat >/tmp/$LP-web.json <<JSON
{ "services": [
  { "name": "web", "vip": "$VIP4", "port": 80, "protocol": "tcp", "backends": [
    { "address": "198.51.100.1" }, { "address": "198.51.100.2" }, { "address": "198.51.100.3" } ] },
  { "name": "web6", "vip": "$VIP6", "port": 80, "protocol": "tcp", "backends": [
    { "address": "2001:db8:b::1" }, { "address": "2001:db8:b::2" }, { "address": "2001:db8:b::3" } ] } ] }
JSON
	xlb config apply /tmp/$LP-web.json >/dev/null
}
# every upload of both sizes to both VIPs arrives whole, on a backend
uploads_arrive() {	# $1: what the lab is
	local f u got
	for u in $U4 $U6; do
		for f in $F900 $F10M; do
			got=$(upload $f "$u" 60)
			check "$1: $(($(stat -c %s $f) / 1000)) KB to ${u%/upload} arrive whole (${got:0:30}...)" \
				test "${got#b[123] }" = "$(sum $f)"
		done
	done
}

mtus=$(for n in client sw lb b1; do lab $n ip -o link show; done | grep -v ': lo:' |
	grep -o 'mtu [0-9]*' | sort -u)
check "every link has MTU 1500 ($(echo $mtus))" test "$mtus" = "mtu 1500"

# negative control: no answers, and the first full-size segment is lost for good
check "attach with --icmp-rate off" attach --icmp-rate off
check "apply web and web6" apply_web
got=$(upload $F900 $U4 5)
check "negative control: without the answers a 900 KB POST stalls (${got:-no answer in 5 s})" test -z "$got"
check "  its full-size segments were dropped as too big ($(verdict drop_too_big))" \
	test "$(verdict drop_too_big)" -gt 0
check "  and none was answered" test "$(verdict reply_too_big)" = 0

check "attach again with answers on (--icmp-rate 1000)" attach --icmp-rate 1000
check "status shows the answers' rate" bash -c \
	"$LAB xlb --prefix $LP -j status | jq -e '.[0].too_big_answers.icmp_rate == 1000'"
uploads_arrive "native"
check "xlb answered too big ($(verdict reply_too_big) answers)" test "$(verdict reply_too_big)" -gt 0
check "the client keeps path MTU 1480 for the IPv4 VIP" bash -c \
	"$LAB exec --prefix $LP client ip route get $VIP4 | grep -q 'mtu 1480'"
check "and 1460 for the IPv6 VIP" bash -c \
	"$LAB exec --prefix $LP client ip -6 route get $VIP6 | grep -q 'mtu 1460'"
check "no backend saw a bad TCP checksum ($(csum_errors))" test "$(csum_errors)" = 0

# generic mode runs after GRO
$LAB down --prefix $LP >/dev/null
$LAB up --prefix $LP --backends 3 --ipv6 --generic >/dev/null || { not_ok "lab up --generic"; done_testing; exit 1; }
head -c 900000 /dev/urandom >$F900
head -c 10000000 /dev/urandom >$F10M
lab lb ethtool -K ${LP}lb0 gro on
out=$(lab lb "$ROOT/build/xlb" --state /tmp/$LP-state attach ${LP}lb0 --mode generic 2>&1); rc=$?
check "generic mode with GRO on is refused, exit 1 (exit $rc)" test $rc = 1
check "  with the fix" grep -qF "ethtool -K ${LP}lb0 gro off" <<<"$out"
check "  and nothing attached" bash -c \
	"! ip -n $LP-lb link show ${LP}lb0 | grep -q prog/xdp && test ! -e /sys/fs/bpf/xlb/${LP}lb0"
lab lb ethtool -K ${LP}lb0 gro off
check "with GRO off generic mode attaches" attach --mode generic
check "apply web and web6" apply_web
uploads_arrive "generic"
# segments GRO coalesces upstream (the switch's client port), passed on whole
# (the balancer's port checksumming in hardware): longer than the MTU at xlb
lab sw ethtool -K ${LP}sclient gro on
lab sw ethtool -K ${LP}slb tx on >/dev/null
upload $F900 $U4 5 >/dev/null
check "segments coalesced upstream are dropped as coalesced ($(verdict drop_coalesced))" \
	test "$(verdict drop_coalesced)" -gt 0
check "  never forwarded with a partial checksum ($(csum_errors) bad at the backends)" \
	test "$(csum_errors)" = 0
done_testing
