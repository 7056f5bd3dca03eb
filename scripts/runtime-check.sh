#!/usr/bin/env bash
# Host-side checks of ./parley itself (the test suite runs inside it, so it cannot check these):
# the exit code passes through, SIGTERM and Ctrl-C reach the command and it may finish its
# shutdown, nothing stays running or mounted. Prints one line per check and "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0 failed=0
check() { # name, command…
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "[runtime] ok: $name"; else failed=$((failed + 1)); echo "[runtime] FAILED: $name"; fi
}
leftovers() { ! pgrep -f 'sleep 371' >/dev/null; }

exit_code() { ./parley sh -c 'exit 7'; [ $? -eq 7 ]; }
node_version() { [ "$(./parley node -p 'process.versions.node.split(".")[0] >= 24')" = true ]; }
sigterm() {
  ./parley sh -c 'trap "sleep 1; exit 42" TERM; sleep 371 & wait' &
  local p=$!; sleep 2; kill -TERM "$p"; wait "$p"; local rc=$?
  sleep 0.5; [ "$rc" -eq 42 ] && leftovers
}
ctrl_c() {
  setsid bash -c './parley sh -c "trap \"exit 5\" INT; sleep 371 & wait"' &
  local s=$!; sleep 2; kill -INT -- "-$(ps -o pgid= -p "$s" | tr -d ' ')"; wait "$s"; local rc=$?
  sleep 0.5; [ "$rc" -eq 5 ] && leftovers
}
no_mounts() { ! grep -q "$HOME/.cache/parley" /proc/mounts; }

check "exit codes pass through" exit_code
check "Node 24 or newer inside" node_version
check "SIGTERM reaches the command, which finishes its shutdown; its code is returned" sigterm
check "Ctrl-C reaches the command; nothing keeps running" ctrl_c
check "nothing stays mounted" no_mounts
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
