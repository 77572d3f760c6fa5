#!/usr/bin/env bash
# The lab itself: generic XDP works too; up twice in a row leaves nothing
# behind; down removes namespaces, pins and files.
. "$(dirname "$0")/lib.sh"
lab_up --backends 2 --generic
check "up again over a running lab" $LAB up --prefix $LP --backends 2 --generic
check "one set of namespaces" test "$(ip netns list | grep -c "^$LP-")" = 5
check "attach in generic mode" lab lb "$ROOT/build/xlb" --state /tmp/$LP-state attach ${LP}lb0 --mode generic
check "status says generic" bash -c "$LAB xlb --prefix $LP -j status | jq -e '.[0].mode == \"generic\"'"
config 100 100 >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json
answers=$(requests 60 http://$VIP4/)
check "60 requests answered through generic XDP" test "$(grep -c '^b[12]$' <<<"$answers")" = 60
$LAB down --prefix $LP >/dev/null
check "down removes the namespaces" test "$(ip netns list | grep -c "^$LP-")" = 0
check "down removes the pins" bash -c "! ls -d /sys/fs/bpf/xlb/$LP* /sys/fs/bpf/xlb-decap/$LP* 2>/dev/null | grep -q ."
check "down removes the lab's files" bash -c "! ls /tmp/$LP-* 2>/dev/null | grep -q ."
check "down stops the servers" bash -c "! pgrep -f '[t]mp/$LP-' >/dev/null"
done_testing
