# shellcheck shell=bash
# Sourced by the image scripts: which engine builds and runs containers, and how.
# docker when a Docker daemon answers, else podman (rootful here: runc, see docs/deploy.md).
# Override with CONTAINER_ENGINE=docker|podman.
if [ -z "${CONTAINER_ENGINE:-}" ]; then
  if command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
    CONTAINER_ENGINE=docker
  elif command -v podman >/dev/null 2>&1; then
    CONTAINER_ENGINE=podman
  else
    echo "neither a Docker daemon nor podman is available (make system-deps installs podman)" >&2
    exit 1
  fi
fi
ENGINE=$CONTAINER_ENGINE
export CONTAINER_ENGINE

image_exists() {
  if [ "$ENGINE" = podman ]; then podman image exists "$1"; else docker image inspect "$1" >/dev/null 2>&1; fi
}

# Build-time network: podman builds on the host network with the host's CA bundle mounted over the
# image's, so pip and apt reach the package indexes through whatever TLS proxy the host trusts.
# Docker builds keep their defaults. --format docker keeps the Dockerfile's HEALTHCHECK.
BUILD_NET_ARGS=()
if [ "$ENGINE" = podman ]; then
  BUILD_NET_ARGS+=(--format docker --network host)
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    BUILD_NET_ARGS+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  fi
fi
