#!/usr/bin/env bash
# The seeds' outage: a configuration that sends every flow to one backend
# whose server is stopped is refused; a 90 % skew shows in the plan before
# it is applied; rollback restores the previous tables byte for byte.
. "$(dirname "$0")/lib.sh"
lab_up --backends 3
attach
config 100 100 100 >/tmp/$LP-even.json
check "apply 3 equal backends" xlb config apply /tmp/$LP-even.json
# the fingerprint of the live table's bytes, read back from the data plane
live_table() { xlb -j table web | jq -r '.table_fingerprint'; }
before=$(live_table)
lab b1 sh -c "kill \$(cat /run/$LP-b1.nginx.pid)"	# b1's server is down
config 100 0 0 >/tmp/$LP-one.json
out=$(xlb config apply /tmp/$LP-one.json 2>&1); rc=$?
check "all flows to one (dead) backend is refused (exit $rc)" test $rc = 1
check "the refusal says why" bash -c "grep -q 'REFUSED: 198.51.100.1 would hold 100.0% of the slots' <<<'$out'"
check "the running tables are unchanged" test "$(live_table)" = "$before"
config 900 50 50 >/tmp/$LP-skew.json
out=$(xlb config plan /tmp/$LP-skew.json 2>&1); rc=$?
check "plan of a 90 % skew shows it before anything is applied" bash -c \
	"grep -Eq '198.51.100.1 .* 33.3% -> +90.0%' <<<'$out' && grep -q 'REFUSED' <<<'$out'"
check "plan exits 1 when the guards would refuse" test $rc = 1
check "plan changed nothing" test "$(live_table)" = "$before"
check "the skew can still be forced" xlb config apply /tmp/$LP-skew.json --force --reason drill
check "which changes the tables" test "$(live_table)" != "$before"
check "rollback" xlb config rollback --force
check "rollback restores the tables byte for byte" test "$(live_table)" = "$before"
answers=$(requests 60 http://$VIP4/)
check "b2 and b3 answer after the rollback (b1 is down)" test "$(grep -c '^b[23]$' <<<"$answers")" -ge 30
done_testing
