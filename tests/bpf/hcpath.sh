#!/usr/bin/env bash
# The health checks' way through the tunnel (issue 25), in a lab (tools/lab:
# lb with xlb attached, backends with decap and the VIP on lo): the daemon
# makes the veth xlbhcIFINDEX, its rules and routes; checks via tunnel (the
# default) reach the backends through their decap and keep them up (IPv4
# and IPv6); the VIP removed from a backend's lo takes it down within fall
# checks while the backend still answers on its own address (the control:
# only the tunnel's path broke); the node's own unmarked traffic never takes
# the veth; a stopped daemon leaves no veth, rule or route, and one killed
# with -9 leaves them for the next start to replace.
. "$(dirname "$0")/../e2e/lib.sh"
lab_up --backends 2 --ipv6
attach
B1=198.51.100.1 B2=198.51.100.2 B61=2001:db8:b::1 B62=2001:db8:b::2
CONF=/tmp/$LP-hc.json LOG=/tmp/$LP-daemon.log
INTERVAL=200 FALL=3
HEALTH="\"health\": { \"type\": \"http\", \"path\": \"/healthz\", \"interval_ms\": $INTERVAL,
	\"timeout_ms\": 150, \"rise\": 1, \"fall\": $FALL }"
cat >$CONF <<JSON
{ "services": [
  { "name": "web", "vip": "$VIP4", "port": 80, "protocol": "tcp", $HEALTH,
    "backends": [ { "address": "$B1" }, { "address": "$B2" } ] },
  { "name": "web6", "vip": "$VIP6", "port": 80, "protocol": "tcp", $HEALTH,
    "backends": [ { "address": "$B61" }, { "address": "$B62" } ] } ] }
JSON
IFINDEX=$(lab lb ip -o link show ${LP}lb0 | cut -d: -f1)
VETH=xlbhc$IFINDEX TABLE=$((0x584c0000 + IFINDEX))

start_daemon() {
	nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
		daemon --config $CONF --metrics 127.0.0.1:9146 2>>$LOG &
	DAEMON=$!
}
metrics() { lab lb curl -s -m 2 http://127.0.0.1:9146/metrics; }
up_of() {	# service backend -> 1, 0 or nothing
	metrics | awk -v k="xlb_backend_up{service=\"$1\",backend=\"$2\"}" '$1 == k {print $2}'
}
is_up() { [ "$(up_of "$1" "$2")" = 1 ]; }
is_down() { [ "$(up_of "$1" "$2")" = 0 ]; }
# hc_stats[$1] of the tc program on the veth, summed over CPUs (0 sent, 5 unmarked)
hc_stat() {
	local prog m
	prog=$(lab lb bpftool -j net show dev $VETH | jq '.[0].tc[0].id')
	for m in $(bpftool -j prog show id "$prog" | jq '.map_ids[]'); do
		[ "$(bpftool -j map show id $m | jq -r .name)" = hc_stats ] || continue
		bpftool -j map lookup id $m key $1 0 0 0 | /usr/bin/python3 -c 'import json, sys
print(sum(int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little")
	  for v in json.load(sys.stdin)["values"]))'
	done
}
decap_v4() { lab b1 "$ROOT/build/xlb" -j decap stats ${LP}b1 | jq '.packets.decap_v4'; }
veth_there() { lab lb ip link show $VETH >/dev/null 2>&1; }
rules_of() { lab lb ip $1 rule show | grep -c "fwmark 0x584c0000/0xffff0000 lookup $TABLE"; }
nothing_left() {
	! veth_there && [ "$(rules_of -4)" = 0 ] && [ "$(rules_of -6)" = 0 ] &&
	[ -z "$(lab lb ip -4 route show table $TABLE 2>/dev/null)" ] &&
	[ -z "$(lab lb ip -6 route show table $TABLE 2>/dev/null)" ]
}

check "control: no xlbhc veth, rule or route before the daemon" nothing_left
start_daemon
check "the daemon serves metrics" wait_for 10 metrics
check "it makes the veth $VETH" wait_for 5 veth_there
check "  NOARP and up" bash -c "$LAB exec --prefix $LP lb ip link show $VETH |
	grep -q 'NOARP,UP'"
one_rule_each() { [ "$(rules_of -4)" = 1 ] && [ "$(rules_of -6)" = 1 ]; }
check "  one IPv4 and one IPv6 rule fwmark 0x584c0000/0xffff0000 lookup $TABLE" one_rule_each
check "  default routes dev $VETH in table $TABLE (v4 and v6)" bash -c "
	$LAB exec --prefix $LP lb ip -4 route show table $TABLE | grep -q 'default dev $VETH' &&
	$LAB exec --prefix $LP lb ip -6 route show table $TABLE | grep -q 'default dev $VETH'"
check "a check's mark routes the VIP to $VETH" bash -c "$LAB exec --prefix $LP lb \
	ip route get $VIP4 from 198.51.100.254 mark 0x584c0001 | grep -q 'dev $VETH'"
check "the node's unmarked route to the VIP does not" bash -c "! $LAB exec --prefix $LP lb \
	ip route get $VIP4 2>&1 | grep -q $VETH"

both_up() { is_up $1 $2 && is_up $1 $3; }
check "b1 and b2 up by checks through the tunnel (IPv4)" wait_for 10 both_up web $B1 $B2
check "  and IPv6" wait_for 10 both_up web6 $B61 $B62
t1=$(hc_stat 0) d1=$(decap_v4)
sleep 1	# time itself: checks are made every $INTERVAL ms
t2=$(hc_stat 0) d2=$(decap_v4)
check "the checks leave by $VETH's tc program ($t1 -> $t2 sent in 1 s)" test $((t2 - t1)) -ge 5
check "  and reach b1 through its decap ($d1 -> $d2 stripped)" test $((d2 - d1)) -ge 5
# every check of a service leaves from one source to one VIP:port: a check's
# socket closes with a reset, so none waits in TIME_WAIT (they would use up
# the local ports at some 470 checks a second); control: the node's own curl
# to b2, closed by the client, leaves one
tw() { $LAB exec --prefix $LP lb ss -Htan state time-wait "$@" | wc -l; }
check "no check's socket waits in TIME_WAIT ($(tw dst $VIP4) to $VIP4 after $t2 checks)" \
	test "$(tw dst $VIP4)" = 0
lab lb curl -s -m 2 -o /dev/null http://$B2/healthz
check "control: a client's own close leaves one ($(tw dst $B2) to $B2)" test "$(tw dst $B2)" -ge 1

# the node's own traffic to the VIP is not taken by the veth (it would be dropped there
# as unmarked): a route to the VIP for the node's own packets, then some of them
lab lb ip route add $VIP4/32 via 198.51.100.3
u1=$(hc_stat 5)
lab lb curl -s -m 1 -o /dev/null http://$VIP4/ 2>/dev/null
lab lb ping -c 3 -i 0.2 -W 1 $VIP4 >/dev/null 2>&1
u2=$(hc_stat 5)
check "unmarked traffic from the node to the VIP never reaches $VETH ($u1 -> $u2 unmarked)" \
	test "$u1" = "$u2"
check "control: it was sent, out of ${LP}lb0" bash -c "$LAB exec --prefix $LP lb \
	ip route get $VIP4 | grep -q 'dev ${LP}lb0'"
lab lb ip route del $VIP4/32 via 198.51.100.3

# the VIP gone from b1's lo: the tunnel's check fails, the backend itself still answers
lab b1 ip addr del $VIP4/32 dev lo
t0=$(date +%s%N)
check "b1 goes down through the tunnel once its VIP is gone" \
	wait_for 10 is_down web $B1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "  within fall checks ($ms ms; $FALL x $INTERVAL ms + timeout and a commit)" \
	test $ms -lt $((FALL * INTERVAL + 1500))
check "  b2 stays up" is_up web $B2
check "  b1's IPv6 check (its VIP6 still on lo) stays up" is_up web6 $B61
check "control: b1 still answers on its own address (a direct check would pass)" \
	lab lb curl -sf -m 2 -o /dev/null http://$B1/healthz
check "the log says why: a timeout" grep -q "service=web backend=$B1 check=down.*timeout" $LOG
lab b1 ip addr add $VIP4/32 dev lo
check "the VIP back on b1's lo: up again" wait_for 10 is_up web $B1

# a reload with every check direct: the path is removed while the daemon runs;
# checks via tunnel again: it is made again
cp $CONF $CONF.tunnel
sed -i 's/"type": "http",/"type": "http", "via": "direct",/' $CONF
kill -HUP $DAEMON
check "every check direct (reload): the path is removed, the daemon running" wait_for 10 nothing_left
check "  the log says so" grep -q "no check goes via tunnel: the checks' path is removed" $LOG
check "  the checks go on, direct" wait_for 10 both_up web $B1 $B2
cp $CONF.tunnel $CONF
kill -HUP $DAEMON
check "checks via tunnel again (reload): the path is made again" wait_for 10 one_rule_each
check "  and b1 and b2 pass through it" wait_for 10 both_up web $B1 $B2

kill -TERM $DAEMON
check "the daemon stops" wait_for 10 bash -c "! kill -0 $DAEMON 2>/dev/null"
check "after it stops: no xlbhc veth, rule or route is left" nothing_left

# a crash leaves them; the next start replaces them and its stop removes them
start_daemon
check "started again: the veth is there" wait_for 10 veth_there
kill -9 $DAEMON
wait $DAEMON 2>/dev/null
left() { veth_there && one_rule_each; }
check "killed with -9: veth and rules are left" left
start_daemon
replaced() { both_up web $B1 $B2 && one_rule_each; }
check "the next start replaces them: one rule per family, checks up" wait_for 10 replaced
check "  no error about the path in the log" bash -c "! grep -q 'cannot make the checks' $LOG"
cp $LOG /tmp/$LP-daemon.log.first
metric() { metrics | awk -v k="$1" '$1 == k {print $2}'; }
check "the metrics say the path is made" test "$(metric xlb_health_tunnel_up)" = 1
check "  and count the checks' packets sent" \
	test "$(metric 'xlb_health_tunnel_packets_total{result="sent"}')" -gt 0
kill -TERM $DAEMON
check "stopped again: nothing is left" wait_for 10 nothing_left

# strict reverse-path filtering on the interface the answers come in by, and IPv6
# forwarding off there (the tc program's route lookup): said at start
fwd6=$(lab lb sysctl -n net.ipv6.conf.${LP}lb0.forwarding)
lab lb sysctl -qw net.ipv4.conf.${LP}lb0.rp_filter=1 net.ipv6.conf.${LP}lb0.forwarding=0
: >$LOG
start_daemon
said_rp() { grep -q "rp_filter is strict (1) on ${LP}lb0" $LOG; }
check "strict rp_filter on ${LP}lb0: the daemon says what it means for the answers" \
	wait_for 10 said_rp
check "  and that IPv6 forwarding is off there" grep -q "IPv6 forwarding is off on ${LP}lb0" $LOG
kill -TERM $DAEMON
wait $DAEMON
lab lb sysctl -qw net.ipv4.conf.${LP}lb0.rp_filter=0 net.ipv6.conf.${LP}lb0.forwarding=$fwd6
check "control: with rp_filter 0 and forwarding on it said neither before" bash -c "! grep -q \
	'rp_filter\\|forwarding is off' /tmp/$LP-daemon.log.first"

# another interface's rule for the marks (another daemon's): refused, saying which
lab lb ip rule add fwmark 0x584c0000/0xffff0000 lookup 4242 priority 100
: >$LOG
start_daemon
said_other() { grep -q "another xlb's checks use the marks.*lookup 4242" $LOG; }
check "another daemon's rule for the marks: the path is refused, naming it" wait_for 10 said_other
kill -TERM $DAEMON
wait $DAEMON
check "  its rule is left alone, and nothing of this daemon's is left" bash -c "
	$LAB exec --prefix $LP lb ip rule show | grep -q 'lookup 4242' && ! $LAB exec --prefix $LP lb \
	ip link show $VETH >/dev/null 2>&1 && ! $LAB exec --prefix $LP lb ip rule show | grep -q 'lookup $TABLE'"
lab lb ip rule del fwmark 0x584c0000/0xffff0000 lookup 4242 priority 100

# the path cannot be made (its peer's name taken): checks via tunnel are not made
# ("unchecked", said in the log), never made direct, and no backend goes down
lab lb ip link add ${VETH}p type veth peer name hcblock$$
: >$LOG
start_daemon
unchecked() { [ "$(metric xlb_daemon_checks_unchecked_total)" -ge 4 ]; }
check "a path that cannot be made: checks counted unchecked" wait_for 10 unchecked
check "  the log says so, and why" grep -q "cannot make the checks' path through the tunnel.*${VETH}" $LOG
check "  xlb_health_tunnel_up 0" test "$(metric xlb_health_tunnel_up)" = 0
check "  no backend was taken down" bash -c "[ \"\$($LAB xlb --prefix $LP -j backend list web |
	jq '[.[] | select(.state != \"active\")] | length')\" = 0 ]"
kill -TERM $DAEMON
wait $DAEMON
lab lb ip link del ${VETH}p
check "  and after it stops nothing of it is left" nothing_left
done_testing
