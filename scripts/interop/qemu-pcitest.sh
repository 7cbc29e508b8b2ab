#!/bin/sh
# qemu-pcitest.sh: boot a Linux guest under QEMU's vfio-user-pci client with
# uvfio-testdev as the device, and run the stock pci_endpoint_test driver and
# pcitest tool against it.
#
# usage: scripts/interop/qemu-pcitest.sh [--ram memfd|private|hugetlbfs:DIR]
#            [--testdev-args "ARGS"] [--list quick|full] [--smp N] [--keep]
#
#   --ram memfd      guest RAM in a shared memfd: device DMA through mappings
#                    (default)
#   --ram hugetlbfs:DIR  guest RAM in a file on the hugetlbfs mounted at
#                    DIR (shared): testdev needs --allow-unsealed-dma, as
#                    such a file cannot be sealed (docs/interop.md)
#   --ram private    memory-backend-ram, which QEMU cannot share: every device
#                    DMA goes in-band (DMA_READ/DMA_WRITE messages)
#   --testdev-args   extra uvfio-testdev options, e.g. "--worker"
#   --list full      BAR0..5, INTx, MSI 1..32, MSI-X 1..2048, read/write/copy
#                    of 1 1024 1025 1024000 1024001 bytes under INTx, MSI,
#                    MSI-X and MSI with DMA (2154 tests; default)
#   --list quick     BAR0..5, INTx, MSI 1 and 32, MSI-X 1 and 2048, and
#                    read/write/copy of 1 and 1024001 bytes under MSI (21)
#   --smp N          guest CPUs (default 16, or UVFIO_SMP): x86 has about 200
#                    free vectors per CPU and the driver requests all 2048
#                    MSI-X vectors at "pcitest -i 2", which fails with -smp 2
#   --keep           keep the work directory even when everything passed
#
# Environment (what is missing is reported on stderr and the script exits
# 77, the "skipped" status of meson/automake):
#   UVFIO_QEMU          qemu-system-x86_64 >= 10.1 with vfio-user-pci
#                       (default: qemu-system-x86_64 from PATH, then
#                       /usr/local/bin)
#   UVFIO_GUEST_KERNEL  x86-64 bzImage (default /boot/vmlinuz-$(uname -r))
#   UVFIO_GUEST_MODULE  pci_endpoint_test.ko built for that kernel (default:
#                       searched under /lib/modules/<kernel version>)
#   UVFIO_PCITEST       static pcitest binary (tools/pci of the kernel tree;
#                       default: pcitest from PATH)
#   UVFIO_BUSYBOX       static busybox (default /bin/busybox when it comes
#                       from Debian's busybox-static)
#   UVFIO_TESTDEV       default build/devices/testdev/uvfio-testdev under the
#                       repository top
#   UVFIO_TEST_TIMEOUT  per-test watchdog in the guest, seconds (default 30)
#   UVFIO_TIMEOUT       limit for the whole QEMU run, seconds (default 600
#                       for quick, 3600 for full)
#
# Needs cpio, gzip, od and timeout on the host; builds nothing.  Work files
# (initramfs, socket, serial.log, qemu.stderr, testdev.stderr, result.txt)
# go to a temporary directory that is kept if anything fails.
#
# Prints "PCITEST <name> OK|FAIL|HANG|SKIP" per test as the guest reports it
# (SKIP: an MSI/MSI-X vector the guest kernel did not allocate, see
# pcitest-guest-init.sh) and ends with
#   qemu-pcitest: <passed> passed, <failed> failed, <missing> missing (...)
# where failed counts FAIL and HANG, and the parenthesis gives the setup,
# the number of SKIPs and the times.
# Exit status: 0 nothing failed or missing, 1 otherwise, 2 usage, 77 skipped.

set -u

me="qemu-pcitest"
here=$(cd "$(dirname "$0")" && pwd) || exit 1
top=$(cd "$here/../.." && pwd) || exit 1

usage() {
	sed -n '6,23p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

skip() {
	{
		echo "$me: SKIPPED: $1"
		shift
		for l in "$@"; do
			echo "$me:   $l"
		done
	} >&2
	exit 77
}

ram=memfd
tdargs=
list=full
smp=${UVFIO_SMP:-16}
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--ram) [ $# -ge 2 ] || usage; ram=$2; shift 2 ;;
	--ram=*) ram=${1#--ram=}; shift ;;
	--testdev-args) [ $# -ge 2 ] || usage; tdargs=$2; shift 2 ;;
	--testdev-args=*) tdargs=${1#--testdev-args=}; shift ;;
	--list) [ $# -ge 2 ] || usage; list=$2; shift 2 ;;
	--list=*) list=${1#--list=}; shift ;;
	--smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
	--smp=*) smp=${1#--smp=}; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage ;;
	*) echo "$me: unknown argument '$1'" >&2; usage ;;
	esac
done
case $ram in memfd | private | hugetlbfs:/*) ;; *) echo "$me: --ram memfd|private|hugetlbfs:DIR" >&2; usage ;; esac
case $list in quick | full) ;; *) echo "$me: --list quick|full" >&2; usage ;; esac
case $smp in '' | *[!0-9]*) echo "$me: --smp needs a number" >&2; usage ;; esac

test_timeout=${UVFIO_TEST_TIMEOUT:-30}
if [ "$list" = quick ]; then
	run_timeout=${UVFIO_TIMEOUT:-600}
else
	run_timeout=${UVFIO_TIMEOUT:-3600}
fi

# ---- host tools -------------------------------------------------------------

for t in cpio gzip od timeout mktemp awk; do
	if ! command -v "$t" >/dev/null 2>&1; then
		case $t in
		cpio | gzip) pkg=$t ;;
		od | timeout | mktemp) pkg=coreutils ;;
		awk) pkg=mawk ;;
		esac
		skip "'$t' is not installed" \
			"install it: apt-get install $pkg"
	fi
done

# ---- ELF and kernel image helpers ---------------------------------------------

# u FILE OFFSET BYTES: unsigned little-endian integer (od uses host order;
# this script runs x86-64 guests and expects a little-endian host)
u() {
	od -An -tu"$3" -j"$2" -N"$3" "$1" 2>/dev/null | tr -d ' \n'
}

# elf_static FILE: true if FILE is an x86-64 ELF executable without a
# program interpreter (statically linked); sets $why otherwise
elf_static() {
	why=
	if [ "$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n')" != 7f454c46 ]; then
		why="not an ELF file"
		return 1
	fi
	if [ "$(u "$1" 4 1)" != 2 ] || [ "$(u "$1" 18 2)" != 62 ]; then
		why="not an x86-64 (ELF64) binary"
		return 1
	fi
	case $(u "$1" 16 2) in
	2 | 3) ;;
	*) why="not an ELF executable (e_type is not EXEC or DYN)"; return 1 ;;
	esac
	phoff=$(u "$1" 32 8)
	phentsize=$(u "$1" 54 2)
	phnum=$(u "$1" 56 2)
	k=0
	while [ "$k" -lt "$phnum" ]; do
		if [ "$(u "$1" $((phoff + k * phentsize)) 4)" = 3 ]; then
			why="dynamically linked (has PT_INTERP); the guest has no libc"
			return 1
		fi
		k=$((k + 1))
	done
	return 0
}

# bzimage_version FILE: the kernel release from the x86 boot header
bzimage_version() {
	[ "$(od -An -c -j514 -N4 "$1" 2>/dev/null | tr -d ' \n')" = HdrS ] || return 1
	p=$(u "$1" 526 2)
	[ -n "$p" ] && [ "$p" != 0 ] || return 1
	dd if="$1" bs=1 skip=$((p + 512)) count=200 2>/dev/null |
		tr '\000' '\n' | head -n 1 | sed 's/ .*//'
}

# module_vermagic FILE: the release word of the module's vermagic
module_vermagic() {
	tr '\000' '\n' <"$1" | grep -a '^vermagic=' | head -n 1 |
		sed 's/^vermagic=//; s/ .*//'
}

# ---- QEMU ---------------------------------------------------------------------

qemu=${UVFIO_QEMU:-}
if [ -z "$qemu" ]; then
	for q in "$(command -v qemu-system-x86_64 2>/dev/null)" \
		/usr/local/bin/qemu-system-x86_64; do
		if [ -z "$q" ] || [ ! -x "$q" ]; then
			continue
		fi
		if "$q" -device help 2>/dev/null | grep -q '"vfio-user-pci"'; then
			qemu=$q
			break
		fi
	done
	[ -n "$qemu" ] || skip "no qemu-system-x86_64 with vfio-user-pci found" \
		"(searched PATH and /usr/local/bin; upstream QEMU has it since 10.1," \
		"Debian 12's QEMU 7.2 does not)" \
		"set UVFIO_QEMU=/path/to/qemu-system-x86_64 (QEMU >= 10.1)"
fi
[ -x "$qemu" ] || skip "UVFIO_QEMU=$qemu is not an executable"
qver=$("$qemu" --version 2>/dev/null | sed -n '1s/.*version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
[ -n "$qver" ] || skip "cannot read the version of $qemu ('$qemu --version')" \
	"set UVFIO_QEMU to a qemu-system-x86_64 >= 10.1"
qmaj=${qver%%.*}
qmin=${qver#*.}
if [ "$qmaj" -lt 10 ] || { [ "$qmaj" -eq 10 ] && [ "$qmin" -lt 1 ]; }; then
	skip "$qemu is QEMU $qver; vfio-user-pci needs QEMU >= 10.1" \
		"set UVFIO_QEMU=/path/to/qemu-system-x86_64 (QEMU >= 10.1)"
fi
"$qemu" -device help 2>/dev/null | grep -q '"vfio-user-pci"' ||
	skip "$qemu (QEMU $qver) does not list vfio-user-pci in '-device help'" \
		"(configured without vfio-user?); set UVFIO_QEMU to one that has it"

# ---- guest kernel and module ---------------------------------------------------

kernel=${UVFIO_GUEST_KERNEL:-/boot/vmlinuz-$(uname -r)}
[ -r "$kernel" ] || skip "guest kernel '$kernel' is not readable" \
	"set UVFIO_GUEST_KERNEL=/path/to/bzImage (x86-64, PCI_MSI, DEVTMPFS," \
	"BLK_DEV_INITRD, SERIAL_8250_CONSOLE)"
kver=$(bzimage_version "$kernel") || kver=
[ -n "$kver" ] ||
	skip "'$kernel' is not an x86 bzImage (no HdrS boot header)" \
		"set UVFIO_GUEST_KERNEL=/path/to/bzImage"

module=${UVFIO_GUEST_MODULE:-}
if [ -z "$module" ]; then
	module=$(find "/lib/modules/$kver" -name pci_endpoint_test.ko 2>/dev/null | head -n 1)
	[ -n "$module" ] || skip "no pci_endpoint_test.ko for kernel $kver" \
		"(searched /lib/modules/$kver; Debian kernels do not build it:" \
		"CONFIG_PCI_ENDPOINT_TEST is not set)" \
		"build drivers/misc/pci_endpoint_test.c for $kver (uncompressed .ko)" \
		"and set UVFIO_GUEST_MODULE=/path/to/pci_endpoint_test.ko"
fi
[ -r "$module" ] || skip "UVFIO_GUEST_MODULE=$module is not readable" \
	"set UVFIO_GUEST_MODULE=/path/to/pci_endpoint_test.ko"
mver=$(module_vermagic "$module")
[ -n "$mver" ] || skip "'$module' has no vermagic (not an uncompressed kernel module?)" \
	"set UVFIO_GUEST_MODULE to an uncompressed pci_endpoint_test.ko"
[ "$mver" = "$kver" ] || skip "'$module' is built for $mver, the kernel is $kver" \
	"set UVFIO_GUEST_MODULE to a pci_endpoint_test.ko built for $kver"

# ---- pcitest and busybox ---------------------------------------------------------

pcitest=${UVFIO_PCITEST:-$(command -v pcitest 2>/dev/null)}
[ -n "$pcitest" ] || skip "no pcitest binary" \
	"build tools/pci/pcitest.c of the guest kernel's tree statically" \
	"(gcc -static) and set UVFIO_PCITEST=/path/to/pcitest"
[ -r "$pcitest" ] || skip "UVFIO_PCITEST=$pcitest is not readable"
elf_static "$pcitest" || skip "pcitest '$pcitest' is not usable: $why" \
	"set UVFIO_PCITEST to a static x86-64 pcitest (gcc -static)"

busybox=${UVFIO_BUSYBOX:-}
if [ -z "$busybox" ]; then
	[ -e /bin/busybox ] || skip "UVFIO_BUSYBOX is unset and /bin/busybox does not exist" \
		"apt-get install busybox-static, or set UVFIO_BUSYBOX=/path/to/static/busybox"
	owner=$(dpkg-query -S /bin/busybox 2>/dev/null | sed 's/:.*//')
	[ "$owner" = busybox-static ] || skip "/bin/busybox is not from Debian's busybox-static (owner: ${owner:-unknown})" \
		"apt-get install busybox-static, or set UVFIO_BUSYBOX=/path/to/static/busybox"
	busybox=/bin/busybox
fi
[ -r "$busybox" ] || skip "UVFIO_BUSYBOX=$busybox is not readable"
elf_static "$busybox" || skip "busybox '$busybox' is not usable: $why" \
	"set UVFIO_BUSYBOX to a static x86-64 busybox (Debian: busybox-static)"

# ---- testdev ---------------------------------------------------------------------

testdev=${UVFIO_TESTDEV:-$top/build/devices/testdev/uvfio-testdev}
[ -x "$testdev" ] || skip "uvfio-testdev '$testdev' is not built" \
	"build it (ninja -C $top/build) or set UVFIO_TESTDEV=/path/to/uvfio-testdev"

init=$here/pcitest-guest-init.sh
[ -r "$init" ] || { echo "$me: $init is missing" >&2; exit 1; }

# ---- the test list ---------------------------------------------------------------

sizes_full="1 1024 1025 1024000 1024001"
sizes_quick="1 1024001"

# xfer PREFIX IRQTYPE SIZES [EXTRA]: read/write/copy tests under one IRQ type
xfer() {
	echo "${1}_SET_IRQ -i $2"
	for op in READ:-r WRITE:-w COPY:-c; do
		for n in $3; do
			echo "${1}_${op%%:*}_$n ${op#*:} -s $n${4:+ $4}"
		done
	done
}

gen_list() {
	for b in 0 1 2 3 4 5; do
		echo "BAR$b -b $b"
	done
	echo "IRQ_LEGACY_SET -i 0"
	echo "LEGACY_IRQ -l"
	if [ "$1" = full ]; then
		echo "IRQ_MSI_SET -i 1"
		n=1
		while [ $n -le 32 ]; do echo "MSI$n -m $n"; n=$((n + 1)); done
		echo "IRQ_MSIX_SET -i 2"
		n=1
		while [ $n -le 2048 ]; do echo "MSIX$n -x $n"; n=$((n + 1)); done
		xfer LEGACY 0 "$sizes_full"
		xfer MSI 1 "$sizes_full"
		xfer MSIX 2 "$sizes_full"
		xfer MSI_DMA 1 "$sizes_full" -d
	else
		echo "IRQ_MSI_SET -i 1"
		echo "MSI1 -m 1"
		echo "MSI32 -m 32"
		echo "IRQ_MSIX_SET -i 2"
		echo "MSIX1 -x 1"
		echo "MSIX2048 -x 2048"
		xfer MSI 1 "$sizes_quick"
	fi
}

# ---- work directory ---------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/qemu-pcitest.XXXXXX") || exit 1
sock=$work/testdev.sock
serial=$work/serial.log
qerr=$work/qemu.stderr
terr=$work/testdev.stderr
result=$work/result.txt
tdpid=
qpid=

stop() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	if [ -n "$tdpid" ]; then
		kill "$tdpid" 2>/dev/null
		wait "$tdpid" 2>/dev/null
	fi
	qpid=''
	tdpid=
}
trap 'stop; echo "$me: interrupted; work files in $work" >&2; exit 130' INT TERM HUP

root=$work/root
mkdir -p "$root/bin" "$root/sbin" "$root/proc" "$root/sys" "$root/dev" \
	"$root/tmp" "$root/lib/modules" || exit 1
cp "$busybox" "$root/bin/busybox" &&
	cp "$pcitest" "$root/bin/pcitest" &&
	cp "$module" "$root/lib/modules/pci_endpoint_test.ko" &&
	cp "$init" "$root/init" &&
	chmod 755 "$root/init" "$root/bin/busybox" "$root/bin/pcitest" || exit 1
applets=$("$root/bin/busybox" --list 2>/dev/null)
[ -n "$applets" ] || applets="sh mount mkdir mkfifo cat echo sed grep awk readlink
insmod dmesg mdev sleep usleep uname sync poweroff rm"
for a in $applets; do
	[ "$a" = busybox ] || [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
gen_list "$list" >"$root/tests.list"
echo "TIMEOUT=$test_timeout" >"$root/pcitest.conf"
ntests=$(wc -l <"$root/tests.list" | tr -d ' ')
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) \
	>"$work/initramfs.cpio.gz" || { echo "$me: building the initramfs failed" >&2; exit 1; }

# ---- run -----------------------------------------------------------------------------

echo "$me: QEMU $qver $qemu"
echo "$me: kernel $kver $kernel"
echo "$me: module $module; pcitest $pcitest; busybox $busybox"
echo "$me: testdev $testdev ${tdargs:-(default options)}"
echo "$me: ram=$ram list=$list ($ntests tests), smp=$smp, per-test timeout ${test_timeout}s, run timeout ${run_timeout}s"
echo "$me: work directory $work"
echo "$me:   guest serial  $serial"
echo "$me:   QEMU stderr   $qerr"
echo "$me:   testdev stderr $terr"

start=$(date +%s)

# --testdev-args is split into words on purpose (no globbing)
set -f
# shellcheck disable=SC2086
"$testdev" --socket "$sock" --once $tdargs 2>"$terr" >&2 &
tdpid=$!
set +f
n=0
while [ ! -S "$sock" ]; do
	if ! kill -0 "$tdpid" 2>/dev/null; then
		wait "$tdpid"
		echo "$me: uvfio-testdev exited with status $? before creating its socket:" >&2
		sed 's/^/  /' "$terr" >&2
		tdpid=
		exit 1
	fi
	n=$((n + 1))
	if [ $n -gt 100 ]; then
		echo "$me: uvfio-testdev did not create $sock within 10 s" >&2
		stop
		exit 1
	fi
	sleep 0.1
done

case $ram in
memfd) memobj=memory-backend-memfd,id=mem,size=512M,share=on ;;
hugetlbfs:*)
	# A directory: QEMU makes its file there and unlinks it at once.
	memobj=memory-backend-file,id=mem,size=512M,share=on
	memobj="$memobj,mem-path=${ram#hugetlbfs:}" ;;
*) memobj=memory-backend-ram,id=mem,size=512M ;;
esac

timeout --kill-after=10 "$run_timeout" "$qemu" -M q35 -accel tcg -m 512M -smp "$smp" \
	-object "$memobj" -machine memory-backend=mem \
	-kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	-nographic -no-reboot -net none \
	-device "{\"driver\":\"vfio-user-pci\",\"socket\":{\"path\":\"$sock\",\"type\":\"unix\"}}" \
	</dev/null >"$serial" 2>"$qerr" &
qpid=$!
# show results as they come
tail --pid="$qpid" -n +1 -f "$serial" 2>/dev/null | grep --line-buffered -a -E 'PCITEST |PCITEST-(ERROR|ABORT|LATE|DEV|INFO|ELAPSED)' &
tailpid=$!
wait "$qpid"
qstatus=$?
qpid=
wait "$tailpid" 2>/dev/null

# testdev runs with --once: give it a moment to leave on its own
n=0
while kill -0 "$tdpid" 2>/dev/null && [ $n -lt 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
if kill -0 "$tdpid" 2>/dev/null; then
	echo "$me: uvfio-testdev still running 5 s after QEMU exited; stopping it" >&2
	kill "$tdpid" 2>/dev/null
fi
wait "$tdpid"
tdstatus=$?
tdpid=
elapsed=$(($(date +%s) - start))

# ---- results ---------------------------------------------------------------------------

tr -d '\r' <"$serial" | grep -a -o -E 'PCITEST [A-Za-z0-9_]+ (OK|FAIL|HANG|SKIP)' |
	awk '{ print $2, $3 }' >"$work/reported"
awk 'FILENAME == ARGV[1] { res[$1] = $2; next }
	{ r = ($1 in res) ? res[$1] : "MISSING"; print $1, r }' \
	"$work/reported" "$root/tests.list" >"$result"
passed=$(grep -c ' OK$' "$result")
failed=$(grep -c -E ' (FAIL|HANG)$' "$result")
missing=$(grep -c ' MISSING$' "$result")
skipped=$(grep -c ' SKIP$' "$result")
gelapsed=$(tr -d '\r' <"$serial" | sed -n 's/.*PCITEST-ELAPSED \([0-9.]*s\).*/\1/p' | tail -n 1)
done=0
tr -d '\r' <"$serial" | grep -q 'PCITEST-DONE' && done=1

ok=1
if [ "$failed" != 0 ] || [ "$missing" != 0 ] || [ "$done" != 1 ]; then
	ok=0
fi
if [ "$qstatus" = 124 ] || [ "$qstatus" = 137 ]; then
	echo "$me: QEMU killed after the ${run_timeout}s run timeout (UVFIO_TIMEOUT)" >&2
	ok=0
elif [ "$qstatus" != 0 ]; then
	echo "$me: QEMU exited with status $qstatus" >&2
	ok=0
fi
if [ "$done" = 0 ]; then
	echo "$me: the guest did not print PCITEST-DONE" >&2
fi
if [ "$ok" = 0 ]; then
	echo "$me: not passed: failed/hung/missing tests:" >&2
	grep -v -E ' (OK|SKIP)$' "$result" | head -n 20 | sed 's/^/  /' >&2
	tr -d '\r' <"$serial" | grep -a -E 'PCITEST-(ERROR|ABORT|OUT)' | grep -v 'vectors for the device)$' | head -n 20 | sed 's/^/  /' >&2
	if [ -s "$qerr" ]; then
		echo "$me: QEMU stderr (last lines):" >&2
		tail -n 10 "$qerr" | sed 's/^/  /' >&2
	fi
	if [ -s "$terr" ]; then
		echo "$me: testdev stderr (status $tdstatus, last lines):" >&2
		tail -n 10 "$terr" | sed 's/^/  /' >&2
	fi
fi

echo "$me: $passed passed, $failed failed, $missing missing" \
	"(ram=$ram, testdev ${tdargs:-default}, list=$list, smp=$smp, $skipped skipped," \
	"${elapsed}s wall, guest ${gelapsed:-?})"
if [ "$ok" = 1 ] && [ "$keep" = 0 ]; then
	rm -rf "$work"
	exit 0
fi
echo "$me: work files kept in $work (serial.log, qemu.stderr, testdev.stderr, result.txt)"
[ "$ok" = 1 ] && exit 0
exit 1
