#!/usr/bin/env bash
# `make demo`, `make check` and the bench targets install the Debian packages
# (tools/deps) before they compile anything, whatever order make picks for
# prerequisites: read from `make -n -B TARGET` on the real Makefile.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# order FILE: "deps LINE compile LINE" of the first dependency step and the
# first compiler run in make's dry-run output; 0 means never
order() {
	local deps compile
	deps=$(grep -nE '(^|[ /])tools/deps (check|install)' "$1" | head -1 | cut -d: -f1)
	compile=$(grep -nE '^(cc|gcc|clang|[^ ]*/(cc|gcc|clang)) ' "$1" | head -1 | cut -d: -f1)
	echo "deps ${deps:-0} compile ${compile:-0}"
}
# deps_first FILE: the dependency step runs, and before any compile
deps_first() {
	read -r _ d _ c <<<"$(order "$1")"
	[ "$d" -gt 0 ] && [ "$c" -gt 0 ] && [ "$d" -lt "$c" ]
}

# negative control: a Makefile whose prerequisites put the build first
mkdir -p "$TMP/bad"
printf 'all: prog\nprog: ; cc -c x.c -o prog\ndeps-check: ; tools/deps check\ndemo: all deps-check\n\ttools/demo\n' \
	>"$TMP/bad/Makefile"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -n -B -C "$TMP/bad" demo >"$TMP/bad.out" 2>&1
check "negative control: a build before the dependency step is caught ($(order "$TMP/bad.out"))" \
	bash -c "$(declare -f order deps_first); ! deps_first '$TMP/bad.out'"

# the real targets; a separate BUILD keeps the dry run off the tree's objects
for t in demo demo-fleet check bench bench-prog bench-ctl bench-fleet-sim; do
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n -B -C "$ROOT" BUILD="$TMP/build" "$t" \
		>"$TMP/$t.out" 2>&1
	check "make -n -B $t: dependencies before the first compile ($(order "$TMP/$t.out"))" \
		deps_first "$TMP/$t.out"
done
done_testing
