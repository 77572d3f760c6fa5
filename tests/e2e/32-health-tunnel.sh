#!/usr/bin/env bash
# Issue 25's drills: checks that go through the tunnel catch what a check of
# the backend's own address cannot.  Four backends serve HTTP, HTTPS (a
# test CA) and DNS (unbound on :5300); each service is checked through the
# tunnel (health.via's default), and a second service over the same
# backends is checked directly (via "direct"): the negative control that
# the backend itself still answers.  Each case breaks one backend
# (tools/lab backend B break ...), waits for the verdict, prints the time
# from the fault to it, reads why from `xlb backend list -j`, the status
# page and the metrics, and mends it.
#   a. the VIP off b1's loopback: out within fall checks; then no client
#      request through the VIP fails (and without checks they do: control)
#   b. b2's decap detached; b3's decap with a --from list lacking the
#      balancer: out
#   c. b4 serving an expired certificate, b3 one for another name: out with
#      verify on, in again when the service turns verify off
#   d. b2's DNS server answering SERVFAIL: out
. "$(dirname "$0")/lib.sh"
lab_up --backends 4 --https --dns
command -v promtool >/dev/null || skip_all "needs promtool (make deps)"
attach --src4 198.51.100.254
VIPD=192.0.2.11		# the direct twins' VIP: never reached by clients, only named
CA=/tmp/$LP-tls/ca.pem
INTERVAL=300 TIMEOUT=200 FALL=2 RISE=2
CONF=/tmp/$LP-conf.json
LOG=/tmp/$LP-daemon.log

bes() { local i sep=""; for i in 1 2 3 4; do printf '%s{ "address": "198.51.100.%d" }' "$sep" $i; sep=,; done; }
svc() {	# NAME VIP PORT PROTO HEALTH-EXTRA
	printf '{ "name": "%s", "vip": "%s", "port": %d, "protocol": "%s", "guards": { "min_active": 1, "max_churn": 1 },
  "health": { "interval_ms": %d, "timeout_ms": %d, "rise": %d, "fall": %d, %s },
  "backends": [ %s ] }' "$1" "$2" "$3" "$4" $INTERVAL $TIMEOUT $RISE $FALL "$5" "$(bes)"
}
# conf VERIFY: verify true (the default) or false for the tunnel's https service
conf() {
	local tls="\"type\": \"https\", \"path\": \"/healthz\", \"host\": \"web.lab.example\", \"ca_file\": \"$CA\""
	local dns='"type": "dns", "query": "www.svc.example", "qtype": "A", "expect_answer": "192.0.2.80"'
	cat <<JSON
{ "services": [
$(svc web $VIP4 80 tcp '"type": "http", "path": "/healthz"'),
$(svc webd $VIPD 80 tcp '"type": "http", "path": "/healthz", "via": "direct"'),
$(svc tls $VIP4 443 tcp "$tls$([ "$1" = true ] || echo ', "verify": false')"),
$(svc tlsd $VIPD 443 tcp "$tls, \"verify\": false, \"via\": \"direct\""),
$(svc dns $VIP4 5300 udp "$dns"),
$(svc dnsd $VIPD 5300 udp "$dns, \"via\": \"direct\"") ] }
JSON
}
conf true >$CONF
check "apply web, tls and dns, each with a direct twin" xlb config apply $CONF --reason drills

# control for a: without checks, a backend without its VIP fails clients' requests
$LAB backend --prefix $LP 1 break vip
answers=$(lab client bash -c "for i in \$(seq 24); do curl -s -m 1 -H 'Connection: close' \
	-o /dev/null -w '%header{x-backend}\n' http://$VIP4/ || echo FAIL; done")
check "control: with b1's VIP off its loopback and no daemon, requests fail ($(grep -c FAIL <<<"$answers") of 24)" \
	grep -q FAIL <<<"$answers"
$LAB backend --prefix $LP 1 mend vip

nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --config $CONF --metrics 127.0.0.1:9146 2>$LOG &
metrics() { lab lb curl -s -m 2 http://127.0.0.1:9146/metrics; }
page() { lab lb curl -s -m 2 http://127.0.0.1:9146/; }
check "the daemon serves metrics" wait_for 10 metrics

B() { echo "198.51.100.$1"; }
# state SVC B: active / down ...; why SVC B: the reason and path the list shows
state() { xlb -j backend list "$1" | jq -r --arg a "$(B "$2")" '.[] | select(.address == $a) | .state'; }
why() { xlb -j backend list "$1" | jq -r --arg a "$(B "$2")" \
	'.[] | select(.address == $a) | .check | "\(.why) (\(.reason), \(.path))"'; }
is() { [ "$(state "$1" "$2")" = "$3" ]; }
all_up() { local s b; for s in "$@"; do for b in 1 2 3 4; do is "$s" $b active || return 1; done; done; }
check "every backend of every service passes, through the tunnel and directly" \
	wait_for 20 all_up web webd tls tlsd dns dnsd
[ "$XT_FAIL" = 0 ] || { echo "# $(tail -5 $LOG)"; done_testing; exit; }

# counters of one backend of one service, over every label (reason classes)
count() {	# FAMILY SVC B
	metrics | awk -v f="$1" -v s="service=\"$2\"" -v b="backend=\"$(B "$3")\"" \
		'index($0, f "{") == 1 && index($0, s) && index($0, b) { n += $NF } END { print n + 0 }'
}
now() { date +%s%N; }
# verdict SVC B: wait for B out of SVC (30 s at most); prints the ms since T0
verdict() {
	wait_for 30 is "$1" "$2" down || { echo never; return 1; }
	echo $(( ($(now) - T0) / 1000000 ))
}
# the direct twin passes: B active there, checked twice more without a failure
twin_passes() {	# SVC B: two checks pass (after the one in flight, maybe started before a change)
	local c0 f0
	c0=$(count xlb_backend_health_checks_total "$1" "$2")
	checked_twice() { [ "$(count xlb_backend_health_checks_total "$1" "$2")" -ge $((c0 + 2)) ]; }
	c0=$((c0 - 1))
	wait_for 5 checked_twice "$1" "$2" || return 1
	c0=$(count xlb_backend_health_checks_total "$1" "$2")
	f0=$(count xlb_backend_health_failures_total "$1" "$2")
	wait_for 5 checked_twice "$1" "$2" &&
		[ "$(count xlb_backend_health_failures_total "$1" "$2")" = "$f0" ] && is "$1" "$2" active
}
# the reason names what failed (an ERE) and the tunnel, in `backend list -j`
says_now() { why "$1" "$2" | grep -E "$3" | grep -q ', tunnel)$'; }
says() {	# SVC B ERE (the list reads the daemon's checks.json: 3 s for it to follow)
	local rc=0
	wait_for 3 says_now "$@" || rc=1
	echo "# $1 $(B "$2"): $(why "$1" "$2")"
	return $rc
}
# ... on the status page (the service's table: the backend's row says why and
# the path) and in the metrics (failed checks of that class counted)
shown() {	# SVC B ERE CLASS
	page | awk -v h="<h2>service $1</h2>" 'index($0, h) { on = 1; next } /<h2>/ { on = 0 } on' |
		grep -F "<tr><td>$(B "$2")<" | grep -E "$3" | grep -qF '(tunnel)' &&
		[ "$(metrics | awk -v k="xlb_backend_health_failure_reasons_total{service=\"$1\",backend=\"$(B "$2")\",reason=\"$4\"}" \
			'$1 == k { print $2 }')" -gt 0 ]
}
back() {	# SVC B: mended, in again within rise checks (10 s at most)
	wait_for 10 is "$1" "$2" active
}

# ---- a. the VIP off b1's loopback ----------------------------------------------
T0=$(now); $LAB backend --prefix $LP 1 break vip
ms=$(verdict web 1)
echo "# a. VIP off b1's loopback: fault to verdict $ms ms"
check "a. b1 without the VIP is out of web ($ms ms after the fault)" test "$ms" != never
# fall failed checks: the first starts within an interval of the fault, the
# last ends a timeout after its start; one second more for the commit
BOUND=$(( (FALL + 1) * INTERVAL + TIMEOUT + 1000 ))
check "a. within fall checks: $ms ms <= $BOUND ms (fall $FALL, interval $INTERVAL, timeout $TIMEOUT)" \
	test "$ms" -le $BOUND
check "a. the reason names what failed and the path" says web 1 '^timeout \(timeout,'
check "a. the status page and the metrics show it" shown web 1 'timeout' timeout
check "a. control: b1's direct check passes meanwhile" twin_passes webd 1
read -r total failed < <(load 3 a)
check "a. after the verdict no client request fails ($failed of $total)" \
	bash -c "[ $total -gt 50 ] && [ $failed = 0 ]"
$LAB backend --prefix $LP 1 mend vip
check "a. mended, b1 is back in" back web 1

# ---- b. b2's decap detached; b3's decap not trusting this balancer ----------------
T0=$(now); $LAB backend --prefix $LP 2 break decap
ms=$(verdict web 2)
echo "# b. b2's decap detached: fault to verdict $ms ms"
check "b. b2 with its decap detached is out of web ($ms ms)" test "$ms" != never
check "b. the reason names what failed and the path" says web 2 '^timeout \(timeout,'
check "b. control: b2's direct check passes meanwhile" twin_passes webd 2
$LAB backend --prefix $LP 2 mend decap
check "b. mended, b2 is back in" back web 2

untrusted() { lab b3 "$ROOT/build/xlb" decap stats ${LP}b3 | sed -n 's/.*untrusted_source=\([0-9]*\).*/\1/p'; }
T0=$(now); $LAB backend --prefix $LP 3 break from
ms=$(verdict web 3)
echo "# b. b3's decap --from lacking this balancer: fault to verdict $ms ms"
check "b. b3 whose decap does not trust this balancer is out of web ($ms ms)" test "$ms" != never
check "b. b3's decap counted the checks as untrusted ($(untrusted))" test "$(untrusted)" -gt 0
check "b. the reason names what failed and the path" says web 3 '^timeout \(timeout,'
check "b. control: b3's direct check passes meanwhile" twin_passes webd 3
$LAB backend --prefix $LP 3 mend from
check "b. mended, b3 is back in" back web 3

# ---- c. certificates: expired (b4), for another host (b3) ----------------------------
T0=$(now); $LAB backend --prefix $LP 4 break expired
ms=$(verdict tls 4)
echo "# c. b4's certificate expired: fault to verdict $ms ms"
check "c. b4 with an expired certificate is out of tls ($ms ms)" test "$ms" != never
check "c. the reason says the certificate expired, through the tunnel" says tls 4 '^TLS: certificate expired \(tls,'
check "c. the status page and the metrics show it" shown tls 4 'TLS: certificate expired' tls
check "c. control: b4's direct check with verify off passes" twin_passes tlsd 4
check "c. control: b4 stays in web (HTTP through the tunnel)" is web 4 active
T0=$(now); $LAB backend --prefix $LP 3 break otherhost
ms=$(verdict tls 3)
echo "# c. b3's certificate names another host: fault to verdict $ms ms"
check "c. b3 with a certificate for another name is out of tls ($ms ms)" test "$ms" != never
check "c. the reason says the name does not match" says tls 3 '^TLS: certificate names another host \(tls,'
check "c. control: b3's direct check with verify off passes" twin_passes tlsd 3
conf false >/tmp/$LP-noverify.json
T0=$(now)
check "c. the service turns verify off (config apply)" xlb config apply /tmp/$LP-noverify.json --reason "verify off"
# the apply itself may put them in (the file names no state), or the daemon's
# verdicts outlast it until rise checks pass: in, and then they must stay in
# while checked, which with verify on they do not (below)
both_in() { is tls 3 active && is tls 4 active; }
check "c. with verify off b3 and b4 are in" wait_for 15 both_in
check "c. with verify off b4 is in and passes its checks" twin_passes tls 4
check "c. with verify off b3 is in and passes its checks" twin_passes tls 3
echo "# c. verify off: from the apply to both checked in $(( ($(now) - T0) / 1000000 )) ms"
check "c. back to verify on" xlb config apply $CONF --reason "verify on"
out_again() { is tls 3 down && is tls 4 down; }
check "c. (verify on, both out again)" wait_for 15 out_again
$LAB backend --prefix $LP 4 mend expired
$LAB backend --prefix $LP 3 mend otherhost
both_back() { back tls 3 && back tls 4; }
check "c. mended, b3 and b4 are back in" wait_for 15 both_back

# ---- d. DNS: b2's server answers SERVFAIL ------------------------------------------
T0=$(now); $LAB backend --prefix $LP 2 break servfail
ms=$(verdict dns 2)
echo "# d. b2's DNS server answers SERVFAIL: fault to verdict $ms ms"
check "d. b2 answering SERVFAIL is out of dns ($ms ms)" test "$ms" != never
check "d. the reason says SERVFAIL, through the tunnel" says dns 2 '^DNS SERVFAIL \(dns,'
check "d. the status page and the metrics show it" shown dns 2 'DNS SERVFAIL' dns
check "d. control: b2's direct HTTP check passes" twin_passes webd 2
others_in() { is dns 1 active && is dns 3 active && is dns 4 active; }
check "d. control: the other backends' DNS answers pass" others_in
$LAB backend --prefix $LP 2 mend servfail
check "d. mended, b2 is back in" back dns 2

metrics >/tmp/$LP-scrape.prom
check "metrics pass promtool" promtool check metrics </tmp/$LP-scrape.prom
done_testing
