#!/usr/bin/env bash
# Installs the pinned third-party tools smartpapers needs into a cache outside the
# repository (default ~/.cache/smartpapers), so that every clone on this machine reuses them.
#
#   scripts/install-tools.sh [uv] [elasticmq] [ferretdb] [helm] [checkov] [prometheus] [all]
#
# Each tool is installed only when missing. Prints nothing but progress lines to stderr.
set -euo pipefail

CACHE="${SMARTPAPERS_CACHE:-$HOME/.cache/smartpapers}"
BIN="$CACHE/bin"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Pinned versions (bump here only; the README's "Pinned tools" table mirrors this list).
UV_VERSION="0.13.9"
ELASTICMQ_VERSION="1.7.1"
FERRETDB_VERSION="v1.24.2"
HELM_VERSION="v4.3.1"
# kube-linter is not served by the Go module proxy here; checkov (PyPI) lints the rendered chart.
CHECKOV_VERSION="3.3.30"

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

install_ferretdb() {
  # FerretDB v1 through its embeddable package (deploy/local/ferretdb/main.go): the plain
  # `go install .../cmd/ferretdb@v1.24.2` binary panics at start-up (see that file).
  local stamp="$CACHE/ferretdb-$FERRETDB_VERSION.stamp"
  local src="$ROOT/deploy/local/ferretdb"
  local want; want="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  if [ -x "$BIN/smartpapers-ferretdb" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  need_go FerretDB
  log "FerretDB $FERRETDB_VERSION (go build of the embeddable package; a few minutes the first time)"
  (cd "$src" && GOFLAGS="-trimpath -mod=readonly" go build -o "$BIN/smartpapers-ferretdb" .)
  echo "$want" > "$stamp"
}

install_helm() {
  if [ -x "$BIN/helm" ] && "$BIN/helm" version --short 2>/dev/null | grep -q "$HELM_VERSION"; then return; fi
  need_go helm
  log "helm $HELM_VERSION (go install)"
  GOBIN="$BIN" go install -ldflags "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
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

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(all)
for t in "${tools[@]}"; do
  case "$t" in
    uv) install_uv ;;
    elasticmq) install_elasticmq ;;
    ferretdb) install_ferretdb ;;
    helm) install_helm ;;
    checkov) install_checkov ;;
    prometheus) install_prometheus ;;
    all) install_uv; install_elasticmq; install_ferretdb; install_helm; install_checkov; install_prometheus ;;
    *) log "unknown tool: $t"; exit 2 ;;
  esac
done
