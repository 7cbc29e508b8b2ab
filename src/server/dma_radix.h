/* SPDX-License-Identifier: MIT */
/*
 * A radix table over IOVA pages holding the DMA windows, so that a
 * translation at 65,535 windows costs what it costs at one: four levels
 * of 512 entries (9 bits each over the page number of a 48-bit IOVA, as
 * x86 page tables), nodes made as windows need them.  An entry of 8 bytes
 * holds the host address of its page with the window's rights in the low
 * bits, so a lookup reads the path's entries and nothing else: the upper
 * levels stay in cache, and the leaves of 65,535 contiguous pages are
 * 512 KiB.  A window piece that covers a whole aligned 2 MiB or 1 GiB
 * becomes one entry of an upper level (a block, as a huge page), so a
 * 64 GiB guest-RAM window costs 64 entries.
 *
 * Beside each entry a node keeps the caller's pointer to the window the
 * entry belongs to (dma_radix_window()): a map or unmap finds and checks
 * windows here alone, with no other index to change, while translation
 * reads the entries only.
 *
 * Lookups take no lock and run concurrently with one writer: entries and
 * new nodes are published with release stores; a node a removal empties
 * is unlinked and kept on a retired list until the caller knows that no
 * lookup can still be in it (dma_grace_period()) and calls
 * dma_radix_reclaim().
 *
 * Windows it cannot hold (an IOVA at or past 2^48, not 4 KiB aligned, or
 * more nodes than its budget) go in the caller's tree instead: it looks
 * there when the radix table misses.
 */
#ifndef UVFIO_SERVER_DMA_RADIX_H
#define UVFIO_SERVER_DMA_RADIX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMA_RADIX_PAGE_SHIFT 12
#define DMA_RADIX_BITS 9
#define DMA_RADIX_FAN (1u << DMA_RADIX_BITS)
#define DMA_RADIX_LEVELS 4
#define DMA_RADIX_IOVA_BITS 48
/* Default budget: 16,384 nodes of 8 KiB (128 MiB). */
#define DMA_RADIX_BUDGET ((size_t)16384)

/* Entry bits.  R and W are UVFIO_DMA_READ and UVFIO_DMA_WRITE. */
#define DMA_RADIX_R ((uint64_t)1)
#define DMA_RADIX_W ((uint64_t)2)
#define DMA_RADIX_RIGHTS (DMA_RADIX_R | DMA_RADIX_W)
/* A page or block of a window; without it, a non-zero entry is a node. */
#define DMA_RADIX_P ((uint64_t)4)
/* The window goes on past the end of this page or block. */
#define DMA_RADIX_C ((uint64_t)8)
#define DMA_RADIX_ADDR (~(uint64_t)0xfff)

struct dma_radix_node {
	_Atomic uint64_t e[DMA_RADIX_FAN];
	/* The window of each page or block entry: the caller's pointer. */
	_Atomic(void *) win[DMA_RADIX_FAN];
	uint32_t used; /* non-zero entries; writer only */
	struct dma_radix_node *retired;
} __attribute__((aligned(64))); /* a size aligned_alloc() takes */

struct dma_radix {
	_Atomic uint64_t root[DMA_RADIX_FAN];
	size_t nodes; /* live, not counting root or retired ones */
	size_t budget; /* most live nodes */
	struct dma_radix_node *retired;
	size_t nretired;
	struct dma_radix_node *spare; /* reclaimed, all zero: reused */
	size_t nspare;
};

void dma_radix_init(struct dma_radix *r, size_t budget);
/* Frees every node: no lookup may run any longer. */
void dma_radix_destroy(struct dma_radix *r);

/*
 * Enters [iova, iova + size) -> [addr, addr + size) with rights (R, W;
 * addr 0: a window without a host mapping), each entry naming win, the
 * caller's window (dma_radix_window()).  The range must be free in the
 * table (dma_radix_range_free()).  0, or -E2BIG (the table cannot hold
 * it: an IOVA past 2^48 or not 4 KiB aligned; nothing was entered),
 * -ENOSPC (past the budget) or -ENOMEM, and then nothing is left entered
 * (nodes made on the way are retired), but a lookup meanwhile may have
 * seen entries of a window over several leaves: win must stay valid for
 * it until a grace period.
 */
int dma_radix_map(struct dma_radix *r, uint64_t iova, uint64_t size,
		  uint64_t addr, uint32_t rights, void *win);

/* Clears a range entered whole by dma_radix_map(); nodes it empties retire. */
void dma_radix_unmap(struct dma_radix *r, uint64_t iova, uint64_t size);

/*
 * The window whose entry covers iova, or NULL.  Lock-free, like
 * dma_radix_find(); NULL too when an unmap is taking the entry.
 */
void *dma_radix_window(const struct dma_radix *r, uint64_t iova);

/* Whether no entry lies in [iova, iova + size).  The writer's. */
bool dma_radix_range_free(const struct dma_radix *r, uint64_t iova,
			  uint64_t size);

/*
 * fn(win, iova, arg) for every page or block entry, in IOVA order: iova
 * is where the entry starts (a window's first entry starts at its
 * IOVA).  The writer's; fn must not change the table.
 */
void dma_radix_walk(const struct dma_radix *r,
		    void (*fn)(void *win, uint64_t iova, void *arg), void *arg);

/*
 * Frees the retired nodes (keeping a few, all zero, for the next maps):
 * no lookup may be in one any longer.
 */
void dma_radix_reclaim(struct dma_radix *r);

/*
 * The entry covering iova (0: none) and the log2 of the bytes it covers
 * (12 for a page, 21 or 30 for a block).  Lock-free.
 */
static inline uint64_t dma_radix_find(const struct dma_radix *r, uint64_t iova,
				      unsigned int *shift)
{
	const struct dma_radix_node *n;
	uint64_t e;

	if (__builtin_expect(iova >> DMA_RADIX_IOVA_BITS, 0))
		return 0;
	e = atomic_load_explicit(&r->root[(iova >> 39) & 511],
				 memory_order_acquire);
	if (!e || (e & DMA_RADIX_P))
		return 0; /* no 512 GiB blocks */
	n = (const struct dma_radix_node *)(uintptr_t)e;
	e = atomic_load_explicit(&n->e[(iova >> 30) & 511],
				 memory_order_acquire);
	if (!e || (e & DMA_RADIX_P)) {
		*shift = 30;
		return e;
	}
	n = (const struct dma_radix_node *)(uintptr_t)e;
	e = atomic_load_explicit(&n->e[(iova >> 21) & 511],
				 memory_order_acquire);
	if (!e || (e & DMA_RADIX_P)) {
		*shift = 21;
		return e;
	}
	n = (const struct dma_radix_node *)(uintptr_t)e;
	*shift = 12;
	return atomic_load_explicit(&n->e[(iova >> 12) & 511],
				    memory_order_acquire);
}

#endif
