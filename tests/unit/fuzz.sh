#!/usr/bin/env bash
# The parser's fuzzer (tests/fuzz/fuzz_parse.c) as a short, bounded check:
# built with libFuzzer, ASan and UBSan, it runs a fixed number of inputs from
# the seed corpus (test_parse writes it) with its oracle and agrees with
# parse.h throughout.  Then the oracle is shown able to fail: each of a few
# known parser bugs, put into a copy of parse.h, must be caught within a
# bounded number of runs, by a seed or by the fuzzer's own mutations.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLANG=${CLANG:-clang}
RUNS=${FUZZ_CHECK_RUNS:-300000}	# the real parser, under ASan and UBSan
MUTANT_RUNS=2000000		# at most, for each known bug (seed 1 finds the slowest in ~450000)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return !d + n * 0; }' >"$TMP/probe.c"
"$CLANG" -fsanitize=fuzzer "$TMP/probe.c" -o "$TMP/probe" >/dev/null 2>&1 ||
	skip_all "$CLANG cannot build a libFuzzer target (-fsanitize=fuzzer)"
[ -x "$ROOT/build/tests/unit/test_parse" ] || skip_all "build/tests/unit/test_parse is not built"

mkdir -p "$TMP/seeds"
XLB_DUMP_CORPUS=$TMP/seeds "$ROOT/build/tests/unit/test_parse" >/dev/null
check "test_parse writes the seed corpus ($(ls "$TMP/seeds" | wc -l) seeds)" \
	test "$(ls "$TMP/seeds" | wc -l)" -ge 12

# tree NAME: a copy of the sources the fuzzer compiles, in $TMP/NAME
tree() {
	mkdir -p "$TMP/$1/tests"
	cp -r "$ROOT/bpf" "$ROOT/include" "$TMP/$1/"
	cp -r "$ROOT/tests/fuzz" "$TMP/$1/tests/"
}
# build NAME SANITIZERS: $TMP/NAME/fuzz from the copy
build() {
	"$CLANG" -g -O1 -fsanitize="$2" -fno-sanitize-recover=all -I"$TMP/$1/include" \
		"$TMP/$1/tests/fuzz/fuzz_parse.c" -o "$TMP/$1/fuzz" 2>"$TMP/$1/cc.log"
}
# fuzz NAME RUNS: RUNS inputs from a fresh copy of the seeds (seed 1: repeatable)
fuzz() {
	rm -rf "$TMP/$1/corpus"
	cp -r "$TMP/seeds" "$TMP/$1/corpus"
	(cd "$TMP/$1" && ./fuzz -runs="$2" -seed=1 -max_len=512 -artifact_prefix="$TMP/$1/" \
		corpus >"$TMP/$1/log" 2>&1)
}

tree real
check "the fuzzer builds (libFuzzer, ASan, UBSan)" build real fuzzer,address,undefined
if fuzz real "$RUNS"; then
	ok "$RUNS runs: parse.h and the oracle agree, no sanitizer report"
else
	not_ok "the fuzzer found a disagreement or a memory error in $RUNS runs"
	grep -E 'oracle:|ERROR|SUMMARY' "$TMP/real/log" | head -5 | sed 's/^/#   /'
fi

# found NAME: "by a seed", or about when the fuzzer's mutations found it
found() {
	local n
	n=$(grep -oE '^#[0-9]+' "$TMP/$1/log" | tail -1 | tr -d '#')
	if [ -z "$n" ]; then echo "by a seed"; else echo "within about $n runs"; fi
}

# mutant NAME WHAT SED: parse.h with SED applied must differ and be caught
mutant() {
	local name=$1 what=$2
	tree "$name"
	sed -i "$3" "$TMP/$name/bpf/parse.h"
	if cmp -s "$ROOT/bpf/parse.h" "$TMP/$name/bpf/parse.h"; then
		not_ok "mutant $name ($what) no longer applies to parse.h: update this test"
		return
	fi
	if ! build "$name" fuzzer; then
		not_ok "mutant $name ($what) does not compile"; sed 's/^/#   /' "$TMP/$name/cc.log" | head -5
		return
	fi
	if fuzz "$name" "$MUTANT_RUNS"; then
		not_ok "mutant $name ($what) not caught in $MUTANT_RUNS runs"
	elif grep -q '^oracle:' "$TMP/$name/log"; then
		ok "mutant $name ($what) caught $(found "$name"): $(grep -m1 '^oracle:' "$TMP/$name/log")"
	else
		not_ok "mutant $name ($what) failed, but not by the oracle"
		tail -5 "$TMP/$name/log" | sed 's/^/#   /'
	fi
}

# issue 22, defect 10: a later IPv6 fragment's payload walked as headers
mutant frag-walk "later ipv6 fragment walked as headers" '/^\t\tif (frag)$/,+1d'
# issue 22, defect 11: an ICMP error to the node tunnelled by its quote
mutant icmp-to-node "icmp error not checked against its outer destination" \
	'/if (in->saddr != pkt->daddr.v4)/,+1d'
# the quoted ports read past the IP packet's end
mutant quote-end "icmp quote read past the ip packet's end" 's/ || off + 4 > end)/)/'
# off by one: a UDP length of 4..7 taken for a header
mutant udp-len "udp length below 8 accepted" 's/bpf_ntohs(uh->len) < sizeof(\*uh)/bpf_ntohs(uh->len) < 4/'
# IHL 4 taken for a header
mutant ihl "ipv4 ihl 4 accepted" 's/hlen < sizeof(\*iph)/hlen < 16/'

done_testing
