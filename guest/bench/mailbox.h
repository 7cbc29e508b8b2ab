/* SPDX-License-Identifier: MIT */
/*
 * Shared between the benchmark guests (guest/bench) and the host side
 * (bench/guest_irq.c): a mailbox at a fixed guest physical address, in
 * RAM that uvfio-vmm leaves unused (between the boot tables and the ELF
 * load address; see vmm/vmm.h), so the host reads it through its RAM
 * mapping without any exit.
 */
#ifndef GUEST_BENCH_MAILBOX_H
#define GUEST_BENCH_MAILBOX_H

#define BENCH_MAILBOX_GPA 0x10000ul
#define BENCH_READY_MAGIC 0x42454e43u /* "BENC" */

/* The irq bench's vectors, one per path, each with its own counter. */
#define BENCH_NR_PATHS 3
#define BENCH_VEC_BASE 0x40

/* Offsets in the mailbox (32-bit words). */
#define BENCH_MB_MAGIC 0x0
#define BENCH_MB_SEQ(path) (0x10 + 4 * (path))

#endif
