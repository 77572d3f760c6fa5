#!/usr/bin/env bash
# The direct lab (no bridge; lb routes between a veth per node), the layout
# of the packet-rate benchmark: HTTP and UDP through xlb, which redirects
# between interfaces; pktgen's frames, from each of its engines, reach the
# backends through xlb.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3 --direct
check "no switch namespace" test ! -e /run/netns/$LP-sw
out=$(lab client curl -s -m 2 http://$VIP4/ 2>&1); rc=$?
check "negative control: the VIP does not answer without xlb (curl exit $rc)" test $rc -ne 0
check "attach" lab lb "$ROOT/build/xlb" --state /tmp/$LP-state attach ${LP}lb0 --src4 198.51.100.254
config 100 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
answers=$(requests 90 http://$VIP4/)
check "90 requests answered ($(grep -c FAIL <<<"$answers") failed)" test "$(grep -c '^b[123]$' <<<"$answers")" = 90
for b in b1 b2 b3; do
	n=$(grep -cx $b <<<"$answers")
	check "$b answered $n of 90 (10..50)" test "$n" -ge 10 -a "$n" -le 50
done
check "UDP answered by a backend" bash -c "$(declare -f udp_query lab); LAB=$LAB LP=$LP; udp_query $VIP4 hello | grep -qE '^b[123] hello\$'"
check "xlb redirected between interfaces" bash -c "$LAB xlb --prefix $LP -j stats | jq -e '.verdicts.forward_redirect > 0'"

# 3000 pktgen frames (3000 flows) into xlb, from each engine this kernel
# allows (auto's first, then the others by name): every frame the veth took
# (pktgen's "xmit"; a busy machine's full ring refuses some, counted as xmit
# errors) is forwarded by xlb to a backend
dns_packets() { $LAB xlb --prefix $LP -j stats | jq '[.services[] | select(.service == "dns") | .backends[].packets] | add'; }
engines=$("$ROOT/build/pktgen" --help | sed -nE 's/.*or one of: ([a-z_, ]+)$/\1/p' | tr -d ,)
for e in auto $engines; do
	before=$(dns_packets)
	gen=$(lab client "$ROOT/build/pktgen" -j --dev ${LP}c0 --dst-mac 02:00:cc:00:00:fe \
		--src 203.0.113.10 --dst $VIP4 --dport 53 --flows 3000 --count 3000 -q --engine $e \
		2>/tmp/$LP-gen.err | jq -c 'select(.total)')
	if [ -z "$gen" ] && [ $e != auto ] && grep -q "no engine can send on ${LP}c0: $e" /tmp/$LP-gen.err; then
		ok "pktgen $e: refused by this kernel, saying why: $(sed 's/.*: //' /tmp/$LP-gen.err | head -c 150)"
		continue
	fi
	used=$(jq -r '.engine // "none"' <<<"$gen")
	[ $e = auto ] && first=$used
	[ $e != auto ] && [ "$used" = "$first" ] && continue	# measured as auto's
	xmit=$(jq -r '.xmit // 0' <<<"$gen")
	check "pktgen $e ($used) through xlb: the veth took $xmit of 3000 frames" test "${xmit:-0}" -ge 300
	after=$(dns_packets)
	check "xlb forwarded every frame it got from $used ($before -> $after, $xmit taken)" \
		test $((after - before)) = "$xmit"
done
rm -f /tmp/$LP-gen.err
done_testing
