#!/usr/bin/env bash
# Prepare a Docker engine and the local base image for the `docker`-marked tests.
#
# Usage: bash deploy/ci-docker-setup.sh [PID_FILE]
#
# These machines reach no container registry, so the shared scripts in `shared/docker/` start a
# real dockerd (host networking only) and build `lrcast-base/python:3.11`, a local stand-in for
# `python:*-slim`. PID_FILE receives the dockerd PID only when this script started dockerd, so
# the caller stops exactly the engine it caused to run and never one that was already up.
set -euo pipefail

pid_file=${1:-}
repo=$(cd "$(dirname "$0")/.." && pwd)

shared=""
for candidate in "${LRCAST_SHARED_DOCKER:-}" "$repo/../shared/docker" /work/shared/docker; do
  if [ -n "$candidate" ] && [ -f "$candidate/start-dockerd.sh" ]; then
    shared=$(cd "$candidate" && pwd)
    break
  fi
done
if [ -z "$shared" ]; then
  echo "ci-docker-setup: no shared/docker scripts found (tried ../shared/docker, /work/shared/docker)" >&2
  exit 1
fi

already_running=0
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  already_running=1
fi

pid=$(bash "$shared/start-dockerd.sh" | tail -n 1)
echo "ci-docker-setup: dockerd pid $pid (already running before: $already_running)"
if [ -n "$pid_file" ] && [ "$already_running" = 0 ]; then
  echo "$pid" >"$pid_file"
fi

# About a minute the first time; the script returns at once when the image already exists.
bash "$shared/make-base-image.sh" lrcast-base/python:3.11
docker-compose version --short >/dev/null
echo "ci-docker-setup: ready"
