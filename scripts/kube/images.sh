# shellcheck shell=bash
# The images of the local cluster: Parley's from the Dockerfile, NATS and Redis from Debian's
# packages, CoreDNS and pause from their static binaries; OCI archives in $IMAGES.
# Sourced by scripts/kube.sh, which defines the settings and say/die.

ensure_images() { # the kube binaries' folder
  local bin=$1
  say "images: Parley from the Dockerfile (scripts/build-image.sh)"
  bash scripts/build-image.sh --tag "$PARLEY_IMAGE" --out "$IMAGES/parley-kube.oci.tar" >/dev/null
  local base
  base="localhost/parley-node-base:$(node -p 'process.versions.node')-trixie" # made by scripts/build-image.sh
  buildah_() { buildah --storage-driver vfs --root "$IMAGES/storage" --runroot "$IMAGES/run" "$@"; }
  exec 8>"$IMAGES/.lock"
  flock 8
  # An image from one static binary, written as an OCI archive: name, binary, [user].
  static_image() {
    local container
    container=$(buildah_ from scratch)
    buildah_ copy "$container" "$bin/$2" "/$2" >/dev/null
    buildah_ config --entrypoint "[\"/$2\"]" ${3:+--user "$3"} "$container"
    buildah_ commit -q "$container" "$1" >/dev/null
    buildah_ rm "$container" >/dev/null
    buildah_ push --quiet "$1" "oci-archive:$IMAGES/$2.oci.tar:$1"
    buildah_ rmi "$1" >/dev/null
  }
  # Each recipe file is written last: an interrupted build is redone.
  local recipe
  recipe=$(cat "$bin/.recipe")
  if [ "$(cat "$IMAGES/kube-system.recipe" 2>/dev/null)" != "$recipe" ]; then
    say "images: the pod sandbox (pause) and CoreDNS, from their static binaries"
    rm -f "$IMAGES/kube-system.recipe"
    static_image "$PAUSE_IMAGE" pause 65535:65535
    static_image "$COREDNS_IMAGE" coredns
    printf '%s' "$recipe" >"$IMAGES/kube-system.recipe"
  fi
  recipe="$base $(sha256sum deploy/kube/deps.Containerfile | cut -c1-16)"
  if [ "$(cat "$IMAGES/parley-deps.recipe" 2>/dev/null)" != "$recipe" ]; then
    say "images: NATS and Redis from Debian's packages ($DEPS_IMAGE)"
    rm -f "$IMAGES/parley-deps.recipe"
    buildah_ inspect --type image "$base" >/dev/null 2>&1 || die "the base image $base is missing (scripts/build-image.sh makes it)"
    buildah_ bud --quiet --isolation chroot --network host --layers=false \
      --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$(ulimit -Hu):$(ulimit -Hu)" \
      --build-arg "BASE=$base" -t "$DEPS_IMAGE" -f deploy/kube/deps.Containerfile deploy/kube >&2 \
      || die "building $DEPS_IMAGE failed"
    buildah_ push --quiet "$DEPS_IMAGE" "oci-archive:$IMAGES/parley-deps.oci.tar:$DEPS_IMAGE"
    buildah_ rmi "$DEPS_IMAGE" >/dev/null
    printf '%s' "$recipe" >"$IMAGES/parley-deps.recipe"
  fi
  exec 8>&-
}
