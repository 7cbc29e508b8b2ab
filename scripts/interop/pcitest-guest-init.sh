#!/bin/sh
# shellcheck shell=sh
# /init of the pcitest guest that scripts/interop/qemu-pcitest.sh builds
# (runs inside the initramfs under busybox ash; not meant for the host).
#
# Mounts proc, sysfs and /dev (devtmpfs, else tmpfs + mdev), loads
# /lib/modules/pci_endpoint_test.ko, finds the 104c:b500 function and its
# /dev/pci-endpoint-test.N node, then runs /tests.list: one test a line,
# "NAME pcitest-arguments...".  Each test runs in the background with a
# watchdog of TIMEOUT seconds (from /pcitest.conf); the result is printed as
#
#     PCITEST <NAME> OK|FAIL|HANG|SKIP
#
# SKIP: an MSI (-m N) or MSI-X (-x N) test for a vector the guest kernel did
# not allocate (count in /sys/bus/pci/devices/*/msi_irqs after the last
# "-i" test): on x86 without interrupt remapping MSI gets one vector, so
# -m 2..32 cannot work whatever the device does (newer kselftest versions
# of pcitest skip these the same way).  The device's MSI/MSI-X capability
# sizes are printed as PCITEST-INFO lines.  A FAIL also prints pcitest's output as "PCITEST-OUT <NAME> <line>".  A hung
# read/write/copy holds the driver's mutex in an uninterruptible wait, so
# every later test would block behind it: after two HANGs in a row the run
# stops (PCITEST-ABORT; the rest count as missing).  If anything failed, the
# kernel log ("DMESG ...") and /proc/interrupts ("IRQS ...") follow.  The last
# lines are "PCITEST-ELAPSED <seconds>" and "PCITEST-DONE"; then poweroff -f.

export PATH=/bin:/sbin
TIMEOUT=30
mount -t proc proc /proc
mount -t sysfs sysfs /sys
if ! mount -t devtmpfs devtmpfs /dev 2>/dev/null; then
	mount -t tmpfs -o mode=0755 tmpfs /dev
	echo /bin/mdev >/proc/sys/kernel/hotplug
	mdev -s
fi
mkdir -p /tmp
mount -t tmpfs tmpfs /tmp
# keep kernel messages off the console so result lines stay whole; the
# kernel log is printed explicitly on failure
echo 1 >/proc/sys/kernel/printk
# shellcheck source=/dev/null
[ -r /pcitest.conf ] && . /pcitest.conf

bad=0
read -r t0 _ </proc/uptime
echo "PCITEST-BOOT kernel $(uname -r) uptime $t0"

finish() {
	if [ "$bad" = 1 ]; then
		dmesg | sed 's/^/DMESG /'
		sed 's/^/IRQS /' /proc/interrupts
	fi
	read -r t1 _ </proc/uptime
	echo "PCITEST-ELAPSED $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")s"
	echo "PCITEST-DONE"
	sync
	poweroff -f
	while :; do sleep 1; done
}

if ! insmod /lib/modules/pci_endpoint_test.ko; then
	echo "PCITEST-ERROR insmod pci_endpoint_test.ko failed"
	bad=1
	finish
fi

dev=
for d in /sys/bus/pci/devices/*; do
	v=$(cat "$d/vendor") i=$(cat "$d/device")
	echo "PCITEST-PCI ${d##*/} $v:$i"
	if [ "$v" = 0x104c ] && [ "$i" = 0xb500 ]; then
		dev=$d
	fi
done
if [ -z "$dev" ]; then
	echo "PCITEST-ERROR no 104c:b500 PCI function in the guest"
	bad=1
	finish
fi

node=
n=0
while [ $n -lt 50 ]; do
	for m in "$dev"/misc/pci-endpoint-test.*; do
		[ -e "$m" ] && node=/dev/${m##*/}
	done
	if [ -n "$node" ]; then
		[ -c "$node" ] || mdev -s 2>/dev/null
		[ -c "$node" ] && break
	fi
	n=$((n + 1))
	usleep 100000
done
drv=$(readlink "$dev/driver")
echo "PCITEST-DEV ${dev##*/} driver ${drv##*/} node ${node:-none}"
if [ -z "$node" ] || [ ! -c "$node" ]; then
	echo "PCITEST-ERROR pci_endpoint_test did not bind ${dev##*/} (no /dev/pci-endpoint-test.N)"
	bad=1
	finish
fi

# What the device offers, for the record (and for the SKIPs below)
cfgb() {
	od -An -tu1 -j "$1" -N 1 "$dev/config" 2>/dev/null | tr -d ' '
}
p=$(cfgb 52)
n=0
while [ -n "$p" ] && [ "$p" != 0 ] && [ $n -lt 48 ]; do
	case $(cfgb "$p") in
	5)
		c=$(cfgb $((p + 2)))
		echo "PCITEST-INFO MSI capability: $((1 << ((c >> 1) & 7))) vectors (Multiple Message Capable)"
		;;
	17)
		lo=$(cfgb $((p + 2)))
		hi=$(cfgb $((p + 3)))
		echo "PCITEST-INFO MSI-X capability: $((((hi << 8 | lo) & 0x7ff) + 1)) vectors"
		;;
	esac
	p=$(cfgb $((p + 1)))
	n=$((n + 1))
done

# Results come back through a FIFO so that a hang costs exactly TIMEOUT
# seconds (read -t) and needs no polling; each line is "RC <seq> <status>".
mkfifo /tmp/rc
exec 3<>/tmp/rc
seq=0
hangs=0
nvec=0
while read -r name args; do
	[ -n "$name" ] || continue
	seq=$((seq + 1))
	out=/tmp/out.$seq
	# -m N / -x N need vector N allocated by the guest kernel: x86
	# without interrupt remapping gives MSI one vector, and MSI-X gets
	# only as many as the CPUs have free (about 200 each)
	# shellcheck disable=SC2086
	set -- $args
	if [ $# = 2 ] && { [ "$1" = -m ] || [ "$1" = -x ]; } &&
		[ "$2" -gt "$nvec" ]; then
		echo "PCITEST $name SKIP"
		echo "PCITEST-OUT $name (the guest allocated $nvec vectors for the device)"
		continue
	fi
	# word splitting of $args is intended: it holds pcitest's options
	# shellcheck disable=SC2086
	{
		/bin/pcitest -D "$node" $args </dev/null >"$out" 2>&1
		echo "RC $seq $?" >&3
	} &
	pid=$!
	res=HANG
	# busybox ash has read -t
	# shellcheck disable=SC3045
	while read -r -t "$TIMEOUT" _ s rc <&3; do
		if [ "$s" = "$seq" ]; then
			if [ "$rc" = 0 ] && grep -q 'OKAY' "$out" &&
				! grep -q -e 'NOT OKAY' -e 'FAIL' "$out"; then
				res=OK
			else
				res=FAIL
			fi
			break
		fi
		echo "PCITEST-LATE test $s finished after its HANG, status $rc"
	done
	echo "PCITEST $name $res"
	case $res in
	OK)
		hangs=0
		wait "$pid"
		rm -f "$out"
		case $args in
		-i\ *)
			nvec=$(find "$dev/msi_irqs" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
			echo "PCITEST-INFO after $name: $nvec MSI/MSI-X vectors allocated"
			;;
		esac
		;;
	FAIL)
		hangs=0
		bad=1
		wait "$pid"
		sed "s/^/PCITEST-OUT $name /" "$out"
		rm -f "$out"
		;;
	HANG)
		bad=1
		hangs=$((hangs + 1))
		echo "PCITEST-OUT $name (no result after ${TIMEOUT}s: pcitest $args)"
		if [ $hangs -ge 2 ]; then
			echo "PCITEST-ABORT two hangs in a row; the driver is stuck"
			break
		fi
		;;
	esac
done </tests.list
finish
