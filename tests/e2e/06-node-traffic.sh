#!/usr/bin/env bash
# The node's own traffic is unaffected while xlb is attached.
. "$(dirname "$0")/lib.sh"
lab_up --backends 2
cat >/tmp/$LP-node.conf <<NGINX
worker_processes 1; pid /run/$LP-node.nginx.pid; error_log /tmp/$LP-node.err;
events {} http { access_log off; client_body_temp_path /tmp/$LP-node.body;
server { listen 198.51.100.254:8080; location / { return 200 "node\n"; } } }
NGINX
lab lb nginx -c /tmp/$LP-node.conf
attach
config 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
check "ping of the node's own address" lab client ping -c 3 -i 0.2 -W 2 198.51.100.254
check "a TCP connection to the node's own address" bash -c \
	"[ \"\$($LAB exec --prefix $LP client curl -s -m 5 http://198.51.100.254:8080/)\" = node ]"
check "the node reaches a backend itself" lab lb curl -s -m 5 -o /dev/null http://198.51.100.1/
check "and its packets were passed, counted as not_vip" bash -c \
	"$LAB xlb --prefix $LP -j stats | jq -e '.verdicts.pass_not_vip > 0'"
check "while the VIP is balanced" bash -c "[ \"\$($LAB exec --prefix $LP client curl -s -m 5 http://$VIP4/)\" != '' ]"
lab lb sh -c "kill \$(cat /run/$LP-node.nginx.pid)"
done_testing
