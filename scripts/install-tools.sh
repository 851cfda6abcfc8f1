#!/usr/bin/env bash
# Installs the pinned third-party tools smartpapers needs into a cache outside the
# repository (default ~/.cache/smartpapers), so that every clone on this machine reuses them.
#
#   scripts/install-tools.sh [uv] [elasticmq] [secantusdb] [helm] [kubeconform] [actionlint]
#                            [chart-testing] [checkov]
#                            [prometheus] [chromium] [kubernetes] [keda] [coredns] [cluster-runtime]
#                            [all]    (all = make test's)
#
# Each tool is installed only when missing. Prints nothing but progress lines to stderr.
set -euo pipefail

CACHE="${SMARTPAPERS_CACHE:-$HOME/.cache/smartpapers}"
BIN="$CACHE/bin"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Pinned versions (bump here only; the README's "Pinned tools" table mirrors this list).
UV_VERSION="0.13.9"
ELASTICMQ_VERSION="1.7.1"
# The local MongoDB-compatible server (docs/performance.md#the-local-database): SecantusDB's
# Python server, hash-pinned with its dependencies in deploy/local/secantusdb/requirements.txt.
SECANTUSDB_VERSION="0.7.0b3"
HELM_VERSION="v4.3.1"
# kubeconform validates the rendered chart against local JSON schemas only (tests/deploy).
KUBECONFORM_VERSION="v0.8.0"
# actionlint lints .github/workflows (tests/release); shellcheck (apt) checks their run: scripts.
ACTIONLINT_VERSION="v1.7.12"
# chart-testing (ct) lints the chart and checks its version bump (ci.yml on pull requests;
# tests/release checks our tag rule agrees with it); deploy/local/chart-testing/go.mod pins it
CHART_TESTING_VERSION="v3.14.0"
# kube-linter is not served by the Go module proxy here; checkov (PyPI) lints the rendered chart.
CHECKOV_VERSION="3.3.30"
# Kubernetes, etcd and KEDA build from the Go module proxy (deploy/local/{kubernetes,keda}/go.mod
# pin them; bump there and here together).
KUBERNETES_VERSION="v1.35.4"
KEDA_VERSION="v2.20.2"
# the local cluster's DNS (scripts/cluster.sh): a CoreDNS with only the plugins it needs
# (deploy/local/coredns; its go.mod pins the version, bump both together)
COREDNS_VERSION="v1.14.7"

mkdir -p "$BIN"
log() { echo "[install-tools] $*" >&2; }

need_go() {
  command -v go >/dev/null || { log "ERROR: Go toolchain not found (needed for $1); install Go >= 1.24"; exit 1; }
}

install_uv() {
  if [ -x "$BIN/uv" ] && "$BIN/uv" --version | grep -q "$UV_VERSION"; then return; fi
  log "uv $UV_VERSION -> $CACHE/uv-venv"
  python3 -m venv "$CACHE/uv-venv"
  "$CACHE/uv-venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  ln -sf "$CACHE/uv-venv/bin/uv" "$BIN/uv"
}

install_elasticmq() {
  local dir="$CACHE/elasticmq-$ELASTICMQ_VERSION"
  if [ -f "$dir/.complete" ]; then return; fi
  command -v java >/dev/null || { log "ERROR: java not found (needed for ElasticMQ); install a JRE >= 11"; exit 1; }
  command -v mvn >/dev/null || { log "ERROR: mvn not found (needed to fetch ElasticMQ from Maven Central)"; exit 1; }
  log "ElasticMQ $ELASTICMQ_VERSION (Maven Central) -> $dir"
  rm -rf "$dir"; mkdir -p "$dir/lib"
  mvn -q -B -f "$ROOT/deploy/local/elasticmq/pom.xml" \
    -Delasticmq.version="$ELASTICMQ_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib"
  touch "$dir/.complete"
}

install_secantusdb() {
  # its own virtual environment: a server the stack runs, never a library smartpapers imports
  local dir="$CACHE/secantusdb-$SECANTUSDB_VERSION" req="$ROOT/deploy/local/secantusdb/requirements.txt"
  local want; want="$(sha256sum < "$req" | cut -c1-16)"
  if [ -x "$dir/bin/secantusd-py" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then return; fi
  install_uv
  log "SecantusDB $SECANTUSDB_VERSION (PyPI, hash-pinned) -> $dir"
  rm -rf "$dir"
  "$BIN/uv" venv --quiet --python python3 "$dir"
  VIRTUAL_ENV="$dir" "$BIN/uv" pip install --quiet --require-hashes --no-deps -r "$req"
  echo "$want" > "$dir/.stamp"
}

# go_tools NAME VERSION MODULE_DIR LDFLAGS: `go build` every `tool` package of a module of
# ours into $CACHE/NAME-VERSION/bin, once per go.mod/go.sum content (a stamp file). Long cold
# builds (tens of minutes on 2 cores): they share Go's module and build caches with every clone.
go_tools() {
  local name="$1" version="$2" src="$ROOT/$3" ldflags="$4"
  local dir="$CACHE/$name-$version" want
  want="$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)"
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then return; fi
  need_go "$name"
  local pkgs; pkgs="$(cd "$src" && go list -f '{{.ImportPath}}' tool)"
  log "$name $version: go build of $(echo $pkgs | wc -w) commands (cold: tens of minutes) -> $dir/bin"
  mkdir -p "$dir/bin"
  (cd "$src" && GOFLAGS="-trimpath -mod=readonly" go build -ldflags "-s -w $ldflags" -o "$dir/bin/" $pkgs)
  echo "$want" > "$dir/.stamp"
}

install_kubernetes() {
  local v="$KUBERNETES_VERSION" minor; minor="$(echo "$v" | cut -d. -f2)"
  go_tools kubernetes "$v" deploy/local/kubernetes \
    "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 \
     -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean \
     -X k8s.io/client-go/pkg/version.gitVersion=$v"
  # etcd's main package (go.etcd.io/etcd/server/v3) builds as "server"
  local b="$CACHE/kubernetes-$v/bin"
  if [ -x "$b/server" ]; then mv "$b/server" "$b/etcd"; fi
}

install_keda() {
  go_tools keda "$KEDA_VERSION" deploy/local/keda \
    "-X github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION#v}"
}

install_coredns() {
  local dir="$CACHE/coredns-$COREDNS_VERSION" src="$ROOT/deploy/local/coredns" want
  want="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then return; fi
  need_go coredns
  log "CoreDNS $COREDNS_VERSION: go build (about a minute) -> $dir/bin"
  mkdir -p "$dir/bin"
  (cd "$src" && GOFLAGS="-trimpath -mod=readonly" go build -ldflags "-s -w" -o "$dir/bin/coredns" .)
  echo "$want" > "$dir/.stamp"
}

# the local cluster's container runtime and the pause image's compiler (Debian packages)
install_cluster_runtime() {
  local missing=() c
  for c in containerd:containerd ctr:containerd runc:runc gcc:gcc nsenter:util-linux; do
    command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  [ ${#missing[@]} -gt 0 ] || return 0
  log "cluster runtime (apt): ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_helm() {
  if [ -x "$BIN/helm" ] && "$BIN/helm" version --short 2>/dev/null | grep -q "$HELM_VERSION"; then return; fi
  need_go helm
  log "helm $HELM_VERSION (go install)"
  GOBIN="$BIN" go install -ldflags "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
}

install_actionlint() {
  if [ -x "$BIN/actionlint" ] && "$BIN/actionlint" -version 2>/dev/null | head -1 | grep -qx "$ACTIONLINT_VERSION"; then return; fi
  need_go actionlint
  log "actionlint $ACTIONLINT_VERSION (go install)"
  GOBIN="$BIN" go install -ldflags "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
}

install_chart_testing() {
  local dir="$CACHE/chart-testing-$CHART_TESTING_VERSION" src="$ROOT/deploy/local/chart-testing" want
  want="$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)"
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ] && [ -x "$BIN/ct" ]; then return; fi
  need_go chart-testing
  log "chart-testing $CHART_TESTING_VERSION: go build -> $BIN/ct"
  mkdir -p "$dir"
  (cd "$src" && GOFLAGS="-trimpath -mod=readonly" go build -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$CHART_TESTING_VERSION" -o "$BIN/ct" github.com/helm/chart-testing/v3/ct)
  echo "$want" > "$dir/.stamp"
}

install_shellcheck() {
  # actionlint runs it over the workflows' `run:` scripts (tests/release)
  if command -v shellcheck >/dev/null; then return; fi
  log "shellcheck (apt)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
}

install_kubeconform() {
  if [ -x "$BIN/kubeconform" ] && "$BIN/kubeconform" -v 2>/dev/null | grep -qx "$KUBECONFORM_VERSION"; then return; fi
  need_go kubeconform
  log "kubeconform $KUBECONFORM_VERSION (go install)"
  GOBIN="$BIN" go install -ldflags "-X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
}

install_checkov() {
  # its own virtual environment (uv tool), so its pins never meet the workspace's
  if [ -x "$BIN/checkov" ] && "$BIN/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then return; fi
  install_uv
  log "checkov $CHECKOV_VERSION (PyPI, uv tool) -> $CACHE/uv-tools"
  UV_TOOL_DIR="$CACHE/uv-tools" UV_TOOL_BIN_DIR="$BIN" \
    "$BIN/uv" tool install --quiet --force --python 3 "checkov==$CHECKOV_VERSION"
}

install_prometheus() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return; fi
  log "prometheus + promtool (apt)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

install_chromium() {
  # the headless browser of tests/e2e/test_demo_page.py (Selenium drives it through
  # /usr/bin/chromedriver; nothing is downloaded by Selenium itself)
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
  log "chromium + chromium-driver (apt)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(all)
for t in "${tools[@]}"; do
  case "$t" in
    uv) install_uv ;;
    elasticmq) install_elasticmq ;;
    secantusdb) install_secantusdb ;;
    helm) install_helm ;;
    kubeconform) install_kubeconform ;;
    actionlint) install_actionlint; install_shellcheck ;;
    chart-testing) install_chart_testing ;;
    checkov) install_checkov ;;
    prometheus) install_prometheus ;;
    chromium) install_chromium ;;
    kubernetes) install_kubernetes ;;
    keda) install_keda ;;
    coredns) install_coredns ;;
    cluster-runtime) install_cluster_runtime ;;
    all) install_uv; install_elasticmq; install_secantusdb; install_helm; install_kubeconform; install_actionlint; install_shellcheck; install_chart_testing; install_checkov; install_prometheus; install_chromium; install_kubernetes; install_keda ;;
    *) log "unknown tool: $t"; exit 2 ;;
  esac
done
