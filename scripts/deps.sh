#!/bin/sh
# Install the Debian packages the build and the tests need, when missing.
# As root it runs apt-get; otherwise it prints the command and fails.
# `deps.sh fuzz` adds clang and its libFuzzer runtime (make fuzz).
set -e
pkgs="build-essential meson ninja-build pkg-config linux-libc-dev libjson-c-dev libcmocka-dev python3"
[ "${1:-}" = fuzz ] && pkgs="$pkgs clang libclang-rt-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "uvfio: missing packages:$missing" >&2
	echo "uvfio: run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "uvfio: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing
