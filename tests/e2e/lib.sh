# Helpers of the end-to-end tests: each test has a lab of its own (prefix
# unique to the test run), torn down by a trap even when the test fails.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$ROOT/tools/lab
LP=t$(( $$ % 100000 ))		# lab prefix: t + up to 5 digits
VIP4=192.0.2.10
VIP6=2001:db8:a::10

lab_up() {
	require_root
	for t in nginx curl wrk ethtool; do
		command -v $t >/dev/null || skip_all "needs $t (make deps)"
	done
	trap 'kill $(jobs -p) 2>/dev/null; $LAB down --prefix $LP >/dev/null 2>&1; xt_cleanup' EXIT
	$LAB up --prefix $LP "$@" >/dev/null || { echo "not ok 1 - lab up"; exit 1; }
}
lab() { $LAB exec --prefix $LP "$@"; }
xlb() { $LAB xlb --prefix $LP "$@"; }
attach() { lab lb "$ROOT/build/xlb" --state /tmp/$LP-state attach ${LP}lb0 "$@" >/dev/null 2>&1; }

# A configuration of service web (tcp 80) and dns (udp 53) over backends
# with the given weights (b1 gets $1, b2 $2 ...); extra JSON for web: $GUARDS.
config() {
	local i=0 w bes="" sep=""
	for w in "$@"; do
		i=$((i + 1))
		[ "$w" = - ] && continue
		bes="$bes$sep{\"address\":\"198.51.100.$i\",\"weight\":$w}"
		sep=,
	done
	printf '{"services":[{"name":"web","vip":"%s","port":80,"protocol":"tcp"%s,"backends":[%s]},' \
		"$VIP4" "${GUARDS:+,$GUARDS}" "$bes"
	printf '{"name":"dns","vip":"%s","port":53,"protocol":"udp","backends":[%s]}]}\n' "$VIP4" "$bes"
}

# web over b1..b3 with HTTP health checks (300 ms, rise 2, fall 2) and min_active 2.
checked_config() {
	cat <<JSON
{ "services": [ { "name": "web", "vip": "$VIP4", "port": 80, "protocol": "tcp",
  "guards": { "min_active": 2, "max_churn": 1 },
  "health": { "type": "http", "path": "/healthz", "interval_ms": 300, "timeout_ms": 200,
              "rise": 2, "fall": 2 },
  "backends": [ { "address": "198.51.100.1" }, { "address": "198.51.100.2" },
                { "address": "198.51.100.3" } ] } ] }
JSON
}

# N new-connection HTTP requests from the client; prints the answering backends.
requests() {	# $1 count, $2 url
	lab client bash -c "for i in \$(seq $1); do curl -s -m 5 -H 'Connection: close' \
		-o /dev/null -w '%header{x-backend}\n' '$2' || echo FAIL; done"
}

# One UDP query; prints the reply ("bN payload") or nothing.
udp_query() {	# $1 address, $2 payload
	lab client bash -c "exec 3<>/dev/udp/$1/53; echo '$2' >&3; timeout 3 dd bs=1500 count=1 status=none <&3"
}

# Load of new connections (e2e 16, 31): 8 clients in a loop for $1 seconds
# to $VIP4, a new connection per request, 2 s timeout (a lost SYN is a
# failed request), the answers kept in /tmp/$LP-load.$2: prints "requests failed"
load() {
	lab client bash -c "end=\$((SECONDS + $1)); for l in 1 2 3 4 5 6 7 8; do
		(while [ \$SECONDS -lt \$end ]; do curl -s -m 2 -H 'Connection: close' \
			-o /dev/null -w '%{http_code}\n' http://$VIP4/ || true; done) & done; wait" \
		>/tmp/$LP-load.$2 2>/dev/null
	echo "$(wc -l </tmp/$LP-load.$2) $(grep -vc '^200$' /tmp/$LP-load.$2)"
}
