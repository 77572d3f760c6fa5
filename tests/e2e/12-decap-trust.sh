#!/usr/bin/env bash
# A backend's decap accepts IP-in-IP only from the balancers: a host that is
# not one cannot inject traffic that appears to come from any client.
# Negative control first: with --any-source the forged packets reach the
# backend's UDP stack (the hole); with the lab's --from list they are dropped
# and counted, IPv4 and IPv6, while the balancer's own tunnels still pass.
# GUE (UDP to 6080) the same: dropped from the client, delivered from the
# balancer's address; with --gue-port off it is the host's UDP, untouched.
. "$(dirname "$0")/lib.sh"
lab_up --backends 2 --ipv6
command -v python3 >/dev/null || skip_all "needs python3"
attach
config 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
FORGE="python3 $ROOT/tests/e2e/forge-ipip.py"
B1=198.51.100.1 B1_6=2001:db8:b::1 DEV=${LP}b1
udp_in() { lab b1 nstat -az Udp6InDatagrams UdpInDatagrams | awk -v k=$1 '$1 == k {print $2}'; }
decap_n() { lab b1 "$ROOT/build/xlb" -j decap stats $DEV | jq -r ".packets.$1"; }
forge() {	# $1 backend, $2 inner client source, $3 VIP: 20 forged UDP queries
	lab client $FORGE $1 $2 $3 53 20
}
forge_gue() {	# $1 sender (namespace), then as forge: in GUE to 6080
	local from=$1; shift
	lab $from $FORGE --gue 6080 $1 $2 $3 53 20
}
settled() { [ "$(udp_in $1)" -ge $2 ]; }

# the hole: any source accepted
lab b1 "$ROOT/build/xlb" decap detach $DEV >/dev/null
check "--any-source is an explicit choice" lab b1 "$ROOT/build/xlb" decap attach $DEV --any-source
u0=$(udp_in UdpInDatagrams)
forge $B1 203.0.113.99 $VIP4
wait_for 5 settled UdpInDatagrams $((u0 + 20))
check "control: with --any-source 20 forged IPv4 tunnels reach b1's UDP stack" \
	test "$(( $(udp_in UdpInDatagrams) - u0 ))" -ge 20

# the lab's list: only the balancer's tunnel sources
lab b1 "$ROOT/build/xlb" decap detach $DEV >/dev/null
check_exit "attach without --from or --any-source is refused" 1 \
	lab b1 "$ROOT/build/xlb" decap attach $DEV
check "and leaves nothing attached" bash -c "! ip -n $LP-b1 link show $DEV | grep -q prog/xdp"
check "attach --from the balancer's sources" lab b1 "$ROOT/build/xlb" decap attach $DEV \
	--from 198.51.100.254 --from 2001:db8:b::fe --from 203.0.113.254/32 --from 2001:db8:c::fe
for fam in 4 6; do
	if [ $fam = 4 ]; then b=$B1 src=203.0.113.99 vip=$VIP4 key=UdpInDatagrams
	else b=$B1_6 src=2001:db8:c::99 vip=$VIP6 key=Udp6InDatagrams; fi
	u0=$(udp_in $key) d0=$(decap_n untrusted_source)
	forge $b $src $vip
	untrusted() { [ "$(decap_n untrusted_source)" -ge $((d0 + 20)) ]; }
	check "IPv$fam: 20 forged tunnels are dropped as untrusted_source" wait_for 5 untrusted
	check "IPv$fam: none reached b1's UDP stack" test "$(udp_in $key)" = "$u0"
done
# GUE: from the client dropped as untrusted; from the balancer's address taken
for fam in 4 6; do
	if [ $fam = 4 ]; then b=$B1 src=203.0.113.99 vip=$VIP4 key=UdpInDatagrams
	else b=$B1_6 src=2001:db8:c::99 vip=$VIP6 key=Udp6InDatagrams; fi
	u0=$(udp_in $key) d0=$(decap_n untrusted_source)
	forge_gue client $b $src $vip
	untrusted() { [ "$(decap_n untrusted_source)" -ge $((d0 + 20)) ]; }
	check "IPv$fam: 20 GUE packets from the client are dropped as untrusted_source" wait_for 5 untrusted
	check "IPv$fam: none reached b1's UDP stack" test "$(udp_in $key)" = "$u0"
	u0=$(udp_in $key) g0=$(decap_n gue_v$fam)
	forge_gue lb $b $src $vip
	check "IPv$fam: 20 GUE packets from the balancer's address are stripped (gue_v$fam)" \
		wait_for 5 settled $key $((u0 + 20))
	check "  and counted (gue_v$fam $g0 -> $(decap_n gue_v$fam))" \
		test "$(decap_n gue_v$fam)" -ge $((g0 + 20))
done
# --gue-port off: GUE is the host's own UDP (to a port nothing listens on)
lab b1 "$ROOT/build/xlb" decap detach $DEV >/dev/null
check "attach --gue-port off" lab b1 "$ROOT/build/xlb" decap attach $DEV --gue-port off \
	--from 198.51.100.254 --from 2001:db8:b::fe --from 203.0.113.254/32 --from 2001:db8:c::fe
g0=$(decap_n gue_v4) p0=$(decap_n pass) u0=$(udp_in UdpInDatagrams)
forge_gue lb $B1 203.0.113.99 $VIP4
passed() { [ "$(decap_n pass)" -ge $((p0 + 20)) ]; }
check "with --gue-port off 20 GUE packets pass untouched" wait_for 5 passed
check "  none stripped (gue_v4 $g0 -> $(decap_n gue_v4)) nor delivered to the VIP" \
	test "$(decap_n gue_v4)" = "$g0" -a "$(udp_in UdpInDatagrams)" = "$u0"
# the balancer's own tunnels still pass: queries through the VIP reach b1 or b2
answers=""
for i in $(seq 12); do answers="$answers $(udp_query $VIP4 q$i)"; done
check "queries through xlb are answered by b1 too (decap_v4 $(decap_n decap_v4))" \
	bash -c "grep -q b1 <<<'$answers' && [ $(decap_n decap_v4) -gt 0 ]"
done_testing
