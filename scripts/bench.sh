#!/bin/sh
# Runs every benchmark (each finds testdev, the VMM and the guests in the
# build tree itself), shows their full output, then one table: the
# summary lines, "name: figure, floor ..., ratio r" (or skipped).
set -e
b=${1:-build}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
for n in region_rtt irq_user doorbell dma_inband dma_scale \
	msix_enable_2048 migration guest_irq guest_mmio vm_migrate; do
	out=$(mktemp)
	echo "== $n"
	rc=0
	"$b/bench/$n" >"$out" 2>&1 || rc=$?
	cat "$out"
	if [ "$rc" -ne 0 ]; then
		echo "$n: FAILED (exit $rc)" >>"$table"
	else
		grep -E '^[a-z0-9_]+: .*(ratio [0-9.]+$|skipped)' "$out" \
			>>"$table" || echo "$n: no summary line" >>"$table"
	fi
	rm -f "$out"
done
echo
echo "== uvfio benchmarks: figure, floor from the same run, ratio"
cat "$table"
! grep -q ': FAILED' "$table"
