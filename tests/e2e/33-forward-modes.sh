#!/usr/bin/env bash
# The forwarding modes (issue 26) through real servers, IPv4 and IPv6: for
# "ipip" (the control), "gue" and "l2" in turn, HTTP and UDP through the VIPs
# reach every backend, a 900 KB upload arrives byte for byte, and 40
# keep-alive connections keep their backends through live changes (a backend
# added, then one drained) and a SYN flood.  The switch's ports to the
# backends show how the packets travelled (IP-in-IP, UDP to the GUE port with
# outer source ports from the flow hash, or the client's frame unchanged from
# the balancer's MAC to the backend's), and that nothing went another way;
# the backends' decap counters agree.  Negative controls per mode: without
# its decap a backend answers nothing by IP-in-IP, but all the same by l2;
# with a decap that takes no GUE (or not on the service's gue_port) nothing
# by GUE; in l2 without the VIP on its loopback nothing.  Then changes of
# mode with connections kept, and the per-service hash: "src" and
# "src-dport" keep one client's connections on one backend (the 5-tuple
# spreads them), and a change of hash keeps established ones.
# MODES (default "ipip gue l2") runs some of the modes only; HASH= (empty)
# leaves out the hash part.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3 --ipv6
MODES=${MODES:-ipip gue l2}
B4=198.51.100 B6=2001:db8:b:	# backend i: $B4.i, $B6:i
CONNS=40
F900=/tmp/$LP-up-900k		# the lab's files: removed by lab down
head -c 900000 /dev/urandom >$F900

# fwd_config MODE HASH N [JSON]: web / web6 (tcp 80), dns / dns6 (udp 53) over
# b1..bN, JSON (,"field":value) added to each
fwd_config() {
	local mode=$1 hash=$2 n=$3 i b4="" b6="" sep="" x s
	x=",\"forward\":\"$mode\"${4:-}"
	[ "$hash" = 5-tuple ] || x="$x,\"hash\":\"$hash\""
	for i in $(seq 1 "$n"); do
		b4="$b4$sep{\"address\":\"$B4.$i\"}" b6="$b6$sep{\"address\":\"$B6:$i\"}" sep=,
	done
	s='"name":"%s","vip":"%s","port":%d,"protocol":"%s"%s,"backends":[%s]'
	printf "{\"services\":[{$s},{$s},{$s},{$s}]}\n" web $VIP4 80 tcp "$x" "$b4" \
		web6 $VIP6 80 tcp "$x" "$b6" dns $VIP4 53 udp "$x" "$b4" dns6 $VIP6 53 udp "$x" "$b6"
}
apply() {	# MODE HASH N [JSON]
	fwd_config "$@" >/tmp/$LP-fwd.json && xlb config apply /tmp/$LP-fwd.json --force >/dev/null
}
# N requests on new connections, T s each at most, from source address SRC
# (default: the client's own): the answering backends, FAIL for none
ask() {	# N URL [T] [SRC]
	lab client bash -c "for i in \$(seq $1); do curl -s -g -m ${3:-5} ${4:+--interface $4} \
		-H 'Connection: close' -o /dev/null -w '%header{x-backend}\n' '$2' || echo FAIL; done"
}
saw_all() {	# ANSWERS N: every answer from a backend, each of b1..bN among them
	local i
	[ "$(grep -cvx 'b[0-9]*' <<<"$1")" = 0 ] || return 1
	for i in $(seq 1 "$2"); do grep -qx "b$i" <<<"$1" || return 1; done
}
# must NAME CMD...: check, and 1 when it failed (the rest of a mode is skipped:
# with no way through, every later request would only wait for its timeout)
must() {
	local out
	if out=$("${@:2}" 2>&1); then ok "$1"; else not_ok "$1"; printf '#   %s\n' "$out" | head -20; return 1; fi
}
answered() { [ "$(ask 1 "$1" 2)" = b1 ] || [ "$(ask 1 "$1" 2)" = b2 ]; }
spread() { grep . <<<"$1" | sort -u | tr '\n' ' '; }
verdict() { xlb -j stats | jq ".verdicts.$1 // 0"; }
svc_packets() { xlb -j stats | jq "[.services[] | select(.service == \"$1\") | .backends[].packets] | add"; }

# ---- the wire: what the switch sends to b1..b3 ------------------------------------------
W=/tmp/$LP-wire.json
wire_start() {
	rm -f $W
	# nsenter execs python: $! is the counter itself (it takes the signal)
	nsenter --net=/run/netns/$LP-sw /usr/bin/python3 "$ROOT/tests/e2e/wire-count.py" --status $W \
		--max-time 120 ${LP}sb1=02:00:cc:00:01:01 ${LP}sb2=02:00:cc:00:01:02 \
		${LP}sb3=02:00:cc:00:01:03 &
	WPID=$!
	wait_for 5 test -s $W
}
wire_stop() { kill -TERM $WPID; wait $WPID; }
wire() { jq -r ".\"${LP}sb$1\".$2" $W; }
# wire_only MODE: b1 and b2 got the mode's frames in both families, and
# no frame of another mode went to any backend
wire_only() {
	local want b c bad=""
	case $1 in ipip) want=ipip ;; gue) want=gue ;; l2) want=plain ;; esac
	for b in 1 2; do
		for c in ${want}4 ${want}6; do [ "$(wire $b $c)" -gt 0 ] || bad="$bad b$b:$c=0"; done
	done
	for b in 1 2 3; do
		for c in ipip4 ipip6 gue4 gue6 plain4 plain6 stray4 stray6; do
			[ "${c%[46]}" = $want ] || [ "$(wire $b $c)" = 0 ] || bad="$bad b$b:$c=$(wire $b $c)"
		done
	done
	[ -z "$bad" ] || { echo "wrong:$bad"; return 1; }
}
# the decap counters of b1 and b2 summed: "decap_v4 decap_v6 gue_v4 gue_v6 pass"
decap_sum() {
	local b
	for b in 1 2; do
		lab b$b "$ROOT/build/xlb" -j decap stats ${LP}b$b |
			jq -r '.packets | "\(.decap_v4) \(.decap_v6) \(.gue_v4) \(.gue_v6) \(.pass)"'
	done | awk '{ for (i = 1; i <= 5; i++) s[i] += $i } END { print s[1], s[2], s[3], s[4], s[5] }'
}
# decap_took MODE BEFORE AFTER: the backends' decap stripped the mode's
# tunnels only (l2: none, every frame passed untouched)
decap_took() {
	local m=$1 d0 d1 i want
	read -ra d0 <<<"$2"
	read -ra d1 <<<"$3"
	case $m in ipip) want="1 1 0 0" ;; gue) want="0 0 1 1" ;; l2) want="0 0 0 0" ;; esac
	for i in 0 1 2 3; do
		[ "${want:$((i * 2)):1}" = 1 ] && [ "${d1[i]}" -gt "${d0[i]}" ] && continue
		[ "${want:$((i * 2)):1}" = 0 ] && [ "${d1[i]}" = "${d0[i]}" ] && continue
		return 1
	done
	[ $m != l2 ] || [ "${d1[4]}" -gt $((${d0[4]} + 1000)) ]
}
gue_sports() {	# every outer source port in 49152..65535, more than one per backend
	local b
	for b in 1 2; do
		[ "$(wire $b gue_sport_min)" -ge 49152 ] && [ "$(wire $b gue_sport_max)" -le 65535 ] &&
			[ "$(wire $b gue_sports)" -ge 2 ] || return 1
	done
}

# ---- keep-alive connections (fleet-conns.py), as in the fleet drills --------------------
conns_start() {	# T: a name
	T=$1 R=/tmp/$LP-$1.rep
	nsenter --net=/run/netns/$LP-client /usr/bin/python3 "$ROOT/tests/e2e/fleet-conns.py" \
		--addr $VIP4 --addr $VIP6 --conns $CONNS --interval 0.1 --stall 5 \
		--status /tmp/$LP-$T.st --report $R --max-time 100 &
	TPID=$!
	wait_for 20 answering || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answering() { jq -e ".alive == $CONNS and .min_answers >= 5" /tmp/$LP-$T.st >/dev/null 2>&1; }
settle() {	# every connection answered 10 requests more since now
	local n
	n=$(jq .marks /tmp/$LP-$T.st)
	kill -USR1 $TPID
	wait_for 20 answered_since $n || { cat /tmp/$LP-$T.st; return 1; }
}
# (in a status written after mark N + 1)
answered_since() { jq -e ".marks > $1 and .min_since_mark >= 10" /tmp/$LP-$T.st >/dev/null 2>&1; }
conns_end() {
	kill -TERM $TPID
	wait $TPID
	echo "# $T: $(jq -r '"\(.kept) of \(.conns) kept (\(.backends | tostring)), \(.reset) reset, \(.stalled) stalled, \(.closed) closed, \(.changed) changed backend, \(.requests) requests, longest gap \(.max_gap_ms) ms"' $R)"
}
kept_all() { jq -e ".kept == $CONNS and .failed_requests == 0 and .changed == 0" $R >/dev/null; }

# COUNT pktgen SYNs to VIP:80 (a flow each, source ports of SRC), 50,000 a second
# through the stack (af_packet): prints how many the veth took
flood() {	# SRC VIP COUNT
	lab client "$ROOT/build/pktgen" -q -j --dev ${LP}c0 --dst-mac 02:00:cc:00:00:fe \
		--src $1 --dst $2 --proto syn --dport 80 --flows $3 --count $3 \
		--rate 50000 --duration 10 --engine af_packet --size 90 \
		2>/tmp/$LP-gen.err | jq -r 'select(.total) | .xmit // 0' | tail -1
}

# the client's path MTU towards a VIP (1500 when it learnt none)
pmtu() { lab client ip $1 route get $2 | grep -o 'mtu [0-9]*' | grep -o '[0-9]*' || echo 1500; }
declare -A PMTU4=([ipip]=1480 [gue]=1472 [l2]=1500) PMTU6=([ipip]=1460 [gue]=1452 [l2]=1500)

check "attach (too-big answers on)" attach --icmp-rate 1000

# ---- each mode ------------------------------------------------------------------------------
mode_run() {	# MODE
	local m=$1 a got n x x6 p0 rb d0 d1
	must "$m: apply web, web6, dns, dns6 over b1, b2 (\"forward\": \"$m\")" apply $m 5-tuple 2 || return
	must "$m: the VIPs answer HTTP" wait_for 10 answered http://$VIP4/ || return
	must "$m: over IPv6 too" wait_for 10 answered "http://[$VIP6]/" || return
	lab client ip route flush cache
	lab client ip -6 route flush cache
	check "$m: the client knows no path MTU to the VIPs yet" \
		test "$(pmtu -4 $VIP4) $(pmtu -6 $VIP6)" = "1500 1500"
	wire_start
	check "$m: the switch's ports are watched" test -s $W
	d0=$(decap_sum)
	a=$(ask 30 http://$VIP4/)
	check "$m: 30 HTTP requests to $VIP4, each answered, b1 and b2 among them ($(spread "$a"))" saw_all "$a" 2
	a=$(ask 30 "http://[$VIP6]/")
	check "$m: 30 HTTP requests to [$VIP6], each answered, b1 and b2 among them ($(spread "$a"))" saw_all "$a" 2
	for vip in $VIP4 $VIP6; do
		a=$(for i in $(seq 20); do udp_query $vip "q$i" | sed -n "s/^\(b[0-9]*\) q$i\$/\1/p"; done)
		check "$m: 20 UDP queries to $vip, $(grep -c . <<<"$a") answered; b1 and b2 among them ($(spread "$a"))" \
			bash -c "[ $(grep -c . <<<"$a") = 20 ] && grep -qx b1 <<<'$a' && grep -qx b2 <<<'$a'"
	done
	rb=$(verdict reply_too_big)
	for vip in $VIP4 "[$VIP6]"; do
		got=$(lab client curl -s -g -m 30 -H 'Expect:' -X POST --data-binary @$F900 http://$vip/upload)
		check "$m: a 900 KB POST to $vip arrives byte for byte (${got:0:30}...)" \
			test "${got#b[12] }" = "$(stat -c %s $F900) $(sha256sum $F900 | cut -d' ' -f1)"
	done
	check "$m: the client's path MTU to the VIPs is ${PMTU4[$m]} / ${PMTU6[$m]} ($(pmtu -4 $VIP4) / $(pmtu -6 $VIP6))" \
		test "$(pmtu -4 $VIP4) $(pmtu -6 $VIP6)" = "${PMTU4[$m]} ${PMTU6[$m]}"
	if [ $m = l2 ]; then
		check "$m: no too-big answer was needed (reply_too_big $rb -> $(verdict reply_too_big))" \
			test "$(verdict reply_too_big)" = "$rb"
	fi
	wire_stop
	d1=$(decap_sum)
	check "$m: b1's and b2's decap: decap_v4 decap_v6 gue_v4 gue_v6 pass from $d0 to $d1" \
		decap_took $m "$d0" "$d1"
	echo "# $m: the wire to b1..b3: $(jq -c 'map(del(.other, .gue_sports, .gue_sport_min, .gue_sport_max))' $W)"
	check "$m: the switch sent the backends $m frames only" wire_only $m
	[ $m != gue ] || check "$m: outer UDP source ports from the flow hash, 49152..65535 ($(jq -c \
		"[.[] | {gue_sports, gue_sport_min, gue_sport_max}]" $W))" gue_sports

	# a change and a flood, with established connections kept
	conns_start $m
	check "$m: $CONNS keep-alive connections to both VIPs answer" answering
	check "$m: a live change: b3 added to web" xlb backend add web $B4.3 --force
	check "$m: and to web6" xlb backend add web6 $B6:3 --force
	check "$m: every connection answered 10 requests more since the change" settle
	a=$(ask 30 http://$VIP4/)
	check "$m: new connections reach b3 as well ($(spread "$a"))" saw_all "$a" 3
	a=$(ask 30 "http://[$VIP6]/")
	check "$m: over IPv6 too ($(spread "$a"))" saw_all "$a" 3
	p0=$(( $(svc_packets web) + $(svc_packets web6) ))
	x=$(flood 203.0.113.100 $VIP4 20000)
	x6=$(flood 2001:db8:c::100 $VIP6 10000)
	check "$m: a SYN flood: the veth took $x of 20,000 to $VIP4, $x6 of 10,000 to $VIP6" \
		test "${x:-0}" -ge 2000 -a "${x6:-0}" -ge 1000
	n=$(( $(svc_packets web) + $(svc_packets web6) - p0 ))
	check "$m: xlb forwarded the flood to web's backends ($n packets)" test $n -ge $(( (x + x6) * 9 / 10 ))
	check "$m: every connection answered 10 requests more since the flood" settle
	a=$(ask 15 http://$VIP4/)
	check "$m: new connections are answered after the flood ($(spread "$a"))" saw_all "$a" 0
	check "$m: another change: b1 drained in web" xlb backend set web $B4.1 state drain --force
	check "$m: and in web6" xlb backend set web6 $B6:1 state drain --force
	check "$m: every connection answered 10 requests more since the drain" settle
	a=$(ask 20 http://$VIP4/)$'\n'$(ask 10 "http://[$VIP6]/")
	check "$m: new connections avoid b1 ($(spread "$a"))" \
		bash -c "! grep -qvx 'b[23]' <<<'$a'"
	conns_end
	check "$m: every connection kept its backend through the add, the flood and the drain, no request failed" kept_all
	check "$m: b1 active again in web and web6" bash -c "$LAB xlb --prefix $LP backend set web $B4.1 \
		state active --force >/dev/null && $LAB xlb --prefix $LP backend set web6 $B6:1 state active --force"
	mode_negative_$m
}

# control for l2 below: a tunnel needs the backend's decap
mode_negative_ipip() {
	local a
	check "ipip: b2's decap detached" $LAB backend --prefix $LP b2 break decap
	a=$(ask 20 http://$VIP4/ 1)
	check "ipip: control: b2 answers nothing, its share fails ($(spread "$a"))" \
		bash -c "! grep -qx b2 <<<'$a' && grep -qx FAIL <<<'$a'"
	$LAB backend --prefix $LP b2 mend decap
}
# A backend whose decap does not take GUE gets nothing: b2 with --gue-port off
mode_negative_gue() {
	local a
	check "gue: b2's decap attached again taking IP-in-IP only (--gue-port off)" \
		lab b2 bash -c "$ROOT/build/xlb decap detach ${LP}b2 >/dev/null && $ROOT/build/xlb decap attach \
			${LP}b2 $DECAP_FROM --gue-port off >/dev/null"
	a=$(ask 20 http://$VIP4/ 1)
	check "gue: negative control: b2 answers nothing, its share fails ($(spread "$a"))" \
		bash -c "! grep -qx b2 <<<'$a' && grep -qx FAIL <<<'$a'"
	check "gue: b2's decap attached as before" $LAB backend --prefix $LP b2 mend decap
	a=$(ask 30 http://$VIP4/)
	check "gue: and b2 answers again ($(spread "$a"))" saw_all "$a" 3
	# the service's gue_port is the one used: 6081, which no decap takes yet
	# (web alone: the others keep their backends, see below)
	check "gue: apply web with \"gue_port\": 6081 over b1 alone" web_6081
	a=$(ask 3 http://$VIP4/ 1)
	check "gue: negative control: no decap takes 6081, nothing answers ($(spread "$a"))" \
		test "$(grep -cx FAIL <<<"$a")" = 3
	check "gue: b1's decap attached again taking GUE on 6081" lab b1 bash -c \
		"$ROOT/build/xlb decap detach ${LP}b1 >/dev/null && $ROOT/build/xlb decap attach ${LP}b1 \
			$DECAP_FROM --gue-port 6081 >/dev/null"
	a=$(ask 5 http://$VIP4/)
	check "gue: b1 answers every request ($(spread "$a"))" test "$(grep -cx b1 <<<"$a")" = 5
	$LAB backend --prefix $LP b1 mend decap
}
# Only web changes: a UDP service taken to b1 alone would keep b1 as the
# previous backend of every slot that moves later, and a new UDP flow in a
# moved slot goes to its previous backend until the daemon releases the slot
# (none runs here): the next mode's queries would all go to b1.
web_6081() {
	fwd_config gue 5-tuple 2 | jq '.services[0] |= (.gue_port = 6081 | .backends |= .[:1])' \
		>/tmp/$LP-fwd.json && xlb config apply /tmp/$LP-fwd.json --force >/dev/null
}
# L2 needs no decap on the backend; the VIP on its loopback it does need
mode_negative_l2() {
	local a
	check "l2: b2's decap detached" $LAB backend --prefix $LP b2 break decap
	a=$(ask 30 http://$VIP4/)
	check "l2: b2 answers all the same ($(spread "$a"))" saw_all "$a" 3
	check "l2: b2's VIPs off its loopback" $LAB backend --prefix $LP b2 break vip
	a=$(ask 20 http://$VIP4/ 1)
	check "l2: negative control: b2 answers nothing, its share fails ($(spread "$a"))" \
		bash -c "! grep -qx b2 <<<'$a' && grep -qx FAIL <<<'$a'"
	$LAB backend --prefix $LP b2 mend vip
	$LAB backend --prefix $LP b2 mend decap
	a=$(ask 30 http://$VIP4/)
	check "l2: b2 answers again with its VIPs back ($(spread "$a"))" saw_all "$a" 3
}
DECAP_FROM="--from 198.51.100.254 --from 2001:db8:b::fe"
for m in $MODES; do mode_run $m; done

# ---- from one mode to another: established connections go the new way ----------------------
# (the backends take every way at once: decap takes IP-in-IP and GUE, the VIP is on lo)
if [ "$MODES" = "ipip gue l2" ]; then
	check "modes: apply ipip over b1..b3" apply ipip 5-tuple 3
	conns_start modes
	check "modes: $CONNS keep-alive connections to both VIPs answer" answering
	for m in gue l2 ipip; do
		check "modes: change to \"forward\": \"$m\"" apply $m 5-tuple 3
		check "modes: every connection answered 10 requests more since the change to $m" settle
	done
	conns_end
	check "modes: every connection kept its backend from ipip to gue to l2 to ipip" kept_all
fi

# ---- the hash fields ------------------------------------------------------------------------
if [ -n "${HASH-1}" ]; then
	udp_ten() { for i in $(seq 10); do udp_query $VIP4 "h$i" | cut -d' ' -f1; done; }
	fresh_dns() {
		fwd_config ipip $1 3 | jq 'del(.services[2, 3])' >/tmp/$LP-fwd.json &&
			xlb config apply /tmp/$LP-fwd.json --force >/dev/null && apply ipip $1 3
	}
	for i in $(seq 11 22); do lab client ip addr add 203.0.113.$i/24 dev ${LP}c0; done
	check "hash: apply web, web6, dns, dns6 over b1..b3 (5-tuple)" apply ipip 5-tuple 3
	a=$(ask 20 http://$VIP4/)
	check "hash: control: the 5-tuple spreads one client's 20 connections ($(spread "$a"))" \
		test "$(sort -u <<<"$a" | grep -c '^b')" -ge 2
	conns_start hash
	check "hash: $CONNS keep-alive connections to both VIPs answer" answering
	check "hash: a change to \"hash\": \"src\" (every flow placed anew)" apply ipip src 3
	check "hash: every connection answered 10 requests more since the change" settle
	conns_end
	check "hash: every connection kept its backend through the change of hash" kept_all
	for h in src src-dport; do
		[ $h = src ] || check "hash: apply \"hash\": \"$h\"" apply ipip $h 3
		a=$(ask 20 http://$VIP4/)
		check "hash $h: one client's 20 connections land on one backend ($(spread "$a"))" \
			test "$(sort -u <<<"$a" | grep -xc 'b[123]')" = 1 -a "$(grep -c FAIL <<<"$a")" = 0
		a=$(ask 10 "http://[$VIP6]/")
		check "hash $h: over IPv6 too ($(spread "$a"))" \
			test "$(sort -u <<<"$a" | grep -xc 'b[123]')" = 1 -a "$(grep -c FAIL <<<"$a")" = 0
		all="" one=0
		for i in $(seq 11 22); do
			a=$(ask 4 http://$VIP4/ 5 203.0.113.$i)
			[ "$(sort -u <<<"$a" | grep -xc 'b[123]')" = 1 ] && one=$((one + 1))
			all="$all$a"$'\n'
		done
		check "hash $h: each of 12 more clients stays on one backend ($one of 12)" test $one = 12
		check "hash $h: and the clients spread over the backends ($(spread "$all"))" \
			test "$(sort -u <<<"$all" | grep -c '^b')" -ge 2
		# UDP has no SYN: a new flow in a slot the change moved goes to its
		# previous backend until the daemon releases the slot (none runs
		# here); a service made with the hash has no slot moved
		a=$(udp_ten)
		[ $h != src ] || check "hash $h: UDP keeps the 5-tuple's placement in the moved slots meanwhile: 10 queries spread ($(spread "$a"))" \
			test "$(grep -c '^b' <<<"$a")" = 10 -a "$(sort -u <<<"$a" | wc -l)" -ge 2
		check "hash $h: dns and dns6 removed, then made anew" fresh_dns $h
		a=$(udp_ten)
		check "hash $h: 10 UDP queries from one client's ports land on one backend ($(spread "$a"))" \
			test "$(grep -c '^b' <<<"$a")" = 10 -a "$(sort -u <<<"$a" | wc -l)" = 1
	done
fi
done_testing
