# Helpers of the fleet-store drills (tests/e2e/28-*, 29-*, 31-*; sourced after
# lib.sh, not a test itself): three xlb nodes behind the BIRD router, a
# 3-member etcd store on lab links (tools/lab up --nodes 3 --store 3), live
# keep-alive connections and checksummed downloads as tests/e2e/19 makes them.
CONNS=${CONNS:-200}
KEY=/xlb/fleets/lab
node() { local k=$1; shift; $LAB xlb --prefix $LP --node "$k" "$@"; }
labnode() { $LAB node --prefix $LP "$@"; }
store() { $LAB store --prefix $LP "$@"; }
fleet() { $LAB fleet --prefix $LP "$@"; }
ectl() { $LAB etcdctl --prefix $LP "$@"; }
ms() { local t=${EPOCHREALTIME/./}; echo "${t:0:-3}"; }	# bash's clock: no fork

fleetstore_up() {	# [tools/lab up options, e.g. --daemon-opt OPT]
	command -v bird >/dev/null || skip_all "needs bird2 (make deps)"
	command -v jq >/dev/null || skip_all "needs jq (make deps)"
	command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd (make deps)"
	lab_up --nodes 3 --backends 4 --store 3 "$@"
	# b1..b3 (CFG3) and b1..b4 (CFG4: the lab's own configuration)
	CFG4=/tmp/$LP-fleet.json CFG3=/tmp/$LP-cfg3.json
	jq '.services |= map(.backends |= map(select(.address | test("^198\\.51\\.100\\.4$|^2001:db8:b::4$") | not)))' \
		$CFG4 >$CFG3
}

# ---- the router ----------------------------------------------------------------------------
has_hop() {	# node $1 is a next hop of both VIPs on the router
	lab rt ip route show $VIP4 | grep -q "via 198.51.100.24$1 " &&
		lab rt ip -6 route show $VIP6 | grep -q "via 2001:db8:b::f$1 "
}
no_hop() {	# in neither family
	! lab rt ip route show $VIP4 | grep -q "via 198.51.100.24$1 " &&
		! lab rt ip -6 route show $VIP6 | grep -q "via 2001:db8:b::f$1 "
}
all_hops() { has_hop 1 && has_hop 2 && has_hop 3; }

# ---- the store (the keyspace of user/store/fleetstore.h, read with etcdctl) ----------------
desired_gen() { ectl get $KEY/desired --print-value-only | jq -r .generation; }
desired_fp() { ectl get $KEY/desired --print-value-only | jq -r .fingerprint; }
nodes_json() { ectl get --prefix $KEY/nodes/ --print-value-only | jq -cs .; }
# how many nodes publish generation $1 (from the status records)
at_gen() { nodes_json | jq --argjson g "$1" '[.[] | select(.generation == $g)] | length'; }
all_at() { [ "$(at_gen "$1")" = 3 ]; }
node_rec() { ectl get $KEY/nodes/lb$1 --print-value-only; }
node_gen() { node_rec "$1" | jq -r .generation; }
# ms from now until every node publishes generation $1 (polled), or "timeout"
until_all_at() {	# $1 generation, $2 deadline seconds
	local t0 end
	t0=$(ms) end=$(( $(ms) + ${2:-20} * 1000 ))
	until all_at "$1"; do
		[ "$(ms)" -lt "$end" ] || { echo timeout; return 1; }
		sleep 0.02
	done
	echo $(( $(ms) - t0 ))
}
file_fp() { "$XLB" -j config validate "$1" | jq -r .fingerprint; }
# every fleet generation, in order, as "GEN FP SOURCE" lines
fleet_history() { fleet -j history | jq -r '.generations[] | "\(.generation) \(.fingerprint) \(.source)"'; }
# generations 1..desired, each once: no gap, no duplicate
history_whole() {
	local g
	g=$(desired_gen)
	[ "$(fleet -j history | jq -c '[.generations[].generation]')" = "$(seq 1 "$g" | jq -cs .)" ]
}

# ---- the data planes -------------------------------------------------------------------------
tables() {	# node $1's live table fingerprints (web, web6), read from its maps
	echo "$(node "$1" -j table web | jq -r .table_fingerprint)/$(node "$1" -j table web6 | jq -r .table_fingerprint)"
}
same_tables() {	# every node holds the tables $1 (or, without $1, the same as node 1); says which
	local t1 t2 t3
	t1=$(tables 1) t2=$(tables 2) t3=$(tables 3)
	echo "want ${1:-the same}: lb1 $t1, lb2 $t2, lb3 $t3"
	[ "$t1" = "${1:-$t1}" ] && [ "$t2" = "$t1" ] && [ "$t3" = "$t1" ]
}
local_gens() { node "$1" -j config history | jq length; }	# records in a node's own history
# the fingerprints a node's own history holds, one a line
local_fps() { node "$1" -j config history | jq -r '.[].fingerprint' | sort -u; }
metric() {	# node $1's metric line(s) matching $2
	lab lb$1 curl -s -m 3 "http://198.51.100.24$1:9145/metrics" | grep -E "^$2"
}

# ---- traffic: $CONNS keep-alive connections and 3 downloads from the client -----------------
traffic() {	# $1: drill name [, $2: downloads, 0..3, default 3]
	T=$1 R=/tmp/$LP-$1.rep NDL=${2:-3}
	nsenter --net=/run/netns/$LP-client python3 "$ROOT/tests/e2e/fleet-conns.py" --addr $VIP4 --addr $VIP6 \
		--conns $CONNS --status /tmp/$LP-$T.st --report $R --max-time 200 &
	TPID=$!
	DLS=""
	local dl=("$VIP4" "$VIP4" "[$VIP6]") a
	for a in "${dl[@]:0:$NDL}"; do
		lab client curl -s -g -m 90 -o /tmp/$LP-$T.dl${#DLS} "http://$a/slow" &
		DLS="$DLS $!"
	done
	wait_for 30 answering || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answering() { jq -e ".alive == $CONNS and .min_answers >= 5" /tmp/$LP-$T.st >/dev/null 2>&1; }
settle() {	# every connection still open answers 10 more requests from now
	kill -USR1 $TPID
	wait_for 30 answered_since || echo "# $T: $(cat /tmp/$LP-$T.st 2>/dev/null)"
}
answered_since() { jq -e '.marked and .min_since_mark >= 10' /tmp/$LP-$T.st >/dev/null 2>&1; }
downloads_done() { for p in $DLS; do ! kill -0 $p 2>/dev/null || return 1; done; }
finish() {	# end the traffic; KEPT and BROKEN, and the drill's figures as a comment
	kill -TERM $TPID
	wait $TPID
	wait_for 90 downloads_done
	INTACT=0
	for f in /tmp/$LP-$T.dl*; do
		cmp -s "$f" /tmp/$LP-big.bin && INTACT=$((INTACT + 1))
	done
	KEPT=$(jq .kept $R) BROKEN=$(jq '.conns - .kept' $R)
	echo "# $T: $(jq -r '"\(.kept) of \(.conns) connections kept, \(.reset) reset, \(.stalled) stalled, \(.closed) closed, \(.changed) answered by another backend, \(.failed_requests) requests failed of \(.requests), longest gap \(.max_gap_ms) ms"' $R); downloads intact: $INTACT of $NDL"
}
kept_all() { jq -e ".kept == $CONNS and .failed_requests == 0 and .changed == 0" $R >/dev/null; }
downloads_intact() { [ "$INTACT" = "$NDL" ]; }

# ---- the fleet decides (issue 24: decide/ in the store, tests/e2e/31) -----------------------
path() { $LAB path --prefix $LP "$@"; }	# path cut|repair K B: node K's route to backend B
leader() { ectl get $KEY/decide/leader --print-value-only | jq -r '.node // empty'; }
term() { ectl get $KEY/decide/leader -w json | jq -r '.kvs[0].create_revision // empty'; }
health_rec() { ectl get $KEY/decide/health --print-value-only; }
fleet_down() { health_rec | jq -c --arg s "$1" '.down[$s] // [] | sort'; }	# SERVICE
rollout_rec() { ectl get $KEY/decide/rollout --print-value-only; }
rollout() { rollout_rec | jq -r ".$1"; }	# a field of decide/rollout
events() { ectl get --prefix $KEY/decide/events/ --print-value-only | jq -cs .; }
count_events() { events | jq --arg k "$1" '[.[] | select(.kind == $k)] | length'; }	# KIND
mode_is() {	# nodes $2... (default all) follow verdicts $1 (fleet|own), by their metric
	local m=$1 k
	shift
	[ $# -gt 0 ] || set -- 1 2 3
	for k; do metric "$k" "xlb_fleet_health_mode\\{mode=\"$m\"\\} 1" >/dev/null || return 1; done
}
# a backend's server killed / started again (its health checks fail / pass)
backend_kill() { lab b$1 sh -c "kill \$(cat /run/$LP-b$1.nginx.pid)"; }
backend_start() { lab b$1 nginx -c /tmp/$LP-b$1.nginx.conf; }
# a bad backend: its checks pass (its own address) but the VIP is not on its
# loopback, so what xlb sends it (SYNs to the VIP) is lost
vip_off() { lab b$1 ip addr del $VIP4/32 dev lo && lab b$1 ip -6 addr del $VIP6/128 dev lo; }
vip_on() { lab b$1 ip addr add $VIP4/32 dev lo && lab b$1 ip -6 addr add $VIP6/128 dev lo nodad; }
# connections of the last traffic run on backend bN ($1), and those broken on it / elsewhere
on_backend() { jq --arg b "b$1" '[.detail[] | select(.backend == $b)] | length' $R; }
broken_on() { jq --arg b "b$1" '[.detail[] | select(.backend == $b and .state != "alive")] | length' $R; }
broken_off() { jq --arg b "b$1" '[.detail[] | select(.backend != $b and .state != "alive")] | length' $R; }

# Every node's live web table fingerprint sampled (every ~50 ms, "MS FP" lines
# in /tmp/$LP-NAME.lbK) from now until tables_unwatch: when each changed.
tables_watch() {	# $1: NAME
	local k
	TW=""
	for k in 1 2 3; do
		(while :; do
			t=${EPOCHREALTIME/./}
			echo "${t:0:-3} $(node $k -j table web 2>/dev/null | jq -r .table_fingerprint 2>/dev/null)"
			sleep 0.05
		done) >/tmp/$LP-$1.lb$k &
		TW="$TW $!"
	done
	TWN=$1
}
tables_unwatch() { kill $TW 2>/dev/null; wait $TW 2>/dev/null; TW=""; }
# node $1's first sample in the watch that is not fingerprint $2 ("MS FP"), or nothing
first_other() { awk -v f="$2" '($2 ~ /^[0-9a-f]+$/ && length($2) == 16) && $2 != f { print; exit }' /tmp/$LP-$TWN.lb$1; }
# how many times node $1's fingerprint changed in the watch
changes() { awk '($2 ~ /^[0-9a-f]+$/ && length($2) == 16) { if (p != "" && $2 != p) n++; p = $2 } END { print n + 0 }' /tmp/$LP-$TWN.lb$1; }
samples() { grep -Ec ' [0-9a-f]{16}$' /tmp/$LP-$TWN.lb$1; }
# ms from $1 until every node's web table is $2 (watched); nothing when one is not
until_tables() {
	local k t worst=0
	for k in 1 2 3; do
		t=$(awk -v f="$2" '$2 == f { print $1; exit }' /tmp/$LP-$TWN.lb$k)
		[ -n "$t" ] || return 1
		[ $((t - $1)) -le $worst ] || worst=$((t - $1))
	done
	echo $worst
}
web_table() { node "$1" -j table web | jq -r .table_fingerprint; }
all_web() {	# every node's live web table is $1
	local k
	for k in 1 2 3; do [ "$(web_table $k)" = "$1" ] || return 1; done
}
# Every put and delete under the fleet's prefix from now until store_unwatch,
# timestamped as it arrives (/tmp/$LP-NAME.sw: "MS WATCH-RESPONSE-JSON" lines).
store_watch() {	# $1: NAME [, $2: from this revision on (replayed at once)]
	SWN=$1
	ectl watch --prefix $KEY/ ${2:+--rev $2} -w json 2>/dev/null |
		while IFS= read -r l; do t=${EPOCHREALTIME/./}; echo "${t:0:-3} $l"; done \
		>/tmp/$LP-$1.sw &
}
# the watch's etcdctl (in the operator's namespace of this lab: ours)
store_unwatch() {
	local p
	for p in $(ip netns pids $LP-op 2>/dev/null); do
		tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q "etcdctl .*watch --prefix $KEY/ " && kill $p
	done
	return 0
}
# what the watch saw: [MS, KEY after the fleet's prefix, VALUE (parsed) or null] a line
watched() {
	sed -E 's/^([0-9]+) (.*)$/{"t":\1,"r":\2}/' /tmp/$LP-$SWN.sw 2>/dev/null |
		jq -c --arg p "$KEY/" '.t as $t | .r.Events[]? | [$t, (.kv.key | @base64d | ltrimstr($p)),
			(if .type == 1 then null else (.kv.value | @base64d | (fromjson? // .)) end)]'
}
# ms at which each node first published its own verdict on web backend $1 as $2
# (true|false), in the watch: one line per node that did, in time order
flips() {
	watched | jq -r --arg b "$1" --argjson up "$2" \
		'select(.[1] | startswith("nodes/")) | select(.[2].views.web[$b].up == $up) | "\(.[0]) \(.[1])"' |
		awk '!seen[$2]++'
}
# how many times the watch saw decide/health change web's down set from $1 (fleet_down web)
verdict_changes() {
	echo $(( $( { echo "$1"; watched | jq -c 'select(.[1] == "decide/health") | (.[2].down.web // []) | sort'; } |
		uniq | wc -l) - 1 ))
}
# what the table watch saw: per node, each change as "+MS FP" from $1
transitions() {
	local k
	for k in 1 2 3; do
		echo "lb$k: $(awk -v t="$1" '($2 ~ /^[0-9a-f]+$/ && length($2) == 16) {
			if ($2 != p) printf "%+d %s, ", $1 - t, $2; p = $2 }' /tmp/$LP-$TWN.lb$k)"
	done
}
# what the store watch saw of decide/health: "+MS seq S down [web's]" from $1
health_seen() {
	watched | jq -r --argjson t "$1" 'select(.[1] == "decide/health") |
		"\(.[0] - $t) ms: seq \(.[2].seq) by \(.[2].leader) down \(.[2].down.web // [] | join(","))"'
}
revision() { ectl get $KEY/desired -w json | jq .header.revision; }	# the store's now
# ms of the first verdict event (its key: the leader's clock, in microseconds)
# after $1 that names one of the backends $2... (a verdict on several backends
# is one record; its event names the first of them)
verdict_event_at() {
	local t=$1
	shift
	ectl get --prefix $KEY/decide/events/ -w json | jq -r --argjson t "$t" --args '$ARGS.positional as $bs |
		.kvs[]? | ((.key | @base64d | capture("/events/(?<us>[0-9]{16})-").us | tonumber / 1000 | floor)) as $ms |
		select($ms >= $t) | (.value | @base64d | fromjson? // {}) | select(.kind == "verdict") |
		(.what + " " + (.why // "")) as $txt | select(any($bs[]; . as $b | $txt | contains($b))) | $ms' "$@" |
		sort -n | head -1
}
# ms of the first event of kind $2 by node $3 at or after $1 (its key's time)
event_at() {
	ectl get --prefix $KEY/decide/events/ -w json | jq -r --argjson t "$1" --arg k "$2" --arg n "$3" '.kvs[]? |
		((.key | @base64d | capture("/events/(?<us>[0-9]{16})-").us | tonumber / 1000 | floor)) as $ms |
		select($ms >= $t) | (.value | @base64d | fromjson? // {}) |
		select(.kind == $k and .node == $n) | $ms' | sort -n | head -1
}
