#!/usr/bin/env bash
# Bad input on the command line: exit 1, a clear message, no change.
. "$(dirname "$0")/lib.sh"
lab_up --backends 2
attach
config 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
state() { xlb -j status | jq -c '.[0] | {generation, active_slot}'; xlb -j table web | jq -c '.backends'; }
s0=$(state)
printf '{"services": [' >/tmp/$LP-trunc.json
printf '{"services":[{"name":"web","vip":"192.0.2.10","port":80,"protocol":"tcp","backends":[{"address":"198.51.100.1","weight":-1}]}]}' >/tmp/$LP-neg.json
expect_refusal() {	# NAME PATTERN CMD...
	local name=$1 pattern=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	if [ $rc = 1 ] && grep -q -- "$pattern" <<<"$out" && [ "$(state)" = "$s0" ]; then
		ok "$name"
	else
		not_ok "$name (exit $rc)"; printf '#   %s\n' "$out" | head -5
	fi
}
expect_refusal "a truncated file" "line 1" xlb config apply /tmp/$LP-trunc.json
expect_refusal "a negative weight" "backends\[0\].weight: -1: out of range" xlb config apply /tmp/$LP-neg.json
expect_refusal "a missing file" "cannot read" xlb config apply /tmp/$LP-nonexistent.json
expect_refusal "a missing file to validate" "cannot read" xlb config validate /tmp/$LP-nonexistent.json
expect_refusal "an unknown service" "no service 'nosuch'" xlb backend add nosuch 198.51.100.2
expect_refusal "an unknown address" "is not a backend of web" xlb backend remove web 198.51.100.77
expect_refusal "a malformed address" "not an IPv4 or IPv6 address" xlb backend add web 198.51.100.1.5
expect_refusal "a bad weight" "weight '-3'" xlb backend set web 198.51.100.1 weight -3
expect_refusal "an unknown verb" "unknown config verb" xlb config frobnicate
expect_refusal "an unknown rollback target" "no applied generation 42" xlb config rollback 42
expect_refusal "stats of an unknown service" "no service 'nosuch'" xlb stats nosuch
err=$(xlb -j backend add nosuch 198.51.100.2 2>&1 >/dev/null)
check "with -j the error is JSON" bash -c "jq -e '.error | test(\"nosuch\")' <<<'$err'"
done_testing
