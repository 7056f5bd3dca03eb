# shellcheck shell=bash
# The node: starts and stops its daemons, inside its own network and mount namespaces.
# Sourced by scripts/kube.sh, which defines the settings and say/die.

started_daemons=()
daemon() { # name, command… — started in the background, logged to $LOGS/name.log
  local name=$1; shift
  "$@" >>"$LOGS/$name.log" 2>&1 &
  printf '%s' $! >"$STATE/$name.pid"
  disown $! # stop_node kills it; bash need not report that
  started_daemons+=("$name")
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
