#!/usr/bin/env bash
# user/ stays readable in one sitting: no file over 700 lines, no function
# over 80 (tools/fnlen measures a body from its "{" to its "}").
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

big=$(wc -l "$ROOT"/user/*/*.[ch] | awk '$2 != "total" && $1 > 700 { print $2 " " $1 }')
check "no file in user/ over 700 lines" test -z "$big" || echo "# $big"
long=$("$ROOT/tools/fnlen" "$ROOT"/user/*/*.c | awk '$1 > 80')
check "no function in user/ over 80 lines" test -z "$long"
[ -z "$long" ] || printf '#   %s\n' "$long"
echo "# longest: $("$ROOT/tools/fnlen" "$ROOT"/user/*/*.c | head -1 | sed "s|$ROOT/||")"
# the measure sees a long function (negative control)
{ printf 'static int f(void)\n{\n'; for i in $(seq 85); do echo "	i++;"; done; printf '}\n'; } >"$TMP/long.c"
check "tools/fnlen measures a planted 87-line function" \
	test "$("$ROOT/tools/fnlen" "$TMP/long.c" | cut -d' ' -f1,3)" = "87 f"
done_testing
