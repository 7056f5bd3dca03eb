#!/usr/bin/env bash
# Installs the workspace's npm dependencies when they are missing or older than package-lock.json.
# The one place that decides "install if needed": `npm test` calls it, and `npm start`,
# `npm run cluster|loadtest|bench|admin` call it through their pre-scripts, so each of them works
# on a fresh clone. Run it inside ./parley (Node 24), as those commands are.
set -euo pipefail
cd "$(dirname "$0")/.."

installed=node_modules/.package-lock.json
if [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; then exit 0; fi

if [ -f "$installed" ]; then reason="package-lock.json changed since the last install"; else reason="first run in this clone"; fi
echo "[parley] installing dependencies with npm ci ($reason; about a minute)" >&2
started=$(date +%s)
npm ci --no-audit --no-fund --loglevel=error >&2 || {
  echo "[parley] error: npm ci failed (see above); check the npm registry configured for this host (npm config get registry)" >&2
  exit 1
}
echo "[parley] dependencies installed in $(( $(date +%s) - started )) s" >&2
