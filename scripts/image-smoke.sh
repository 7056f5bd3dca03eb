#!/usr/bin/env bash
# scripts/image-smoke.sh [--keep] [service …]
#
# Reproduces the production image (Dockerfile) without a Docker engine: repeats its COPY and
# `npm ci --omit=dev` steps in a temporary folder, makes it read-only, starts each service's CMD
# exactly as the image would, waits for /readyz, runs the HEALTHCHECK, then checks that SIGTERM
# makes each process exit 0 in time. See deploy/docker/image-smoke.ts.
# Needs Node 24: run it as `./parley scripts/image-smoke.sh` (it re-runs itself that way if needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 24 ]; then exec ./parley scripts/image-smoke.sh "$@"; fi
exec node deploy/docker/image-smoke.ts "$@"
