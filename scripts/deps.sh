#!/usr/bin/env bash
# Installs what crosswatch needs and the machine lacks: Debian packages (OpenCV 4.6 for gocv, its
# Haar cascades (opencv-data) for the evidence test, Tesseract OCR (tesseract-ocr, with its
# English data) for the number-plate test,
# Mosquitto and PostgreSQL for the tests, which start their own instances, pkg-config, jq for
# scripts/mutate.sh, systemd for systemd-analyze, which verifies deploy/systemd) and
# checks the Go toolchain. Safe to run again.
set -euo pipefail
. "$(dirname "$0")/apt.sh"

packages=(pkg-config libopencv-dev opencv-data tesseract-ocr tesseract-ocr-eng ffmpeg time mosquitto sqlite3 postgresql ca-certificates jq systemd)
apt_install deps "${packages[@]}"

if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "deps: Go is at /usr/local/go/bin but not on PATH; add it: export PATH=\$PATH:/usr/local/go/bin" >&2
	else
		echo "deps: Go $(sed -n 's/^go //p' go.mod) or newer is needed (https://go.dev/doc/install)" >&2
	fi
	exit 1
fi
want=$(sed -n 's/^go //p' go.mod)
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
	echo "deps: go.mod needs Go $want, this is $have" >&2
	exit 1
fi
pkg-config --exists opencv4 || { echo "deps: pkg-config cannot find opencv4 after installing libopencv-dev" >&2; exit 1; }
