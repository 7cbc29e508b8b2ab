#!/bin/sh
# Runs every benchmark; each prints its own floor and ratio last.
set -e
b=${1:-build}
"$b/bench/region_rtt" "$b/devices/testdev/uvfio-testdev"
"$b/bench/irq_user"
"$b/bench/dma_inband"
"$b/bench/dma_scale"
"$b/bench/msix_enable_2048" "$b/devices/testdev/uvfio-testdev"
"$b/bench/migration" "$b/devices/testdev/uvfio-testdev"
"$b/bench/guest_irq" "$b/guest/guest_bench_irq.elf"
"$b/bench/guest_mmio" "$b/vmm/uvfio-vmm" "$b/devices/testdev/uvfio-testdev" \
	"$b/guest/guest_bench_mmio.elf"
