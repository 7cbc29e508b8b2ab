#!/bin/sh
# make demo: start uvfio-testdev, list it with uvfio-lspci, run
# uvfio-pcitest against it (migrating it half-way, in the middle of a
# transfer, to a second uvfio-testdev process), then boot the demo guest under uvfio-vmm with
# the same device (MSI-X, MSI, INTx and DMA from inside a KVM guest), and
# summarize.  Exits with the first failure's status (pcitest's, lspci's,
# then the VMM's; 1 when a device died); the VMM part is skipped, saying why, without a usable /dev/kvm.
# The device is always stopped and the temporary directory removed.
set -u

build=${1:?usage: demo.sh BUILDDIR}
dev=$build/devices/testdev/uvfio-testdev
lspci=$build/tools/uvfio-lspci
pcitest=$build/tools/uvfio-pcitest
vmm=$build/vmm/uvfio-vmm
guest=$build/guest/guest_demo.elf

for exe in "$dev" "$lspci" "$pcitest"; do
	if [ ! -x "$exe" ]; then
		echo "demo: $exe is missing; build first" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uvfio-demo.XXXXXX") || exit 1
sock=$tmp/testdev.sock
pid=
pid2=

cleanup() {
	for p in $pid $pid2; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Starts a testdev on $1, logging to $2; its pid in $started.
start_dev() {
	"$dev" --socket "$1" >"$2" 2>&1 &
	started=$!
	# Up to 10 s for the socket; give up early if the device died.
	tries=0
	while [ ! -S "$1" ]; do
		if ! kill -0 "$started" 2>/dev/null; then
			echo "demo: uvfio-testdev exited before listening:" >&2
			cat "$2" >&2
			exit 1
		fi
		tries=$((tries + 1))
		if [ "$tries" -gt 100 ]; then
			echo "demo: no socket at $1 after 10 s" >&2
			exit 1
		fi
		sleep 0.1
	done
}

start_dev "$sock" "$tmp/testdev.log"
pid=$started
sock2=$tmp/testdev2.sock
start_dev "$sock2" "$tmp/testdev2.log"
pid2=$started

echo "=== uvfio-lspci $sock"
"$lspci" "$sock"
lspci_rc=$?

echo
echo "=== uvfio-pcitest --socket $sock --migrate-to $sock2"
"$pcitest" --socket "$sock" --migrate-to "$sock2" >"$tmp/pcitest.out" 2>&1
rc=$?
cat "$tmp/pcitest.out"

# The VMM demo: the guest prints its own summary; the VMM adds counters.
vmm_rc=
vmm_why=
if [ ! -x "$vmm" ] || [ ! -f "$guest" ]; then
	vmm_why="uvfio-vmm or the demo guest was not built (x86-64 only)"
elif [ ! -c /dev/kvm ] || ! (: <>/dev/kvm) 2>/dev/null; then
	vmm_why="/dev/kvm is missing or not accessible to $(id -un)"
else
	echo
	echo "=== uvfio-vmm --guest $guest --device vfio-user,socket=$sock"
	timeout -k 5 120 "$vmm" --mem 64M --device vfio-user,socket="$sock" \
		--stats --guest "$guest" >"$tmp/vmm.out" 2>&1
	vmm_rc=$?
	cat "$tmp/vmm.out"
fi

echo
echo "=== summary"
if [ "$lspci_rc" -eq 0 ]; then
	echo "lspci:   ok"
else
	echo "lspci:   FAILED (exit $lspci_rc)"
fi
[ "$rc" -eq 0 ] && [ "$lspci_rc" -ne 0 ] && rc=$lspci_rc
result=$(grep '^pcitest: ' "$tmp/pcitest.out" | tail -n 1)
echo "pcitest: ${result#pcitest: }${result:+, }exit $rc"
grep '^FAIL ' "$tmp/pcitest.out" | sed 's/^/  /'
if [ -n "$vmm_why" ]; then
	echo "vmm:     skipped: $vmm_why"
else
	result=$(grep '^SUMMARY: ' "$tmp/vmm.out" | tail -n 1)
	echo "vmm:     ${result#SUMMARY: }${result:+, }exit $vmm_rc"
	grep '^FAIL' "$tmp/vmm.out" | sed 's/^/  /'
	[ "$rc" -eq 0 ] && rc=$vmm_rc
fi
for d in "$pid:$tmp/testdev.log" "$pid2:$tmp/testdev2.log"; do
	if ! kill -0 "${d%%:*}" 2>/dev/null; then
		echo "device:  uvfio-testdev died during the demo:"
		sed 's/^/  /' "${d#*:}"
		rc=1
	fi
done
exit "$rc"
