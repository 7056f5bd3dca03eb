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
# `./parley npm start` as a user runs it: SIGTERM, or Ctrl-C to its process group, drains Parley and
# returns 0, and no Parley process is left behind.
npm_start_stops() { # signal
  local out port pid rc=1 i
  out=$(mktemp)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  setsid bash -c "PORT=$port HOST=127.0.0.1 PARLEY_DATA_DIR=$out.data PARLEY_DRAIN_MS=0 exec ./parley npm start" >"$out" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do grep -q 'Ctrl-C stops' "$out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if grep -q 'Ctrl-C stops' "$out"; then
    if [ "$1" = INT ]; then kill -INT -- "-$pid"; else kill -TERM "$pid"; fi
    wait "$pid"; rc=$?
  else
    kill -KILL -- "-$pid" 2>/dev/null; wait "$pid"
  fi
  sleep 0.5
  if [ "$rc" -ne 0 ] || ! grep -q '"msg":"shutting down"' "$out" || pgrep -f "PARLEY_DATA_DIR=$out.data|embedded/src/main.ts" >/dev/null; then
    sed 's/^/[runtime]   /' "$out" | tail -n 20; rc=1
  fi
  rm -rf "$out" "$out.data"
  [ "$rc" -eq 0 ]
}
npm_start_sigterm() { npm_start_stops TERM; }
npm_start_ctrl_c() { npm_start_stops INT; }
no_mounts() { ! grep -q "$HOME/.cache/parley" /proc/mounts; }

check "exit codes pass through" exit_code
check "Node 24 or newer inside" node_version
check "SIGTERM reaches the command, which finishes its shutdown; its code is returned" sigterm
check "Ctrl-C reaches the command; nothing keeps running" ctrl_c
check "npm start: SIGTERM drains Parley and returns 0" npm_start_sigterm
check "npm start: Ctrl-C drains Parley and returns 0" npm_start_ctrl_c
check "nothing stays mounted" no_mounts
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
