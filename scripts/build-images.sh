#!/usr/bin/env bash
# Build the API and worker images (make images).
#
#   scripts/build-images.sh                    # tag smartpapers-{api,worker}:dev
#   IMAGE_TAG=0.1.0 scripts/build-images.sh
#   IMAGE_BASES=upstream|local|auto            # default auto
#
# Bases: `upstream` builds FROM the Dockerfiles' defaults (python:3.11-slim-bookworm and
# ghcr.io/astral-sh/uv, pulled from their registries); `local` FROM the images that
# scripts/base-images.sh makes on this machine (for hosts that cannot pull); `auto` uses the
# upstream bases when the engine has them or can pull them, else the local ones.
# RUN steps use the host network (the engine runs without a bridge: scripts/docker-engine.sh).
# Prints one line per image: name, size.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="$("$ROOT/scripts/docker-engine.sh")"
TAG="${IMAGE_TAG:-dev}"
BASES="${IMAGE_BASES:-auto}"
VERSION="$(cat "$ROOT/VERSION")"  # the one version source (docs/releasing.md)
REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
source "$ROOT/scripts/lib/pinned.sh"
UV_VERSION="$(pinned UV_VERSION)"
UPSTREAM_PYTHON=python:3.11-slim-bookworm
UPSTREAM_UV="ghcr.io/astral-sh/uv:$UV_VERSION"
log() { echo "[images] $*" >&2; }

pullable() {
  "$DOCKER" image inspect "$1" >/dev/null 2>&1 || timeout 60 "$DOCKER" pull -q "$1" >/dev/null 2>&1
}

if [ "$BASES" = auto ]; then
  if pullable "$UPSTREAM_PYTHON" && pullable "$UPSTREAM_UV"; then BASES=upstream; else BASES=local; fi
  log "bases: $BASES"
fi
case "$BASES" in
  upstream) PYTHON_IMAGE="$UPSTREAM_PYTHON"; UV_IMAGE="$UPSTREAM_UV" ;;
  local)
    "$ROOT/scripts/base-images.sh" python uv
    PYTHON_IMAGE=smartpapers-local/python:3.11-bookworm; UV_IMAGE="smartpapers-local/uv:$UV_VERSION" ;;
  *) log "IMAGE_BASES must be upstream, local or auto (got $BASES)"; exit 2 ;;
esac

for service in api worker; do
  image="smartpapers-$service:$TAG"
  log "building $image (FROM $PYTHON_IMAGE)"
  DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network host -f "$ROOT/services/$service/Dockerfile" -t "$image" \
    --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg UV_IMAGE="$UV_IMAGE" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
    "$ROOT" >/dev/null
  size="$("$DOCKER" image inspect -f '{{.Size}}' "$image")"
  echo "$image $((size / 1024 / 1024)) MiB"
done
