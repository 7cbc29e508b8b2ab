// SPDX-License-Identifier: MIT
/*
 * The DMA window table.  A window is in a radix table over IOVA pages
 * (dma_radix.h), whose 8-byte entries hold host address and rights, so
 * that a translation reads the radix path and nothing else, as cheap at
 * 65,535 windows as at one; each entry names its window, for the map's
 * and unmap's checks.  Windows the radix table cannot hold are in an
 * itree by IOVA instead (the window and its rights in the value, its
 * host address in the data).
 *
 * Device threads translate without a lock and hold the IOVAs they got in
 * their thread's slot (dma_ref.h), never touching the window; the
 * dispatch thread changes the table under its lock, and an unmap waits
 * for every holder of IOVAs of the window to let go before it replies.
 * Each thread remembers the last page or run it found, valid until the
 * table's next removal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dirty.h"
#include "dma_ref.h"
#include "priv.h"
#include "proto/hot.h"

/* The tree's value: the window, its UVFIO_DMA_* rights in the low bits. */
#define VAL_PROT ((uintptr_t)3)
/* Nodes a map may leave retired before a grace period frees them. */
#define RETIRED_MAX 256
/* Freed windows kept for the next maps. */
#define WINDOW_SPARE_MAX 64
#define RADIX_RIGHTS_OK \
	(UVFIO_DMA_READ == DMA_RADIX_R && UVFIO_DMA_WRITE == DMA_RADIX_W)
_Static_assert(RADIX_RIGHTS_OK, "radix entries hold the rights as they are");

static atomic_uint_fast64_t gen_source;

HOT static uint64_t new_gen(void)
{
	return atomic_fetch_add(&gen_source, 1) + 1;
}

/*
 * The counts only the writer (under the table's lock) changes: plain
 * stores, no locked instruction; uvfio_dma_stats() reads them as they
 * are at some moment.
 */
HOT static void counts_set(struct dma_table *t, uint64_t bytes)
{
	atomic_store_explicit(&t->n, t->nwin, memory_order_relaxed);
	atomic_store_explicit(&t->bytes, bytes, memory_order_relaxed);
}

/* What a thread found last: [start, last] at vaddr with rights. */
struct dma_hint {
	const struct dma_table *t;
	uint64_t gen;
	uint64_t start;
	uint64_t last;
	uint64_t rights;
	uint8_t *vaddr; /* NULL: no host mapping */
};

static __thread struct dma_hint hint __attribute__((tls_model("initial-exec")));

int dma_init(struct dma_table *t, uint32_t max, uint64_t limit)
{
	memset(t, 0, sizeof(*t));
	itree_init(&t->tree);
	dma_radix_init(&t->radix, DMA_RADIX_BUDGET);
	atomic_init(&t->gen, new_gen());
	t->max = max;
	t->limit = limit;
	uvfio_lock_init(&t->lock);
	return 0;
}

void dma_fini(struct dma_table *t)
{
	dma_unmap_all(t);
	itree_destroy(&t->tree, NULL);
	dma_radix_destroy(&t->radix);
	dma_files_fini(t);
	while (t->spare) {
		struct dma_window *w = t->spare;

		t->spare = w->next;
		free(w);
	}
	t->nspare = 0;
}

struct busy_arg {
	const struct dma_table *t;
	struct dma_window *w;
};

HOT static bool window_busy(void *arg)
{
	const struct busy_arg *b = arg;
	uint64_t range[2] = { b->w->iova, b->w->iova + b->w->size - 1 };

	return atomic_load(&b->w->refs) || dma_ref_held(range, b->t);
}

/* A window no one uses any more: kept spare, or freed past the spares. */
HOT static void window_drop(struct dma_table *t, struct dma_window *w)
{
	if (t->nspare < WINDOW_SPARE_MAX) {
		w->next = t->spare;
		t->spare = w;
		t->nspare++;
	} else {
		free(w);
	}
}

/*
 * w is out of the tables (and its removal published): once every thread
 * that could have found it lets go, it and its memory go.
 */
HOT static void window_free(struct dma_table *t, struct dma_window *w)
{
	struct busy_arg b = { t, w };

	while (window_busy(&b))
		dma_ref_sleep(window_busy, &b, 10);
	if (w->map)
		dma_file_unmap(t, w->map);
	window_drop(t, w);
}

/* A zeroed window: a spare one (a vIOMMU maps one per I/O), or new. */
HOT static struct dma_window *window_new(struct dma_table *t)
{
	struct dma_window *w = t->spare;

	if (!w)
		return calloc(1, sizeof(*w));
	t->spare = w->next;
	t->nspare--;
	memset(w, 0, sizeof(*w));
	return w;
}

/* Enters w in the radix table: 0, or an error (the tree takes it). */
HOT static int window_to_radix(struct uvfio_dev *dev, struct dma_table *t,
			       const struct dma_window *w)
{
	int err = dma_radix_map(&t->radix, w->iova, w->size,
				(uint64_t)(uintptr_t)w->vaddr, w->prot,
				(void *)w);

	if (err == -ENOSPC && !t->radix_full_logged) {
		t->radix_full_logged = true;
		dev_log(dev, ENOSPC,
			"DMA radix table at its budget (%zu nodes of 8 KiB): "
			"windows past it are looked up in the tree, slower",
			t->radix.budget);
	}
	return err;
}

HOT int handle_dma_map(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct dma_table *t = &dev->dma;
	struct vfio_user_dma_map m;
	struct dma_window *w;
	struct itree_path at;
	uint64_t pg = dev->caps.pgsizes & -dev->caps.pgsizes;
	int prot = 0, err, fd = msg->nfds ? msg->fds[0] : -1;
	bool took = false, flush = false;

	if (msg->size != sizeof(m))
		return -EINVAL;
	memcpy(&m, msg->payload, sizeof(m));
	if (m.argsz != sizeof(m) ||
	    m.flags & ~(VFIO_USER_F_DMA_REGION_READ |
			VFIO_USER_F_DMA_REGION_WRITE) ||
	    !m.size || m.addr + m.size < m.addr || (m.addr | m.size) % pg ||
	    (fd >= 0 && m.offset % pg) || (fd < 0 && m.offset))
		return -EINVAL;
	if (m.flags & VFIO_USER_F_DMA_REGION_READ)
		prot |= PROT_READ;
	if (m.flags & VFIO_USER_F_DMA_REGION_WRITE)
		prot |= PROT_WRITE;
	uvfio_lock(&t->lock);
	/*
	 * Checks come first so that a failed map changes nothing.  A window
	 * is in one of the two: the radix table, or (where it cannot hold
	 * it) the tree.
	 */
	err = itree_check(&t->tree, m.addr, m.addr + m.size - 1, &at);
	if (!err && !dma_radix_range_free(&t->radix, m.addr, m.size))
		err = -EEXIST;
	if (err)
		goto out;
	if (t->nwin >= t->max) {
		dev_log(dev, ENOSPC,
			"DMA_MAP refused: %u windows are mapped, the most this "
			"device announced (max_dma_maps)",
			t->max);
		err = -ENOSPC;
		goto out;
	}
	if (fd >= 0 && t->limit &&
	    (m.size > t->limit || atomic_load(&t->bytes) > t->limit - m.size)) {
		dev_log(dev, ENOMEM,
			"DMA_MAP refused: %llu bytes more would pass the "
			"device's cap on mapped DMA memory (dma_limit %llu)",
			(unsigned long long)m.size,
			(unsigned long long)t->limit);
		err = -ENOMEM;
		goto out;
	}
	/*
	 * The tree's nodes for the window first: once the radix table has
	 * tried it, lookups may have seen some of its entries (a map over
	 * several leaves that ran out of nodes part way), so from there on
	 * the map must not fail.
	 */
	err = itree_reserve(&t->tree, &at);
	if (err)
		goto out;
	err = -ENOMEM;
	w = window_new(t);
	if (!w)
		goto out;
	w->iova = m.addr;
	w->size = m.size;
	w->prot =
		(m.flags & VFIO_USER_F_DMA_REGION_READ ? UVFIO_DMA_READ : 0) |
		(m.flags & VFIO_USER_F_DMA_REGION_WRITE ? UVFIO_DMA_WRITE : 0);
	/* A window without rights still maps, but is never touched. */
	if (fd >= 0) {
		err = dma_file_map(dev, t, fd, m.offset, m.size,
				   prot ? prot : PROT_NONE, &w->map, &w->vaddr,
				   &took);
		if (err) {
			window_drop(t, w);
			goto out;
		}
	}
	if (window_to_radix(dev, t, w)) {
		/*
		 * Reserved above, so it cannot fail; at still holds: the
		 * tree has not changed since the check.
		 */
		(void)itree_insert_at(
			&t->tree, &at, m.addr, m.addr + m.size - 1,
			(void *)((uintptr_t)w | w->prot), (uintptr_t)w->vaddr);
	}
	t->nwin++;
	counts_set(t, atomic_load_explicit(&t->bytes, memory_order_relaxed) +
			      (w->vaddr ? w->size : 0));
	if (t->tree.nretired >= RETIRED_MAX ||
	    t->radix.nretired >= RETIRED_MAX) {
		dma_grace_period();
		itree_reclaim(&t->tree);
		dma_radix_reclaim(&t->radix);
	}
	/* A later fd of a file the table keeps: closed with a batch. */
	if (fd >= 0 && !took) {
		msg->fds[0] = -1;
		flush = dma_file_defer_close(t, fd);
	} else if (took) {
		msg->fds[0] = -1;
	}
	uvfio_unlock(&t->lock);
	if (!flush)
		return 0;
	err = reply(dev, &msg->hdr, NULL, 0, NULL, 0);
	uvfio_lock(&t->lock);
	dma_file_close_deferred(t);
	uvfio_unlock(&t->lock);
	return err ?: 1;
out:
	uvfio_unlock(&t->lock);
	return err;
}

struct take_arg {
	struct dma_window *list;
};

/* A window of the tree, onto the list to free. */
static int take_tree(const struct itree_hit *hit, void *arg)
{
	struct take_arg *a = arg;
	struct dma_window *w =
		(struct dma_window *)((uintptr_t)hit->val & ~VAL_PROT);

	w->next = a->list;
	a->list = w;
	return 0;
}

/* A window of the radix table, at its first entry, onto the list. */
static void take_radix(void *win, uint64_t iova, void *arg)
{
	struct take_arg *a = arg;
	struct dma_window *w = win;

	if (w->iova != iova)
		return;
	w->next = a->list;
	a->list = w;
}

void dma_unmap_all(struct dma_table *t)
{
	struct take_arg a = { NULL };
	struct dma_window *w;

	uvfio_lock(&t->lock);
	dma_radix_walk(&t->radix, take_radix, &a);
	for (w = a.list; w; w = w->next)
		dma_radix_unmap(&t->radix, w->iova, w->size);
	itree_walk(&t->tree, take_tree, &a);
	itree_clear(&t->tree);
	t->nwin = 0;
	atomic_store(&t->gen, new_gen());
	counts_set(t, 0);
	dma_ref_wait_begin();
	itree_reclaim(&t->tree);
	dma_radix_reclaim(&t->radix);
	while ((w = a.list)) {
		a.list = w->next;
		window_free(t, w);
	}
	dma_ref_wait_end();
	dma_file_close_deferred(t);
	uvfio_unlock(&t->lock);
}

HOT int handle_dma_unmap(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct dma_table *t = &dev->dma;
	struct vfio_user_dma_unmap u;
	struct itree_hit hit;
	struct dma_window *w;

	if (msg->size != sizeof(u))
		return -EINVAL;
	memcpy(&u, msg->payload, sizeof(u));
	if (u.argsz < sizeof(u))
		return -EINVAL;
	if (u.flags == VFIO_DMA_UNMAP_FLAG_ALL) {
		if (u.addr || u.size)
			return -EINVAL;
		dma_unmap_all(t);
		return reply(dev, &msg->hdr, &u, sizeof(u), NULL, 0) ?: 1;
	}
	if (u.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)
		return -ENOTSUP;
	if (u.flags)
		return -EINVAL;
	if (!u.size || u.addr + u.size - 1 < u.addr)
		return -ENOENT;
	uvfio_lock(&t->lock);
	w = dma_radix_window(&t->radix, u.addr);
	if (w && w->iova == u.addr && w->size == u.size) {
		dma_radix_unmap(&t->radix, w->iova, w->size);
	} else if (!itree_remove(&t->tree, u.addr, u.addr + u.size - 1, &hit)) {
		w = (struct dma_window *)((uintptr_t)hit.val & ~VAL_PROT);
	} else {
		uvfio_unlock(&t->lock);
		return -ENOENT;
	}
	t->nwin--;
	/* Hints taken before go; the grace period below orders it. */
	atomic_store_explicit(&t->gen, new_gen(), memory_order_release);
	counts_set(t, atomic_load_explicit(&t->bytes, memory_order_relaxed) -
			      (w->vaddr ? w->size : 0));
	/* The spec: every reference is gone before the reply. */
	dma_ref_wait_begin();
	itree_reclaim(&t->tree);
	dma_radix_reclaim(&t->radix);
	window_free(t, w);
	dma_ref_wait_end();
	uvfio_unlock(&t->lock);
	return reply(dev, &msg->hdr, &u, sizeof(u), NULL, 0) ?: 1;
}

/*
 * Translation, from here on, is not HOT: it runs in the device's loops,
 * whose code pages stay in the TLB, while DMA_MAP and DMA_UNMAP run
 * between system calls, each of which empties it where page-table
 * isolation has no PCID.  Kept apart, the map and unmap path spans fewer
 * code pages.
 */

/*
 * The radix path for an access [iova, end] reaching past the entry e of
 * iova (covering 1 << sh bytes): the entries after it while the window
 * goes on (DMA_RADIX_C) — one window is contiguous in host memory.
 * The last IOVA of the run, or 0 when the access leaves the window.
 */
static uint64_t radix_run(const struct dma_table *t, uint64_t iova,
			  uint64_t end, uint64_t e, unsigned int sh)
{
	uint64_t last = iova | (((uint64_t)1 << sh) - 1);

	while (end > last) {
		if (!(e & DMA_RADIX_C))
			return 0;
		e = dma_radix_find(&t->radix, last + 1, &sh);
		if (!e) /* an unmap under way */
			return 0;
		/* last + 1 starts the entry: windows lie whole in entries. */
		last += (uint64_t)1 << sh;
	}
	return last;
}

/*
 * Where the radix table has no single entry for the access: a run of its
 * entries, or a window only the tree holds, remembered in the thread's
 * hint (the tree is slow).
 */
static int rights_ptr(uint64_t rights, uint64_t a, uint32_t access,
		      uint8_t **ptr)
{
	if ((rights & access) != access)
		return -EACCES;
	if (!a)
		return -EFAULT;
	*ptr = (uint8_t *)(uintptr_t)a;
	return 0;
}

static __attribute__((noinline)) int lookup_slow(const struct dma_table *t,
						 uint64_t iova, uint64_t end,
						 uint32_t access, uint8_t **ptr)
{
	struct dma_hint *h = &hint;
	uint64_t g = atomic_load_explicit(&t->gen, memory_order_acquire);
	struct itree_hit hit;
	unsigned int sh;
	uint64_t e = dma_radix_find(&t->radix, iova, &sh), a;

	if (e) {
		if (!radix_run(t, iova, end, e, sh))
			return -ENOENT;
		a = e & DMA_RADIX_ADDR;
		if (a)
			a += iova & (((uint64_t)1 << sh) - 1);
		return rights_ptr(e, a, access, ptr);
	}
	if (h->t != t || h->gen != g || iova < h->start || end > h->last) {
		if (!itree_find(&t->tree, iova, &hit) || end > hit.last)
			return -ENOENT;
		h->t = t;
		h->gen = g;
		h->start = hit.start;
		h->last = hit.last;
		h->rights = (uintptr_t)hit.val & VAL_PROT;
		h->vaddr = (uint8_t *)hit.data;
	}
	a = h->vaddr ? (uintptr_t)h->vaddr + (iova - h->start) : 0;
	return rights_ptr(h->rights, a, access, ptr);
}

/*
 * The host address of [iova, iova + len), len > 0, in one window allowing
 * access, in a lookup section: one radix entry, mostly.  Dirty logging is
 * keyed by IOVA, not by window: unmapping a window never clears the marks
 * of what was written through it, so pages written before an unmap
 * during logging are still reported.
 */
static inline int lookup(const struct dma_table *t, uint64_t iova, size_t len,
			 uint32_t access, uint8_t **ptr)
{
	uint64_t end = iova + len - 1, e, a;
	unsigned int sh;

	e = dma_radix_find(&t->radix, iova, &sh);
	if (__builtin_expect(!e || ((iova ^ end) >> sh) ||
				     (e & access) != access ||
				     !(e & DMA_RADIX_ADDR),
			     0))
		return lookup_slow(t, iova, end, access, ptr);
	a = (e & DMA_RADIX_ADDR) + (iova & (((uint64_t)1 << sh) - 1));
	*ptr = (uint8_t *)(uintptr_t)a;
	return 0;
}

/*
 * The window holding iova, in a lookup section; NULL: an unmap took it.
 * A window the radix table holds is read there, whole: its fields do not
 * change while it is in a table, and it is not reused before a grace
 * period after its removal.
 */
static struct dma_window *window_at(const struct dma_table *t, uint64_t iova,
				    struct itree_hit *hit)
{
	struct dma_window *w = dma_radix_window(&t->radix, iova);

	if (w) {
		hit->start = w->iova;
		hit->last = w->iova + w->size - 1;
		hit->val = (void *)((uintptr_t)w | w->prot);
		hit->data = (uintptr_t)w->vaddr;
		return w;
	}
	if (!itree_find(&t->tree, iova, hit))
		return NULL;
	return (struct dma_window *)((uintptr_t)hit->val & ~VAL_PROT);
}

/* A handle: the slot entry, or the window (REF_COUNTED); tags. */
#define REF_WR ((uintptr_t)1)
#define REF_COUNTED ((uintptr_t)2)

/*
 * A reference on [iova, iova + len): an entry of this thread's slot
 * naming the IOVAs, or when they are all taken, the window's count.
 * Returns the tagged handle.
 */
static inline __attribute__((always_inline)) int
window_get(struct uvfio_dev *dev, uint64_t iova, size_t len, uint32_t access,
	   bool gate, uintptr_t *handle, uint8_t **ptr)
{
	uint64_t v;
	struct dma_slot *s = dma_section_enter(&v);
	struct dma_held *held;
	int err;

	if (gate &&
	    __builtin_expect(atomic_load_explicit(&dev->dma_blocked,
						  memory_order_relaxed),
			     0) &&
	    !mig_dma_txn) {
		dma_section_exit(s, v);
		return -EBUSY;
	}
	err = lookup(&dev->dma, iova, len, access, ptr);
	if (err) {
		dma_section_exit(s, v);
		return err;
	}
	held = dma_hold(s, &dev->dma, iova, iova + len - 1);
	if (__builtin_expect(held != NULL, 1)) {
		*handle = (uintptr_t)held;
	} else {
		struct itree_hit hit;
		struct dma_window *w = window_at(&dev->dma, iova, &hit);

		if (!w) {
			dma_section_exit(s, v);
			return -ENOENT;
		}
		atomic_fetch_add(&w->refs, 1);
		/* Counted in the migration gate like a transfer. */
		atomic_fetch_add(&dev->dma_active, 1);
		*handle = (uintptr_t)w | REF_COUNTED;
	}
	dma_section_exit(s, v);
	return 0;
}

static void window_put(struct uvfio_dev *dev, uintptr_t handle)
{
	struct dma_window *w;

	if (!(handle & REF_COUNTED)) {
		dma_unhold((struct dma_held *)(handle & ~REF_WR));
		return;
	}
	w = (struct dma_window *)(handle & ~(REF_WR | REF_COUNTED));
	/* w may go the moment refs reaches 0: not looked at after. */
	if (atomic_fetch_sub(&w->refs, 1) == 1 && atomic_load(&dma_ref_waiters))
		dma_ref_wake();
	mig_dma_exit(dev);
}

/*
 * Every reference counts in the migration DMA gate until its put.  A
 * write reference marks its range dirty at get and again at put, so a
 * write made between the two survives a REPORT made between them.
 */
int uvfio_dma_get(struct uvfio_dev *dev, uint64_t iova, size_t len,
		  uint32_t access, struct uvfio_dma_ref *ref)
{
	uintptr_t handle;
	uint8_t *ptr;
	int err;

	if (!len || iova + len < iova || !access ||
	    access & ~(UVFIO_DMA_READ | UVFIO_DMA_WRITE))
		return -EINVAL;
	err = window_get(dev, iova, len, access, true, &handle, &ptr);
	if (err)
		return err;
	if (access & UVFIO_DMA_WRITE) {
		dirty_mark(dev, iova, len);
		handle |= REF_WR;
	}
	ref->ptr = ptr;
	ref->len = len;
	ref->window = (void *)handle;
	return 0;
}

/*
 * The put of a write reference while dirty logging is on marks what the
 * device wrote: the window is found again (the reference keeps it).
 */
static void put_dirty(struct uvfio_dev *dev, uintptr_t handle,
		      const struct uvfio_dma_ref *ref)
{
	uint64_t v;
	struct dma_slot *s = dma_section_enter(&v);
	struct itree_hit hit;
	uint64_t iova, size;
	uintptr_t p = (uintptr_t)ref->ptr, base;

	if (handle & REF_COUNTED) {
		struct dma_window *w =
			(struct dma_window *)(handle & ~(REF_WR | REF_COUNTED));

		iova = w->iova;
		size = w->size;
		base = (uintptr_t)w->vaddr;
	} else {
		struct dma_held *h = (struct dma_held *)(handle & ~REF_WR);

		if (!window_at(&dev->dma,
			       atomic_load_explicit(&h->first,
						    memory_order_relaxed),
			       &hit)) {
			dma_section_exit(s, v);
			return; /* cannot be: the entry holds it */
		}
		iova = hit.start;
		size = hit.last - hit.start + 1;
		base = hit.data;
	}
	dma_section_exit(s, v);
	if (p >= base && p - base < size && ref->len <= size - (p - base))
		dirty_mark(dev, iova + (p - base), ref->len);
	else /* The device moved ptr: the whole window, then. */
		dirty_mark(dev, iova, size);
}

void uvfio_dma_put(struct uvfio_dev *dev, struct uvfio_dma_ref *ref)
{
	uintptr_t handle = (uintptr_t)ref->window;

	if (!handle)
		return;
	ref->window = NULL;
	/* Before the window can go: an unmap then waits for it. */
	if ((handle & REF_WR) &&
	    atomic_load_explicit(&dev->dirty_on, memory_order_relaxed))
		put_dirty(dev, handle, ref);
	window_put(dev, handle);
}

int dma_copy(struct uvfio_dev *dev, uint64_t iova, void *buf, size_t len,
	     bool wr)
{
	uintptr_t handle;
	uint8_t *p;
	int err;

	if (!len || iova + len < iova)
		return -EINVAL;
	/* The caller has passed the gate. */
	err = window_get(dev, iova, len, wr ? UVFIO_DMA_WRITE : UVFIO_DMA_READ,
			 false, &handle, &p);
	if (err)
		return err;
	if (wr) {
		memcpy(p, buf, len);
		/* After the data: whoever takes the bit sees it. */
		dirty_mark(dev, iova, len);
	} else {
		memcpy(buf, p, len);
	}
	window_put(dev, handle);
	return 0;
}

int uvfio_dma_stats(struct uvfio_dev *dev, uint32_t *windows, uint64_t *bytes)
{
	if (windows)
		*windows = atomic_load(&dev->dma.n);
	if (bytes)
		*bytes = atomic_load(&dev->dma.bytes);
	return 0;
}
