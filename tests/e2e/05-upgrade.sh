#!/usr/bin/env bash
# Upgrade: attaching a newly built program again keeps the connection table,
# the moved table slots and the established connections.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
attach
config 100 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
requests 30 http://$VIP4/ >/dev/null
lab client curl -s -m 60 -o /tmp/$LP-big.out http://$VIP4/slow &
curl_pid=$!
wait_for 10 test -s /tmp/$LP-big.out	# the download is under way
# a change moves some slots: their flows are remembered from here on
config 100 150 100 >/tmp/$LP-b.json
check "apply a change that moves slots" xlb config apply /tmp/$LP-b.json
requests 30 http://$VIP4/ >/dev/null
id1=$(xlb -j status | jq -r '.[0].prog_id')
flows1=$(xlb -j status | jq -r '.[0].flows.entries')
moved1=$(xlb -j status | jq -r '.[0].moved_slots')
# a newly built program: the same source built again into another object
make -s -C "$ROOT" build/xlb >/dev/null
out=$(lab lb "$ROOT/build/xlb" -j attach ${LP}lb0 2>/dev/null)
check "attach again adopts the pinned state" bash -c "jq -e '.adopted' <<<'$out'"
id2=$(xlb -j status | jq -r '.[0].prog_id')
flows2=$(xlb -j status | jq -r '.[0].flows.entries')
check "the program was replaced ($id1 -> $id2)" test "$id1" != "$id2"
check "while the download was still running" kill -0 $curl_pid
check "the connection table was kept ($flows1 -> $flows2 entries)" test "$flows2" -ge "$flows1"
moved2=$(xlb -j status | jq -r '.[0].moved_slots')
check "the moved slots were kept ($moved1 -> $moved2)" test "$moved2" = "$moved1" -a "$moved1" -gt 0
check "the configuration generation was kept" test "$(xlb -j status | jq -r '.[0].generation')" = 2
wait $curl_pid; rc=$?
check "the established download survived the upgrade (curl exit $rc)" test $rc = 0
check "its bytes are intact" cmp -s /tmp/$LP-big.out /tmp/$LP-big.bin
rm -f /tmp/$LP-big.out
answers=$(requests 30 http://$VIP4/)
check "new connections are served by the new program" test "$(grep -c '^b[123]$' <<<"$answers")" = 30
done_testing
