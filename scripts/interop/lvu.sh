#!/bin/sh
# uvfio against libvfio-user, when libvfio-user's samples are installed.
#
#   UVFIO_LVU_SAMPLES=DIR scripts/interop/lvu.sh [BUILD]
#
# DIR holds binaries built from libvfio-user (this repository builds
# none of it): server, gpio-pci-idio-16, and optionally client (their
# samples/client; one with its device-specific asserts taken out goes
# further, see docs/interop.md).  Without DIR the script says what is
# missing and exits 77 (skipped).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
dir=${UVFIO_LVU_SAMPLES:-}
if [ -z "$dir" ] || [ ! -x "$dir/server" ] || [ ! -x "$dir/gpio-pci-idio-16" ]; then
	echo "lvu.sh: SKIPPED: set UVFIO_LVU_SAMPLES to a directory with" \
	     "libvfio-user's server and gpio-pci-idio-16" >&2
	exit 77
fi
tmp=$(mktemp -d)
pids=
trap 'kill $pids 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0

# Starts a sample on a socket in $tmp; its pid in $pid.
start() {
	"$@" >"$tmp/$(basename "$1").log" 2>&1 &
	pid=$!
	pids="$pids $pid"
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 100 ]; do
		sleep 0.05; i=$((i + 1))
	done
	sleep 0.1
}

# uvfio-lspci prints each sample.
for s in server gpio-pci-idio-16; do
	sock=$tmp/$s.sock
	start "$dir/$s" "$sock"
	echo "== uvfio-lspci $s"
	"$build/tools/uvfio-lspci" "$sock" || fail=1
	kill "$pid" 2>/dev/null
done

# The client: region I/O, DMA map/unmap, SET_IRQS, the samples' DMA.
echo "== uvfio client against samples/server and gpio-pci-idio-16"
UVFIO_LVU_SAMPLES=$dir "$build/tests/interop/interop_lvu_live" \
	2>"$tmp/live.log" || { cat "$tmp/live.log"; fail=1; }

# libvfio-user's own client against uvfio-testdev.  Its file-backed DMA
# memory (mkstemp) cannot be sealed: the device must be told to trust it.
if [ -x "$dir/client" ]; then
	echo "== libvfio-user client against uvfio-testdev"
	sock=$tmp/td.sock
	start "$build/devices/testdev/uvfio-testdev" --socket "$sock" \
		--allow-unsealed-dma
	(cd "$tmp" && timeout 30 "$dir/client" "$sock") 2>&1 | tail -20
	echo "(the client stops at its first migration command, or at an"
	echo " assert on its own sample device's IDs or layout)"
fi
# uvfio-vmm with the gpio sample as its device, driven from a guest.
echo "== uvfio-vmm: a guest drives gpio-pci-idio-16"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	sock=$tmp/gpio-vm.sock
	start "$dir/gpio-pci-idio-16" "$sock"
	timeout 60 "$build/vmm/uvfio-vmm" --mem 64M \
		--device vfio-user,socket="$sock" \
		--guest "$build/guest/guest_lvu_gpio.elf" >"$tmp/vm.log" 2>&1
	rc=$?
	cat "$tmp/vm.log"
	if [ $rc -ne 0 ] || ! grep -q 'SUMMARY: [0-9]* passed, 0 failed' \
		"$tmp/vm.log"; then
		echo "lvu.sh: the guest failed (exit $rc)"
		fail=1
	fi
	kill "$pid" 2>/dev/null
else
	echo "SKIPPED: no usable /dev/kvm (scripts/kvm-tcg.sh runs this" \
	     "under nested KVM)"
fi
[ $fail = 0 ] && echo "lvu.sh: passed" || echo "lvu.sh: FAILED"
exit $fail
