#!/usr/bin/env bash
# `make image`: the CPU image from docker/Dockerfile, with docker or (no Docker daemon) podman.
# When the official python base cannot be pulled, the Dockerfile's PYTHON_IMAGE argument points at a
# base made from Debian packages (scripts/local-base-images.sh); when podman is building and the
# CPU torch wheel lies in $TORCH_WHEELS (default /opt/wheels), it is installed from there instead of
# download.pytorch.org. Prints the build time and the image size.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/container-engine.sh

IMAGE=${UPSTAGE_ASSETS_IMAGE:-upstage-assets:cpu}
PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11.11-slim-bookworm}
TORCH_WHEELS=${TORCH_WHEELS:-/opt/wheels}

if ! image_exists "$PYTHON_IMAGE" && ! timeout 120 "$ENGINE" pull -q "$PYTHON_IMAGE" >/dev/null 2>&1; then
  echo "build-image: $PYTHON_IMAGE cannot be pulled; using a base made from Debian packages"
  scripts/local-base-images.sh python
  PYTHON_IMAGE=localhost/upstage-assets/debian-py311:bookworm
fi

args=(--build-arg TORCH_VARIANT=cpu --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
if [ "$ENGINE" = podman ]; then
  args+=(--ignorefile docker/Dockerfile.dockerignore)
  if compgen -G "$TORCH_WHEELS/torch-2.13.0+cpu-*.whl" >/dev/null; then
    args+=(-v "$TORCH_WHEELS:/wheels:ro" --build-arg "TORCH_CPU_SOURCE=--find-links /wheels")
  fi
fi

start=$(date +%s)
"$ENGINE" build "${BUILD_NET_ARGS[@]}" "${args[@]}" -f docker/Dockerfile -t "$IMAGE" .
seconds=$(( $(date +%s) - start ))
bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
echo "build-image: $IMAGE (base $PYTHON_IMAGE) built in ${seconds} s; size $(( bytes / 1000000 )) MB"
