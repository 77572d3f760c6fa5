#!/usr/bin/env bash
# The daemon's status page (GET / on the metrics address), in a real browser:
# headless Chromium loads it from the lab and its DOM shows each backend's
# state, weight and shares, the running generation with who/when/why, the
# recent history and the active alerts; a screenshot goes to
# build/status-page.png.  Bad requests get HTTP errors and the daemon serves on.
. "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - chromium is missing under CI (make deps installs it)"; exit 1; }
	skip_all "needs chromium (make deps)"
fi
lab_up --backends 3
attach
checked_config >/tmp/$LP-a.json
check "apply" xlb config apply /tmp/$LP-a.json --reason "status <page> & test"
LOG=/tmp/$LP-daemon.log
nsenter --net=/run/netns/$LP-lb "$ROOT/build/xlb" --state /tmp/$LP-state --dev ${LP}lb0 \
	daemon --metrics 127.0.0.1:9145 2>$LOG &
dpid=$!
URL=http://127.0.0.1:9145
get() { lab lb curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }
serving() { [ "$(get $URL/)" = 200 ]; }
check "the daemon serves the page" wait_for 20 serving
answers=$(requests 30 http://$VIP4/)
check "traffic reaches the backends" test "$(grep -c '^b[123]$' <<<"$answers")" = 30
# b3 fails its checks: the page shows it, and an alert
lab b3 sh -c "kill \$(cat /run/$LP-b3.nginx.pid)"
failing() { lab lb curl -s -m 5 $URL/ | grep -q 'backend <b>198.51.100.3</b> of web fails'; }
check "the page shows b3 failing" wait_for 15 failing

browse() {	# chromium's DOM of the page, in the node's namespace
	lab lb timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--no-first-run --user-data-dir=/tmp/$LP-chromium "$@" $URL/ 2>/dev/null
}
dom=$(browse --dump-dom)
check "chromium loads the page" grep -q '<h1>xlb on' <<<"$dom"
check "each backend is a row with its state, health and weight" \
	test "$(grep -c '<tr><td>198.51.100.[12]</td><td class="state-active">active</td><td>passing <span class="meta">(tunnel)</span></td><td>100</td>' <<<"$dom")" = 2
check "b3 is down, its health failing, why and through which path" \
	grep -qE '198.51.100.3</td><td class="state-down">down</td><td><b class="state-down">failing</b><br><span class="why">[^<]+</span> <span class="meta">\(tunnel\)</span></td><td>0</td>' <<<"$dom"
check "table and observed shares are bars" \
	test "$(grep -o 'class="bar table"' <<<"$dom" | wc -l)" -ge 3 -a "$(grep -o 'class="bar seen' <<<"$dom" | wc -l)" -ge 2
check "the running generation says who, when and why (the health change)" \
	grep -q 'generation 2, configuration [0-9a-f]*, applied [0-9T:Z-]* by [a-z]* (health): health: web 198.51.100.3 down' <<<"$dom"
check "the alert is on the page" grep -q '<div class="alerts" id="alerts"><ul><li>backend <b>198.51.100.3</b> of web fails its health checks</li></ul></div>' <<<"$dom"
check "recent history lists both changes, the reason escaped" \
	bash -c 'grep -q "<td>2 (running)</td>" <<<"$1" && grep -q "<td>1</td><td>[0-9T:Z-]*</td><td>apply</td><td>[a-z]*</td><td>status &lt;page&gt; &amp; test</td>" <<<"$1"' _ "$dom"
check "no store followed: no fleet section (negative control)" \
	bash -c '! grep -q "id=\"fleet" <<<"$1"' _ "$dom"
check "it refreshes itself" grep -q '<meta http-equiv="refresh" content="5">' <<<"$dom"
check "no script, no external asset" bash -c '! grep -qiE "<script|src=|href=" <<<"$1"' _ "$dom"
rm -f "$ROOT/build/status-page.png"
browse --screenshot="$ROOT/build/status-page.png" --window-size=1100,800 >/dev/null
check "a screenshot is written to build/status-page.png" test -s "$ROOT/build/status-page.png"
# bad requests: clear errors, the daemon serves on
check "POST is refused (405)" test "$(get -X POST $URL/)" = 405
check "DELETE is refused (405)" test "$(get -X DELETE $URL/metrics)" = 405
check "an unknown path is not found (404)" test "$(get $URL/admin)" = 404
big=$(head -c 100000 /dev/zero | tr '\0' a)
check "a 100 kB header is refused (431)" test "$(get -H "X-Big: $big" $URL/)" = 431
check "the page is still served" serving
check "the metrics too" test "$(get $URL/metrics)" = 200
check "the daemon is still running" kill -0 $dpid
done_testing
