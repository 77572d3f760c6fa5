#!/usr/bin/env bash
# One state-file writer: no code in user/ outside util/fsutil.c creates or
# writes a file another way (fopen/fdopen for writing, O_CREAT, O_WRONLY,
# creat, json_dump_file, rename) — history, rollout.json, the metrics file,
# announce.json and the drain mark all go through xlb_write_state_file.  The
# few that are not state files are listed below by file and function.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# not state files: lock files (flock, never written), a sysctl, a BPF pin
ALLOWED='user/dataplane/loader.c:lock_dev
user/change/rollout.c:daemon_lock_fd
user/util/netutil.c:xlb_sysctl_write
user/dataplane/upgrade.c:xlb_stats_growth_commit'

# writers DIR: "FILE:FUNCTION:LINE: TEXT" for each way of writing a file in
# DIR/user/*/*.c outside fsutil.c (FUNCTION: the one the line is in)
writers() {
	local dir=$1 f
	for f in "$dir"/user/*/*.c; do
		case $f in */user/util/fsutil.c) continue ;; esac
		awk -v file="${f#"$dir"/}" '
			/^[A-Za-z_][^;]*\(/ && !/;[[:space:]]*$/ {
				fn = $0; sub(/\(.*/, "", fn); n = split(fn, w, /[ *]+/); fn = w[n] }
			/^[[:space:]]*(\/\*|\*)/ { next }
			/f(d)?open\([^)]*"[wa]|O_CREAT|O_WRONLY|[^_a-z]creat\(|json_dump_file\(|[^_a-z]rename(at)?2?\(/ {
				line = $0; gsub(/^[[:space:]]+/, "", line)
				print file ":" fn ":" FNR ": " line }' "$f"
	done
}

# unlisted: the writers whose FILE:FUNCTION is not allowed
unlisted() { grep -vF -f <(printf '%s:\n' $ALLOWED) || true; }

# negative control: a copy of user/ with a writer planted the old way
cp -r "$ROOT/user" "$TMP/user"
printf 'static void plant(void)\n{\n\tFILE *f = fopen("/tmp/x", "w");\n\n\tfclose(f);\n}\n' \
	>>"$TMP/user/daemon/announce.c"
printf 'static int plant2(void)\n{\n\treturn open("/tmp/y", O_WRONLY | O_CREAT, 0600);\n}\n' \
	>>"$TMP/user/cmd/cmd_node.c"
got=$(writers "$TMP" | unlisted)
check "negative control: an fopen(\"w\") planted in a copy is found" \
	grep -q '^user/daemon/announce.c:plant:' <<<"$got"
check "negative control: an open(O_CREAT) planted in a copy is found" \
	grep -q '^user/cmd/cmd_node.c:plant2:' <<<"$got"

# the tree
got=$(writers "$ROOT" | unlisted | paste -sd "|" -)
check "no file in user/ is written but through xlb_write_state_file${got:+: $got}" test -z "$got"
for a in $ALLOWED; do
	check "the allowed writer $a exists (the list is current)" \
		grep -q "^$a:" <<<"$(writers "$ROOT")"
done
done_testing
