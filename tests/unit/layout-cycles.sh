#!/usr/bin/env bash
# No two modules of user/ need each other.  A module is a .c file and its own
# header (same name); A needs B when A's .c or .h includes B's header, or
# (from the built objects) when A's object uses a symbol B's object defines.
# Any pair that needs each other both ways is a cycle and fails.  The daemon's
# jobs (user/daemon/) share their state through state.h and are left out of
# the symbol check; the include check covers them.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# include_edges DIR: "A B" for each module A of DIR/*/ that includes B.h, B a
# module (B.c exists) other than A
include_edges() {
	local dir=$1 c m f h
	for c in "$dir"/*/*.c; do
		m=$(basename "$c" .c)
		for f in "$c" "${c%.c}.h"; do
			[ -f "$f" ] || continue
			sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' "$f" |
			while read -r h; do
				[ "$h" != "$m" ] && compgen -G "$dir/*/$h.c" >/dev/null && echo "$m $h"
			done
		done
	done | sort -u
}

# symbol_edges DIR WING...: "A B" for objects DIR/WING/A.o that use a global
# symbol DIR/WING/B.o defines (A, B as WING/NAME)
symbol_edges() {
	local dir=$1 o m
	shift
	for w in "$@"; do
		for o in "$dir/$w"/*.o; do
			[ -f "$o" ] || continue
			m=$w/$(basename "$o" .o)
			nm -g --defined-only "$o" | awk -v m="$m" 'NF == 3 { print "D", $3, m }'
			nm -u "$o" | awk -v m="$m" '{ print "U", $2, m }'
		done
	done | awk '$1 == "D" { def[$2] = $3; next } { use[$2 " " $3] = 1 }
		END { for (k in use) { split(k, a, " ");
			if ((a[1] in def) && def[a[1]] != a[2]) print a[2], def[a[1]] } }' | sort -u
}

# cycles: the pairs "A <-> B" among the edges on stdin
cycles() {
	awk '{ e[$1 " " $2] = 1 } END { for (k in e) { split(k, a, " ");
		if ((a[2] " " a[1]) in e && a[1] < a[2]) print a[1] " <-> " a[2] } }' | sort
}

# verb_uses: edges from one verb file (cmd/cmd_*) to another
verb_uses() { grep -E '^cmd/cmd_[a-z_]+ cmd/cmd_[a-z_]+$' || true; }

# negative controls: a planted include cycle, a planted symbol cycle
cp -r "$ROOT/user" "$TMP/user"
echo '#include "plan.h"' >>"$TMP/user/change/shares.c"
got=$(include_edges "$TMP/user" | cycles)
check "negative control: an include cycle planted in a copy is found ($got)" \
	grep -qx 'plan <-> shares' <<<"$got"
mkdir -p "$TMP/obj/cmd"
printf 'int b(void);\nint a(void) { return b(); }\n' >"$TMP/a.c"
printf 'int a(void);\nint b(void) { return a() + 1; }\n' >"$TMP/b.c"
cc -c "$TMP/a.c" -o "$TMP/obj/cmd/cmd_a.o" && cc -c "$TMP/b.c" -o "$TMP/obj/cmd/cmd_b.o"
edges=$(symbol_edges "$TMP/obj" cmd)
check "negative control: a symbol cycle between two verb files is found" \
	grep -qx 'cmd/cmd_a <-> cmd/cmd_b' <<<"$(cycles <<<"$edges")"
check "negative control: a verb file using another's symbol is found" \
	test -n "$(verb_uses <<<"$edges")"

# the tree
got=$(include_edges "$ROOT/user" | cycles | paste -sd ";" -)
check "no two modules of user/ include each other's header${got:+: $got}" test -z "$got"
if compgen -G "$BUILD/user/cmd/*.o" >/dev/null; then
	edges=$(symbol_edges "$BUILD/user" cmd change dataplane util)
	got=$(cycles <<<"$edges" | paste -sd ";" -)
	check "no two modules of cmd/ change/ dataplane/ util/ use each other's symbols${got:+: $got}" \
		test -z "$got"
	got=$(verb_uses <<<"$edges" | tr '\n' ' ')
	check "no verb file uses another verb file's symbols (shared: common.c, stepped.c, print.c)${got:+: $got}" \
		test -z "$got"
else
	not_ok "no objects in $BUILD/user: build first (make)"
fi
done_testing
