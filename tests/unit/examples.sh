#!/usr/bin/env bash
# The example configurations are valid, and the README's first example is examples/web.json.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
n=0
for f in "$ROOT"/examples/*.json; do
	check "examples/${f##*/} is valid" $XLB config validate "$f"
	n=$((n + 1))
done
check "five examples or more ($n)" test "$n" -ge 5
# the first JSON block of the README is examples/web.json, byte for byte
readme=$(awk '/^```json$/ {on = 1; next} on && /^```$/ {exit} on' "$ROOT/README.md")
check "the README shows examples/web.json" test "$readme" = "$(cat "$ROOT/examples/web.json")"
done_testing
