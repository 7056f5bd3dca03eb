#!/usr/bin/env bash
# The whole test suite (run it as `./parley npm test`). Installs what is missing, type-checks,
# runs every vitest suite (runtime smoke check, unit, integration, multi-process, chart), and ends
# with one plain line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0

scripts/ensure-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0
mkdir -p test-results
checks=test-results/checks.txt # one line per check outside vitest: "passed|failed <name>" (read by test:repeat)
: > "$checks"
check_result() { # name, exit code
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "passed $1" >> "$checks"
  else failed=$((failed + 1)); echo "failed $1" >> "$checks"; echo "[test] $1 failed"; fi
}

echo "[test] type check (tsc -b)"
npx tsc -b; check_result "type check" $?

echo "[test] tools: helm, kubeconform, k6, prometheus/promtool, toxiproxy and the Kubernetes schemas (built once with go install, then cached)"
for tool in helm kubeconform k6 prometheus toxiproxy; do
  scripts/ensure-tool.sh "$tool" >/dev/null || { echo "[test] could not install $tool"; failed=$((failed + 1)); echo "failed install $tool" >> "$checks"; }
done
deploy/tools/ensure-schemas.sh >/dev/null || { echo "[test] could not build the Kubernetes schemas"; failed=$((failed + 1)); echo "failed Kubernetes schemas" >> "$checks"; }
echo "[test] tools: Kubernetes v1.34, etcd and CoreDNS for the cluster test (built once from the Go module proxy, about 7 minutes cold)"
scripts/ensure-kube.sh >/dev/null || { echo "[test] could not build Kubernetes"; failed=$((failed + 1)); echo "failed install kubernetes" >> "$checks"; }

echo "[test] image smoke (the Dockerfile's install and start steps, in a temporary folder)"
scripts/image-smoke.sh; check_result "image smoke" $?

# Runs vitest and adds its counts; a crashed file counts as a failure.
vitest() { # json-report, vitest arguments…
  local report=$1; shift
  rm -f "$report"
  npx vitest run --outputFile.json="$report" "$@"
  local rc=$? counts vp vf
  counts=$(REPORT="$report" node -e '
    const fs = require("node:fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.env.REPORT, "utf8"));
      const failedSuites = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
      console.log(r.numPassedTests, r.numFailedTests + failedSuites);
    } catch { console.log("0 1"); }
  ')
  read -r vp vf <<<"$counts"
  passed=$((passed + vp)) failed=$((failed + vf))
  [ "$rc" -ne 0 ] && [ "$vf" -eq 0 ] && failed=$((failed + 1))
  return 0
}

if [ $# -gt 0 ]; then
  echo "[test] vitest $*"
  vitest test-results/vitest.json "$@"
else
  echo "[test] vitest (everything but the load guard, the federation and the Kubernetes cluster, files in parallel)"
  vitest test-results/vitest.json --exclude 'loadtest/test/**' --exclude 'deploy/kube/test/**' --exclude 'apps/cluster/test/federation/**'
  # The throughput, latency and memory guards measure, and the k6 runs (the guard, the dashboards
  # against Prometheus) load the machine: they run alone, one file at a time.
  echo "[test] vitest: the load guard and the dashboards under k6 load, alone"
  vitest test-results/guard.json loadtest/test --no-file-parallelism
  # Two regions in two network namespaces with a 30 s link cut: fourteen processes and timings
  # that a loaded machine would blur, so alone too (about 75 s).
  echo "[test] vitest: two federated regions in network namespaces, alone"
  vitest test-results/federation.json apps/cluster/test/federation/ --no-file-parallelism
  # A real single-node cluster (scripts/kube.sh) with Parley installed by helm: it takes the
  # machine's two cores for a few minutes, so it runs alone too.
  echo "[test] vitest: Parley in a Kubernetes cluster (scripts/kube.sh, helm install), alone"
  vitest test-results/kube.json deploy/kube/test --no-file-parallelism
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
