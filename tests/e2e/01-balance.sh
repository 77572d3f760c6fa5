#!/usr/bin/env bash
# HTTP over TCP and a UDP service, IPv4 and IPv6: every request answered, by
# backends and not the xlb node (DSR), spread evenly, weights respected.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3 --ipv6

# negative control: without xlb the VIP does not answer
out=$(lab client curl -s -m 2 http://$VIP4/ 2>&1); rc=$?
check "negative control: the VIP does not answer without xlb (curl exit $rc)" test $rc -ne 0

attach
config 100 100 100 >/tmp/$LP-even.json
check "apply 3 equal backends" xlb config apply /tmp/$LP-even.json
cat >/tmp/$LP-v6.json <<JSON
{"services":[{"name":"web6","vip":"$VIP6","port":80,"protocol":"tcp","backends":[
 {"address":"2001:db8:b::1"},{"address":"2001:db8:b::2"},{"address":"2001:db8:b::3"}]},
 {"name":"dns6","vip":"$VIP6","port":53,"protocol":"udp","backends":[
 {"address":"2001:db8:b::1"},{"address":"2001:db8:b::2"},{"address":"2001:db8:b::3"}]},
 $(sed 's/^{"services":\[//; s/\]}$//' /tmp/$LP-even.json)]}
JSON
check "apply IPv4 and IPv6 services" xlb config apply /tmp/$LP-v6.json

# 300 new connections over 3 equal backends: each expects 100; the count of
# one backend is binomial (sd 8.2): accept 100 +- 40 (about 5 sd)
answers=$(requests 300 http://$VIP4/)
fails=$(grep -c FAIL <<<"$answers")
check "300 HTTP requests over IPv4, all answered ($fails failed)" test "$fails" = 0
for b in b1 b2 b3; do
	n=$(grep -cx $b <<<"$answers")
	check "IPv4: $b answered $n of 300 (60..140)" test "$n" -ge 60 -a "$n" -le 140
done
answers=$(requests 150 "http://[$VIP6]/")
check "150 HTTP requests over IPv6, all answered" test "$(grep -c FAIL <<<"$answers")" = 0
for b in b1 b2 b3; do
	n=$(grep -cx $b <<<"$answers")
	check "IPv6: $b answered $n of 150 (20..80)" test "$n" -ge 20 -a "$n" -le 80
done

ok4=0 ok6=0
for i in $(seq 30); do
	udp_query $VIP4 "q$i" | grep -qE "^b[123] q$i\$" && ok4=$((ok4 + 1))
	udp_query $VIP6 "q$i" | grep -qE "^b[123] q$i\$" && ok6=$((ok6 + 1))
done
check "30 UDP queries over IPv4 answered by backends ($ok4)" test $ok4 = 30
check "30 UDP queries over IPv6 answered by backends ($ok6)" test $ok6 = 30

# DSR: a 2 MB answer reaches the client without passing the xlb node
# bytes, not packets (veth carries GSO super-packets); sysfs would show the
# host's namespace under nsenter, so ask ip
rx_lb() { lab sw ip -j -s link show dev ${LP}slb | jq '.[0].stats64.tx.bytes'; }
rx_client() { lab client ip -j -s link show dev ${LP}c0 | jq '.[0].stats64.rx.bytes'; }
l0=$(rx_lb); c0=$(rx_client)
size=$(lab client curl -s -m 20 -o /dev/null -w '%{size_download}' http://$VIP4/big)
l1=$(rx_lb); c1=$(rx_client)
check "a 2 MB download through the VIP completes ($size bytes)" test "$size" = 2000000
check "its $((c1 - c0)) bytes to the client did not pass the xlb node ($((l1 - l0)) bytes reached it)" \
	test $((c1 - c0)) -gt 2000000 -a $((l1 - l0)) -lt 200000

# weights 2:1:1 -> expect 150/75/75 of 300
config 200 100 100 >/tmp/$LP-w.json
check "apply weights 2:1:1" xlb config apply /tmp/$LP-w.json
answers=$(requests 300 http://$VIP4/)
n1=$(grep -cx b1 <<<"$answers"); n2=$(grep -cx b2 <<<"$answers")
check "weight 2 got $n1 of 300 (110..190)" test "$n1" -ge 110 -a "$n1" -le 190
check "weight 1 got $n2 of 300 (40..110)" test "$n2" -ge 40 -a "$n2" -le 110
check "stats count the new flows per backend (>= 550 of 600 connections; reused ports hit)" bash -c "$LAB xlb --prefix $LP -j stats web | jq -e '[.services[0].backends[].new_flows] | add >= 550'"
done_testing
