#!/usr/bin/env bash
# Refreshes skaffold-v4beta13.json, the JSON schema test_skaffold_kind.py validates
# skaffold.yaml against, from skaffold's own Go module zip (the Go module proxy serves it;
# the file is byte-identical to docs-v2/content/en/schemas/v4beta13.json there) and checks
# it against the sha256 pinned below. Bump SKAFFOLD_MODULE / SCHEMA_SHA256, run this,
# review the diff, commit. test_skaffold_kind.py checks the committed file against the pin.
#
#   tests/deploy/schemas/refresh.sh           # copy + verify
#   tests/deploy/schemas/refresh.sh --check   # verify the committed file only
set -euo pipefail
cd "$(dirname "$0")"

SKAFFOLD_MODULE="github.com/GoogleContainerTools/skaffold/v2@v2.16.1"
SCHEMA="v4beta13"
SCHEMA_SHA256="60aa19bdc634299263af120abee0ca47162315511dd10788f19f4741147857b9"

if [ "${1:-}" != "--check" ]; then
  dir="$(go mod download -json "$SKAFFOLD_MODULE" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  install -m 644 "$dir/docs-v2/content/en/schemas/$SCHEMA.json" "skaffold-$SCHEMA.json"
fi
echo "$SCHEMA_SHA256  skaffold-$SCHEMA.json" | sha256sum --check --quiet \
  && echo "skaffold-$SCHEMA.json matches $SKAFFOLD_MODULE"
