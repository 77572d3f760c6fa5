#!/usr/bin/env bash
# State that stays bounded and recoverable, and the hash key: history
# retention, rollback beyond it, an apply over a lost or damaged running
# record, and a key file that is checked and never shown.
. "$(dirname "$0")/../lib.sh"
require_root
xt_cli_fixture s
H=$STATE/$DEV/history
records() { find "$H" -maxdepth 1 -name '[0-9]*.json' | wc -l; }
has() { grep -q -- "$2" <<<"$1"; }	# has TEXT PATTERN
ids() { x -j backend list web | jq -c '[.[] | [.address, .id, .gen]] | sort'; }
W=$STATE/web.json
cfg() {	# cfg EXTRA-TOP-LEVEL WEIGHT-OF-.1
	cat <<JSON
{ $1 "services": [ { "name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
  "table_size": 65537, "guards": { "min_active": 2, "max_share": 0.6, "max_churn": 0.5 },
  "backends": [ { "address": "198.51.100.1", "weight": ${2:-100} },
                { "address": "198.51.100.2" }, { "address": "198.51.100.3" } ] } ] }
JSON
}
cfg '"history": { "keep": 3 },' >$W
x attach $DEV >/dev/null 2>&1

# ---- retention -------------------------------------------------------------
check "apply with history.keep 3" x config apply $W
for w in 101 102 103 104 105 106 107 108; do x backend set web 198.51.100.1 weight $w >/dev/null; done
check "nine generations applied" test "$(gen)" = 9
check "history keeps at most keep + keep/16 + 1 records ($(records))" test "$(records)" -le 4
check "every kept record is listed" bash -c "[ \$(nsenter --net=/run/netns/$NS $XLB --state '$STATE' -j config history | jq length) = $(records) ]"
check "bodies: one per kept configuration at most" test "$(ls $H/bodies | wc -l)" -le "$(records)"
out=$(x config rollback 1 2>&1); rc=$?
check "rollback beyond the retention exits 1 and says why" bash -c "[ $rc = 1 ] && grep -q 'the history keeps the newest 3 records' <<<'$out'"
check "rollback to the previous generation still works" x config rollback
check "the rollback is generation 10 and restores weight 107" bash -c "[ $(gen) = 10 ] && nsenter --net=/run/netns/$NS $XLB --state '$STATE' -j backend list web | jq -e '.[] | select(.address == \"198.51.100.1\") | .weight == 107'"

# ---- a lost or damaged running record ------------------------------------------
before=$(ids)
rm "$H/10.json"
check_exit "backend edits refuse without the running record" 1 x backend set web 198.51.100.1 weight 110
out=$(x backend list 2>&1)
check "and say what is missing" has "$out" "has no record of it"
check "and what to do" has "$out" "xlb config apply FILE"
cfg '"history": { "keep": 3 },' 100 >$STATE/again.json
out=$(x config apply $STATE/again.json 2>&1); rc=$?
check "config apply proceeds over a missing running record" test "$rc" = 0
check "and warns what it could not read" has "$out" "warning: no history record for generation 10"
check "and what it does instead" has "$out" "backend ids come from the live maps"
check "backends keep their ids and generations (flows stay)" test "$(ids)" = "$before"
check "the new generation has a record; edits work again" x backend set web 198.51.100.1 weight 111
check "table matches the configuration" x table web
before=$(ids)
echo '{"generation": 1' >"$H/$(gen).json"
cfg '"history": { "keep": 3 },' 100 >$STATE/again.json
out=$(x config apply $STATE/again.json 2>&1); rc=$?
check "config apply proceeds over a damaged running record" test "$rc" = 0
check "and says the record is damaged" has "$out" "is damaged"
check "backends keep their ids over a damaged record" test "$(ids)" = "$before"

# ---- the hash key ------------------------------------------------------------
K=$STATE/hash.key
SECRET=00112233445566778899aabbccddeeff
echo $SECRET >$K
chmod 644 $K
cfg "\"hash_key_file\": \"$K\"," >$STATE/keyed.json
g=$(gen)
out=$(x config apply $STATE/keyed.json --force 2>&1); rc=$?
check "a key file others may read is refused" bash -c "[ $rc = 1 ] && grep -q 'may be read by others (mode 0644)' <<<'$out' && [ $(gen) = $g ]"
chmod 600 $K
out=$(x config apply $STATE/keyed.json 2>&1); rc=$?
check "a new key moves most flows: refused by max_churn" bash -c "[ $rc = 1 ] && grep -q 'max_churn' <<<'$out' && [ $(gen) = $g ]"
check "applied with --force" x config apply $STATE/keyed.json --force --reason "new hash key"
check "the live tables are the keyed ones" x table web
id=$(x -j config show | jq -r .hash_key_id)
check "config show names the key's id ($id), not the key" bash -c "[ ${#id} = 16 ] && ! nsenter --net=/run/netns/$NS $XLB --state '$STATE' -j config show | grep -qi $SECRET"
check "no command output holds the key" bash -c "! { for c in status 'config history' 'backend list' stats 'table web'; do nsenter --net=/run/netns/$NS $XLB --state '$STATE' -j \$c; nsenter --net=/run/netns/$NS $XLB --state '$STATE' \$c; done 2>&1 | grep -qi $SECRET; }"
check "the key is kept only in files of mode 0600" bash -c "for f in \$(grep -rli $SECRET $H); do [ \$(stat -c %a \$f) = 600 ] || exit 1; done; grep -rqli $SECRET $H"
x -j config show | jq 'del(.generation, .fingerprint)' >$STATE/shown.json
check "config show re-applies as it is (the id pins the key)" x config apply $STATE/shown.json
echo ffeeddccbbaa99887766554433221100 >$K
out=$(x config apply $STATE/shown.json 2>&1); rc=$?
check "another key under a pinned id is refused" test "$rc" = 1
check "and says which key the node holds" has "$out" "hash_key_id: the key in $K has id"
check "rollback brings back the key it had (no key file read)" x config rollback --force
check "the live tables are right after the rollback" x table web
done_testing
