#!/usr/bin/env bash
# Verdicts that say why, through the daemon (issue 25): three backends on the
# namespace's loopback checked over https direct — .1 with a certificate of
# the test CA (passes), .2 with an expired one, .3 with nothing listening —
# and `xlb backend list` (text and -j), the metrics' reasons and the status
# page name each failure, its class and its path.
. "$(dirname "$0")/../lib.sh"
require_root
command -v nginx >/dev/null || skip_all "nginx is not installed (tools/deps)"
. "$(dirname "$0")/../certs.sh"
xt_cli_fixture hw
chmod 755 "$STATE"
make_certs "$STATE" || { cat "$STATE/openssl.log"; exit 1; }
for i in 1 2 3; do ip -n $NS addr add 198.51.100.$i/32 dev lo; done
cat >"$STATE/nginx.conf" <<CONF
worker_processes 1;
pid $STATE/nginx.pid;
error_log $STATE/nginx.err;
events { worker_connections 64; }
http { access_log off;
  server { listen 198.51.100.1:443 ssl; ssl_certificate $STATE/good.pem;
           ssl_certificate_key $STATE/good.key; location / { return 200 "ok\n"; } }
  server { listen 198.51.100.2:443 ssl; ssl_certificate $STATE/expired.pem;
           ssl_certificate_key $STATE/expired.key; location / { return 200 "ok\n"; } } }
CONF
ip netns exec $NS nginx -c "$STATE/nginx.conf"
cat >"$STATE/web.json" <<JSON
{ "services": [ { "name": "web", "vip": "192.0.2.10", "port": 443, "protocol": "tcp",
  "table_size": 65537,
  "health": { "type": "https", "via": "direct", "host": "good.test", "ca_file": "$STATE/ca.pem",
              "interval_ms": 300, "timeout_ms": 200, "rise": 1, "fall": 1 },
  "backends": [ { "address": "198.51.100.1" }, { "address": "198.51.100.2" },
                { "address": "198.51.100.3" } ] } ] }
JSON
x attach $DEV >/dev/null 2>&1
M=127.0.0.1:9148
# nsenter execs xlb: $! is the daemon itself
nsenter --net=/run/netns/$NS $XLB --state "$STATE" --dev $DEV daemon --config "$STATE/web.json" \
	--metrics $M 2>"$STATE/daemon.log" &
dpid=$!
trap 'kill $dpid 2>/dev/null; [ -f "$STATE/nginx.pid" ] && kill $(cat "$STATE/nginx.pid"); nsenter --net=/run/netns/$NS $XLB detach $DEV >/dev/null 2>&1; rm -rf "$STATE"; xt_cleanup' EXIT
ck() { x -j backend list web | jq -c ".[] | select(.address == \"198.51.100.$1\") | .check"; }
settled() { [ "$(ck 1 | jq -r .up)" = true ] && [ "$(ck 2 | jq -r .up)" = false ] &&
	    [ "$(ck 3 | jq -r .up)" = false ]; }
check "the daemon's verdicts reach backend list" wait_for 10 settled
check "198.51.100.1 passes, direct ($(ck 1))" \
	test "$(ck 1)" = '{"up":true,"last_ok":true,"reason":"","why":"","path":"direct"}'
check "198.51.100.2 is down: its certificate expired ($(ck 2))" \
	test "$(ck 2)" = '{"up":false,"last_ok":false,"reason":"tls","why":"TLS: certificate expired","path":"direct"}'
check "198.51.100.3 is down: connect refused ($(ck 3))" \
	test "$(ck 3)" = '{"up":false,"last_ok":false,"reason":"refused","why":"connect refused","path":"direct"}'
out=$(x backend list web)
check "text: the check column says why" bash -c "grep -q '198.51.100.2 .*down: TLS: certificate expired (direct)' <<<'$out' && grep -q '198.51.100.1 .* up (direct)' <<<'$out'"
metrics=$(ip netns exec $NS curl -s http://$M/metrics)
reason() { awk -v k="xlb_backend_health_failure_reasons_total{service=\"web\",backend=\"198.51.100.$1\",reason=\"$2\"}" '$1 == k {print $2}' <<<"$metrics"; }
check "metrics: .2's failures are tls ($(reason 2 tls)), none refused" test "$(reason 2 tls)" -gt 0 -a "$(reason 2 refused)" = 0
check "metrics: .3's failures are refused ($(reason 3 refused))" test "$(reason 3 refused)" -gt 0
check "metrics: .1 has not failed (tls $(reason 1 tls))" test "$(reason 1 tls)" = 0
page=$(ip netns exec $NS curl -s http://$M/)
check "the status page says why and by which path" bash -c "grep -q 'TLS: certificate expired</span> <span class=\"meta\">(direct)' <<<'$page' && grep -q 'connect refused' <<<'$page'"
kill $dpid; wait $dpid 2>/dev/null
done_testing
