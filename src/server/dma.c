// SPDX-License-Identifier: MIT
/*
 * The DMA window table: an itree of windows by IOVA, the window and its
 * rights in the value, its host address in the data, so a lookup reads
 * tree nodes only.  Device threads look windows up without a lock and
 * hold them in their thread's slot (dma_ref.h); the dispatch thread
 * changes the table under its lock, and an unmap waits for every holder
 * of the window to let go before it replies.  Each thread remembers the
 * last window it found, valid until the table's next removal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dirty.h"
#include "dma_ref.h"
#include "priv.h"

/* The tree's value: the window, its UVFIO_DMA_* rights in the low bits. */
#define VAL_PROT ((uintptr_t)3)
/* Nodes a map may leave retired before a grace period frees them. */
#define RETIRED_MAX 256

static atomic_uint_fast64_t gen_source;

static uint64_t new_gen(void)
{
	return atomic_fetch_add(&gen_source, 1) + 1;
}

struct dma_hint {
	const struct dma_table *t;
	uint64_t gen;
	uint64_t start;
	uint64_t last;
	uintptr_t val;
	uint8_t *vaddr;
};

static __thread struct dma_hint hint __attribute__((tls_model("initial-exec")));

int dma_init(struct dma_table *t, uint32_t max, uint64_t limit)
{
	memset(t, 0, sizeof(*t));
	itree_init(&t->tree);
	atomic_init(&t->gen, new_gen());
	t->max = max;
	t->limit = limit;
	if (pthread_mutex_init(&t->lock, NULL))
		return -ENOMEM;
	return 0;
}

void dma_fini(struct dma_table *t)
{
	dma_unmap_all(t);
	itree_destroy(&t->tree, NULL);
	dma_files_fini(t);
	pthread_mutex_destroy(&t->lock);
}

static bool window_busy(void *arg)
{
	struct dma_window *w = arg;

	return atomic_load(&w->refs) || dma_ref_held(w, NULL);
}

/*
 * w is out of the tree (and its removal published): once every thread
 * that could have found it lets go, it and its memory go.
 */
static void window_free(struct dma_table *t, struct dma_window *w)
{
	while (window_busy(w))
		dma_ref_sleep(window_busy, w, 10);
	if (w->map)
		dma_file_unmap(t, w->map);
	free(w);
}

static void unlink_window(struct dma_table *t, struct dma_window *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		t->all = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

int handle_dma_map(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct dma_table *t = &dev->dma;
	struct vfio_user_dma_map m;
	struct dma_window *w;
	uint64_t pg = dev->caps.pgsizes & -dev->caps.pgsizes;
	int prot = 0, err, fd = msg->nfds ? msg->fds[0] : -1;
	bool took = false;

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
	pthread_mutex_lock(&t->lock);
	/* Checks come first so that a failed map changes nothing. */
	err = itree_check(&t->tree, m.addr, m.addr + m.size - 1);
	if (err)
		goto out;
	if (t->tree.n >= t->max) {
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
	err = -ENOMEM;
	w = calloc(1, sizeof(*w));
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
			free(w);
			goto out;
		}
	}
	err = itree_insert(&t->tree, m.addr, m.addr + m.size - 1,
			   (void *)((uintptr_t)w | w->prot),
			   (uintptr_t)w->vaddr);
	if (err) {
		if (w->map) {
			if (took)
				msg->fds[0] = -1; /* the table closes it */
			dma_file_unmap(t, w->map);
		}
		free(w);
		goto out;
	}
	if (took)
		msg->fds[0] = -1;
	w->next = t->all;
	if (t->all)
		t->all->prev = w;
	t->all = w;
	atomic_store(&t->n, (uint32_t)t->tree.n);
	if (w->vaddr)
		atomic_fetch_add(&t->bytes, w->size);
	if (t->tree.nretired >= RETIRED_MAX) {
		dma_grace_period();
		itree_reclaim(&t->tree);
	}
out:
	pthread_mutex_unlock(&t->lock);
	return err;
}

void dma_unmap_all(struct dma_table *t)
{
	struct dma_window *w;

	pthread_mutex_lock(&t->lock);
	itree_clear(&t->tree);
	atomic_store(&t->gen, new_gen());
	atomic_store(&t->n, 0);
	atomic_store(&t->bytes, 0);
	dma_ref_wait_begin();
	itree_reclaim(&t->tree);
	while ((w = t->all)) {
		unlink_window(t, w);
		window_free(t, w);
	}
	dma_ref_wait_end();
	pthread_mutex_unlock(&t->lock);
}

int handle_dma_unmap(struct uvfio_dev *dev, struct uvfio_msg *msg)
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
	pthread_mutex_lock(&t->lock);
	if (itree_remove(&t->tree, u.addr, u.addr + u.size - 1, &hit)) {
		pthread_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	w = (struct dma_window *)((uintptr_t)hit.val & ~VAL_PROT);
	atomic_store(&t->gen, new_gen());
	atomic_store(&t->n, (uint32_t)t->tree.n);
	if (w->vaddr)
		atomic_fetch_sub(&t->bytes, w->size);
	unlink_window(t, w);
	/* The spec: every reference is gone before the reply. */
	dma_ref_wait_begin();
	itree_reclaim(&t->tree);
	window_free(t, w);
	dma_ref_wait_end();
	pthread_mutex_unlock(&t->lock);
	return reply(dev, &msg->hdr, &u, sizeof(u), NULL, 0) ?: 1;
}

/*
 * The window holding [iova, iova + len), len > 0, allowing access, in
 * a lookup section.  Dirty logging is keyed by IOVA, not by window:
 * unmapping a window never clears the marks of what was written through
 * it, so pages written before an unmap during logging are still
 * reported.
 */
static int lookup(const struct dma_table *t, uint64_t iova, size_t len,
		  uint32_t access, struct dma_window **wp, uint8_t **ptr)
{
	struct dma_hint *h = &hint;
	uint64_t g = atomic_load_explicit(&t->gen, memory_order_acquire);
	uint64_t end = iova + len - 1;

	if (h->t != t || h->gen != g || iova < h->start || end > h->last) {
		struct itree_hit hit;

		if (!itree_find(&t->tree, iova, &hit) || end > hit.last)
			return -ENOENT;
		h->t = t;
		h->gen = g;
		h->start = hit.start;
		h->last = hit.last;
		h->val = (uintptr_t)hit.val;
		h->vaddr = (uint8_t *)hit.data;
	}
	if ((h->val & access) != access)
		return -EACCES;
	if (!h->vaddr)
		return -EFAULT;
	*wp = (struct dma_window *)(h->val & ~VAL_PROT);
	*ptr = h->vaddr + (iova - h->start);
	return 0;
}

/* ref->window: the slot entry, or the window (REF_COUNTED); tags. */
#define REF_WR ((uintptr_t)1)
#define REF_COUNTED ((uintptr_t)2)

/*
 * A reference on the window: an entry of this thread's slot, or when
 * they are all taken, the window's count.  Returns the tagged handle.
 */
static int window_get(struct uvfio_dev *dev, uint64_t iova, size_t len,
		      uint32_t access, bool gate, uintptr_t *handle,
		      uint8_t **ptr)
{
	struct dma_slot *s = dma_section_enter();
	struct dma_window *w;
	struct dma_held *held;
	int err;

	if (gate &&
	    __builtin_expect(atomic_load_explicit(&dev->dma_blocked,
						  memory_order_relaxed),
			     0) &&
	    !mig_dma_txn) {
		dma_section_exit(s);
		return -EBUSY;
	}
	err = lookup(&dev->dma, iova, len, access, &w, ptr);
	if (err) {
		dma_section_exit(s);
		return err;
	}
	held = dma_hold(s, w, &dev->dma);
	if (__builtin_expect(held != NULL, 1)) {
		*handle = (uintptr_t)held;
	} else {
		atomic_fetch_add(&w->refs, 1);
		/* Counted in the migration gate like a transfer. */
		atomic_fetch_add(&dev->dma_active, 1);
		*handle = (uintptr_t)w | REF_COUNTED;
	}
	dma_section_exit(s);
	return 0;
}

static struct dma_window *window_of(uintptr_t handle)
{
	if (handle & REF_COUNTED)
		return (struct dma_window *)(handle & ~(REF_WR | REF_COUNTED));
	return atomic_load_explicit(&((struct dma_held *)(handle & ~REF_WR))->w,
				    memory_order_relaxed);
}

static void window_put(struct uvfio_dev *dev, uintptr_t handle)
{
	struct dma_window *w;

	if (!(handle & REF_COUNTED)) {
		dma_unhold((struct dma_held *)(handle & ~REF_WR));
		return;
	}
	w = window_of(handle);
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

void uvfio_dma_put(struct uvfio_dev *dev, struct uvfio_dma_ref *ref)
{
	uintptr_t handle = (uintptr_t)ref->window;

	if (!handle)
		return;
	ref->window = NULL;
	if ((handle & REF_WR) &&
	    atomic_load_explicit(&dev->dirty_on, memory_order_relaxed)) {
		/* Before the window can go: an unmap then waits for it. */
		struct dma_window *w = window_of(handle);
		uintptr_t p = (uintptr_t)ref->ptr;
		uintptr_t base = (uintptr_t)w->vaddr;

		if (p >= base && p - base < w->size &&
		    ref->len <= w->size - (p - base))
			dirty_mark(dev, w->iova + (p - base), ref->len);
		else /* The device moved ptr: the whole window, then. */
			dirty_mark(dev, w->iova, w->size);
	}
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
