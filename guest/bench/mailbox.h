/* SPDX-License-Identifier: MIT */
/*
 * Shared between the benchmark guests (guest/bench) and the host side
 * (bench/guest_irq.c, bench/doorbell.c): a mailbox at a fixed guest physical address, in
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

/*
 * The doorbell bench (guest/bench/doorbell.c): the host sets an address
 * and a value, then bumps GO; the guest writes the value there with one
 * 32-bit store and copies GO to DONE.
 */
#define BENCH_DB_GO 0x40
#define BENCH_DB_DONE 0x44
#define BENCH_DB_ADDR_LO 0x48
#define BENCH_DB_ADDR_HI 0x4c
#define BENCH_DB_VALUE 0x50

#endif
