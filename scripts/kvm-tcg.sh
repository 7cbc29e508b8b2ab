#!/bin/sh
# kvm-tcg.sh: run the tests that need /dev/kvm on a machine without it.
#
# usage: scripts/kvm-tcg.sh [BUILD] [MESON-TEST-ARGS...]
#        (default: build, then --suite guest --suite kvm)
#        scripts/kvm-tcg.sh BUILD --run 'SHELL COMMAND'
#        (the command instead, from the top of the tree: a benchmark)
#
# QEMU's TCG emulates AMD's SVM, nested paging included, so a Linux
# booted under TCG loads kvm-amd and has a /dev/kvm: real KVM, on an
# emulated CPU.  This boots the host's own Debian kernel that way, with
# the host's root file system shared over virtio-9p (so the build tree
# and every library are where they are here), loads kvm-amd and runs
# `meson test -C BUILD MESON-TEST-ARGS` inside, as root, with /tmp and
# /dev/shm on tmpfs and the fd limits of a systemd login (soft 1024,
# hard 524288).  The tests' results are the guest's; figures from
# benchmarks run this way say nothing about speed.
#
# Environment (what is missing is said on stderr and the script exits
# 77, meson's "skipped"):
#   UVFIO_TCG_QEMU    qemu-system-x86_64 (default: from PATH; Debian's
#                     qemu-system-x86 7.2 and QEMU 10.2 both work)
#   UVFIO_TCG_KERNEL  the kernel to boot (default: the newest
#                     /boot/vmlinuz-*, Debian's linux-image-amd64); its
#                     modules must be in /lib/modules/<version>
#   UVFIO_BUSYBOX     a static busybox (default /bin/busybox, from
#                     Debian's busybox-static)
#   UVFIO_TCG_MEM     guest RAM (default 6G)
#   UVFIO_TCG_SMP     guest CPUs (default: this machine's, at most 4;
#                     1 under a QEMU older than 10)
#   UVFIO_TCG_TIMEOUT seconds for the whole run (default 3600)
#
# Needs root (the 9p share passes file ownership through), cpio and
# gzip.  Exit status: meson's, 77 when skipped, 1 when the guest never
# reported one.
set -u

me=kvm-tcg
top=$(cd "$(dirname "$0")/.." && pwd) || exit 1

skip() {
	echo "$me: SKIPPED: $*" >&2
	exit 77
}

build=${1:-build}
[ $# -gt 0 ] && shift
[ $# -eq 0 ] && set -- --suite guest --suite kvm
[ "$1" = --run ] && [ $# -ne 2 ] && {
	echo "$me: --run takes one command" >&2
	exit 2
}
case $build in
/*) ;;
*) build=$top/$build ;;
esac
[ -f "$build/build.ninja" ] || skip "no build in $build (make first)"

[ "$(id -u)" -eq 0 ] || skip "needs root (virtio-9p passthrough)"
qemu=${UVFIO_TCG_QEMU:-$(command -v qemu-system-x86_64)}
[ -n "$qemu" ] && [ -x "$qemu" ] ||
	skip "no qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)"
kernel=${UVFIO_TCG_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null |
	sort -V | tail -n 1)}
[ -n "$kernel" ] && [ -r "$kernel" ] ||
	skip "no kernel to boot (Debian: apt-get install linux-image-amd64)"
kver=${kernel##*/vmlinuz-}
mods=/lib/modules/$kver
[ -r "$mods/modules.dep" ] || skip "no $mods/modules.dep for $kernel"
busybox=${UVFIO_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
	skip "no static busybox at $busybox (Debian: busybox-static)"
for t in cpio gzip timeout; do
	command -v $t >/dev/null || skip "no $t"
done

tmp=$(mktemp -d /tmp/uvfio-kvm-tcg.XXXXXX) || exit 1
rcdir=$(mktemp -d "$build/kvm-tcg.XXXXXX") || exit 1
trap 'rm -rf "$tmp" "$rcdir"' EXIT INT TERM

# Module M's path under $mods, then (recursively first) what it needs:
# modules.dep lists each module's dependencies, which load before it.
want() {
	local path d
	path=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$mods/modules.dep" |
		head -n 1 | cut -d: -f1)
	[ -n "$path" ] || return 0 # built in
	grep -qx "$path" "$tmp/order" 2>/dev/null && return 0
	for d in $(grep -E "^$path:" "$mods/modules.dep" | cut -d: -f2); do
		want "$(basename "$d" | sed 's/\.ko.*//')"
	done
	echo "$path" >>"$tmp/order"
}

root=$tmp/root
mkdir -p "$root/bin" "$root/mod" "$root/proc" "$root/sys" "$root/dev" \
	"$root/host"
cp "$busybox" "$root/bin/busybox"
: >"$tmp/order"
for m in virtio_pci 9pnet_virtio 9p kvm-amd; do
	want "$m"
done
n=0
while read -r path; do
	n=$((n + 1))
	f=$root/mod/$(printf %02d $n).ko
	case $path in
	*.ko) cp "$mods/$path" "$f" ;;
	*.ko.xz) xz -dc "$mods/$path" >"$f" ;;
	*.ko.zst) zstd -qdc "$mods/$path" >"$f" ;;
	*.ko.gz) gzip -dc "$mods/$path" >"$f" ;;
	*) skip "cannot unpack $path" ;;
	esac || skip "cannot unpack $path"
done <"$tmp/order"

# The guest's own init.  $1 is the command, $2 where its status goes.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /mod/*.ko; do
	insmod "$m" || echo "kvm-tcg: insmod $m failed"
done
[ -c /dev/kvm ] || echo "kvm-tcg: no /dev/kvm in the guest"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose \
	host /host || echo "kvm-tcg: cannot mount the host's root"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/shm /host/dev/pts
mount -t tmpfs shm /host/dev/shm
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
ulimit -Hn 524288
ulimit -Sn 1024
chroot /host /bin/sh -c "$(cat /cmd)"
echo "kvm-tcg: guest done"
poweroff -f
EOF
chmod +x "$root/init"
{
	printf 'cd %s || exit 1\n' "$top"
	if [ "$1" = --run ]; then
		printf '%s\n' "$2"
	else
		printf 'meson test -C %s --no-rebuild --print-errorlogs' \
			"$build"
		printf ' --timeout-multiplier 3'
		for a in "$@"; do
			printf " '%s'" "$(printf %s "$a" |
				sed "s/'/'\\\\''/g")"
		done
		printf '\n'
	fi
	printf 'echo $? > %s/rc\n' "$rcdir"
} >"$root/cmd"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) \
	>"$tmp/initramfs.gz" || exit 1

# One of two runs with 2 CPUs hung under Debian 12's QEMU 7.2; with one
# CPU it passed.  10.2 ran every time with 2.
qver=$("$qemu" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p;q')
smp=$(nproc)
[ "$smp" -gt 4 ] && smp=4
[ "${qver:-0}" -lt 10 ] && smp=1
smp=${UVFIO_TCG_SMP:-$smp}
echo "$me: booting $kernel under $($qemu --version | head -n 1) (TCG," \
	"nested SVM, $smp CPUs)" >&2
timeout -k 10 "${UVFIO_TCG_TIMEOUT:-3600}" "$qemu" -nodefaults \
	-machine q35 -accel tcg,thread=multi -cpu max -smp "$smp" \
	-m "${UVFIO_TCG_MEM:-6G}" -display none -serial stdio -no-reboot \
	-kernel "$kernel" -initrd "$tmp/initramfs.gz" \
	-append "console=ttyS0 panic=-1 quiet" \
	-virtfs local,path=/,mount_tag=host,security_model=passthrough,multidevs=remap
[ -r "$rcdir/rc" ] || {
	echo "$me: the guest reported no status" >&2
	exit 1
}
exit "$(cat "$rcdir/rc")"
