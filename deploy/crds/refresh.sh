#!/usr/bin/env bash
# Refreshes the vendored CRDs from the Go module proxy (both upstreams are Go modules whose
# zips carry their CRD YAML), at the versions pinned below, and checks them against the
# sha256 sums in SHA256SUMS. Bump a version, run this, review the diff, commit.
#
#   deploy/crds/refresh.sh           # copy + verify
#   deploy/crds/refresh.sh --check   # verify the committed files only
set -euo pipefail
cd "$(dirname "$0")"

KEDA_MODULE="github.com/kedacore/keda/v2@v2.20.2"            # the chart's KEDA version
PROM_MODULE="github.com/prometheus-operator/prometheus-operator@v0.93.0"

if [ "${1:-}" != "--check" ]; then
  keda="$(go mod download -json "$KEDA_MODULE" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  prom="$(go mod download -json "$PROM_MODULE" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  for f in keda.sh_scaledobjects keda.sh_triggerauthentications keda.sh_clustertriggerauthentications; do
    install -m 644 "$keda/config/crd/bases/$f.yaml" "$f.yaml"
  done
  for f in servicemonitors podmonitors prometheusrules; do
    install -m 644 "$prom/example/prometheus-operator-crd/monitoring.coreos.com_$f.yaml" \
      "monitoring.coreos.com_$f.yaml"
  done
  [ "${UPDATE_SUMS:-}" = 1 ] && sha256sum ./*.yaml > SHA256SUMS
fi
sha256sum --check --quiet SHA256SUMS && echo "CRDs match SHA256SUMS"
