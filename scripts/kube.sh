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
# Runs in ./parley's userland as root (containerd, runc, CNI plugins, iptables, openssl).
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

# --- build ---------------------------------------------------------------------------------------

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

# --- certificates and configuration --------------------------------------------------------------

cert() { # name, subject, [extensions…] — signs a key pair with the cluster CA
  local name=$1 subject=$2; shift 2
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$@" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

kubeconfig() { # file, user certificate name, server
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: parley
  cluster:
    certificate-authority: $PKI/ca.crt
    server: $3
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: parley
  context: {cluster: parley, user: $2}
current-context: parley
EOF
}

write_config() {
  rm -rf "$STATE"
  mkdir -p "$PKI" "$LOGS" "$STATE/cni" "$STATE/sysctl"
  say "certificates (openssl) and configuration in $STATE"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/ca.key" -subj "/CN=parley-kube-ca" -days 30 -out "$PKI/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:$API_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet-serving "/CN=$NODE_NAME" "extendedKeyUsage=serverAuth" "subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
  cert admin "/O=system:masters/CN=parley-kube-admin" "extendedKeyUsage=clientAuth"
  cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  cert controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  cert scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "extendedKeyUsage=clientAuth"
  cert kube-proxy "/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key

  local local_api=https://127.0.0.1:6443
  kubeconfig "$KUBECONFIG_ADMIN" admin "https://$NODE_IP:6443"
  kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager "$local_api"
  kubeconfig "$STATE/scheduler.kubeconfig" scheduler "$local_api"
  kubeconfig "$STATE/kubelet.kubeconfig" kubelet "$local_api"
  kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy "$local_api"
  kubeconfig "$STATE/node-admin.kubeconfig" admin "$local_api"

  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCKET"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here may lack CAP_SYS_RESOURCE (these machines do): no container's OOM score goes below
  # containerd's own, which needs no privilege to set.
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
EOF
  cat >"$STATE/cni/10-parley.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "parley",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$STATE/cni-ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroups v1 (these machines): v1.34 still runs on it when told to.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP
containerRuntimeEndpoint: unix://$SOCKET
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: ""
failSwapOn: false
protectKernelDefaults: true
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/volume-plugins
evictionHard: { memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
oomScoreAdj: 0
EOF
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $STATE/kube-proxy.kubeconfig }
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
nodePortAddresses: ["$NODE_IP/32"]
oomScoreAdj: 0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Leave the host's conntrack limits alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

# The CRDs of the Prometheus Operator's ServiceMonitor and PrometheusRule (the chart installs both),
# from the Go module of the version deploy/tools/ensure-schemas.sh validates against.
monitoring_crds() {
  local version dir
  version=$(bash deploy/tools/ensure-schemas.sh --versions | awk '$1 == "prometheus-operator" { print $2 }')
  dir=$(cd / && GOPATH=${GOPATH:-$TOOLS_ROOT/go} GOFLAGS=-mod=mod go mod download -json "github.com/prometheus-operator/prometheus-operator@$version" \
    | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p') || true
  [ -d "$dir/example/prometheus-operator-crd" ] || die "could not fetch the Prometheus Operator's CRDs ($version) from the Go module proxy"
  mkdir -p "$STATE/crds"
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$STATE/crds/"
}

# --- the node (runs inside its own network and mount namespaces) -----------------------------------

started_daemons=()
daemon() { # name, command… — started in the background, logged to $LOGS/name.log
  local name=$1; shift
  "$@" >>"$LOGS/$name.log" 2>&1 &
  printf '%s' $! >"$STATE/$name.pid"
  disown $! # stop_node kills it; bash need not report that
  started_daemons+=("$name")
}

wait_until() { # description, seconds, command…
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "error: $what: not within ${seconds}s"; return 1; }
    sleep 0.5
  done
}

kubectl_node() { "$BIN/kubectl" --kubeconfig "$STATE/node-admin.kubeconfig" "$@"; }

# The processes of the node: those in its network namespace (daemons, containerd's shims, pods on
# the host network) and those in its cgroup (every container).
node_processes() { # network namespace
  local p
  for p in /proc/[0-9]*; do
    case "${p#/proc/}" in "$$" | "$BASHPID" | "$PPID") continue ;; esac
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$1" ] && printf '%s\n' "${p#/proc/}"
  done
  find /sys/fs/cgroup/*/"$CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null || true
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

stop_node() { # exit code
  trap - TERM INT
  say "stopping the node"
  local netns name pid i
  netns=$(readlink /proc/self/ns/net)
  for (( i=${#started_daemons[@]}-1; i>=0; i-- )); do
    name=${started_daemons[$i]}
    pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 2
  local pids
  for i in 1 2 3 4 5; do
    pids=$(node_processes "$netns" | sort -u)
    [ -n "$pids" ] || break
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  done
  remove_cgroups
  rm -f "$STATE/node.pid"
  exit "${1:-0}"
}

fail_node() { say "error: $*; logs: $LOGS"; stop_node 1; }

node_main() {
  BIN=$1
  local netns
  netns=$(readlink /proc/self/ns/net)
  trap stop_node TERM INT
  printf '%s' $$ >"$STATE/node.pid"
  wait_until "the node's link from the host" 20 ip link show eth0 || exit 1
  ip link set lo up
  ip addr add "$NODE_IP/30" dev eth0
  ip link set eth0 up
  ip route add default via "$HOST_IP"
  # Per network namespace: forward between the pods' bridge and the node; let iptables see bridged
  # traffic (Services between pods on the one bridge).
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 || say "warning: net.bridge.bridge-nf-call-iptables is not available"
  # The kernel settings the kubelet insists on, as it sees them (the host's stay untouched).
  local setting value
  for setting in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
    value=${setting#*=}; setting=${setting%=*}
    [ -e "/proc/sys/$setting" ] || continue
    printf '%s\n' "$value" >"$STATE/sysctl/${setting//\//.}"
    mount --bind -o ro "$STATE/sysctl/${setting//\//.}" "/proc/sys/$setting"
  done
  local controller
  for controller in /sys/fs/cgroup/*/; do
    [ -f "$controller/cgroup.procs" ] || continue
    mkdir -p "$controller$CGROUP"
    if [ -f "$controller/cpuset.cpus" ]; then
      cat "$controller/cpuset.cpus" >"$controller$CGROUP/cpuset.cpus"
      cat "$controller/cpuset.mems" >"$controller$CGROUP/cpuset.mems"
    fi
  done

  daemon etcd "$BIN/etcd" --name parley-node --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster parley-node=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --quota-backend-bytes 1073741824 --log-level warn
  wait_until "etcd" 30 curl -fsS http://127.0.0.1:2379/health || fail_node "the cluster did not start"
  daemon kube-apiserver "$BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port 6443 \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet.crt" --kubelet-client-key "$PKI/apiserver-kubelet.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged=true \
    --kubelet-preferred-address-types InternalIP
  wait_until "the API server" 90 kubectl_node get --raw /readyz || fail_node "the cluster did not start"
  daemon kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false
  daemon kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
  daemon containerd containerd --config "$STATE/containerd.toml"
  wait_until "containerd" 30 ctr --address "$SOCKET" version || fail_node "the cluster did not start"
  local archive
  for archive in "$IMAGES/pause.oci.tar" "$IMAGES/coredns.oci.tar" "$IMAGES/parley-deps.oci.tar" "$IMAGES/parley-kube.oci.tar"; do
    ctr --address "$SOCKET" --namespace k8s.io images import "$archive" >/dev/null || fail_node "importing $archive failed"
  done
  daemon kubelet "$BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  daemon kube-proxy "$BIN/kube-proxy" --config "$STATE/kube-proxy.yaml"
  wait_until "the node to register" 60 kubectl_node get node "$NODE_NAME" || fail_node "the cluster did not start"
  sed -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@DNS_SERVICE_IP@|$DNS_SERVICE_IP|g" deploy/kube/coredns.yaml | kubectl_node apply -f - >/dev/null || fail_node "CoreDNS could not be applied"
  wait_until "the node to be ready" 120 kubectl_node wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s || fail_node "the cluster did not start"
  wait_until "CoreDNS" 120 kubectl_node -n kube-system rollout status deployment/coredns --timeout=5s || fail_node "the cluster did not start"
  # What Parley's chart expects beside it: the CRDs of its ServiceMonitor and PrometheusRule, and
  # NATS and Redis in the namespace `parley`.
  kubectl_node apply --server-side -f "$STATE/crds" >/dev/null || fail_node "the monitoring CRDs could not be applied"
  kubectl_node create namespace parley >/dev/null
  sed -e "s|@DEPS_IMAGE@|$DEPS_IMAGE|g" deploy/kube/deps.yaml | kubectl_node -n parley apply -f - >/dev/null || fail_node "NATS and Redis could not be applied"
  wait_until "NATS" 180 kubectl_node -n parley rollout status statefulset/nats --timeout=5s || fail_node "NATS did not start"
  wait_until "Redis" 120 kubectl_node -n parley rollout status deployment/redis --timeout=5s || fail_node "Redis did not start"
  : >"$STATE/ready"
  say "ready"
  # `scripts/kube.sh down` may run in another ./parley (another PID namespace): it asks by a file.
  while [ ! -e "$STATE/stop" ]; do sleep 1 & wait $! || true; done
  stop_node 0
}

# --- commands ------------------------------------------------------------------------------------

# The node's end of the host link exists exactly while its network namespace does.
running_node() { ip link show "$HOST_LINK" >/dev/null 2>&1; }

cmd_down() {
  if running_node; then
    say "stopping the cluster"
    : >"$STATE/stop"
    for _ in $(seq 120); do running_node || break; sleep 0.5; done
    running_node && die "the cluster did not stop within a minute (its logs: $LOGS)"
  fi
  remove_cgroups
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
