#!/usr/bin/env bash
# loadtest/bench/ensure-centrifugo.sh: prints the path of a Centrifugo binary built from the Go
# module proxy (`go install github.com/centrifugal/centrifugo/v5@<pinned>`), building it first
# when it is missing. Used only by the peer benchmark; nothing of Centrifugo is committed.
#
# v5.4.9 is pinned because the module proxy these machines use refuses v6 (403 "This module
# version is not available" for every github.com/centrifugal/centrifugo/v6 version). The proxy
# also refuses the module's version list, which `go install m@v` reads to check deprecation, so
# the module is fetched with `go mod download` and built in its own directory with its go.mod.
set -euo pipefail

MODULE=github.com/centrifugal/centrifugo/v5
VERSION=${CENTRIFUGO_VERSION:-v5.4.9}

tools_bin=${PARLEY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools/bin}
tools_root=$(dirname "$tools_bin")
bin="$tools_bin/centrifugo"
stamp="$tools_bin/.centrifugo.recipe"
recipe="$MODULE@$VERSION"
mkdir -p "$tools_bin"

is_current() { [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]; }
if is_current; then printf '%s\n' "$bin"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "[bench] no Go toolchain on PATH to build Centrifugo" >&2; exit 1; }

exec 9>"$tools_bin/.centrifugo.lock"
flock 9
if ! is_current; then
  export GOPATH=${GOPATH:-$tools_root/go} GOCACHE=${GOCACHE:-$tools_root/go-build} GOBIN=$tools_bin CGO_ENABLED=0
  echo "[bench] building Centrifugo $VERSION from the Go module proxy (several minutes, once)" >&2
  rm -f "$stamp"
  dir=$(cd / && go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "[bench] go mod download $MODULE@$VERSION failed" >&2; exit 1; }
  (cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .) >&2
  mv "$bin.tmp" "$bin"
  printf '%s' "$recipe" > "$stamp"
fi
printf '%s\n' "$bin"
