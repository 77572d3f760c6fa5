#!/usr/bin/env bash
# xlb fleet against a store over TLS, with client certificates, then with etcd
# user authentication on: a real etcd in a namespace, a CA and certificates
# made here with openssl, every credential in a client file (--store-file).
# Works with the right files; refused with a key or password file others can
# read (naming it and its mode, nothing written); a wrong CA is a certificate
# error (exit 2); no client certificate, a wrong password or no user are
# refused; the password and the key never appear in any output, and xlb has
# no option to take them on its command line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../tls.sh"
require_root
command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_all "needs etcd and etcdctl"
command -v openssl >/dev/null || skip_all "needs openssl"
NS=${XT_NS}tls
TMP=$(mktemp -d /tmp/xlb-fleet-tls-XXXXXX)
trap 'rm -rf "$TMP"; xt_cleanup' EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up
check "a CA, a server and a client certificate (openssl)" tls_certs "$TMP/pki" 127.0.0.1
etcd_tls_up "$NS" "$TMP/pki" 127.0.0.1 || { not_ok "etcd starts with TLS in $NS"; done_testing; exit 1; }
PW="pw-$RANDOM-$RANDOM-secret"
KEYLINE=$(sed -n 2p "$TMP/pki/client.key")	# a line of the key's body: never printed
OUTS=$TMP/outputs	# every output of xlb here, searched for the secrets at the end
F=tls1
K=/xlb/fleets/$F
P=$TMP/pki

# client FILE [FIELD=JSON...]: a client file (mode 0600) with the right endpoint, CA,
# certificate and key, the fields given replacing or adding to them ("key=null" drops)
client() {
	local file=$1 j
	shift
	j=$(jq -n --arg u "$ETCD_URL" --arg f $F --arg ca "$P/ca.pem" --arg c "$P/client.pem" \
		--arg k "$P/client.key" '{endpoints: [$u], fleet: $f, ca: $ca, cert: $c, key: $k}')
	for kv in "$@"; do
		j=$(jq --argjson v "${kv#*=}" ".${kv%%=*} = \$v | with_entries(select(.value != null))" <<<"$j")
	done
	echo "$j" >"$TMP/$file"
	chmod 600 "$TMP/$file"
}
# run FILE ARGS...: xlb ARGS --store-file FILE in the namespace; out and rc set
run() {
	local file=$1
	shift
	out=$(ip netns exec "$NS" "$XLB" "$@" --store-file "$TMP/$file" 2>&1); rc=$?
	printf '%s\n' "$out" >>"$OUTS"
}
gen() { ectls get --print-value-only $K/desired | jq -r '.generation // 0'; }
conf() {	# conf FILE N...: one service, backends 198.51.100.N
	local list
	list=$(printf '{"address": "198.51.100.%s", "weight": 100},' "${@:2}")
	printf '{"services": [{"name": "web", "vip": "192.0.2.10", "port": 80, "protocol": "tcp",
	  "table_size": 1009, "backends": [%s]}]}\n' "${list%,}" >"$TMP/$1"
}
conf a.json 1 2 3
conf b.json 1 2 3 4
conf c.json 1 2

# ---- TLS with a client certificate --------------------------------------------
client ok.json
run ok.json fleet apply "$TMP/a.json" --reason "over tls"
check "https + CA + client certificate: apply works ($rc: $out)" test $rc -eq 0
check "desired is generation 1 in the store" test "$(gen)" = 1
run ok.json fleet status
check "fleet status reads it over TLS: generation 1, no node yet (exit 1, not 2: $rc)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "generation 1" <<<"$2"' _ $rc "$out"
run ok.json -j fleet history
check "fleet history over TLS (-j)" bash -c '[ "$1" -eq 0 ] && [ -n "$2" ] && jq -e ".generations[0].reason == \"over tls\"" <<<"$2" >/dev/null' _ $rc "$out"

cp "$P/client.key" "$TMP/loose.key" && chmod 644 "$TMP/loose.key"
client loose-key.json key="\"$TMP/loose.key\""
run loose-key.json fleet apply "$TMP/b.json"
check "a client key of mode 0644: exit 1, naming the file and its mode ($rc: $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "$3.*mode 0644" <<<"$2"' _ $rc "$out" "$TMP/loose.key"
check "and nothing is written" test "$(gen)" = 1

client ok644.json && chmod 644 "$TMP/ok644.json"
run ok644.json fleet apply "$TMP/b.json"
check "a client file of mode 0644 that names a key: exit 1, named with its mode ($rc: $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "ok644.json.*mode 0644" <<<"$2"' _ $rc "$out"
check "nothing is written" test "$(gen)" = 1

# the refused connections below go round the endpoint until the call's
# deadline: 1 s from the client file (timeout_ms) instead of the default 3-5 s
client wrong-ca.json ca="\"$P/other-ca.pem\"" timeout_ms=1000
run wrong-ca.json fleet apply "$TMP/b.json"
check "a CA that did not sign the server's certificate: exit 2 ($rc)" test $rc -eq 2
check "with a certificate error naming the endpoint ($out)" \
	bash -c 'grep -q "$3" <<<"$2" && grep -qi "certificate" <<<"$2"' _ $rc "$out" "$ETCD_URL"
check "nothing is written" test "$(gen)" = 1
run wrong-ca.json fleet status
check "fleet status with the wrong CA: exit 2 ($rc)" test $rc -eq 2

client no-cert.json cert=null key=null timeout_ms=1000
run no-cert.json fleet apply "$TMP/b.json"
check "no client certificate: the store refuses the connection, exit 2 ($rc: $out)" \
	bash -c '[ "$1" -eq 2 ] && grep -q "$3" <<<"$2" && grep -q "without a client certificate" <<<"$2"' \
	_ $rc "$out" "$ETCD_URL"
check "nothing is written" test "$(gen)" = 1

client http.json "endpoints=[\"${ETCD_URL/https/http}\"]" timeout_ms=1000
run http.json fleet status
check "plain http to the TLS port: exit 2, the endpoint named ($rc)" \
	bash -c '[ "$1" -eq 2 ] && grep -q "${3/https/http}" <<<"$2"' _ $rc "$out" "$ETCD_URL"

client cert-user.json 'user="root"' "password_file=\"$TMP/pw\""
printf '%s\n' "$PW" >"$TMP/pw" && chmod 600 "$TMP/pw"
run cert-user.json fleet status
check "a client certificate and a user together: refused before asking (exit 1: $rc)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "do not go together" <<<"$2"' _ $rc "$out"

# ---- etcd user authentication: a second store, TLS without client certificates ----
# (etcd's JSON gateway refuses a client certificate while authentication is on)
kill "$(etcd_tls_pid)"
etcd_tls_up "$NS" "$TMP/pki" 127.0.0.1 2479 noclient ||
	{ not_ok "a second etcd (TLS, no client certificates) starts"; done_testing; exit 1; }
check "etcdctl: user root added" ectls user add root --new-user-password="$PW"
check "etcdctl: the root role granted" ectls user grant-role root root
check "etcdctl: authentication enabled" ectls auth enable
ectl_auth() { ectls --user "root:$PW" "$@"; }
gena() { ectl_auth get --print-value-only $K/desired | jq -r '.generation // 0'; }
client auth.json 'user="root"' "password_file=\"$TMP/pw\"" cert=null key=null
run auth.json fleet apply "$TMP/b.json" --reason "with a user"
check "https + CA + user + password file: apply works ($rc: $out)" test $rc -eq 0
check "desired is generation 1 in this store" test "$(gena)" = 1
run auth.json fleet status
check "fleet status with the user: read (exit 1: no node; $rc)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "generation 1" <<<"$2"' _ $rc "$out"

client http-user.json "endpoints=[\"$ETCD_URL\", \"${ETCD_URL/https/http}\"]" 'user="root"' \
	"password_file=\"$TMP/pw\"" cert=null key=null
run http-user.json fleet apply "$TMP/c.json"
check "a user with an http:// endpoint: refused before asking, the password not sent in cleartext (exit 1: $rc: $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q cleartext <<<"$2" && grep -q "${3/https/http}" <<<"$2"' _ $rc "$out" "$ETCD_URL"
check "nothing is written" test "$(gena)" = 1
: >"$TMP/emptypw" && chmod 600 "$TMP/emptypw"
client emptypw.json 'user="root"' "password_file=\"$TMP/emptypw\"" cert=null key=null
run emptypw.json fleet apply "$TMP/c.json"
check "an empty password file: refused, named, exit 1 ($rc: $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "emptypw: empty" <<<"$2"' _ $rc "$out"
check "nothing is written" test "$(gena)" = 1

printf 'not-%s\n' "$PW" >"$TMP/badpw" && chmod 600 "$TMP/badpw"
client badpw.json 'user="root"' "password_file=\"$TMP/badpw\"" cert=null key=null
run badpw.json fleet apply "$TMP/c.json"
check "a wrong password: refused, exit 1 ($rc)" test $rc -eq 1
check "saying the store refused the authentication ($out)" \
	bash -c 'grep -q "refused the authentication of user root" <<<"$1" && grep -q "authentication failed" <<<"$1"' _ "$out"
check "nothing is written" test "$(gena)" = 1
run badpw.json fleet status
check "fleet status with a wrong password: exit 1 ($rc)" test $rc -eq 1

cp "$TMP/pw" "$TMP/loose-pw" && chmod 644 "$TMP/loose-pw"
client loose-pw.json 'user="root"' "password_file=\"$TMP/loose-pw\"" cert=null key=null
run loose-pw.json fleet apply "$TMP/c.json"
check "a password file of mode 0644: exit 1, naming it and its mode ($rc: $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "$3.*mode 0644" <<<"$2"' _ $rc "$out" "$TMP/loose-pw"
check "nothing is written" test "$(gena)" = 1

client nouser.json cert=null key=null
run nouser.json fleet apply "$TMP/c.json"
check "authentication on, no user given: refused, exit 1 ($rc: $out)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "refused the request" <<<"$2"' _ $rc "$out"
check "nothing is written" test "$(gena)" = 1

# ---- secrets stay secret -----------------------------------------------------------
out=$(ip netns exec "$NS" "$XLB" fleet status --password "$PW" --store-file "$TMP/auth.json" 2>&1); rc=$?
check "xlb takes no password on its command line: --password refused (exit 1: $rc)" test $rc -eq 1
check "xlb outputs were collected ($(wc -l <"$OUTS") lines)" test "$(wc -l <"$OUTS")" -gt 15
check "the password appears in no output" bash -c '! grep -qF -- "$1" "$2"' _ "${PW#pw-}" "$OUTS"
check "nor any line of the client key" bash -c '! grep -qF -- "$1" "$2"' _ "$KEYLINE" "$OUTS"
# negative control: the search finds the password where it is
check "(control: the search finds the password in its own file)" grep -qF -- "${PW#pw-}" "$TMP/pw"
done_testing
