#!/usr/bin/env bash
# The Debian package (make deb): built, lintian without errors, installed on
# this machine, xlb version and help run from it, systemd-analyze verify
# accepts its unit, and purged leaving nothing behind.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
missing=""
for t in dpkg-deb dpkg-shlibdeps lintian systemd-analyze; do
	command -v $t >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - under CI the package test needs:$missing (make deps)"; exit 1; }
	skip_all "needs$missing (make deps)"
fi
[ "$(id -u)" = 0 ] || skip_all "installs the package: needs root"
if dpkg-query -W -f='${Status}' xlb 2>/dev/null | grep -q 'install ok installed'; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - a package xlb is already installed"; exit 1; }
	skip_all "a package xlb is already installed on this machine (not touched)"
fi
OUT=$(mktemp -d /tmp/xlb-debtest-XXXXXX)
trap 'dpkg --purge xlb >/dev/null 2>&1; rm -rf "$OUT"' EXIT
deb=$("$ROOT/tools/mkdeb" "$OUT" 2>"$OUT/mkdeb.err")
named() { [ -s "$deb" ] && [[ ${deb##*/} =~ ^xlb_[0-9][^_]*_$(dpkg --print-architecture)\.deb$ ]]; }
check "make deb builds xlb_VERSION_ARCH.deb (${deb##*/})" named
check "it holds the binary, BPF objects, man page, completion, unit and examples" bash -c '
	c=$(dpkg-deb -c "$1")
	for f in ./usr/sbin/xlb ./usr/lib/xlb/bpf/xlb.bpf.o ./usr/lib/xlb/bpf/decap.bpf.o \
		./usr/share/man/man8/xlb.8.gz ./usr/share/bash-completion/completions/xlb \
		./lib/systemd/system/xlb.service ./usr/share/doc/xlb/examples/web.json \
		./usr/share/doc/xlb/prometheus/xlb-rules.yml ./usr/share/doc/xlb/runbook.md; do
		grep -q " $f\$" <<<"$c" || { echo "missing $f"; exit 1; }
	done' _ "$deb"
check "its dependencies are the libraries it links" bash -c \
	'dpkg-deb -f "$1" Depends | grep -q "libbpf1.*libjansson4.*libmicrohttpd12"' _ "$deb"
check "it recommends bash-completion (its completion file needs it)" bash -c \
	'dpkg-deb -f "$1" Recommends | grep -qw bash-completion' _ "$deb"
lintian --tag-display-limit 0 "$deb" >"$OUT/lintian.txt" 2>&1
sed 's/^/# lintian: /' "$OUT/lintian.txt"
check "lintian reports no error" bash -c '! grep -q "^E: " "$1"' _ "$OUT/lintian.txt"
check "dpkg -i installs it" dpkg -i "$deb"
check "xlb version runs from the package" /usr/sbin/xlb version
check "xlb --version and -V say the same" bash -c \
	'v=$(/usr/sbin/xlb version) && test "$(/usr/sbin/xlb --version)" = "$v" -a "$(/usr/sbin/xlb -V)" = "$v"'
check "xlb help runs from the package" bash -c '/usr/sbin/xlb help | grep -q "xlb flow SERVICE"'
check "the man page is installed" test -s /usr/share/man/man8/xlb.8.gz
check "systemd-analyze verify accepts the unit" systemd-analyze verify /lib/systemd/system/xlb.service
files=$(dpkg -L xlb | while read -r f; do [ -f "$f" ] && echo "$f"; done)
check "dpkg --purge removes it" dpkg --purge xlb
left=""
for f in $files; do [ -e "$f" ] && left="$left $f"; done
check "no file of the package is left${left:+ (left:$left)}" test -z "$left"
check "the package is gone" bash -c '! dpkg-query -W -f="\${Status}" xlb 2>/dev/null | grep -q "ok installed"'
done_testing
