#!/usr/bin/env bash
# Base images made from Debian and PyPI packages, for machines that reach no image registry.
# Each image is built once and then reused by its tag (delete it with `podman rmi` to rebuild):
#   localhost/upstage-assets/debian-py311:bookworm   debootstrap of bookworm: python3.11, venv, CA certs
#   localhost/upstage-assets/postgres:15-bookworm    Debian's PostgreSQL 15, the official image's env contract
#   localhost/upstage-assets/moto:5.2.5              moto[server] from PyPI, listening on $MOTO_PORT
# Usage: scripts/local-base-images.sh [python|postgres|moto|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/container-engine.sh

PYTHON_BASE=localhost/upstage-assets/debian-py311:bookworm
POSTGRES_LOCAL=localhost/upstage-assets/postgres:15-bookworm
MOTO_LOCAL=localhost/upstage-assets/moto:5.2.5
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=""  # debootstrap's scratch folder, removed however the script ends
trap '[ -z "$root" ] || rm -rf "$root"' EXIT

python_base() {
  image_exists "$PYTHON_BASE" && return 0
  command -v debootstrap >/dev/null || { echo "local-base-images: debootstrap is missing (make system-deps)" >&2; exit 1; }
  root=$(mktemp -d /var/tmp/upstage-debootstrap.XXXXXX)
  echo "local-base-images: debootstrap bookworm -> $PYTHON_BASE"
  # python-is-python3: the Dockerfile calls `python`, as the official python images provide.
  debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root/rootfs" "$DEBIAN_MIRROR" >"$root/debootstrap.log" 2>&1 \
    || { tail -20 "$root/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/lib/apt/lists/* \
    "$root"/rootfs/usr/share/doc/* "$root"/rootfs/usr/share/man/*
  # pip inside builds trusts the system bundle (the build mounts the host's over it).
  tar -C "$root/rootfs" -c . | $ENGINE import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - "$PYTHON_BASE" >/dev/null
}

derived() {  # derived TAG DOCKERFILE
  image_exists "$1" && return 0
  python_base
  echo "local-base-images: building $1"
  $ENGINE build "${BUILD_NET_ARGS[@]}" --build-arg "BASE_IMAGE=$PYTHON_BASE" -f "$2" -t "$1" docker/local
}

case "${1:-all}" in
  python) python_base ;;
  postgres) derived "$POSTGRES_LOCAL" docker/local/postgres.Dockerfile ;;
  moto) derived "$MOTO_LOCAL" docker/local/moto.Dockerfile ;;
  all) python_base
       derived "$POSTGRES_LOCAL" docker/local/postgres.Dockerfile
       derived "$MOTO_LOCAL" docker/local/moto.Dockerfile ;;
  *) echo "usage: $0 [python|postgres|moto|all]" >&2; exit 2 ;;
esac
