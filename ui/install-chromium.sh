#!/bin/sh
# install-chromium.sh installs Debian's chromium for the UI's browser tests
# (go test ./ui/). Idempotent: it does nothing when a chromium is already
# installed. Needs root (apt-get).
set -eu

for name in chromium chromium-browser google-chrome; do
	if command -v "$name" >/dev/null 2>&1; then
		echo "install-chromium: $(command -v "$name") is already installed"
		exit 0
	fi
done

if [ "$(id -u)" -ne 0 ]; then
	echo "install-chromium: run as root (apt-get install chromium)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install-chromium: chromium still missing after apt-get" >&2; exit 1; }
echo "install-chromium: installed $(chromium --version 2>/dev/null || echo chromium)"
