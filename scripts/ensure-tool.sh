#!/usr/bin/env bash
# scripts/ensure-tool.sh helm|k6|kubeconform|prometheus|promtool|toxiproxy
#
# Makes sure a pinned Go-built tool is in $PARLEY_TOOLS_BIN and prints its path on stdout.
# `prometheus` and `promtool` are one build (both commands of the Prometheus module).
# When the binary is missing (or was built from another version) it is built with
# `go install <module>@<pinned version>` from the Go module proxy, statically (CGO_ENABLED=0), so
# the same binary runs on the host and inside ./parley's userland. What it installs is logged on
# stderr. Concurrent callers (parallel test files) wait on a per-tool lock instead of racing.
#
# Environment: PARLEY_TOOLS_BIN (default ~/.cache/parley/tools/bin, as ./parley exports it),
# GOPATH/GOCACHE (default under the tools folder so the userland and the host share them).
set -euo pipefail

# Pinned versions: the newest tags the Go module proxy serves that build with Go 1.26.
HELM_MODULE=helm.sh/helm/v3/cmd/helm
HELM_VERSION=v3.22.0
# What helm's Makefile stamps in: its version, and the Kubernetes version of its client-go
# (v0.37.0 in helm v3.22.0's go.mod = Kubernetes 1.37), the default of .Capabilities.KubeVersion.
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in pkg/lint/rules pkg/chartutil; do
  HELM_LDFLAGS+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=37"
done
K6_MODULE=go.k6.io/k6
K6_VERSION=v1.8.1
KUBECONFORM_MODULE=github.com/yannh/kubeconform/cmd/kubeconform
KUBECONFORM_VERSION=v0.8.0
# Prometheus 3.16.0 (its Go module is tagged v0.316.0). Built with the tags of its own Makefile's
# minimal build: netgo, and remove_all_sd (no cloud service discovery; static and file targets are
# all Parley's local uses need). Its web UI is not in the module (npm builds it), so this build
# serves the HTTP API only.
PROMETHEUS_MODULE=github.com/prometheus/prometheus
PROMETHEUS_VERSION=v0.316.0
PROMETHEUS_RELEASE=3.16.0
PROMETHEUS_LDFLAGS="-X github.com/prometheus/common/version.Version=$PROMETHEUS_RELEASE -X github.com/prometheus/common/version.Branch=HEAD"
# Toxiproxy, the delaying and cutting TCP proxy of the federation tests (the inter-region links).
# Its command is the module's cmd/server, installed as `server` and renamed.
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2
TOXIPROXY_VERSION=v2.12.0

say() { printf '[ensure-tool] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/ensure-tool.sh helm|k6|kubeconform|prometheus|promtool|toxiproxy"
tool=$1
ldflags="-s -w"
# build: the name of the build (its stamp and lock); packages: the module's commands it installs
# (empty: the module path is the command); tags: Go build tags.
build=$tool packages="" tags=""
case "$tool" in
  helm) module=$HELM_MODULE version=$HELM_VERSION ldflags+=" $HELM_LDFLAGS" ;;
  k6) module=$K6_MODULE version=$K6_VERSION ;;
  kubeconform) module=$KUBECONFORM_MODULE version=$KUBECONFORM_VERSION ;;
  prometheus|promtool)
    build=prometheus module=$PROMETHEUS_MODULE version=$PROMETHEUS_VERSION ldflags+=" $PROMETHEUS_LDFLAGS"
    packages="cmd/prometheus cmd/promtool" tags="netgo,remove_all_sd" ;;
  toxiproxy) module=$TOXIPROXY_MODULE version=$TOXIPROXY_VERSION packages="cmd/server" ;;
  --versions)
    printf 'helm %s\nk6 %s\nkubeconform %s\nprometheus %s\ntoxiproxy %s\n' "$HELM_VERSION" "$K6_VERSION" "$KUBECONFORM_VERSION" "$PROMETHEUS_VERSION" "$TOXIPROXY_VERSION"; exit 0 ;;
  *) die "unknown tool '$tool' (known: helm, k6, kubeconform, prometheus, promtool, toxiproxy)" ;;
esac

tools_bin=${PARLEY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools/bin}
tools_root=$(dirname "$tools_bin")
bin="$tools_bin/$tool"
mkdir -p "$tools_bin"

targets=("$module@$version")
binaries=("$bin")
if [ -n "$packages" ]; then
  targets=() binaries=()
  for pkg in $packages; do targets+=("$module/$pkg@$version"); binaries+=("$tools_bin/${pkg##*/}"); done
fi
# A command installed under another name than the tool's (toxiproxy's cmd/server).
[ "$tool" = toxiproxy ] && binaries=("$bin")

# A stamp beside the binaries records how they were built; another version or other flags rebuild them.
stamp="$tools_bin/.$build.recipe"
recipe="$module@$version $ldflags${tags:+ tags=$tags}${packages:+ packages=$packages}"
is_current() {
  for b in "${binaries[@]}"; do [ -x "$b" ] || return 1; done
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]
}

if is_current; then printf '%s\n' "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  # Without a Go toolchain an existing binary is better than none.
  if [ -x "$bin" ]; then say "warning: cannot check or rebuild $bin (no Go toolchain)"; printf '%s\n' "$bin"; exit 0; fi
  die "$tool $version is missing and no Go toolchain is on PATH to build it"
fi

exec 9>"$tools_bin/.$build.lock"
flock 9
if ! is_current; then
  export GOPATH=${GOPATH:-$tools_root/go}
  export GOCACHE=${GOCACHE:-$tools_root/go-build}
  export GOBIN=$tools_bin
  export CGO_ENABLED=0
  say "installing $build: go install ${targets[*]} (GOBIN=$tools_bin, $(go version | awk '{print $3}'))"
  started=$(date +%s)
  rm -f "$stamp"
  (cd / && go install -trimpath -tags="$tags" -ldflags="$ldflags" "${targets[@]}") >&2 \
    || die "go install ${targets[*]} failed"
  [ "$tool" = toxiproxy ] && mv -f "$tools_bin/server" "$bin"
  printf '%s' "$recipe" > "$stamp"
  say "installed $build $version in $(( $(date +%s) - started ))s: $bin"
fi
printf '%s\n' "$bin"
