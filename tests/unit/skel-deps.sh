#!/usr/bin/env bash
# Each object waits for the BPF skeletons it includes and for no others (read
# from `make -n -B` in an empty build directory, on the real Makefile).
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# skels OBJ: the skeletons make would generate to build OBJ from nothing
skels() {
	make -C "$ROOT" -n -B --no-print-directory BUILD="$TMP/b" "$TMP/b/$1" 2>&1 |
		grep -oE 'gen skeleton [^ ]+/[a-z]+\.bpf\.o' | sed 's|.*/||; s|\.bpf\.o||' | sort | tr '\n' ' '
}
check "a module that includes no skeleton waits for none (flow.o)" test "$(skels user/dataplane/flow.o)" = ""
check "the loader waits for the balancer's skeleton only" test "$(skels user/dataplane/loader.o)" = "xlb "
check "the decap module waits for the decap skeleton only" test "$(skels user/dataplane/decap.o)" = "decap "
check "a header's skeleton counts (xlbtest.h: xlb)" test "$(skels tests/bpf/test_xlb.o)" = "xlb "
check "the pktgen test waits for its three" test "$(skels tests/bpf/test_pktgen.o)" = "fwd pktgen sink "
# the rules come from the sources: a new include is picked up
mkdir -p "$TMP/src/user/x"
printf '#include "sink.skel.h"\n' >"$TMP/src/user/x/new.c"
(cd "$TMP/src" && "$ROOT/tools/skel-deps" B user/x/new.c) >"$TMP/rule"
check "skel-deps reads a new include" grep -qx 'B/user/x/new.o: B/sink.skel.h ' "$TMP/rule"
done_testing
