#!/usr/bin/env bash
# The daemon's probes (tests/probe-check drives user/daemon/probe.c as the
# daemon's loop does) against real servers on the loopback of a namespace of
# this test: nginx plain and with TLS (certificates made here by openssl: from
# a test CA, one expired, one naming another host) and unbound (NOERROR with
# an answer, NXDOMAIN, REFUSED, and SERVFAIL: a zone forwarded to itself
# from a source it refuses).
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh
PC=${PC:-build/probe-check}
require_root
command -v nginx >/dev/null || skip_all "nginx is not installed (tools/deps)"
command -v unbound >/dev/null || skip_all "unbound is not installed (tools/deps)"
[ -x "$PC" ] || skip_all "$PC not built (make build/probe-check)"
NS=${XT_NS}pr
T=$(mktemp -d /tmp/xlb-probes.XXXXXX)
cleanup() {
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
	[ -n "${UNBOUND:-}" ] && kill "$UNBOUND" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"	# nginx's workers (nobody) read www/
ip netns add "$NS" || skip_all "cannot create network namespaces"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
pc() { in_ns "$PC" "$@"; }

# ---- certificates: a CA, good.test (valid), good.test (expired), other.test
. tests/certs.sh
make_certs "$T" || { cat "$T/openssl.log"; not_ok "certificates made"; done_testing; exit; }
ok "certificates made by openssl (CA, valid, expired, other host)"

mkdir -p "$T/www" && echo "healthy and well" >"$T/www/ok"
srv() { printf 'server { listen 127.0.0.1:%s %s; %s root %s/www;
  location = /fail { return 503 "sick\\n"; } }\n' "$1" "$2" "$3" "$T"; }
tls() { printf 'ssl_certificate %s/%s.pem; ssl_certificate_key %s/%s.key;' "$T" "$1" "$T" "$1"; }
cat >"$T/nginx.conf" <<CONF
worker_processes 1;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 64; }
http {
  access_log off;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:s:1m;
  log_format reused '\$ssl_session_reused';
  $(srv 8080 "" "")
  $(srv 8443 ssl "$(tls good) access_log $T/reused.log reused;")
  $(srv 8444 ssl "$(tls expired)")
  $(srv 8445 ssl "$(tls other)")
}
CONF
in_ns nginx -p "$T" -c "$T/nginx.conf" -e "$T/error.log" || { cat "$T/error.log"; exit 1; }
check "nginx answers on 8080 and 8443" wait_for 5 in_ns bash -c '</dev/tcp/127.0.0.1/8080 && </dev/tcp/127.0.0.1/8443'

expect() {	# NAME WANT ARGS...: probe-check prints WANT
	local name=$1 want=$2 out
	shift 2
	out=$(pc "$@" 2>&1)
	if [ "$out" = "$want" ]; then ok "$name: $want"; else
		not_ok "$name: got '$out', want '$want'"; fi
}
H='"type":"http","interval_ms":2000,"timeout_ms":1000'
S='"type":"https","host":"good.test","interval_ms":2000,"timeout_ms":1000'
expect "http 200" "ok" tcp 127.0.0.1 8080 "{$H,\"path\":\"/ok\"}"
expect "http 503" "failed status: HTTP 503" tcp 127.0.0.1 8080 "{$H,\"path\":\"/fail\"}"
expect "http 503 when expected" "ok" tcp 127.0.0.1 8080 "{$H,\"path\":\"/fail\",\"expect_status\":[\"500-503\"]}"
expect "body matches" "ok" tcp 127.0.0.1 8080 "{$H,\"path\":\"/ok\",\"body_match\":\"and well\"}"
expect "body does not match" "failed body: body does not match" tcp 127.0.0.1 8080 "{$H,\"path\":\"/ok\",\"body_match\":\"unwell\"}"
expect "refused" "failed refused: connect refused" tcp 127.0.0.1 8081 "{$H}"
expect "tcp" "ok" tcp 127.0.0.1 8080 '{"type":"tcp"}'
expect "https, CA file" "ok" tcp 127.0.0.1 8443 "{$S,\"path\":\"/ok\",\"ca_file\":\"$T/ca.pem\"}"
expect "https, system CAs" "failed tls: TLS: certificate not trusted" tcp 127.0.0.1 8443 "{$S}"
expect "https, verify off" "ok" tcp 127.0.0.1 8443 "{$S,\"path\":\"/ok\",\"verify\":false}"
expect "https, expired" "failed tls: TLS: certificate expired" tcp 127.0.0.1 8444 "{$S,\"ca_file\":\"$T/ca.pem\"}"
expect "https, expired, verify off" "ok" tcp 127.0.0.1 8444 "{$S,\"path\":\"/ok\",\"verify\":false}"
expect "https, another host" "failed tls: TLS: certificate names another host" tcp 127.0.0.1 8445 "{$S,\"ca_file\":\"$T/ca.pem\"}"
expect "https 503" "failed status: HTTP 503" tcp 127.0.0.1 8443 "{$S,\"path\":\"/fail\",\"ca_file\":\"$T/ca.pem\"}"
expect "https to plain http" "failed tls: TLS: handshake failed" tcp 127.0.0.1 8080 "{$S,\"verify\":false}"
expect "CA file missing: not checked" "unchecked: CA file $T/none.pem: No such file or directory" \
	tcp 127.0.0.1 8443 "{$S,\"ca_file\":\"$T/none.pem\"}"
r0=$(grep -c '^r' "$T/reused.log"); n0=$(wc -l <"$T/reused.log")
out=$(pc tcp 127.0.0.1 8443 "{$S,\"path\":\"/ok\",\"ca_file\":\"$T/ca.pem\"}" 5)
check "https five checks in a row" test "$out" = "$(printf 'ok\nok\nok\nok\nok')"
r1=$(grep -c '^r' "$T/reused.log"); n1=$(wc -l <"$T/reused.log")
check "five connections, the last four resume the first's TLS session ($((r1 - r0)) of $((n1 - n0)))" \
	test $((n1 - n0)) = 5 -a $((r1 - r0)) -ge 4

# ---- DNS: unbound on 127.0.0.1:5353
cat >"$T/unbound.conf" <<CONF
server:
  interface: 127.0.0.1@5353
  do-daemonize: no
  use-syslog: no
  logfile: "$T/unbound.log"
  username: ""
  chroot: ""
  directory: "$T"
  pidfile: "$T/unbound.pid"
  do-not-query-localhost: no
  access-control: 127.0.0.1/32 allow
  access-control: 127.0.0.2/32 refuse
  outgoing-interface: 127.0.0.2
  local-zone: "good.test." static
  local-data: "www.good.test. A 192.0.2.80"
  local-data: "www.good.test. AAAA 2001:db8::80"
  local-zone: "refused.test." refuse
forward-zone:
  name: "fail.example."
  forward-addr: 127.0.0.1@5353
CONF
ip netns exec "$NS" unbound -c "$T/unbound.conf" &
UNBOUND=$!
D='"type":"dns","interval_ms":3000,"timeout_ms":2000'
check "unbound answers" wait_for 5 pc udp 127.0.0.1 5353 "{$D,\"query\":\"www.good.test\"}"
expect "dns A" "ok" udp 127.0.0.1 5353 "{$D,\"query\":\"www.good.test\",\"expect_answer\":\"192.0.2.80\"}"
expect "dns answer mismatch" "failed answer: answer mismatch" udp 127.0.0.1 5353 "{$D,\"query\":\"www.good.test\",\"expect_answer\":\"192.0.2.81\"}"
expect "dns AAAA" "ok" udp 127.0.0.1 5353 "{$D,\"query\":\"www.good.test\",\"qtype\":\"AAAA\",\"expect_answer\":\"2001:db8::80\"}"
expect "dns NXDOMAIN" "failed dns: DNS NXDOMAIN" udp 127.0.0.1 5353 "{$D,\"query\":\"nope.good.test\"}"
expect "dns NXDOMAIN expected" "ok" udp 127.0.0.1 5353 "{$D,\"query\":\"nope.good.test\",\"expect_rcode\":\"NXDOMAIN\"}"
expect "dns SERVFAIL" "failed dns: DNS SERVFAIL" udp 127.0.0.1 5353 "{$D,\"query\":\"www.fail.example\"}"
expect "dns REFUSED" "failed dns: DNS REFUSED" udp 127.0.0.1 5353 "{$D,\"query\":\"www.refused.test\"}"
expect "dns to a closed port" "failed refused: connect refused" udp 127.0.0.1 5354 "{$D,\"query\":\"www.good.test\"}"
done_testing
