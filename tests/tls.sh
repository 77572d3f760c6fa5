# TLS for the fleet store in tests: `. tests/tls.sh` after tests/lib.sh.
#
# tls_certs DIR IP: a CA (DIR/ca.pem), a server certificate for IP
# (DIR/server.pem, server.key), a client certificate CN=xlb-node
# (DIR/client.pem, client.key, mode 0600), and a second CA that signed
# neither (DIR/other-ca.pem).  openssl, 2048-bit RSA, valid one day.
tls_certs() {
	local d=$1 ip=$2
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
			-subj "/CN=xlb test CA" 2>/dev/null &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem \
			-days 1 -subj "/CN=another CA" 2>/dev/null &&
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
			-subj "/CN=etcd" 2>/dev/null &&
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ip" >server.ext &&
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out server.pem -days 1 -extfile server.ext 2>/dev/null &&
		openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
			-subj "/CN=xlb-node" 2>/dev/null &&
		printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out client.pem -days 1 -extfile client.ext 2>/dev/null &&
		chmod 600 ./*.key
	)
}

# etcd_tls_up NS DIR IP [PORT [noclient]]: one etcd member in namespace NS
# serving https://IP:PORT with DIR's server certificate and asking clients for
# a certificate signed by DIR/ca.pem (--client-cert-auth; not with noclient);
# data in DIR/data-PORT.  ETCD_URL is set; waits (20 s) until it answers;
# xt_cleanup ends it with NS.  ectls CMD...: etcdctl against it with the
# client certificate.
etcd_tls_up() {
	local ns=$1 d=$2 ip=$3 port=${4:-2379} cca="--trusted-ca-file $2/ca.pem --client-cert-auth"
	[ "${5:-}" = noclient ] && cca=	# etcd asks for a client certificate with a trusted CA
	ETCD_PORT=$port
	ETCD_URL=https://$ip:$port
	ETCD_TLS_DIR=$d ETCD_NS=$ns
	ip netns exec "$ns" etcd --name tls --data-dir "$d/data-$port" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls "http://$ip:$((port + 1))" \
		--initial-advertise-peer-urls "http://$ip:$((port + 1))" \
		--initial-cluster "tls=http://$ip:$((port + 1))" \
		--cert-file "$d/server.pem" --key-file "$d/server.key" \
		$cca >"$d/etcd-$port.log" 2>&1 & disown
	wait_for 20 ectls endpoint health
}
ectls() {
	ip netns exec "$ETCD_NS" env ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" \
		--cacert "$ETCD_TLS_DIR/ca.pem" --cert "$ETCD_TLS_DIR/client.pem" \
		--key "$ETCD_TLS_DIR/client.key" "$@"
}
# etcd_tls_pid: the pid of the member etcd_tls_up started last (in ETCD_NS).
etcd_tls_pid() {
	local p
	for p in $(ip netns pids "$ETCD_NS"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = etcd ] &&
			tr '\0' ' ' </proc/$p/cmdline | grep -q "data-$ETCD_PORT " && echo $p
	done
}
