#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, if they are missing. Needs root (CI is).
# PostgreSQL, Chromium and tesseract with its Korean data are required. podman (+ runc, debootstrap,
# netavark, and iptables, which netavark runs to set up every bridge network: without it every
# container start fails with "netavark: No such file or directory") runs the image and
# compose-stack tests; if it cannot be installed the suite still runs and those tests say
# "podman absent" in their skip reason.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Korean OCR in the local engine (the bundled PP-OCR models do not read Hangul).
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
[ -f "$(ls -d /usr/share/tesseract-ocr/*/tessdata 2>/dev/null | head -1)/kor.traineddata" ] || need+=(tesseract-ocr-kor)
containers=()
for tool in podman runc debootstrap catatonit netavark aardvark-dns iptables; do
  dpkg -s "$tool" >/dev/null 2>&1 || containers+=("$tool")
done
if [ ${#need[@]} -gt 0 ] || [ ${#containers[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "system-deps: missing ${need[*]} ${containers[*]}; run as root or: sudo apt-get install -y ${need[*]} ${containers[*]}" >&2
    [ ${#need[@]} -eq 0 ] || exit 1
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    if [ ${#need[@]} -gt 0 ]; then
      echo "system-deps: installing ${need[*]}"
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    if [ ${#containers[@]} -gt 0 ]; then
      echo "system-deps: installing ${containers[*]}"
      apt-get install -y -qq --no-install-recommends "${containers[@]}" >/dev/null \
        || echo "system-deps: WARNING: podman could not be installed; the container tests will be skipped" >&2
    fi
  fi
fi
# podman here: the default nproc/nofile ulimits are refused, and netavark gives compose networks DNS.
conf=/etc/containers/containers.conf
if command -v podman >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && [ ! -e "$conf" ]; then
  printf '[containers]\ndefault_ulimits = []\n\n[network]\nnetwork_backend = "netavark"\n' > "$conf"
  echo "system-deps: wrote $conf"
elif [ -e "$conf" ] && ! grep -q '^default_ulimits' "$conf"; then
  echo "system-deps: note: $conf has no 'default_ulimits = []'; podman may refuse to start containers" >&2
fi
