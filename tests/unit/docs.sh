#!/usr/bin/env bash
# `xlb help`, the man page's synopsis and the README's command list agree.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
help=$($XLB help)
man=$(sed -n '/SYNOPSIS-BEGIN/,/SYNOPSIS-END/p' "$ROOT/doc/xlb.8" | grep -v '^\.\\"')
help_syn=$(sed -n '1,/^  xlb version$/p' <<<"$help" | sed '1s/^Usage: //')
check "man page synopsis is xlb help" test "$man" = "$help_syn"
missing=""
while read -r line; do
	case "$line" in xlb\ [a-z]*) grep -qF -- "$line" "$ROOT/README.md" || missing="$missing|$line" ;; esac
done <<<"$help_syn"
check "README lists every command of xlb help${missing:+ (missing: $missing)}" test -z "$missing"
check "man page renders without warnings" bash -c "! man --warnings -l '$ROOT/doc/xlb.8' 2>&1 >/dev/null | grep -q ."
check "help exits 0" $XLB help
check_exit "no command exits 1" 1 $XLB
done_testing
