# shellcheck shell=bash
# The images of the local cluster: Parley's from the Dockerfile, NATS and Redis from Debian's
# packages, CoreDNS and pause from their static binaries; OCI archives in $IMAGES.
# Sourced by scripts/kube.sh, which defines the settings and say/die.

ensure_images() { # the kube binaries' folder
  local bin=$1
  say "images: Parley from the Dockerfile (scripts/build-image.sh)"
  bash scripts/build-image.sh --tag "$PARLEY_IMAGE" --out "$IMAGES/parley-kube.oci.tar" >/dev/null
  local base buildah_ container
  base="localhost/parley-node-base:$(node -p 'process.versions.node')-trixie" # made by scripts/build-image.sh
  buildah_() { buildah --storage-driver vfs --root "$IMAGES/storage" --runroot "$IMAGES/run" "$@"; }
  exec 8>"$IMAGES/.lock"
  flock 8
  local stamp
  stamp=$(cat "$bin/.recipe")
  if [ ! -f "$IMAGES/kube-system.oci.tar" ] || [ "$(cat "$IMAGES/kube-system.recipe" 2>/dev/null)" != "$stamp" ]; then
    say "images: the pod sandbox (pause) and CoreDNS, from their static binaries"
    rm -f "$IMAGES/kube-system.oci.tar"
    container=$(buildah_ from scratch)
    buildah_ copy "$container" "$bin/pause" /pause >/dev/null
    buildah_ config --entrypoint '["/pause"]' --user 65535:65535 "$container"
    buildah_ commit -q "$container" "$PAUSE_IMAGE" >/dev/null
    buildah_ rm "$container" >/dev/null
    container=$(buildah_ from scratch)
    buildah_ copy "$container" "$bin/coredns" /coredns >/dev/null
    buildah_ config --entrypoint '["/coredns"]' "$container"
    buildah_ commit -q "$container" "$COREDNS_IMAGE" >/dev/null
    buildah_ rm "$container" >/dev/null
    buildah_ push --quiet "$PAUSE_IMAGE" "oci-archive:$IMAGES/pause.oci.tar:$PAUSE_IMAGE"
    buildah_ push --quiet "$COREDNS_IMAGE" "oci-archive:$IMAGES/coredns.oci.tar:$COREDNS_IMAGE"
    buildah_ rmi "$PAUSE_IMAGE" "$COREDNS_IMAGE" >/dev/null
    printf '%s' "$stamp" >"$IMAGES/kube-system.recipe"
    touch "$IMAGES/kube-system.oci.tar"
  fi
  if [ ! -f "$IMAGES/parley-deps.oci.tar" ]; then
    say "images: NATS and Redis from Debian's packages ($DEPS_IMAGE, once)"
    buildah_ inspect --type image "$base" >/dev/null 2>&1 || die "the base image $base is missing (scripts/build-image.sh makes it)"
    buildah_ bud --quiet --isolation chroot --network host --layers=false \
      --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$(ulimit -Hu):$(ulimit -Hu)" \
      --build-arg "BASE=$base" -t "$DEPS_IMAGE" -f deploy/kube/deps.Containerfile deploy/kube >&2 \
      || die "building $DEPS_IMAGE failed"
    buildah_ push --quiet "$DEPS_IMAGE" "oci-archive:$IMAGES/parley-deps.oci.tar.part:$DEPS_IMAGE"
    buildah_ rmi "$DEPS_IMAGE" >/dev/null
    mv "$IMAGES/parley-deps.oci.tar.part" "$IMAGES/parley-deps.oci.tar"
  fi
  exec 8>&-
}
