// SPDX-License-Identifier: MIT
/* The radix table over IOVA pages of dma_radix.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dma_radix.h"
#include "proto/hot.h"

#define ROOT_SHIFT 39
#define PAGE ((uint64_t)1 << DMA_RADIX_PAGE_SHIFT)
/*
 * Spare nodes kept: a vIOMMU guest maps and unmaps a window per I/O, and
 * one landing in an empty 2 MiB or 1 GiB takes nodes its unmap retires.
 */
#define SPARE_MAX 16

/* The window being entered. */
struct span {
	uint64_t iova;
	uint64_t end; /* exclusive */
	uint64_t addr;
	uint64_t bits;
	void *win;
};

void dma_radix_init(struct dma_radix *r, size_t budget)
{
	memset(r, 0, sizeof(*r));
	r->budget = budget;
}

HOT static void retire(struct dma_radix *r, struct dma_radix_node *n)
{
	n->retired = r->retired;
	r->retired = n;
	r->nretired++;
}

HOT void dma_radix_reclaim(struct dma_radix *r)
{
	struct dma_radix_node *n;

	/* A node retires once empty: every entry is zero already. */
	while ((n = r->retired)) {
		r->retired = n->retired;
		if (r->nspare < SPARE_MAX) {
			n->retired = r->spare;
			r->spare = n;
			r->nspare++;
		} else {
			free(n);
			r->nodes--;
		}
	}
	r->nretired = 0;
}

static void free_tree(_Atomic uint64_t *e, unsigned int shift)
{
	for (unsigned int i = 0; i < DMA_RADIX_FAN; i++) {
		uint64_t x = atomic_load_explicit(&e[i], memory_order_relaxed);
		struct dma_radix_node *n;

		if (!x || (x & DMA_RADIX_P) || shift == DMA_RADIX_PAGE_SHIFT)
			continue;
		n = (struct dma_radix_node *)(uintptr_t)x;
		free_tree(n->e, shift - DMA_RADIX_BITS);
		free(n);
	}
}

void dma_radix_destroy(struct dma_radix *r)
{
	struct dma_radix_node *n;

	free_tree(r->root, ROOT_SHIFT);
	dma_radix_reclaim(r);
	while ((n = r->spare)) {
		r->spare = n->retired;
		free(n);
	}
	r->nspare = 0;
	memset(r->root, 0, sizeof(r->root));
	r->nodes = 0;
}

HOT static struct dma_radix_node *node_new(struct dma_radix *r)
{
	struct dma_radix_node *n = r->spare;

	if (n) {
		r->spare = n->retired;
		r->nspare--;
		n->retired = NULL;
		return n;
	}
	if (r->nodes >= r->budget)
		return NULL;
	n = aligned_alloc(64, sizeof(*n));
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	r->nodes++;
	return n;
}

HOT static uint64_t entry(const struct span *w, uint64_t at, unsigned int shift)
{
	uint64_t e = (w->addr ? w->addr + (at - w->iova) : 0) | w->bits;

	if (at + ((uint64_t)1 << shift) < w->end)
		e |= DMA_RADIX_C;
	return e;
}

/*
 * The node under slot, made (published empty, counted in *used if used)
 * when there is none; NULL with -ENOSPC or -ENOMEM in *err.
 */
HOT static struct dma_radix_node *
node_at(struct dma_radix *r, _Atomic uint64_t *slot, uint32_t *used, int *err)
{
	uint64_t x = atomic_load_explicit(slot, memory_order_relaxed);
	struct dma_radix_node *n;

	if (x)
		return (struct dma_radix_node *)(uintptr_t)x;
	n = node_new(r);
	if (!n) {
		*err = r->nodes >= r->budget ? -ENOSPC : -ENOMEM;
		return NULL;
	}
	atomic_store_explicit(slot, (uint64_t)(uintptr_t)n,
			      memory_order_release);
	if (used)
		(*used)++;
	return n;
}

/*
 * Enters [lo, hi) in the entries e of one level, each covering 1 << shift
 * bytes.  Pieces covering a whole entry of the 2 MiB or 1 GiB level
 * become blocks.  A new node is published empty before it is filled, so
 * that a failure leaves only what dma_radix_unmap() clears.
 */
HOT static int fill(struct dma_radix *r, struct dma_radix_node *nd,
		    unsigned int shift, uint64_t lo, uint64_t hi,
		    const struct span *w, uint32_t *used)
{
	_Atomic uint64_t *e = nd ? nd->e : r->root;
	uint64_t sz = (uint64_t)1 << shift;

	for (uint64_t at = lo; at < hi;) {
		uint64_t cs = at & ~(sz - 1), ce = cs + sz;
		uint64_t pe = ce < hi ? ce : hi;
		unsigned int i = (at >> shift) & (DMA_RADIX_FAN - 1);
		_Atomic uint64_t *slot = &e[i];
		struct dma_radix_node *n;
		int err;

		/* Below the root (no 512 GiB blocks): nd is a node. */
		if (shift == DMA_RADIX_PAGE_SHIFT ||
		    (shift < ROOT_SHIFT && at == cs && pe == ce)) {
			/* The window first: who sees the entry sees it. */
			atomic_store_explicit(&nd->win[i], w->win,
					      memory_order_relaxed);
			atomic_store_explicit(slot, entry(w, cs, shift),
					      memory_order_release);
			(*used)++;
			at = pe;
			continue;
		}
		n = node_at(r, slot, used, &err);
		if (!n)
			return err;
		err = fill(r, n, shift - DMA_RADIX_BITS, at, pe, w, &n->used);
		if (err)
			return err;
		at = pe;
	}
	return 0;
}

/* Clears what lies in [lo, hi) of the entries e; retires emptied nodes. */
HOT static void clear(struct dma_radix *r, struct dma_radix_node *nd,
		      unsigned int shift, uint64_t lo, uint64_t hi,
		      uint32_t *used)
{
	_Atomic uint64_t *e = nd ? nd->e : r->root;
	uint64_t sz = (uint64_t)1 << shift;

	for (uint64_t at = lo; at < hi;) {
		uint64_t ce = (at & ~(sz - 1)) + sz;
		uint64_t pe = ce < hi ? ce : hi;
		unsigned int i = (at >> shift) & (DMA_RADIX_FAN - 1);
		_Atomic uint64_t *slot = &e[i];
		uint64_t x = atomic_load_explicit(slot, memory_order_relaxed);
		uint64_t from = at;
		struct dma_radix_node *n;

		at = pe;
		if (!x)
			continue;
		if ((x & DMA_RADIX_P) || shift == DMA_RADIX_PAGE_SHIFT) {
			atomic_store_explicit(slot, 0, memory_order_release);
			atomic_store_explicit(&nd->win[i], NULL,
					      memory_order_relaxed);
			(*used)--;
			continue;
		}
		n = (struct dma_radix_node *)(uintptr_t)x;
		clear(r, n, shift - DMA_RADIX_BITS, from, pe, &n->used);
		if (!n->used) {
			atomic_store_explicit(slot, 0, memory_order_release);
			(*used)--;
			retire(r, n);
		}
	}
}

/*
 * The common case, a window of a few pages (a vIOMMU maps one per I/O),
 * without the recursion: a range inside one 2 MiB leaf has only page
 * entries, in one node, under one path.
 */
#define LEAF_SHIFT (DMA_RADIX_PAGE_SHIFT + DMA_RADIX_BITS)

HOT static bool in_one_leaf(uint64_t iova, uint64_t size)
{
	return size < ((uint64_t)1 << LEAF_SHIFT) &&
	       iova >> LEAF_SHIFT == (iova + size - 1) >> LEAF_SHIFT;
}

/* fill() for a range in_one_leaf(): the same entries, nodes and counts. */
HOT static int fill_leaf(struct dma_radix *r, const struct span *w)
{
	_Atomic uint64_t *e = r->root;
	struct dma_radix_node *n = NULL;
	uint32_t *used = NULL; /* the root's entries are not counted */
	int err;

	for (unsigned int sh = ROOT_SHIFT; sh > DMA_RADIX_PAGE_SHIFT;
	     sh -= DMA_RADIX_BITS) {
		_Atomic uint64_t *slot =
			&e[(w->iova >> sh) & (DMA_RADIX_FAN - 1)];

		n = node_at(r, slot, used, &err);
		if (!n)
			return err;
		used = &n->used;
		e = n->e;
	}
	for (uint64_t at = w->iova; at < w->end; at += PAGE) {
		unsigned int i =
			(at >> DMA_RADIX_PAGE_SHIFT) & (DMA_RADIX_FAN - 1);

		atomic_store_explicit(&n->win[i], w->win, memory_order_relaxed);
		atomic_store_explicit(&e[i], entry(w, at, DMA_RADIX_PAGE_SHIFT),
				      memory_order_release);
		(*used)++;
	}
	return 0;
}

/*
 * clear() for a range in_one_leaf() under a path of nodes: false (and
 * nothing done) when a level holds no node there, which clear() handles.
 */
HOT static bool clear_leaf(struct dma_radix *r, uint64_t iova, uint64_t size)
{
	_Atomic uint64_t *slot[DMA_RADIX_LEVELS - 1];
	struct dma_radix_node *n[DMA_RADIX_LEVELS - 1];
	_Atomic uint64_t *e = r->root;
	unsigned int sh = ROOT_SHIFT;
	int l;

	for (l = 0; l < DMA_RADIX_LEVELS - 1; l++, sh -= DMA_RADIX_BITS) {
		uint64_t x;

		slot[l] = &e[(iova >> sh) & (DMA_RADIX_FAN - 1)];
		x = atomic_load_explicit(slot[l], memory_order_relaxed);
		if (!x || (x & DMA_RADIX_P))
			return false;
		n[l] = (struct dma_radix_node *)(uintptr_t)x;
		e = n[l]->e;
	}
	for (uint64_t at = iova; at < iova + size; at += PAGE) {
		unsigned int i =
			(at >> DMA_RADIX_PAGE_SHIFT) & (DMA_RADIX_FAN - 1);

		if (atomic_load_explicit(&e[i], memory_order_relaxed)) {
			atomic_store_explicit(&e[i], 0, memory_order_release);
			atomic_store_explicit(&n[DMA_RADIX_LEVELS - 2]->win[i],
					      NULL, memory_order_relaxed);
			n[DMA_RADIX_LEVELS - 2]->used--;
		}
	}
	/* Emptied nodes go, from the leaf up. */
	for (l = DMA_RADIX_LEVELS - 2; l >= 0 && !n[l]->used; l--) {
		atomic_store_explicit(slot[l], 0, memory_order_release);
		if (l)
			n[l - 1]->used--;
		retire(r, n[l]);
	}
	return true;
}

HOT static bool fits(uint64_t iova, uint64_t size, uint64_t addr)
{
	return !((iova | size | addr) & (PAGE - 1)) && size &&
	       iova < ((uint64_t)1 << DMA_RADIX_IOVA_BITS) &&
	       size <= ((uint64_t)1 << DMA_RADIX_IOVA_BITS) - iova;
}

HOT int dma_radix_map(struct dma_radix *r, uint64_t iova, uint64_t size,
		      uint64_t addr, uint32_t rights, void *win)
{
	struct span w = { .iova = iova,
			  .end = iova + size,
			  .addr = addr,
			  .bits = (rights & DMA_RADIX_RIGHTS) | DMA_RADIX_P,
			  .win = win };
	uint32_t root_used = 0;
	int err;

	if (!fits(iova, size, addr))
		return -E2BIG;
	if (in_one_leaf(iova, size))
		err = fill_leaf(r, &w);
	else
		err = fill(r, NULL, ROOT_SHIFT, iova, iova + size, &w,
			   &root_used);
	if (err)
		dma_radix_unmap(r, iova, size);
	return err;
}

HOT void dma_radix_unmap(struct dma_radix *r, uint64_t iova, uint64_t size)
{
	uint32_t root_used = UINT32_MAX;

	if (!in_one_leaf(iova, size) || !clear_leaf(r, iova, size))
		clear(r, NULL, ROOT_SHIFT, iova, iova + size, &root_used);
}

HOT void *dma_radix_window(const struct dma_radix *r, uint64_t iova)
{
	const _Atomic uint64_t *e = r->root;
	struct dma_radix_node *n = NULL;

	if (iova >> DMA_RADIX_IOVA_BITS)
		return NULL;
	for (unsigned int sh = ROOT_SHIFT;; sh -= DMA_RADIX_BITS) {
		unsigned int i = (iova >> sh) & (DMA_RADIX_FAN - 1);
		uint64_t x = atomic_load_explicit(&e[i], memory_order_acquire);

		if (!x)
			return NULL;
		/* No 512 GiB blocks: a page or block entry is in a node. */
		if ((x & DMA_RADIX_P) || sh == DMA_RADIX_PAGE_SHIFT)
			return n ? atomic_load_explicit(&n->win[i],
							memory_order_relaxed) :
				   NULL;
		n = (struct dma_radix_node *)(uintptr_t)x;
		e = n->e;
	}
}

/* Whether [lo, hi) of the entries e (each 1 << shift bytes) is all zero. */
static bool range_free(const _Atomic uint64_t *e, unsigned int shift,
		       uint64_t lo, uint64_t hi)
{
	uint64_t sz = (uint64_t)1 << shift;

	for (uint64_t at = lo; at < hi;) {
		uint64_t ce = (at & ~(sz - 1)) + sz;
		uint64_t pe = ce < hi ? ce : hi;
		uint64_t x = atomic_load_explicit(
			&e[(at >> shift) & (DMA_RADIX_FAN - 1)],
			memory_order_relaxed);
		const struct dma_radix_node *n;

		if (x) {
			if ((x & DMA_RADIX_P) || shift == DMA_RADIX_PAGE_SHIFT)
				return false;
			n = (const struct dma_radix_node *)(uintptr_t)x;
			if (!range_free(n->e, shift - DMA_RADIX_BITS, at, pe))
				return false;
		}
		at = pe;
	}
	return true;
}

HOT bool dma_radix_range_free(const struct dma_radix *r, uint64_t iova,
			      uint64_t size)
{
	const uint64_t top = (uint64_t)1 << DMA_RADIX_IOVA_BITS;

	/* Nothing lies at or past 2^48. */
	if (!size || iova >= top)
		return true;
	if (size > top - iova)
		size = top - iova;
	return range_free(r->root, ROOT_SHIFT, iova, iova + size);
}

static void walk(struct dma_radix_node *nd, const _Atomic uint64_t *e,
		 unsigned int shift, uint64_t base,
		 void (*fn)(void *win, uint64_t iova, void *arg), void *arg)
{
	for (unsigned int i = 0; i < DMA_RADIX_FAN; i++) {
		uint64_t x = atomic_load_explicit(&e[i], memory_order_relaxed);
		uint64_t at = base + ((uint64_t)i << shift);
		struct dma_radix_node *n;

		if (!x)
			continue;
		if ((x & DMA_RADIX_P) || shift == DMA_RADIX_PAGE_SHIFT) {
			if (nd)
				fn(atomic_load_explicit(&nd->win[i],
							memory_order_relaxed),
				   at, arg);
			continue;
		}
		n = (struct dma_radix_node *)(uintptr_t)x;
		walk(n, n->e, shift - DMA_RADIX_BITS, at, fn, arg);
	}
}

void dma_radix_walk(const struct dma_radix *r,
		    void (*fn)(void *win, uint64_t iova, void *arg), void *arg)
{
	walk(NULL, r->root, ROOT_SHIFT, 0, fn, arg);
}
