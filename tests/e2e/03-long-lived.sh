#!/usr/bin/env bash
# A TCP stream kept open across 20 table changes, including removal of the
# other backends, is never reset.
. "$(dirname "$0")/lib.sh"
lab_up --backends 4
attach
GUARDS='"guards":{"max_churn":1,"max_share":1}' config 100 100 100 100 >/tmp/$LP-4.json
check "apply b1..b4" xlb config apply /tmp/$LP-4.json
# 2 MB paced by the server at 400 kB/s: about 5 s
lab client curl -s -m 60 -D /tmp/$LP-hdr -o /tmp/$LP-big.out \
	-w '%{size_download}' http://$VIP4/slow >/tmp/$LP-size 2>/tmp/$LP-curl.err &
curl_pid=$!
wait_for 5 grep -qi x-backend /tmp/$LP-hdr
mine=$(awk -F': ' 'tolower($1) == "x-backend" {print $2}' /tmp/$LP-hdr | tr -d '\r')
check "the stream is served by a backend ($mine)" test -n "$mine"
n=${mine#b}
others=$(for i in 1 2 3 4; do [ $i = "$n" ] || echo $i; done)
changes=0
for round in 1 2 3 4 5; do
	for o in $others; do
		xlb backend remove web 198.51.100.$o --force >/dev/null 2>&1 && changes=$((changes + 1))
	done
	for o in $others; do
		xlb backend add web 198.51.100.$o --force >/dev/null 2>&1 && changes=$((changes + 1))
	done
	[ $changes -ge 20 ] && break
done
check "20 table changes while the stream runs ($changes)" test $changes -ge 20
check "the stream was still running after them" kill -0 $curl_pid
wait $curl_pid; rc=$?
check "the stream was never reset (curl exit $rc)" test $rc = 0
check "all 2,000,000 bytes arrived intact" cmp -s /tmp/$LP-big.out /tmp/$LP-big.bin
rm -f /tmp/$LP-big.out
done_testing
