#!/usr/bin/env bash
# tools/run-tests counts a test failed when its TAP plan ("1..N") and the
# results it printed disagree, or when it printed no plan (it stopped early).
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

mk() { printf '%s\n' ". '$ROOT/tests/lib.sh'" "$2" >"$TMP/$1.sh"; }
mk whole 'ok "a"; ok "b"; done_testing'
mk early 'ok "a"; exit 0; ok "b"; done_testing'
mk died 'ok "a"; kill -9 $$'
mk lying 'echo "ok 1 - a"; echo "1..3"'
mk twoplans 'echo "1..1"; echo "ok 1 - a"; echo "1..1"; echo "ok 1 - b"'
mk skipped 'skip_all "nothing to run here"'

# run NAME: "passed failed skipped" that run-tests wrote for one test
run() {
	rm -rf "$TMP/res"
	CI= "$ROOT/tools/run-tests" t "$TMP/res" "$TMP/$1.sh" >"$TMP/$1.out" 2>&1
	cat "$TMP/res/t"
}
check "a whole test passes" test "$(run whole)" = "2 0 0"
check "a test that exits 0 before its end fails (no plan)" test "$(run early)" = "1 1 0"
grep -q "early.sh printed no TAP plan" "$TMP/early.out" && ok "and says it printed no plan" \
	|| not_ok "and says it printed no plan: $(cat "$TMP/early.out")"
check "a test killed midway fails" test "$(run died)" = "1 1 0"
check "a plan larger than the results fails" test "$(run lying)" = "1 1 0"
grep -q "planned 3 check(s) but reported 1" "$TMP/lying.out" && ok "and says planned against reported" \
	|| not_ok "and says planned against reported: $(cat "$TMP/lying.out")"
check "plans of several groups add up (cmocka)" test "$(run twoplans)" = "2 0 0"
check "skip_all plans its one skip" test "$(run skipped)" = "0 0 1"
run whole >/dev/null
check "each file's wall time goes to SUITE.times" grep -qE '^whole\.sh [0-9]+$' "$TMP/res/t.times"
grep -qE '^# time: t/whole\.sh [0-9]+ s$' "$TMP/whole.out" && ok "and follows its output as a TAP comment" \
	|| not_ok "and follows its output as a TAP comment: $(cat "$TMP/whole.out")"
# RUN_TESTS_JOBS=2: the same counts and the same output, file by file in order
# (a slow first file: the second ends first, and is still reported second)
mk slow 'sleep 1; ok "slow"; done_testing'
all() {
	rm -rf "$TMP/res"
	CI= RUN_TESTS_JOBS=$1 "$ROOT/tools/run-tests" t "$TMP/res" \
		"$TMP"/{slow,whole,early,died,lying,twoplans,skipped}.sh 2>&1 | grep -v '^# time:' | sed -E 's/: +[0-9]+ +Killed/: PID Killed/' >"$TMP/all$1.out"
	cat "$TMP/res/t"
}
check "two at a time: the same counts as one at a time" test "$(all 2)" = "$(all 1)"
check "and the same output, in the same order" diff "$TMP/all1.out" "$TMP/all2.out"
check "a RUN_TESTS_JOBS that is not a number is refused" bash -c "! RUN_TESTS_JOBS=x '$ROOT/tools/run-tests' t '$TMP/res' '$TMP/whole.sh'"
done_testing
