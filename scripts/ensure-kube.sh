#!/usr/bin/env bash
# scripts/ensure-kube.sh [--versions]
#
# Makes sure the binaries of a single-node Kubernetes cluster are built and prints their folder:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl
# (Kubernetes v1.34.4), etcd (the server Kubernetes v1.34.4 requires), CoreDNS, and the pause
# program of the pod sandbox image (deploy/kube/pause).
#
# Everything comes from the Go module proxy: a small module of our own requires k8s.io/kubernetes
# and replaces each of its staging modules (k8s.io/api, …) by the matching v0.34.4 release, as a
# build from Kubernetes' own repository does with its local folders. The version Kubernetes
# reports is stamped in with -ldflags, as its Makefile does (otherwise it says v0.0.0-master, and
# Helm charts' kubeVersion constraints refuse it). All are static binaries (CGO_ENABLED=0).
#
# Why v1.34: these machines mount cgroups v1, which kubelets from v1.35 refuse by default; v1.34's
# kubelet runs on v1 with `failCgroupV1: false` (scripts/kube.sh sets it).
#
# A cold build takes about 7 minutes on 2 cores (6 min 39 s measured with empty Go caches), once;
# the binaries are cached in ~/.cache/parley/tools/kube/<version> with a stamp of their recipe.
# Concurrent callers wait on a lock. Runs on the host or in ./parley's userland (which sees the host's Go).
set -euo pipefail

KUBE_VERSION=v1.34.4
STAGING_VERSION=v0.34.4
COREDNS_VERSION=v1.15.0
BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd coredns pause"

say() { printf '[ensure-kube] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [ "${1:-}" = --versions ]; then
  printf 'kubernetes %s\ncoredns %s\n' "$KUBE_VERSION" "$COREDNS_VERSION"; exit 0
fi

tools_bin=${PARLEY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools/bin}
tools_root=$(dirname "$tools_bin")
dir="$tools_root/kube/$KUBE_VERSION"
stamp="$dir/.recipe"
pause_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/kube/pause/pause.go"
recipe="kubernetes $KUBE_VERSION staging $STAGING_VERSION coredns $COREDNS_VERSION pause $(sha256sum "$pause_src" | cut -c1-16)"
is_current() {
  local b
  for b in $BINARIES; do [ -x "$dir/$b" ] || return 1; done
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]
}
if is_current; then printf '%s\n' "$dir"; exit 0; fi

command -v go >/dev/null 2>&1 || die "Kubernetes $KUBE_VERSION is not built yet and no Go toolchain is on PATH to build it"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if is_current; then printf '%s\n' "$dir"; exit 0; fi

export GOPATH=${GOPATH:-$tools_root/go}
export GOCACHE=${GOCACHE:-$tools_root/go-build}
export CGO_ENABLED=0 GOFLAGS=-mod=mod
rm -f "$stamp"
started=$(date +%s)
src="$dir/src"
rm -rf "$src"
mkdir -p "$src"

say "downloading k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
kube_mod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
[ -f "$kube_mod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
{
  printf 'module parley.local/kube\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\n' "$KUBE_VERSION"
  # Kubernetes requires its staging modules at v0.0.0 and replaces them by its own folders.
  awk '$2 == "=>" && $1 ~ /^k8s\.io\// { print $1 }' "$kube_mod" | sort -u | while read -r module; do
    printf 'replace %s => %s %s\n' "$module" "$module" "$STAGING_VERSION"
  done
} >"$src/go.mod"
cat >"$src/tools.go" <<'EOF'
//go:build tools

package kube

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
EOF
(cd "$src" && go mod tidy) >&2 || die "go mod tidy failed for Kubernetes $KUBE_VERSION"

version_pkg=k8s.io/component-base/version
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w -X $version_pkg.gitVersion=$KUBE_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean"
say "building Kubernetes $KUBE_VERSION and etcd ($(go version | awk '{print $3}'); about 7 minutes cold on 2 cores)"
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$dir/" \
  go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kubectl) >&2 || die "building Kubernetes $KUBE_VERSION failed"
mv "$dir/server" "$dir/etcd" # the command of go.etcd.io/etcd/server/v3

say "building CoreDNS $COREDNS_VERSION"
(cd / && GOBIN="$dir" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION") >&2 \
  || die "building CoreDNS $COREDNS_VERSION failed"

mkdir -p "$src/pause" && cp "$pause_src" "$src/pause/"
(cd "$src" && go build -trimpath -ldflags "-s -w" -o "$dir/pause" ./pause) >&2 || die "building pause failed"

rm -rf "$src"
printf '%s' "$recipe" >"$stamp"
say "built Kubernetes $KUBE_VERSION, etcd, CoreDNS $COREDNS_VERSION and pause in $(( $(date +%s) - started ))s: $dir"
printf '%s\n' "$dir"
