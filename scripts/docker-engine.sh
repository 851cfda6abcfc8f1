#!/usr/bin/env bash
# The Docker engine the image builds and container tests use: Debian's docker.io, installed
# with apt when missing and started here when no engine answers (no systemd needed).
#
#   scripts/docker-engine.sh          # ensure an engine answers; prints the client to use
#   scripts/docker-engine.sh check    # exit 0 when an engine answers (starts nothing)
#   scripts/docker-engine.sh stop     # stop the engine this script started
#
# The engine is started with no bridge, no iptables rules and no masquerading: containers run
# with `--network host` (services on 127.0.0.1) or `--network none`, and nothing a container
# does is routed off the machine. Users with their own engine (Docker Desktop, a systemd
# docker.service) are left alone: the script only checks that it answers.
set -euo pipefail

CACHE="${SMARTPAPERS_CACHE:-$HOME/.cache/smartpapers}"
RUN="$CACHE/docker"
log() { echo "[docker-engine] $*" >&2; }

# Debian's client (20.10) has BuildKit built in; a newer client without the buildx plugin
# refuses DOCKER_BUILDKIT=1, so prefer the engine's own client when both exist.
client() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi
}

answers() { "$(client)" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [ "${1:-}" = "check" ]; then answers; exit; fi

if [ "${1:-}" = "stop" ]; then
  if [ -f "$RUN/dockerd.pid" ]; then
    pid="$(cat "$RUN/dockerd.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$RUN/dockerd.pid"
    log "stopped"
  fi
  exit 0
fi

if answers; then client; exit 0; fi

if ! command -v dockerd >/dev/null; then
  [ "$(id -u)" = 0 ] || { log "ERROR: no Docker engine and not root: install docker.io (or Docker) and start it"; exit 1; }
  log "installing Debian's docker.io (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >&2
fi
[ "$(id -u)" = 0 ] || { log "ERROR: dockerd is installed but not running; start it (needs root)"; exit 1; }

mkdir -p "$RUN"
log "starting dockerd (log: $RUN/dockerd.log)"
nohup dockerd --iptables=false --ip-masq=false --bridge=none \
  --pidfile "$RUN/dockerd.pid" >"$RUN/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
  if answers; then client; exit 0; fi
  sleep 0.5
done
log "ERROR: dockerd did not answer within 30 s; last lines of $RUN/dockerd.log:"
tail -20 "$RUN/dockerd.log" >&2
exit 1
