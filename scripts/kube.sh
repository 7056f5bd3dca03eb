#!/usr/bin/env bash
# scripts/kube.sh [up | down | env | kubectl …]
#
# A real single-node Kubernetes cluster on this machine, for `helm install` of Parley:
#   up    builds what is missing (once, cached in ~/.cache/parley/tools), starts etcd, the API
#         server, the controller manager, the scheduler, containerd, the kubelet, kube-proxy, a CNI
#         bridge and CoreDNS, imports the images (Parley's from its Dockerfile, NATS and Redis from
#         Debian packages, CoreDNS and the pod sandbox), prints how to reach it, and runs until
#         Ctrl-C or SIGTERM, then stops it all.
#   down  stops a running cluster and removes its state.
#   env   prints the settings of a running cluster (KUBECONFIG=…, the node's address).
#   kubectl …  runs the cluster's kubectl with its kubeconfig.
#
# The node is a network namespace of its own, joined to the host by a veth pair (the host side
# 10.213.0.1, the node 10.213.0.2; PARLEY_KUBE_SUBNET moves it; the host routes the Service range
# 10.96.0.0/16 and the pod range 10.244.0.0/24 to the node): the API server, NodePorts and every
# iptables rule of kube-proxy and the CNI live there, and all of it vanishes with the node.
# Containers run in a cgroup of their own (parley-kube), removed when the cluster stops. The kubelet is told that the kernel
# settings it wants are in place (read-only files over /proc/sys in the node's mount namespace),
# so the host's kernel settings are never changed.
#
# Kubernetes v1.34 (scripts/ensure-kube.sh): these machines mount cgroups v1, which v1.35's
# kubelet refuses; v1.34's runs on v1 with `failCgroupV1: false`.
#
# Runs in ./parley's userland as root (containerd, runc, CNI plugins, iptables, openssl). Its parts:
# scripts/kube/images.sh (the images), config.sh (certificates, kubeconfigs, daemons' settings),
# node.sh (the node's daemons, started and stopped inside its namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PARLEY_IN_USERLAND:-}${PARLEY_KUBE_REEXEC:-}" ]; then PARLEY_KUBE_REEXEC=1 exec ./parley scripts/kube.sh "$@"; fi

say() { printf '[kube] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

REPO=$(pwd -P)
TOOLS_ROOT=$(dirname "${PARLEY_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools/bin}")
STATE=${PARLEY_KUBE_DIR:-$TOOLS_ROOT/kube/run}
SUBNET=${PARLEY_KUBE_SUBNET:-10.213.0}
HOST_IP=$SUBNET.1
NODE_IP=$SUBNET.2
HOST_LINK=parley-kube0
NODE_NAME=parley-node
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CGROUP=parley-kube
IMAGES="$TOOLS_ROOT/images"
PARLEY_IMAGE=localhost/parley:dev # deploy/kube/values-local.yaml names it
DEPS_IMAGE=localhost/parley-deps:trixie
COREDNS_IMAGE=localhost/coredns:parley
PAUSE_IMAGE=localhost/pause:parley

PKI=$STATE/pki
LOGS=$STATE/logs
SOCKET=$STATE/containerd/containerd.sock
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig

usage() { die "usage: scripts/kube.sh up | down | env | kubectl …"; }

# --- shared by the commands and the node ----------------------------------------------------------

wait_until() { # description, seconds, command…
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "error: $what: not within ${seconds}s"; return 1; }
    sleep 0.5
  done
}

remove_cgroups() { # a cgroup can be removed once its last process has exited: retried for a few seconds
  local controller left attempt
  for attempt in $(seq 20); do
    left=""
    for controller in /sys/fs/cgroup/*/; do
      [ -d "$controller$CGROUP" ] || continue
      find "$controller$CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$controller$CGROUP" ] && left=1
    done
    [ -z "$left" ] && return 0
    sleep 0.25
  done
  say "warning: cgroups of the cluster are still in use: /sys/fs/cgroup/*/$CGROUP"
}

source scripts/kube/images.sh
source scripts/kube/config.sh
source scripts/kube/node.sh

# --- commands ------------------------------------------------------------------------------------

# The node's end of the host link exists exactly while its network namespace does.
running_node() { ip link show "$HOST_LINK" >/dev/null 2>&1; }

# The pods' network namespaces are bind-mounted on files under /run/netns (cni-…) inside the
# node's mount namespace; when the node is gone the mounts are too, but the files stay. Only
# files that are mounted nowhere here are removed: a namespace in use is always mounted.
remove_stale_pod_netns() {
  local f
  for f in /run/netns/cni-*; do
    [ -e "$f" ] || continue
    mountpoint -q "$f" || rm -f "$f"
  done
}

cmd_down() {
  if running_node; then
    say "stopping the cluster"
    : >"$STATE/stop"
    for _ in $(seq 120); do running_node || break; sleep 0.5; done
    running_node && die "the cluster did not stop within a minute (its logs: $LOGS)"
  fi
  remove_cgroups
  remove_stale_pod_netns
  rm -rf "$STATE"
  say "stopped; nothing of the cluster is left"
}

print_env() {
  printf 'export KUBECONFIG=%s\n' "$KUBECONFIG_ADMIN"
  printf 'export PARLEY_KUBE_NODE_IP=%s\n' "$NODE_IP"
  printf 'export PARLEY_KUBE_CONTAINERD=%s\n' "$SOCKET"
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "the cluster needs root (network namespaces, cgroups, containerd)"
  if running_node; then die "a cluster is already running (scripts/kube.sh down stops it)"; fi
  local tool
  for tool in containerd ctr runc buildah iptables ip openssl unshare /usr/lib/cni/bridge; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing here; ./parley's userland has it (PARLEY_RUNTIME=userland ./parley npm run kube)"
  done
  local bin
  bin=$(bash scripts/ensure-kube.sh)
  ensure_images "$bin"
  remove_cgroups
  write_config
  monitoring_crds
  say "starting the node: its own network namespace, $NODE_IP (the host side: $HOST_IP on $HOST_LINK)"
  unshare --net --mount --propagation private --fork --kill-child=SIGTERM bash "$REPO/scripts/kube.sh" __node "$bin" &
  local unshare_pid=$!
  local own_netns
  own_netns=$(readlink /proc/self/ns/net)
  wait_until "the node's network namespace" 10 test "$(readlink /proc/$unshare_pid/ns/net 2>/dev/null)" != "$own_netns" || { kill "$unshare_pid"; exit 1; }
  ip link del "$HOST_LINK" 2>/dev/null || true
  ip link add "$HOST_LINK" type veth peer name eth0 netns "$unshare_pid"
  ip addr add "$HOST_IP/30" dev "$HOST_LINK"
  ip link set "$HOST_LINK" up
  # The host reaches Services and pods by their cluster addresses through the node.
  ip route add "$SERVICE_CIDR" via "$NODE_IP"
  ip route add "$POD_CIDR" via "$NODE_IP"
  # unshare --fork blocks SIGTERM while it waits for its child: the node itself is told to stop.
  stop() {
    local node
    node=$(cat "$STATE/node.pid" 2>/dev/null || true)
    if [ -n "$node" ]; then kill -TERM "$node" 2>/dev/null || true; else kill -KILL "$unshare_pid" 2>/dev/null || true; fi
    wait "$unshare_pid" 2>/dev/null || true
    remove_cgroups
    remove_stale_pod_netns
    # The kernel frees a network namespace (and so the host's end of the link) asynchronously.
    for _ in $(seq 60); do running_node || break; sleep 0.5; done
  }
  trap 'stop; exit 130' INT
  trap 'stop; exit 143' TERM
  until [ -f "$STATE/ready" ]; do
    kill -0 "$unshare_pid" 2>/dev/null || { remove_cgroups; die "the node stopped while starting; its logs: $LOGS"; }
    sleep 0.5
  done
  say "cluster ready: Kubernetes $("$bin/kubectl" version --client -o json | node -pe 'JSON.parse(require("fs").readFileSync(0)).clientVersion.gitVersion'), node $NODE_NAME at $NODE_IP"
  say "  export KUBECONFIG=$KUBECONFIG_ADMIN; then kubectl (in $bin) and helm (./parley helm …) reach it"
  say "  logs: $LOGS"
  print_env
  say "running; Ctrl-C stops it"
  wait "$unshare_pid" || true
  remove_cgroups
  remove_stale_pod_netns
}

case "${1:-up}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) running_node || die "no cluster is running (scripts/kube.sh up)"; print_env ;;
  kubectl) shift; running_node || die "no cluster is running (scripts/kube.sh up)"
    exec "$(bash scripts/ensure-kube.sh)/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@" ;;
  __node) BIN=$2; node_main "$2" ;;
  *) usage ;;
esac
