#!/bin/sh
# What `make install` gives a user: headers, the .pc file, the library
# and the programs, installed into a scratch root; the example device
# built against them with pkg-config alone, and run from there.
set -eu
build=$1
src=$2
extra=${3:-}   # the library's sanitizer flags, if any
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet
pc=$(find "$root" -name uvfio.pc | head -n 1)
[ -n "$pc" ] || { echo "no uvfio.pc installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
for h in server.h client.h caps.h pci.h irq.h mig.h; do
	[ -f "$root$prefix/include/uvfio/$h" ] ||
		{ echo "header uvfio/$h not installed"; exit 1; }
done
for p in uvfio-testdev uvfio-lspci uvfio-pcitest; do
	[ -x "$root$prefix/bin/$p" ] ||
		{ echo "program $p not installed"; exit 1; }
done
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --define-variable=prefix="$root$prefix" \
	--cflags --libs uvfio)
cc -std=gnu11 -Wall -Werror -o "$root/memcpy_dev" \
	"$src/examples/memcpy_dev.c" $flags $extra -pthread
libdir=$(pkg-config --define-variable=prefix="$root$prefix" \
	--variable=libdir uvfio)
# It runs and refuses bad usage without touching anything.
if LD_LIBRARY_PATH="$libdir" "$root/memcpy_dev" 2>/dev/null; then
	echo "memcpy_dev accepted no arguments"; exit 1
fi
LD_LIBRARY_PATH="$libdir" "$root/memcpy_dev" --socket "$root/s" &
pid=$!
for i in $(seq 50); do [ -S "$root/s" ] && break; sleep 0.1; done
LD_LIBRARY_PATH="$libdir" "$root$prefix/bin/uvfio-lspci" "$root/s" |
	grep -q "MSI-X: Enable- Count=1" ||
	{ kill $pid; echo "lspci did not see the installed example"; exit 1; }
# Names come from pci.ids where there is one, as lspci's do.
printf '1af4  Some Vendor\n\t10ff  Some Copier\nC 00  Class\n' \
	>"$root/pci.ids"
UVFIO_PCI_IDS="$root/pci.ids" LD_LIBRARY_PATH="$libdir" \
	"$root$prefix/bin/uvfio-lspci" "$root/s" |
	grep -q "ff00\]: Some Vendor Some Copier" ||
	{ kill $pid; echo "lspci did not name the device from pci.ids"; exit 1; }
kill $pid
wait $pid || true
echo "install: headers, uvfio.pc, library and programs; example built with pkg-config and run"
