#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, if they are missing. Needs root (CI is).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Korean OCR in the local engine (the bundled PP-OCR models do not read Hangul).
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
[ -f "$(ls -d /usr/share/tesseract-ocr/*/tessdata 2>/dev/null | head -1)/kor.traineddata" ] || need+=(tesseract-ocr-kor)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "system-deps: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
