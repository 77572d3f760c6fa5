# Certificates made by openssl for the tests of the health probes.
# make_certs DIR: in DIR a test CA (ca.pem) and certificates it signed, each
# with its key: good.pem (good.test, valid two days), expired.pem (good.test,
# January 2020), other.pem (other.test).  Output in DIR/openssl.log; 0 or 1.
make_certs() {
	(
	cd "$1" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj /CN=xlb-test-ca
	mkdir -p db && : >db/index && echo 01 >db/serial
	cat >ca.cnf <<-CNF
	[ca]
	default_ca = t
	[t]
	database = db/index
	serial = db/serial
	new_certs_dir = db
	certificate = ca.pem
	private_key = ca.key
	default_md = sha256
	policy = any
	copy_extensions = copy
	unique_subject = no
	[any]
	commonName = supplied
	CNF
	for c in good:good.test expired:good.test other:other.test; do
		n=${c%%:*} h=${c#*:}
		openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$h \
			-addext "subjectAltName=DNS:$h"
		if [ $n = expired ]; then dates="-startdate 20200101000000Z -enddate 20200201000000Z"
		else dates="-days 2"; fi
		openssl ca -batch -config ca.cnf $dates -in $n.csr -out $n.pem -notext
	done
	) >"$1/openssl.log" 2>&1
}
