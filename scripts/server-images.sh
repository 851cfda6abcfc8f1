#!/usr/bin/env bash
# Images of the local stack's servers, for the container test backend
# (SMARTPAPERS_TEST_BACKEND=containers) on hosts that cannot pull mongo:7 and
# softwaremill/elasticmq-native:
#
#   smartpapers-local/elasticmq:<version>    deploy/local/elasticmq/Dockerfile (Java base)
#   smartpapers-local/secantusdb:<version>   deploy/local/secantusdb/Dockerfile (Python base)
#
#   scripts/server-images.sh       # builds what is missing or out of date; prints the names
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SMARTPAPERS_CACHE:-$HOME/.cache/smartpapers}"
DOCKER="$("$ROOT/scripts/docker-engine.sh")"
source "$ROOT/scripts/lib/pinned.sh"
ELASTICMQ_VERSION="$(pinned ELASTICMQ_VERSION)"
SECANTUSDB_VERSION="$(pinned SECANTUSDB_VERSION)"
UV_VERSION="$(pinned UV_VERSION)"
log() { echo "[server-images] $*" >&2; }

"$ROOT/scripts/base-images.sh" python uv java
"$ROOT/scripts/install-tools.sh" elasticmq

# build <image> <context> <dockerfile>: rebuilt when the Dockerfile or context changes
# (the engine's layer cache makes an unchanged build a no-op)
build() {
  log "building $1"
  DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network host -t "$1" -f "$3" \
    --build-arg UV_IMAGE="smartpapers-local/uv:$UV_VERSION" "$2" >/dev/null
  echo "$1"
}

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp -r "$CACHE/elasticmq-$ELASTICMQ_VERSION/lib" "$ctx/lib"
cp "$ROOT/deploy/local/elasticmq/elasticmq.conf" "$ROOT/deploy/local/elasticmq/logback.xml" "$ctx/"
build "smartpapers-local/elasticmq:$ELASTICMQ_VERSION" "$ctx" "$ROOT/deploy/local/elasticmq/Dockerfile"
build "smartpapers-local/secantusdb:$SECANTUSDB_VERSION" "$ROOT/deploy/local/secantusdb" \
  "$ROOT/deploy/local/secantusdb/Dockerfile"
