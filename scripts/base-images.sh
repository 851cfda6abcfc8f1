#!/usr/bin/env bash
# Base images made on this machine, for hosts that cannot pull from a registry:
#
#   smartpapers-local/python:3.11-bookworm   Debian bookworm (debootstrap, minbase) + python3.11,
#                                            the interpreter also at /usr/local/bin/python3.11
#                                            like the upstream python:3.11-slim-bookworm
#   smartpapers-local/uv:<version>           /uv only (the pinned uv binary), like ghcr.io/astral-sh/uv
#   smartpapers-local/java:17-bookworm       the Python base + OpenJDK 17 JRE (ElasticMQ's image)
#
#   scripts/base-images.sh [python] [uv] [java]      (default: all three)
#
# The images trust what this machine trusts: its CA bundle (/etc/ssl/certs/ca-certificates.crt,
# which holds the egress proxy's CA where there is one) replaces Debian's, and SSL_CERT_FILE
# points uv at it, so the builder stage reaches PyPI exactly as the host does.
#
# Root filesystems are kept as tarballs in $SMARTPAPERS_CACHE/images, so a new engine (or a
# pruned one) re-imports them in seconds; an image is rebuilt only when this script changes.
set -euo pipefail

CACHE="${SMARTPAPERS_CACHE:-$HOME/.cache/smartpapers}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$CACHE/images"
MIRROR="${SMARTPAPERS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
source "$ROOT/scripts/lib/pinned.sh"
UV_VERSION="$(pinned UV_VERSION)"
STAMP="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
DOCKER="$("$ROOT/scripts/docker-engine.sh")"
log() { echo "[base-images] $*" >&2; }
mkdir -p "$DIR"

have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# import <image> <tarball>: the tarball's root filesystem as <image>, labelled with the stamp
import() {
  "$DOCKER" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/sh"]' --change "LABEL io.smartpapers.base-stamp=$STAMP" \
    "$2" "$1" >/dev/null
  log "$1 <- $2 ($(du -h "$2" | cut -f1))"
}

current() {  # the image exists and was made by this version of the script
  have "$1" && [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "io.smartpapers.base-stamp"}}' "$1")" = "$STAMP" ]
}

# rootfs <name> <packages>: debootstrap minbase + packages, trimmed, as $DIR/<name>-$STAMP.tar
rootfs() {
  local name="$1" packages="$2" tar="$DIR/$1-$STAMP.tar" tmp
  [ -f "$tar" ] && return
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
  tmp="$(mktemp -d "$DIR/rootfs-XXXXXX")"
  log "debootstrap $SUITE ($packages) from $MIRROR"
  debootstrap --variant=minbase --include="$packages" "$SUITE" "$tmp" "$MIRROR" >"$DIR/$name.log" 2>&1 \
    || { log "ERROR: debootstrap failed; see $DIR/$name.log"; tail -5 "$DIR/$name.log" >&2; rm -rf "$tmp"; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/ca-certificates.crt"
  ln -sf /usr/bin/python3.11 "$tmp/usr/local/bin/python3.11"
  ln -sf /usr/bin/python3.11 "$tmp/usr/local/bin/python3"
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/usr/share/doc/* \
    "$tmp"/usr/share/man/* "$tmp"/usr/share/locale/* "$tmp"/var/log/*
  tar -C "$tmp" --numeric-owner -cf "$tar.part" . && mv "$tar.part" "$tar"
  rm -rf "$tmp"
}

python_image() {
  local image=smartpapers-local/python:3.11-bookworm
  current "$image" && return
  rootfs python "python3.11,ca-certificates,tzdata"
  import "$image" "$DIR/python-$STAMP.tar"
}

java_image() {
  local image=smartpapers-local/java:17-bookworm
  current "$image" && return
  rootfs java "python3.11,ca-certificates,tzdata,openjdk-17-jre-headless"
  import "$image" "$DIR/java-$STAMP.tar"
}

uv_image() {
  local image="smartpapers-local/uv:$UV_VERSION" tar="$DIR/uv-$UV_VERSION-$STAMP.tar" tmp
  current "$image" && return
  "$ROOT/scripts/install-tools.sh" uv
  tmp="$(mktemp -d "$DIR/uv-XXXXXX")"
  cp "$(readlink -f "$CACHE/bin/uv")" "$tmp/uv"
  tar -C "$tmp" --numeric-owner -cf "$tar" uv
  rm -rf "$tmp"
  import "$image" "$tar"
}

for what in "${@:-python uv java}"; do
  for w in $what; do
    case "$w" in
      python) python_image ;;
      uv) uv_image ;;
      java) java_image ;;
      *) log "unknown base image: $w"; exit 2 ;;
    esac
  done
done
