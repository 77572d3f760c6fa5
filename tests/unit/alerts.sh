#!/usr/bin/env bash
# The alert rules (contrib/prometheus/xlb-rules.yml): valid, every alert fired
# and kept quiet by promtool test rules, every metric they read exported.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$ROOT/contrib/prometheus
command -v promtool >/dev/null || skip_all "needs promtool (make deps)"
check "promtool check rules" promtool check rules "$D/xlb-rules.yml"
check "promtool test rules" promtool test rules "$D/xlb-rules.test.yml"
alerts=$(sed -n 's/^ *- alert: *//p' "$D/xlb-rules.yml")
check "the rules have alerts" test -n "$alerts"
# per alert: a case that expects it to fire, and one that expects none
cases=$(awk '/alertname:/ {a = $2} /exp_alerts: \[\]/ {print a, "quiet"; next}
	/exp_alerts:$/ {print a, "fires"}' "$D/xlb-rules.test.yml" | sort -u)
for a in $alerts; do
	check "$a fires in a test" grep -qx "$a fires" <<<"$cases"
	check "$a stays quiet in a test" grep -qx "$a quiet" <<<"$cases"
	check "$a has a section in doc/runbook.md" grep -q "^### $a " "$ROOT/doc/runbook.md"
done
# every xlb_ metric a rule reads is one the daemon exports
unknown=""
for m in $(grep -o 'xlb_[a-z_]*' "$D/xlb-rules.yml" | sort -u); do
	grep -q "\"$m\"" "$ROOT/user/daemon/metrics.c" || unknown="$unknown $m"
done
check "the rules read only exported metrics${unknown:+ (unknown:$unknown)}" test -z "$unknown"
done_testing
