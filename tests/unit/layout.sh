#!/usr/bin/env bash
# One place knows the maps: in user/, a map's content is read and written
# (bpf_map_lookup/update/delete, get_next_key, the batch calls) only in
# user/dataplane/dataplane*.c, and by the loaders that create, pin and carry
# maps over: loader.c (the pinned state's xlb_version), upgrade.c (a pinned map
# carried into a larger one at attach), decap.c (the decap program's own
# maps) and hcpath.c (the health checks' tc program's own maps).  Everything else goes through dataplane.h.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

CALLS='bpf_map_(lookup_elem|lookup_elem_flags|lookup_and_delete_elem|update_elem|delete_elem|get_next_key|lookup_batch|update_batch|delete_batch|lookup_and_delete_batch)[[:space:]]*\('
ALLOWED='^user/dataplane/(dataplane[a-z_]*|loader|upgrade|decap|hcpath)\.c:'

# raw TREE: the raw content calls under TREE/user outside the allowed files
raw() {
	(cd "$1" && grep -rnE "$CALLS" user --include='*.c' --include='*.h' | grep -vE "$ALLOWED")
}

mkdir -p "$TMP/tree"
cp -r "$ROOT/user" "$TMP/tree/"
printf '\nstatic int planted(int fd) { int k = 0, v; return bpf_map_lookup_elem(fd, &k, &v); }\n' \
	>>"$TMP/tree/user/change/commit.c"
printf '\nstatic void planted2(int fd) { int k = 0; bpf_map_delete_elem (fd, &k); }\n' \
	>>"$TMP/tree/user/dataplane/status.c"
check "negative control: calls planted in commit.c and status.c are caught" \
	bash -c "$(declare -f raw); CALLS='$CALLS' ALLOWED='$ALLOWED'; out=\$(raw '$TMP/tree');
		 grep -q 'user/change/commit.c' <<<\"\$out\" && grep -q 'user/dataplane/status.c' <<<\"\$out\""
out=$(raw "$ROOT")
check "no raw map content call outside dataplane*.c and the loaders${out:+: $out}" test -z "$out"
check "the allowed files are there (the rule names real files)" \
	test -f "$ROOT/user/dataplane/dataplane.c" -a -f "$ROOT/user/dataplane/loader.c" \
	-a -f "$ROOT/user/dataplane/upgrade.c" -a -f "$ROOT/user/dataplane/decap.c"
# a commit computes its new slot contents without the maps (slotplan.c), then writes them
check "slotplan.c, the commit's computation, touches no map" bash -c \
	"! grep -nE 'xlb_dp_|bpf_|dataplane\.h|fopen|open\(' '$ROOT/user/change/slotplan.c'"
done_testing
