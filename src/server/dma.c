// SPDX-License-Identifier: MIT
/*
 * The DMA window table: windows sorted by IOVA in an array, found by
 * binary search.  Device threads look windows up under a read lock and
 * hold a reference while they use the memory; the dispatch thread takes
 * the write lock to change the table, and an unmap waits for the last
 * reference to go before the memory is unmapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirty.h"
#include "priv.h"

int dma_init(struct dma_table *t, uint32_t max, uint64_t limit)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	t->limit = limit;
	if (pthread_rwlock_init(&t->lock, NULL))
		return -ENOMEM;
	pthread_mutex_init(&t->wait_lock, NULL);
	pthread_cond_init(&t->released, NULL);
	return 0;
}

void dma_fini(struct dma_table *t)
{
	dma_unmap_all(t);
	free(t->w);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->wait_lock);
	pthread_cond_destroy(&t->released);
}

/* Index of the first window whose end is above iova. */
static uint32_t lower_bound(const struct dma_table *t, uint64_t iova)
{
	uint32_t lo = 0, hi = t->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct dma_window *w = t->w[mid];

		if (w->iova + w->size <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct dma_window *find(const struct dma_table *t, uint64_t iova,
			       uint64_t len)
{
	uint32_t i = lower_bound(t, iova);
	struct dma_window *w;

	if (i == t->n)
		return NULL;
	w = t->w[i];
	if (iova < w->iova || len > w->size - (iova - w->iova))
		return NULL;
	return w;
}

static void window_free(struct dma_table *t, struct dma_window *w)
{
	pthread_mutex_lock(&t->wait_lock);
	atomic_fetch_add(&t->waiters, 1);
	while (atomic_load(&w->refs))
		pthread_cond_wait(&t->released, &t->wait_lock);
	atomic_fetch_sub(&t->waiters, 1);
	pthread_mutex_unlock(&t->wait_lock);
	if (w->map)
		munmap(w->map, w->map_len);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

/*
 * What a mapping of fd must be aligned to: the huge page size on
 * hugetlbfs (QEMU maps guest RAM windows such as [0xc0000, 512 MiB) of a
 * file there), the page size elsewhere.
 */
static uint64_t file_align(int fd)
{
	struct statfs sf;
	long pg = sysconf(_SC_PAGESIZE);

	if (!fstatfs(fd, &sf) && sf.f_type == HUGETLBFS_MAGIC &&
	    sf.f_bsize > pg && !(sf.f_bsize & (sf.f_bsize - 1)))
		return (uint64_t)sf.f_bsize;
	return (uint64_t)pg;
}

/* Maps [offset, offset + size) of fd into w, aligned as the file needs. */
static int map_window(struct dma_window *w, int fd, uint64_t offset,
		      int prot)
{
	uint64_t align = file_align(fd);
	uint64_t start = offset & ~(align - 1);
	uint64_t len = (offset - start + w->size + align - 1) & ~(align - 1);

	if (len < w->size || len > SIZE_MAX)
		return -EINVAL;
	w->map = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, (off_t)start);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		return -errno;
	}
	w->map_len = (size_t)len;
	w->vaddr = (uint8_t *)w->map + (offset - start);
	return 0;
}

/* The window must lie inside a regular file. */
static int check_fd(int fd, uint64_t offset, uint64_t size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (offset > (uint64_t)st.st_size ||
	    size > (uint64_t)st.st_size - offset)
		return -EINVAL;
	return 0;
}

/*
 * Touching a page past the end of a file raises SIGBUS, so a window's
 * file must not be able to shrink under the device: it must be sealed
 * against shrinking (the server adds the seal itself where the client
 * left sealing open) unless the device was told to trust its client.
 */
static int seal_fd(struct uvfio_dev *dev, int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return 0;
	if (seals >= 0 && !(seals & F_SEAL_SEAL) &&
	    !fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
		return 0;
	if (dev->opts.allow_unsealed_dma)
		return 0;
	dev_log(dev, EPERM,
		"DMA_MAP refused: the client's file cannot be sealed against "
		"shrinking (%s); a device accepts such files (hugetlbfs or "
		"disk-backed guest RAM) only with allow_unsealed_dma, for a "
		"client it trusts",
		seals < 0 ? "its file system has no seals" :
			    "its seals are closed: a file opened by path, or a "
			    "memfd sealed without F_SEAL_SHRINK");
	return -EPERM;
}

int handle_dma_map(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct dma_table *t = &dev->dma;
	struct vfio_user_dma_map m;
	struct dma_window *w;
	uint64_t pg = dev->caps.pgsizes & -dev->caps.pgsizes;
	int prot = 0, err, fd = msg->nfds ? msg->fds[0] : -1;
	uint32_t i;

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
	if (fd >= 0) {
		err = check_fd(fd, m.offset, m.size);
		if (err)
			return err;
	}
	/* Checks come first so that a failed map changes nothing. */
	i = lower_bound(t, m.addr);
	if (i < t->n && t->w[i]->iova < m.addr + m.size)
		return -EEXIST;
	if (t->n >= t->max)
		return -ENOSPC;
	if (fd >= 0 && t->limit &&
	    (m.size > t->limit || t->bytes > t->limit - m.size))
		return -ENOMEM;
	if (t->n == t->cap) {
		/* Device threads read the array: it moves under the lock. */
		uint32_t cap = t->cap ? t->cap * 2 : 16;
		struct dma_window **nw;

		pthread_rwlock_wrlock(&t->lock);
		nw = realloc(t->w, cap * sizeof(*nw));
		if (nw) {
			t->w = nw;
			t->cap = cap;
		}
		pthread_rwlock_unlock(&t->lock);
		if (!nw)
			return -ENOMEM;
	}
	if (fd >= 0) {
		/* The one change to the client's file, once all else passed. */
		err = seal_fd(dev, fd);
		if (err)
			return err;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->iova = m.addr;
	w->size = m.size;
	w->fd = -1;
	w->prot = (m.flags & VFIO_USER_F_DMA_REGION_READ ? UVFIO_DMA_READ : 0) |
		  (m.flags & VFIO_USER_F_DMA_REGION_WRITE ? UVFIO_DMA_WRITE : 0);
	if (fd >= 0) {
		/* A window without rights still maps, but is never touched. */
		err = map_window(w, fd, m.offset, prot ? prot : PROT_NONE);
		if (err) {
			free(w);
			return err;
		}
		w->fd = fd;
		msg->fds[0] = -1;
	}
	pthread_rwlock_wrlock(&t->lock);
	memmove(&t->w[i + 1], &t->w[i], (t->n - i) * sizeof(*t->w));
	t->w[i] = w;
	t->n++;
	if (w->vaddr)
		t->bytes += w->size;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

static void remove_at(struct dma_table *t, uint32_t i)
{
	if (t->w[i]->vaddr)
		t->bytes -= t->w[i]->size;
	memmove(&t->w[i], &t->w[i + 1], (t->n - i - 1) * sizeof(*t->w));
	t->n--;
}

void dma_unmap_all(struct dma_table *t)
{
	struct dma_window **old;
	uint32_t n;

	pthread_rwlock_wrlock(&t->lock);
	old = t->w;
	n = t->n;
	t->w = NULL;
	t->n = t->cap = 0;
	t->bytes = 0;
	pthread_rwlock_unlock(&t->lock);
	for (uint32_t i = 0; i < n; i++)
		window_free(t, old[i]);
	free(old);
}

int handle_dma_unmap(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct dma_table *t = &dev->dma;
	struct vfio_user_dma_unmap u;
	struct dma_window *w;
	uint32_t i;

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
	pthread_rwlock_wrlock(&t->lock);
	i = lower_bound(t, u.addr);
	if (i == t->n || t->w[i]->iova != u.addr || t->w[i]->size != u.size) {
		pthread_rwlock_unlock(&t->lock);
		return -ENOENT;
	}
	w = t->w[i];
	remove_at(t, i);
	pthread_rwlock_unlock(&t->lock);
	/* The spec: every reference is gone before the reply. */
	window_free(t, w);
	return reply(dev, &msg->hdr, &u, sizeof(u), NULL, 0) ?: 1;
}

/*
 * A reference on the window holding [iova, iova + len), allowing access.
 * Dirty logging is keyed by IOVA, not by window: unmapping a window
 * never clears the marks of what was written through it, so pages
 * written before an unmap during logging are still reported.
 */
static int window_get(struct dma_table *t, uint64_t iova, size_t len,
		      uint32_t access, struct dma_window **wp)
{
	struct dma_window *w;
	int err = 0;

	pthread_rwlock_rdlock(&t->lock);
	w = find(t, iova, len);
	if (!w)
		err = -ENOENT;
	else if ((w->prot & access) != access)
		err = -EACCES;
	else if (!w->vaddr)
		err = -EFAULT;
	else
		atomic_fetch_add(&w->refs, 1);
	pthread_rwlock_unlock(&t->lock);
	*wp = w;
	return err;
}

static void window_put(struct dma_table *t, struct dma_window *w)
{
	/*
	 * The window may be freed the moment refs reaches 0, so only the
	 * table is looked at after that.  An unmap counts itself in waiters
	 * before it reads refs: one of the two sees the other.
	 */
	if (atomic_fetch_sub(&w->refs, 1) == 1 && atomic_load(&t->waiters)) {
		pthread_mutex_lock(&t->wait_lock);
		pthread_cond_broadcast(&t->released);
		pthread_mutex_unlock(&t->wait_lock);
	}
}

/* ref->window, tagged in bit 0 when the reference allows writes. */
#define REF_WR ((uintptr_t)1)

/*
 * Every reference counts in the migration DMA gate until its put.  A
 * write reference marks its range dirty at get and again at put, so a
 * write made between the two survives a REPORT made between them.
 */
int uvfio_dma_get(struct uvfio_dev *dev, uint64_t iova, size_t len,
		  uint32_t access, struct uvfio_dma_ref *ref)
{
	struct dma_window *w;
	int err;

	if (!len || iova + len < iova || !access ||
	    access & ~(UVFIO_DMA_READ | UVFIO_DMA_WRITE))
		return -EINVAL;
	if (mig_dma_enter(dev))
		return -EBUSY;
	err = window_get(&dev->dma, iova, len, access, &w);
	if (err) {
		mig_dma_exit(dev);
		return err;
	}
	if (access & UVFIO_DMA_WRITE)
		dirty_mark(dev, iova, len);
	ref->ptr = (uint8_t *)w->vaddr + (iova - w->iova);
	ref->len = len;
	ref->window = (void *)((uintptr_t)w |
			       (access & UVFIO_DMA_WRITE ? REF_WR : 0));
	return 0;
}

void uvfio_dma_put(struct uvfio_dev *dev, struct uvfio_dma_ref *ref)
{
	uintptr_t tag = (uintptr_t)ref->window;
	struct dma_window *w = (struct dma_window *)(tag & ~REF_WR);

	if (!w)
		return;
	ref->window = NULL;
	if (tag & REF_WR) {
		/* Before the window can go: an unmap then waits for it. */
		uintptr_t p = (uintptr_t)ref->ptr;
		uintptr_t base = (uintptr_t)w->vaddr;

		if (p >= base && p - base < w->size &&
		    ref->len <= w->size - (p - base))
			dirty_mark(dev, w->iova + (p - base), ref->len);
		else    /* The device moved ptr: the whole window, then. */
			dirty_mark(dev, w->iova, w->size);
	}
	window_put(&dev->dma, w);
	mig_dma_exit(dev);
}

int dma_copy(struct uvfio_dev *dev, uint64_t iova, void *buf, size_t len,
	     bool wr)
{
	struct dma_window *w;
	uint8_t *p;
	int err;

	if (iova + len < iova)
		return -EINVAL;
	err = window_get(&dev->dma, iova, len,
			 wr ? UVFIO_DMA_WRITE : UVFIO_DMA_READ, &w);
	if (err)
		return err;
	p = (uint8_t *)w->vaddr + (iova - w->iova);
	if (wr) {
		memcpy(p, buf, len);
		/* After the data: whoever takes the bit sees it. */
		dirty_mark(dev, iova, len);
	} else {
		memcpy(buf, p, len);
	}
	window_put(&dev->dma, w);
	return 0;
}

int uvfio_dma_stats(struct uvfio_dev *dev, uint32_t *windows,
		    uint64_t *bytes)
{
	pthread_rwlock_rdlock(&dev->dma.lock);
	if (windows)
		*windows = dev->dma.n;
	if (bytes)
		*bytes = dev->dma.bytes;
	pthread_rwlock_unlock(&dev->dma.lock);
	return 0;
}
