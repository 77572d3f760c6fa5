#!/usr/bin/env bash
# xlb fleet plan|apply|status|history|rollback against a real one-member etcd
# on a namespace's own loopback: the conditional write (of two applies at the
# same instant exactly one wins, twenty times, history without gap or
# duplicate), guards and invalid files (nothing written), tampered bodies,
# node status records (exit 0/1), the store stopped (exit 2 naming it), bad
# store options and credential files.
. "$(dirname "$0")/../lib.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
NS=${XT_NS}fs
TMP=$(mktemp -d /tmp/xlb-fleet-XXXXXX)
trap 'rm -rf "$TMP"; xt_cleanup' EXIT
etcd_up "$NS" || { not_ok "etcd starts in $NS"; done_testing; exit 1; }
F=t1
x() { ip netns exec "$NS" "$XLB" "$@" --store "$ETCD_URL" --fleet $F; }
xf() { ip netns exec "$NS" env XLB_PAUSE_AT=fleet-desired XLB_PAUSE_SECONDS=0.3 \
	"$XLB_FAULTS" "$@" --store "$ETCD_URL" --fleet $F; }
ectl() { etcd_in "$NS" etcdctl --endpoints "$ETCD_URL" "$@"; }
K=/xlb/fleets/$F
desired() { ectl get --print-value-only $K/desired; }
dfield() { desired | jq -r ".$1"; }

# conf FILE W N...: one service, backends 198.51.100.N of weight 100, the last of weight W
conf() {
	local file=$1 w=$2 list="" n
	shift 2
	for n in "$@"; do
		[ "$n" = "${*: -1}" ] || list+="{ \"address\": \"198.51.100.$n\", \"weight\": 100 }, "
	done
	list+="{ \"address\": \"198.51.100.${*: -1}\", \"weight\": $w }"
	printf '{ "services": [ { "name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
	  "table_size": 1009, "backends": [ %s ] } ] }\n' "$list" >"$TMP/$file"
}
conf a.json 100 1 2 3
conf b.json 100 1 2 3 4

# ---- options and the store unreachable -----------------------------------
out=$(ip netns exec "$NS" "$XLB" fleet status --store http://127.0.0.1:2999 --fleet $F 2>&1); rc=$?
check "store unreachable: exit 2 ($rc)" test $rc -eq 2
check "and the error names the store's endpoint: $out" grep -q "127.0.0.1:2999" <<<"$out"
out=$(ip netns exec "$NS" "$XLB" fleet status --store ftp://127.0.0.1:1 --fleet $F 2>&1); rc=$?
check "a --store URL that is not http(s): exit 1, said ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'ftp://127.0.0.1:1' <<<'$out'"
out=$(ip netns exec "$NS" "$XLB" fleet status --store "$ETCD_URL" --fleet 'a/b' 2>&1); rc=$?
check "a bad --fleet name: exit 1, said ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q \"fleet 'a/b'\" <<<\"\$0\"" "$out"
out=$(ip netns exec "$NS" "$XLB" fleet status --store-file "$TMP/none.json" 2>&1); rc=$?
check "a missing client file: exit 1, named ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q none.json <<<\"\$0\"" "$out"
echo "s3cret-password" >"$TMP/pw"; chmod 600 "$TMP/pw"
printf '{"endpoints": ["%s"], "fleet": "%s", "user": "root", "password_file": "%s"}\n' \
	"$ETCD_URL" $F "$TMP/pw" >"$TMP/client.json"
chmod 644 "$TMP/client.json"
out=$(ip netns exec "$NS" "$XLB" fleet status --store-file "$TMP/client.json" 2>&1); rc=$?
check "a client file readable by others that names a password file: exit 1 ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'client.json' <<<\"\$0\" && grep -qi 'mode\|readable\|0644' <<<\"\$0\"" "$out"
check "and the password is never printed" bash -c "! grep -q s3cret <<<\"\$0\"" "$out"
printf '{"endpoints": ["%s"], "fleet": "%s"}\n' "$ETCD_URL" $F >"$TMP/plain.json"
check_exit "a client file without credentials (mode 0644) serves: status of an empty fleet exits 1" 1 \
	ip netns exec "$NS" "$XLB" fleet status --store-file "$TMP/plain.json"

# ---- apply, plan, history ---------------------------------------------------
check "apply a.json" x fleet apply "$TMP/a.json" --reason first
check "desired is generation 1 with a.json's fingerprint" test "$(dfield generation)" = 1
fp_a=$(dfield fingerprint)
check "the body is stored under config/FP" test -n "$(ectl get --print-value-only $K/config/$fp_a)"
out=$(x fleet apply "$TMP/a.json"); rc=$?
check "the same file again: nothing to do, exit 0, nothing written ($out)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'nothing to do' <<<\"\$0\" && [ $(dfield generation) = 1 ]" "$out"
out=$(x fleet plan "$TMP/b.json"); rc=$?
check "plan b.json: exit 0, the added backend shown ($rc)" \
	bash -c "[ $rc -eq 0 ] && grep -q '198.51.100.4 *added' <<<\"\$0\"" "$out"
check "plan writes nothing" test "$(dfield generation)" = 1
out=$(x -j fleet plan "$TMP/b.json")
check "-j plan: the plan as JSON" bash -c "jq -e '.services[0].backends | length == 4' <<<\"\$0\"" "$out"
check "apply b.json" x fleet apply "$TMP/b.json" --reason "add .4"
fp_b=$(dfield fingerprint)
check "desired: generation 2 replaces 1" test "$(dfield generation)/$(dfield replaces)" = 2/1

# ---- refusals: nothing written ----------------------------------------------
before=$(desired)
conf one.json 100 1
out=$(x fleet apply "$TMP/one.json" 2>&1); rc=$?
check "a guard refusal (3 of 4 backends removed): exit 1 with the plan ($rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q REFUSED <<<\"\$0\" && grep -q 'nothing written' <<<\"\$0\"" "$out"
check "nothing written: desired unchanged" test "$(desired)" = "$before"
out=$(x -j fleet apply "$TMP/one.json" 2>&1 >/dev/null)
check "-j: the refusal is JSON with the plan" bash -c "jq -e '.plan.services' <<<\"\$0\"" "$out"
printf '{ "services": [ { "name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp", "backends": [ { "address": "198.51.100.1", "weight": 70000 } ] } ] }\n' >"$TMP/bad.json"
out=$(x fleet apply "$TMP/bad.json" 2>&1); rc=$?
check "an invalid file: exit 1, the field named ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'backends\[0\].weight' <<<\"\$0\"" "$out"
check "nothing written: desired unchanged" test "$(desired)" = "$before"
check "--force applies the refused change" x fleet apply "$TMP/one.json" --force --reason "drill"
check "and records it as forced" \
	test "$(ectl get --print-value-only $K/history/00000000000000000003 | jq -c '[.forced, .reason]')" = '[true,"drill"]'
check "back to b.json (forced too: churn)" x fleet apply "$TMP/b.json" --force

# ---- two applies at the same instant, twenty times ----------------------------
# each pauses 0.3 s after reading desired (xlb-faults, step fleet-desired), so
# both have read it before either writes: exactly one may win
lost=0; won=0; bad=""
for i in $(seq 1 20); do
	conf "r$i-a.json" $((10 + i)) 1 2 3 4
	conf "r$i-b.json" $((10 + i)) 1 2 3 5
	xf -j fleet apply "$TMP/r$i-a.json" >"$TMP/r$i-a.out" 2>"$TMP/r$i-a.err" & pa=$!
	xf -j fleet apply "$TMP/r$i-b.json" >"$TMP/r$i-b.out" 2>"$TMP/r$i-b.err" & pb=$!
	wait $pa; ra=$?; wait $pb; rb=$?
	if [ $((ra + rb)) -ne 1 ]; then bad+=" round $i: exits $ra $rb;"; continue; fi
	loser=$([ $ra -eq 1 ] && echo a || echo b); winner=$([ $ra -eq 0 ] && echo a || echo b)
	grep -q 'plan again' "$TMP/r$i-$loser.err" && lost=$((lost + 1)) ||
		bad+=" round $i: the loser says $(tail -1 "$TMP/r$i-$loser.err");"
	jq -r '"\(.generation) \(.fingerprint)"' "$TMP/r$i-$winner.out" >>"$TMP/winners"
	won=$((won + 1))
done
check "20 rounds: exactly one apply won each time, the other told to plan again${bad:+:$bad}" \
	test "$won/$lost" = 20/20
ectl get --prefix $K/history/ --print-value-only | jq -r '"\(.generation) \(.fingerprint)"' \
	>"$TMP/history"
check "history has every winner" bash -c "! grep -vxFf '$TMP/history' '$TMP/winners'"
check "history has no gap and no duplicate (generations 1..$(wc -l <"$TMP/history"))" \
	bash -c "diff <(cut -d' ' -f1 '$TMP/history') <(seq 1 \$(wc -l <'$TMP/history'))"
check "the winners' generations are consecutive" \
	bash -c "diff <(cut -d' ' -f1 '$TMP/winners') <(seq 5 24)"
out=$(x fleet history); 
check "fleet history lists every record (24 and a header)" test "$(wc -l <<<"$out")" -eq 25
out=$(x -j fleet history)
check "-j history: forced shown on generation 3, 24 desired" \
	bash -c "jq -e '.generations | .[2].forced and .[23].desired and (.[22].desired | not)' <<<\"\$0\"" "$out"

# ---- rollback -----------------------------------------------------------------
prev_fp=$(ectl get --print-value-only $K/history/00000000000000000023 | jq -r .fingerprint)
check "rollback" x fleet rollback --reason "drill rollback"
check "restores the previous fingerprint, source rollback, replaces 24" \
	test "$(dfield fingerprint)/$(dfield source)/$(dfield generation)/$(dfield replaces)" = "$prev_fp/rollback/25/24"
check "rollback 2: b.json's configuration again" x fleet rollback 2 --force
check "is b.json's fingerprint" test "$(dfield fingerprint)" = "$fp_b"
check_exit "rollback to a generation that does not exist: exit 1" 1 x fleet rollback 99

# ---- the store fails during the final write: desired is read back ------------------
# xlb-faults' step fleet-write-lost drops the final transaction's answer after
# etcd acted on it (what a leader killed mid-answer does)
xl() { ip netns exec "$NS" env XLB_FAIL_AT=fleet-write-lost "$@" "$XLB_FAULTS" "${args[@]}" \
	--store "$ETCD_URL" --fleet $F; }
g=$(dfield generation)
conf lost1.json 77 1 2 3 4
args=(fleet apply "$TMP/lost1.json"); out=$(xl 2>&1); rc=$?
check "a write whose answer was lost but that landed: exit 0, confirmed by reading back ($rc: $out)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'desired read back is this command.s record' <<<\"\$0\" && ! grep -q 'nothing written' <<<\"\$0\"" "$out"
check "and it is there once: generation $((g + 1)), the write_id the command named" \
	bash -c "[ $(dfield generation) = $((g + 1)) ] && grep -q \"write_id $(dfield write_id)\" <<<\"\$0\"" "$out"
check "the write_id is 32 random hex digits" bash -c "[[ $(dfield write_id) =~ ^[0-9a-f]{32}\$ ]]"
args=(-j fleet apply "$TMP/lost1.json" --force); out=$(xl 2>/dev/null)
check "negative control: nothing to do is not a write (no confirmed_after)" \
	bash -c "! jq -e .confirmed_after <<<\"\$0\"" "$out"
conf lost2.json 78 1 2 3 4
args=(-j fleet apply "$TMP/lost2.json"); out=$(xl 2>/dev/null)
check "-j: confirmed_after says the error" bash -c "jq -e '.applied and (.confirmed_after | test(\"injected\"))' <<<\"\$0\"" "$out"
# two applies both past their read of desired, both answers lost: the loser
# reads back the winner's record (not its own): refused, plan again
conf lost3a.json 79 1 2 3 4; conf lost3b.json 79 1 2 3 5
g=$(dfield generation)
xlr() { ip netns exec "$NS" env XLB_FAIL_AT=fleet-write-lost XLB_PAUSE_AT=fleet-desired \
	XLB_PAUSE_SECONDS=0.3 "$XLB_FAULTS" fleet apply "$1" --store "$ETCD_URL" --fleet $F; }
xlr "$TMP/lost3a.json" >"$TMP/l3a.out" 2>&1 & pa=$!
xlr "$TMP/lost3b.json" >"$TMP/l3b.out" 2>&1 & pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
loser=$([ $ra -eq 1 ] && echo a || echo b)
check "both answers lost: one confirmed (exit 0), the other reads back another's record: exit 1 ($ra $rb)" \
	test $((ra + rb)) = 1 -a "$(dfield generation)" = $((g + 1))
check "the other is told to plan again, not 'nothing written' by a store error" \
	bash -c "grep -q 'changed meanwhile.*plan again' '$TMP/l3$loser.out' && ! grep -q 'cannot be read' '$TMP/l3$loser.out'"

# ---- node status records (as the daemons publish them, under a lease) --------------
lease=$(ectl lease grant 30 | awk '{print $2}')
node() {	# node NAME GEN [EXTRA-JSON]
	ectl put --lease="$lease" $K/nodes/$1 "$(jq -nc --arg n "$1" --argjson g "$2" \
		--arg fp "$(dfield fingerprint)" --arg now "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		"{node: \$n, generation: \$g, fingerprint: \$fp, tables: {}, hash_key_id: \"\",
		  attached: true, announcing: true, health: {up: 4, down: 0}, refused: null,
		  error: null, local_change: null, store_lost_since: null, updated: \$now,
		  lease_ttl: 30} + ${3:-{\}}")" >/dev/null
}
g=$(dfield generation)
node n1 "$g"; node n2 "$g"
out=$(x fleet status); rc=$?
check "status: every live node on generation $g: exit 0 ($rc)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'all 2 live nodes run the desired generation' <<<\"\$0\"" "$out"
# members (no lease, as the daemons write them): one without a live status record is lost
member() { ectl put $K/members/$1 "{\"node\":\"$1\",\"first_seen\":\"2024-01-01T00:00:00Z\",\"last_seen\":\"$2\",\"generation\":$3}" >/dev/null; }
member n1 2024-01-02T00:00:00Z "$g"
member n3 2024-01-02T03:04:05Z $((g - 1))
out=$(x fleet status); rc=$?
check "a member without a live status record: exit 1, named lost since its last_seen ($rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'do not run the desired generation: n3' <<<\"\$0\" && grep -q '^n3 .*lost: no status since 2024-01-02T03:04:05Z (lease expired)' <<<\"\$0\"" "$out"
out=$(x -j fleet status)
check "-j: n3 lost, lag 1, not_running_desired [n3]; n1 (a member too, live) fine" \
	bash -c "jq -e '(.not_running_desired == [\"n3\"]) and ([.nodes[] | select(.node == \"n3\")][0] | .lost and .lag == 1) and (.nodes | length == 3)' <<<\"\$0\"" "$out"
out=$(x fleet forget n1 2>&1); rc=$?
check "forget a node with a live status record: refused, exit 1, said ($rc: $out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'live status record' <<<\"\$0\"" "$out"
check "and its member record stays" test -n "$(ectl get --print-value-only $K/members/n1)"
check_exit "forget a node that is no member: exit 1" 1 x fleet forget n9
check_exit "forget without NODE: usage, exit 1" 1 x fleet forget
out=$(x fleet forget n3); rc=$?
check "forget n3, gone for good: exit 0, said ($rc: $out)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'node n3 forgotten (last seen 2024-01-02T03:04:05Z' <<<\"\$0\"" "$out"
check "its member record is deleted" test -z "$(ectl get --print-value-only $K/members/n3)"
check "status: exit 0 again" x fleet status
node n2 $((g - 1)) '{refused: {generation: '"$g"', why: "services[0]: invalid"}, announcing: false}'
out=$(x fleet status); rc=$?
check "one node behind: exit 1, named with why ($rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'do not run the desired generation: n2' <<<\"\$0\" && grep -q 'refused generation $g: services\[0\]: invalid' <<<\"\$0\" && grep -q '^n2 .* 1 ' <<<\"\$0\"" "$out"
out=$(x -j fleet status)
check "-j status: lag 1, lease age (from the store's lease) and status age, not_running_desired [n2]" \
	bash -c "jq -e '(.not_running_desired == [\"n2\"]) and (.nodes[1].lag == 1) and (.nodes[0].lease_age_ms >= 0) and (.nodes[0].lease_age_ms <= 30000) and (.nodes[0].status_age_ms >= 0) and (.converged == false)' <<<\"\$0\"" "$out"
node n2 "$g" '{local_change: {who: "ops", when: "now", reason: "hotfix"}}'
out=$(x fleet status); rc=$?
check "a local change forced: exit 1, shown ($rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'local change forced by ops' <<<\"\$0\"" "$out"
node n2 "$g"
ectl lease revoke "$lease" >/dev/null
out=$(x fleet status); rc=$?
check "the lease revoked: its nodes are gone, no live node, member n1 lost: exit 1 ($rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'no node of fleet $F is live' <<<\"\$0\" && grep -q '^n1 .*lost: no status since' <<<\"\$0\"" "$out"
check "forget n1 now that its status is gone" x fleet forget n1

# ---- tampered bodies --------------------------------------------------------------
fp=$(dfield fingerprint)
body=$(ectl get --print-value-only $K/config/$fp)
before=$(desired)
tamper() {	# tamper WHAT VALUE: each of plan, apply, rollback refuses, nothing written
	ectl put $K/config/$fp "$2" >/dev/null
	for verb in "plan $TMP/a.json" "apply $TMP/a.json" "rollback"; do
		out=$(x fleet $verb 2>&1); rc=$?
		check "a body $1: fleet ${verb%% *} refuses, exit 1, names it ($rc: $(tail -1 <<<"$out"))" \
			bash -c "[ $rc -eq 1 ] && grep -q 'config/$fp' <<<\"\$0\"" "$out"
	done
	check "nothing written" test "$(desired)" = "$before"
}
tamper "that is not JSON" '{"services": ['
tamper "that is not a configuration" '{"services": [{"name": "web"}]}'
tamper "of another configuration (fingerprint mismatch)" "$(jq -c '.services[0].backends[0].weight = 7' <<<"$body")"
out=$(x fleet apply "$TMP/a.json" --force 2>&1); rc=$?
check "--force: a desired body that cannot be read is planned against nothing ($rc)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'planning against nothing' <<<\"\$0\"" "$out"
ectl put $K/config/$fp "$body" >/dev/null

# ---- a reason longer than the record holds, not ASCII: cut between characters ----
long=$(printf 'é%.0s' $(seq 1 200))	# 400 bytes; the record holds 255
conf utf8.json 90 1 2 3 4
out=$(x fleet apply "$TMP/utf8.json" --reason "$long" 2>&1); rc=$?
check "a 400-byte UTF-8 --reason: applied, exit 0 ($rc: ${out:0:200})" test $rc -eq 0
r=$(dfield reason)
check "the record's reason is cut at a character: 127 × é, 254 bytes (${#r} chars)" \
	test "$r" = "$(printf 'é%.0s' $(seq 1 127))"

# ---- the hash key: the body names its file; this host's key must be the record's ----
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/key"; chmod 600 "$TMP/key"
jq --arg k "$TMP/key" '. + {hash_key_file: $k}' "$TMP/b.json" >"$TMP/keyed.json"
before=$(desired)
out=$(x fleet apply "$TMP/keyed.json" 2>&1); rc=$?
check "another hash key than desired's: a rotation, refused without --force (exit 1: $rc, $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "key rotation" <<<"$2" && grep -q "nothing written" <<<"$2" &&
		grep -q "every node must hold the new key file first" <<<"${2,,}" && grep -q withdraws <<<"$2"' _ $rc "$out"
check "nothing written: desired unchanged" test "$(desired)" = "$before"
out=$(x fleet apply "$TMP/keyed.json" --force 2>&1); rc=$?
check "apply a configuration with a hash key: --force, warned ($rc: $out)" \
	bash -c '[ "$1" -eq 0 ] && grep -q "refuses this generation and withdraws" <<<"$2"' _ $rc "$out"
jq '.services[0].backends[0].weight = 90' "$TMP/keyed.json" >"$TMP/keyed2.json"
check "the same key again: no rotation, applied without --force" x fleet apply "$TMP/keyed2.json"
check "its record carries the key's id" test "$(dfield hash_key_id | wc -c)" = 17
check "the bodies hold no key" bash -c "! grep -q \"\$(cat $TMP/key)\" <<<\"\$0\"" "$(ectl get --prefix $K/config/ --print-value-only)"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/key"
out=$(x fleet plan "$TMP/b.json" 2>&1); rc=$?
check "another key on this host: plan refuses, exit 1 ($rc: $out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'holds another key' <<<\"\$0\"" "$out"

# ---- the store stopped during the final write: the outcome is unknown --------------
conf lost4.json 80 1 2 3 4
ip netns exec "$NS" env XLB_FAIL_AT=fleet-write-lost XLB_PAUSE_AT=fleet-write-lost \
	XLB_PAUSE_SECONDS=1 "$XLB_FAULTS" fleet apply "$TMP/lost4.json" --force --store "$ETCD_URL" \
	--fleet $F >"$TMP/l4.out" 2>&1 & pa=$!
check "the apply reaches its final write" wait_for 10 grep -q "paused at step 'fleet-write-lost'" "$TMP/l4.out"
for pid in $(ip netns pids "$NS"); do	# this test's member: the etcd in its namespace
	[ "$(cat /proc/$pid/comm 2>/dev/null)" = etcd ] && kill "$pid"
done
wait_for 10 bash -c "! ip netns exec $NS curl -sf $ETCD_URL/health"
wait $pa; rc=$?
check "the store gone before desired is read back: exit 2, the outcome unknown, how to check ($rc: $(tail -1 "$TMP/l4.out"))" \
	bash -c "[ $rc -eq 2 ] && grep -q 'outcome of the write is unknown' '$TMP/l4.out' && grep -q 'xlb fleet history' '$TMP/l4.out' && ! grep -q 'nothing written' '$TMP/l4.out'"

# ---- the store stopped ---------------------------------------------------------
out=$(x fleet status 2>&1); rc=$?
check "status with the store stopped: exit 2 naming it ($rc: $out)" \
	bash -c "[ $rc -eq 2 ] && grep -q '$ETCD_URL' <<<\"\$0\"" "$out"
check_exit "apply with the store stopped: exit 2" 2 x fleet apply "$TMP/a.json"
done_testing
