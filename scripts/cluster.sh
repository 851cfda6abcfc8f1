#!/usr/bin/env bash
# A local single-node Kubernetes cluster with no node image (make cluster-up / cluster-down).
#
#   scripts/cluster.sh up        # start it (builds what is missing; idempotent)
#   scripts/cluster.sh down      # stop every process it started, remove its state
#   scripts/cluster.sh status    # exit 0 when it is up
#   scripts/cluster.sh exec CMD  # run CMD on the cluster's network, KUBECONFIG set
#                                # e.g. scripts/cluster.sh exec kubectl get pods -A
#
# What runs (binaries from the tool cache, built from the Go module proxy at the versions pinned
# in scripts/install-tools.sh): etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy and CoreDNS; Debian's containerd + runc + CNI plugins as the runtime (the
# kubelet talks CRI to containerd directly: no shim like cri-dockerd to build and keep in step);
# KEDA's operator, metrics API server and admission webhooks; ElasticMQ and the database. The
# project's images (make images) and a pause image built here are imported into containerd.
#
# Network: everything lives in one network namespace this script creates ($NETNS) with no link
# to the host's: the node address $NODE_IP sits on its loopback, pods hang off a bridge inside
# it, and nothing in it routes off the machine. Processes enter only its network namespace
# (nsenter --net), so containerd, runc and the kubelet share the host's mounts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SMARTPAPERS_CACHE:-$HOME/.cache/smartpapers}"
STATE="${SMARTPAPERS_CLUSTER_DIR:-$ROOT/.data/cluster}"
NETNS="${SMARTPAPERS_CLUSTER_NETNS:-smartpapers-cluster}"
NODE_IP=10.250.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
PAUSE_IMAGE=smartpapers-local/pause:1
CONF="$ROOT/deploy/local/cluster"
source "$ROOT/scripts/lib/pinned.sh"
K8S="$CACHE/kubernetes-$(pinned KUBERNETES_VERSION)/bin"
KEDA="$CACHE/keda-$(pinned KEDA_VERSION)/bin"
COREDNS="$CACHE/coredns-$(pinned COREDNS_VERSION)/bin/coredns"
KUBECONFIG_FILE="$STATE/admin.kubeconfig"
log() { echo "[cluster] $(date +%T) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

in_netns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }

# fill the @PLACEHOLDERS@ of a file of deploy/local/cluster
render() {
  sed -e "s|@STATE@|$STATE|g" -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@POD_CIDR@|$POD_CIDR|g" \
      -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" -e "s|@CA_BUNDLE@|${CA_BUNDLE:-}|g" "$CONF/$1"
}

# launch NAME CMD...: a daemon in the cluster's network namespace, its own session, logged
launch() {
  local name="$1"; shift
  setsid nsenter --net="/run/netns/$NETNS" -- "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

alive() { [ -f "$STATE/pids/$1" ] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds, fail with the logs of the dead
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    for p in "$STATE"/pids/*; do
      alive "$(basename "$p")" || die "$(basename "$p") exited: $(tail -n 20 "$STATE/logs/$(basename "$p").log")"
    done
    [ $SECONDS -lt $deadline ] || die "$what not ready within ${secs}s"
    sleep 0.5
  done
  log "$what ready"
}

kubectl() { in_netns "$K8S/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

source "$ROOT/scripts/lib/cluster-up.sh"

case "${1:-}" in
  up) cluster_up ;;
  down) cluster_down ;;
  status) [ -f "$STATE/up" ] && alive kube-apiserver && kubectl get --raw=/readyz >/dev/null ;;
  exec) shift; [ -f "$STATE/up" ] || die "no cluster: make cluster-up"
        PATH="$K8S:$CACHE/bin:$PATH" KUBECONFIG="$KUBECONFIG_FILE" SMARTPAPERS_CLUSTER_NODE_IP="$NODE_IP" \
          in_netns "$@" ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
