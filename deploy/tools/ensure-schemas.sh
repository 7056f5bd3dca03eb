#!/usr/bin/env bash
# deploy/tools/ensure-schemas.sh: prints a folder of Kubernetes JSON schemas for kubeconform,
# building it once when missing. Offline after the first run.
#
# Where they come from (pinned, all through the Go module proxy with checksum verification):
#   - Kubernetes built-in kinds: api/openapi-spec/swagger.json of the Go module
#     k8s.io/kubernetes@$K8S_VERSION (the OpenAPI document the API server of that release serves);
#   - ServiceMonitor, PrometheusRule: the CRDs in example/prometheus-operator-crd/ of
#     github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION;
#   - HTTPRoute: config/crd/standard/ of sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION.
# deploy/tools/k8s-json-schemas.ts converts them into kubeconform's strict layout.
# The cache lives under $PARLEY_TOOLS_BIN/.. (~/.cache/parley/tools/k8s-json-schemas/), keyed by
# the versions and a hash of the converter, so ./parley's userland and the host share it.
set -euo pipefail

K8S_VERSION=v1.36.3
PROMETHEUS_OPERATOR_VERSION=v0.85.0
GATEWAY_API_VERSION=v1.6.3

say() { printf '[ensure-schemas] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
converter="$here/k8s-json-schemas.ts"
tools_bin=${PARLEY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools/bin}
tools_root=$(dirname "$tools_bin")
hash=$(cat "$converter" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-10)
out="$tools_root/k8s-json-schemas/k8s-$K8S_VERSION-$hash"

if [ "${1:-}" = --versions ]; then
  printf 'kubernetes %s\nprometheus-operator %s\ngateway-api %s\n' "$K8S_VERSION" "$PROMETHEUS_OPERATOR_VERSION" "$GATEWAY_API_VERSION"
  exit 0
fi

if [ -f "$out/.complete" ]; then printf '%s\n' "$out"; exit 0; fi

command -v go >/dev/null 2>&1 || die "the schemas are missing and no Go toolchain is on PATH to fetch them"
mkdir -p "$tools_root/k8s-json-schemas"
exec 9>"$tools_root/k8s-json-schemas/.lock"
flock 9
if [ ! -f "$out/.complete" ]; then
  export GOPATH=${GOPATH:-$tools_root/go}
  export GOCACHE=${GOCACHE:-$tools_root/go-build}
  export GOFLAGS=-mod=mod
  module_dir() { # module@version: prints the extracted module folder
    local json
    json=$(cd / && go mod download -json "$1") || die "go mod download $1 failed"
    printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
  }
  say "fetching k8s.io/kubernetes@$K8S_VERSION, prometheus-operator@$PROMETHEUS_OPERATOR_VERSION, gateway-api@$GATEWAY_API_VERSION from the Go module proxy"
  k8s=$(module_dir "k8s.io/kubernetes@$K8S_VERSION")
  promop=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  gwapi=$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
  [ -f "$k8s/api/openapi-spec/swagger.json" ] || die "no swagger.json in $k8s"
  rm -rf "$out.tmp"
  node "$converter" "$out.tmp" "$k8s/api/openapi-spec/swagger.json" \
    "$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$promop/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
    "$gwapi/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
  touch "$out.tmp/.complete"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
printf '%s\n' "$out"
