#!/usr/bin/env bash
# scripts/ensure-tool.sh helm|k6|kubeconform
#
# Makes sure a pinned Go-built tool is in $PARLEY_TOOLS_BIN and prints its path on stdout.
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

say() { printf '[ensure-tool] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/ensure-tool.sh helm|k6|kubeconform"
tool=$1
ldflags="-s -w"
case "$tool" in
  helm) module=$HELM_MODULE version=$HELM_VERSION ldflags+=" $HELM_LDFLAGS" ;;
  k6) module=$K6_MODULE version=$K6_VERSION ;;
  kubeconform) module=$KUBECONFORM_MODULE version=$KUBECONFORM_VERSION ;;
  --versions)
    printf 'helm %s\nk6 %s\nkubeconform %s\n' "$HELM_VERSION" "$K6_VERSION" "$KUBECONFORM_VERSION"; exit 0 ;;
  *) die "unknown tool '$tool' (known: helm, k6, kubeconform)" ;;
esac

tools_bin=${PARLEY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools/bin}
tools_root=$(dirname "$tools_bin")
bin="$tools_bin/$tool"
mkdir -p "$tools_bin"

# A stamp beside the binary records how it was built; another version or other flags rebuild it.
stamp="$tools_bin/.$tool.recipe"
recipe="$module@$version $ldflags"
is_current() { [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]; }

if is_current; then printf '%s\n' "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  # Without a Go toolchain an existing binary is better than none.
  if [ -x "$bin" ]; then say "warning: cannot check or rebuild $bin (no Go toolchain)"; printf '%s\n' "$bin"; exit 0; fi
  die "$tool $version is missing and no Go toolchain is on PATH to build it"
fi

exec 9>"$tools_bin/.$tool.lock"
flock 9
if ! is_current; then
  export GOPATH=${GOPATH:-$tools_root/go}
  export GOCACHE=${GOCACHE:-$tools_root/go-build}
  export GOBIN=$tools_bin
  export CGO_ENABLED=0
  say "installing $tool: go install $module@$version (GOBIN=$tools_bin, $(go version | awk '{print $3}'))"
  started=$(date +%s)
  rm -f "$stamp"
  (cd / && go install -trimpath -ldflags="$ldflags" "$module@$version") >&2 \
    || die "go install $module@$version failed"
  printf '%s' "$recipe" > "$stamp"
  say "installed $tool $version in $(( $(date +%s) - started ))s: $bin"
fi
printf '%s\n' "$bin"
