# Sourced by scripts/cluster.sh: bringing the local cluster up and down, step by step.
# shellcheck shell=bash

PROCS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy
       coredns elasticmq database keda-operator keda-adapter keda-webhooks)

preflight() {
  [ "$(id -u)" = 0 ] || die "the cluster needs root (network namespace, containerd, kubelet)"
  bash "$ROOT/scripts/install-tools.sh" kubernetes keda coredns cluster-runtime elasticmq secantusdb helm
}

make_netns() {
  if ip netns list | grep -qw "$NETNS"; then ip netns delete "$NETNS"; fi
  ip netns add "$NETNS"
  in_netns ip link set lo up
  in_netns ip addr add "$NODE_IP/32" dev lo
  in_netns sysctl -qw net.ipv4.ip_forward=1
  # processes on the node reach Services too: the route lookup that precedes kube-proxy's
  # DNAT needs a route for the Service range (a node usually has a default route for that)
  in_netns ip route add "$SERVICE_CIDR" dev lo src "$NODE_IP"
  # Service traffic between pods on the one bridge goes through iptables (kube-proxy's DNAT)
  in_netns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
}

# ca DIR NAME: a CA; cert DIR NAME CA EXT: a key + certificate signed by it
ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$2" \
    -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}
cert() {
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null
  openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.crt" -CAkey "$1/$3.key" -CAcreateserial -days 30 \
    -extfile <(printf '%s\n' "$4") -out "$1/$2.crt" 2>/dev/null
}

make_credentials() {
  local pki="$STATE/pki" token
  mkdir -p "$pki" "$STATE/keda-certs"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  ca "$pki" front-proxy-ca
  cert "$pki" front-proxy-client front-proxy-ca "extendedKeyUsage=clientAuth"
  ca "$pki" keda-ca
  cert "$pki" keda "keda-ca" "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,DNS:keda-operator.keda.svc,DNS:keda-operator.keda.svc.cluster.local,DNS:keda-operator-metrics-apiserver.keda.svc,DNS:keda-admission-webhooks.keda.svc
extendedKeyUsage=serverAuth,clientAuth"
  cp "$pki/keda-ca.crt" "$STATE/keda-certs/ca.crt"
  cp "$pki/keda.crt" "$STATE/keda-certs/tls.crt"
  cp "$pki/keda.key" "$STATE/keda-certs/tls.key"
  token="$(openssl rand -hex 16)"
  echo "$token,admin,admin-uid,system:masters" >"$pki/tokens.csv"
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: smartpapers-local
    cluster: {server: "https://$NODE_IP:6443", insecure-skip-tls-verify: true}
users:
  - name: admin
    user: {token: "$token"}
contexts:
  - name: smartpapers-local
    context: {cluster: smartpapers-local, user: admin}
current-context: smartpapers-local
EOF
  chmod 600 "$KUBECONFIG_FILE"
}

start_control_plane() {
  local pki="$STATE/pki"
  launch etcd "$K8S/etcd" --data-dir="$STATE/etcd" --name=node \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=node=http://127.0.0.1:2380 --log-level=warn
  launch kube-apiserver "$K8S/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
    --cert-dir="$pki/apiserver" --token-auth-file="$pki/tokens.csv" \
    --authorization-mode=Node,RBAC --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" \
    --proxy-client-key-file="$pki/front-proxy-client.key" \
    --enable-aggregator-routing=true --kubelet-preferred-address-types=InternalIP \
    --profiling=false --allow-privileged=false
  wait_for kube-apiserver 120 kubectl get --raw=/readyz
  launch kube-controller-manager "$K8S/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/apiserver/apiserver.crt" \
    --use-service-account-credentials=false --horizontal-pod-autoscaler-sync-period=5s
  launch kube-scheduler "$K8S/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --leader-elect=false
}

start_node() {
  mkdir -p "$STATE/containerd" "$STATE/cni" "$STATE/kubelet"
  render containerd.toml >"$STATE/containerd/config.toml"
  render cni.conflist >"$STATE/cni/10-smartpapers.conflist"
  render kubelet.yaml >"$STATE/kubelet.yaml"
  render kube-proxy.yaml >"$STATE/kube-proxy.yaml"
  : >"$STATE/resolv.conf"
  launch containerd containerd --config "$STATE/containerd/config.toml"
  wait_for containerd 60 ctr --address "$STATE/containerd/containerd.sock" version
  load_images
  launch kubelet "$K8S/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$KUBECONFIG_FILE" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" --node-ip="$NODE_IP" \
    --hostname-override=smartpapers-node
  wait_for "node" 120 kubectl wait --for=condition=Ready node/smartpapers-node --timeout=1s
  launch kube-proxy "$K8S/kube-proxy" --config="$STATE/kube-proxy.yaml"
}

# the pause image (deploy/local/pause/pause.c, static) and the project's images, built with the
# Docker engine (started for the build, stopped again if this script started it) and imported
load_images() {
  local engine_was_up=no docker rootfs="$STATE/pause-rootfs"
  bash "$ROOT/scripts/docker-engine.sh" check && engine_was_up=yes
  docker="$(bash "$ROOT/scripts/docker-engine.sh")"
  mkdir -p "$rootfs"
  gcc -Os -static -Wall -Werror -o "$rootfs/pause" "$ROOT/deploy/local/pause/pause.c"
  tar -C "$rootfs" -c pause | "$docker" import --change 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
  IMAGE_TAG="${SMARTPAPERS_IMAGE_TAG:-dev}" bash "$ROOT/scripts/build-images.sh" >&2
  "$docker" save "$PAUSE_IMAGE" "smartpapers-api:${SMARTPAPERS_IMAGE_TAG:-dev}" \
    "smartpapers-worker:${SMARTPAPERS_IMAGE_TAG:-dev}" |
    ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import - >/dev/null
  [ "$engine_was_up" = yes ] || bash "$ROOT/scripts/docker-engine.sh" stop
  log "images imported into the node's containerd"
}

start_services() {
  local keda_mod
  # KEDA's CRDs at the chart's KEDA version, from its Go module (the same zip its binaries came
  # from); prometheus-operator's from deploy/crds
  keda_mod="$(cd "$ROOT/deploy/local/keda" && go list -m -f '{{.Dir}}' github.com/kedacore/keda/v2)"
  kubectl apply --server-side -f "$keda_mod/config/crd/bases" >/dev/null
  local crd
  for crd in "$ROOT"/deploy/crds/monitoring.coreos.com_*.yaml; do
    kubectl apply --server-side -f "$crd" >/dev/null
  done
  CA_BUNDLE="$(base64 -w0 <"$STATE/keda-certs/ca.crt")" render keda.yaml | kubectl apply -f - >/dev/null
  render Corefile >"$STATE/Corefile"
  launch coredns "$COREDNS" -conf "$STATE/Corefile"
  local emq="$CACHE/elasticmq-$(pinned ELASTICMQ_VERSION)/lib"
  PORT=9324 BIND_HOST="$NODE_IP" launch elasticmq java -Xms64m -Xmx512m -XX:+UseSerialGC \
    -XX:TieredStopAtLevel=1 -Dconfig.file="$ROOT/deploy/local/elasticmq/elasticmq.conf" \
    -Dlogback.configurationFile="$ROOT/deploy/local/elasticmq/logback.xml" -cp "$emq/*" \
    org.elasticmq.server.Main
  mkdir -p "$STATE/database"
  : >"$STATE/secantusd.toml"
  launch database "$CACHE/secantusdb-$(pinned SECANTUSDB_VERSION)/bin/secantusd-py" \
    --host="$NODE_IP" --port=27017 --storage-path="$STATE/database" --log-level=WARNING \
    --config="$STATE/secantusd.toml"
  start_keda
  wait_for coredns 60 in_netns bash -c "echo >/dev/tcp/$NODE_IP/53"
  wait_for elasticmq 90 in_netns bash -c "echo >/dev/tcp/$NODE_IP/9324"
  wait_for database 60 in_netns bash -c "echo >/dev/tcp/$NODE_IP/27017"
  wait_for "KEDA metrics API" 120 kubectl get --raw=/apis/external.metrics.k8s.io/v1beta1
  release_namespace
}

# the namespace deploy/local/cluster/values.yaml installs into: Pod Security `restricted`
# enforced, the Secrets the values name (the database URI, the emulator's dummy credentials)
release_namespace() {
  kubectl create namespace smartpapers >/dev/null
  kubectl label namespace smartpapers pod-security.kubernetes.io/enforce=restricted \
    pod-security.kubernetes.io/warn=restricted >/dev/null
  kubectl -n smartpapers create secret generic smartpapers-local-mongo \
    --from-literal=mongo-uri="mongodb://$NODE_IP:27017/?directConnection=true" >/dev/null
  kubectl -n smartpapers create secret generic smartpapers-local-aws \
    --from-literal=AWS_ACCESS_KEY_ID=local --from-literal=AWS_SECRET_ACCESS_KEY=local >/dev/null
}

start_keda() {
  local certs="$STATE/keda-certs" common=(--kubeconfig="$KUBECONFIG_FILE" --zap-log-level=info)
  KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda WATCH_NAMESPACE="" \
    launch keda-operator "$KEDA/operator" "${common[@]}" --cert-dir="$certs" \
    --enable-cert-rotation=false --enable-webhook-patching=false --enable-apiservice-patching=false \
    --metrics-bind-address=127.0.0.1:8180 --health-probe-bind-address=127.0.0.1:8181 \
    --metrics-service-bind-address="$NODE_IP:9666" --leader-elect=false
  KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda WATCH_NAMESPACE="" \
    launch keda-adapter "$KEDA/adapter" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --lister-kubeconfig="$KUBECONFIG_FILE" --bind-address="$NODE_IP" --secure-port=7443 \
    --cert-dir="$certs" --tls-cert-file="$certs/tls.crt" --tls-private-key-file="$certs/tls.key" \
    --metrics-service-address="$NODE_IP:9666" --metrics-service-grpc-authority=keda-operator.keda.svc
  POD_NAMESPACE=keda launch keda-webhooks "$KEDA/webhooks" "${common[@]}" --cert-dir="$certs" \
    --port=9443 --metrics-bind-address=127.0.0.1:8280 --health-probe-bind-address=127.0.0.1:8281
}

cluster_up() {
  if [ -f "$STATE/up" ] && alive kube-apiserver; then log "already up ($STATE)"; return; fi
  [ ! -d "$STATE" ] || cluster_down
  local t0=$SECONDS
  preflight
  mkdir -p "$STATE/logs" "$STATE/pids"
  make_netns
  make_credentials
  start_control_plane
  start_node
  start_services
  touch "$STATE/up"
  log "up in $((SECONDS - t0))s: KUBECONFIG=$KUBECONFIG_FILE, enter with: scripts/cluster.sh exec bash"
}

stop_pid() {
  local f="$STATE/pids/$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

cluster_down() {
  [ -d "$STATE" ] || { log "no cluster"; return 0; }
  local sock="$STATE/containerd/containerd.sock" id
  stop_pid kubelet
  if [ -S "$sock" ] && alive containerd; then
    for id in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -a -s SIGKILL "$id" 2>/dev/null || true
    done
    sleep 1
  fi
  for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do stop_pid "${PROCS[i]}"; done
  # containerd's shims outlive it; they serve only this cluster's sockets
  pkill -9 -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null || true
  findmnt -rn -o TARGET | grep "^$STATE/" | sort -r | xargs -r umount -l 2>/dev/null || true
  ip netns delete "$NETNS" 2>/dev/null || true
  find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} \; 2>/dev/null || true
  local logs; logs="$(dirname "$STATE")/cluster-logs"
  rm -rf "$logs" && mkdir -p "$logs" && cp -r "$STATE/logs/." "$logs/" 2>/dev/null || true
  rm -rf "$STATE"
  log "down (logs of the last run kept in $logs)"
}
