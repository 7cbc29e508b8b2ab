// SPDX-License-Identifier: MIT
/*
 * The files behind DMA windows.  A vIOMMU guest maps and unmaps a window
 * per I/O, all from one guest-RAM file: each such file is kept open once
 * (the fd of its first window; later fds for it are closed as they come)
 * and mapped once, whole, with each protection its windows ask for, so
 * 65,535 windows cost one fd and a few mappings.  A window reaching past
 * every mapping of its file (the file grew) gets a new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "priv.h"
#include "proto/hot.h"
#include "proto/sys.h"

/* fds left free for everything else when a DMA file is kept. */
#define FD_RESERVE 32
/* The fds waiting for a batch close fit in what is left free. */
_Static_assert(DMA_DEFER_FDS <= FD_RESERVE, "deferred fds past the reserve");
/* Larger files are mapped a window at a time. */
#define WHOLE_MAX (1ull << 42)
/* Mappings kept per table; the kernel's default cap is 65530. */
#define MAPS_MAX 16384

struct dma_file {
	struct dma_file *next; /* hash chain */
	dev_t st_dev;
	ino_t st_ino;
	int fd;
	bool writable;
	uint64_t align;
	uint32_t windows;
	struct dma_map *maps;
};

struct dma_map {
	struct dma_map *next;
	struct dma_file *file;
	uint8_t *base;
	uint64_t off; /* of base in the file */
	uint64_t len;
	int prot;
	uint32_t windows;
};

HOT static size_t bucket(const struct dma_files *f, dev_t d, ino_t i)
{
	uint64_t h = ((uint64_t)d * 0x9e3779b97f4a7c15ull) ^ (uint64_t)i;

	h *= 0xff51afd7ed558ccdull;
	return (size_t)(h >> 32) & (f->nbuckets - 1);
}

static int grow(struct dma_files *f)
{
	size_t n = f->nbuckets ? f->nbuckets * 2 : 16;
	struct dma_file **b = calloc(n, sizeof(*b));
	struct dma_files nf = { .b = b, .nbuckets = n };

	if (!b)
		return -ENOMEM;
	for (size_t k = 0; k < f->nbuckets; k++) {
		while (f->b[k]) {
			struct dma_file *x = f->b[k];
			size_t j = bucket(&nf, x->st_dev, x->st_ino);

			f->b[k] = x->next;
			x->next = b[j];
			b[j] = x;
		}
	}
	free(f->b);
	f->b = b;
	f->nbuckets = n;
	return 0;
}

/*
 * What a mapping of fd must be aligned to: the huge page size on
 * hugetlbfs (QEMU maps guest RAM windows such as [0xc0000, 512 MiB) of a
 * file there), the page size elsewhere.
 */
static uint64_t file_align(int fd, const struct stat *st)
{
	struct statfs sf;
	long pg = sysconf(_SC_PAGESIZE);

	/* hugetlbfs gives its page size as the block size: else no call. */
	if (st->st_blksize <= pg)
		return (uint64_t)pg;
	if (!fstatfs(fd, &sf) && sf.f_type == HUGETLBFS_MAGIC &&
	    sf.f_bsize > pg && !(sf.f_bsize & (sf.f_bsize - 1)))
		return (uint64_t)sf.f_bsize;
	return (uint64_t)pg;
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

/* A new file to keep: fd must fit under the fd limit with room left. */
static int file_new(struct uvfio_dev *dev, int fd, const struct stat *st,
		    struct dma_file **fp)
{
	struct rlimit rl;
	struct dma_file *f;
	int fl, err;

	/* Read each time: the limit may be lowered while we run. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)fd + FD_RESERVE >= rl.rlim_cur) {
		dev_log(dev, EMFILE,
			"DMA_MAP refused: keeping one more DMA file open "
			"(fd %d) would leave fewer than %d of the fd limit "
			"(RLIMIT_NOFILE %llu) free",
			fd, FD_RESERVE, (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	err = seal_fd(dev, fd);
	if (err)
		return err;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->st_dev = st->st_dev;
	f->st_ino = st->st_ino;
	f->fd = fd;
	f->writable = (fl & O_ACCMODE) == O_RDWR;
	f->align = file_align(fd, st);
	*fp = f;
	return 0;
}

HOT static struct dma_map *map_find(struct dma_file *f, uint64_t offset,
				    uint64_t size, int prot)
{
	for (struct dma_map *m = f->maps; m; m = m->next)
		if (m->prot == prot && offset >= m->off &&
		    offset - m->off <= m->len &&
		    size <= m->len - (offset - m->off))
			return m;
	return NULL;
}

static int map_new(struct uvfio_dev *dev, struct dma_table *t,
		   struct dma_file *f, const struct stat *st, uint64_t offset,
		   uint64_t size, int prot, struct dma_map **mp)
{
	uint64_t a = f->align, start = 0, end = (uint64_t)st->st_size;
	struct dma_map *m;
	void *p = MAP_FAILED;

	if (t->nmaps >= MAPS_MAX) {
		dev_log(dev, ENOMEM,
			"DMA_MAP refused: the device keeps %u mappings of DMA "
			"files, its limit",
			t->nmaps);
		return -ENOMEM;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	end = (end + a - 1) & ~(a - 1);
	if (end <= WHOLE_MAX && end <= SIZE_MAX)
		p = mmap(NULL, (size_t)end, prot, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED) {
		/* The window alone, then. */
		start = offset & ~(a - 1);
		end = (offset + size + a - 1) & ~(a - 1);
		if (end < offset + size || end - start > SIZE_MAX) {
			free(m);
			return -EINVAL;
		}
		p = mmap(NULL, (size_t)(end - start), prot, MAP_SHARED, f->fd,
			 (off_t)start);
	}
	if (p == MAP_FAILED) {
		int err = -errno;

		free(m);
		return err;
	}
	m->base = p;
	m->off = start;
	m->len = end - start;
	m->prot = prot;
	m->file = f;
	m->next = f->maps;
	f->maps = m;
	t->nmaps++;
	*mp = m;
	return 0;
}

HOT int dma_file_map(struct uvfio_dev *dev, struct dma_table *t, int fd,
		     uint64_t offset, uint64_t size, int prot,
		     struct dma_map **mp, void **vaddr, bool *took_fd)
{
	struct dma_files *fs = &t->files;
	struct dma_file *f = NULL, *nf = NULL;
	struct dma_map *m;
	struct stat st;
	int err;

	*took_fd = false;
	err = sys_fstat(fd, &st);
	if (err)
		return err;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (offset > (uint64_t)st.st_size ||
	    size > (uint64_t)st.st_size - offset)
		return -EINVAL;
	if (fs->nbuckets) {
		for (struct dma_file *x =
			     fs->b[bucket(fs, st.st_dev, st.st_ino)];
		     x; x = x->next)
			if (x->st_dev == st.st_dev && x->st_ino == st.st_ino &&
			    (x->writable || !(prot & PROT_WRITE)))
				f = x;
	}
	if (!f) {
		if (fs->nfiles >= fs->nbuckets && grow(fs))
			return -ENOMEM;
		err = file_new(dev, fd, &st, &nf);
		if (err)
			return err;
		f = nf;
	}
	m = map_find(f, offset, size, prot);
	if (!m) {
		err = map_new(dev, t, f, &st, offset, size, prot, &m);
		if (err) {
			free(nf);
			return err;
		}
	}
	if (nf) {
		size_t j = bucket(fs, st.st_dev, st.st_ino);

		nf->next = fs->b[j];
		fs->b[j] = nf;
		fs->nfiles++;
		*took_fd = true;
	}
	m->windows++;
	f->windows++;
	*mp = m;
	*vaddr = m->base + (offset - m->off);
	return 0;
}

HOT bool dma_file_defer_close(struct dma_table *t, int fd)
{
	t->defer_fd[t->ndefer++] = fd;
	return t->ndefer == DMA_DEFER_FDS;
}

/* ThreadSanitizer follows fds through close() only. */
#if defined(__SANITIZE_THREAD__)
#define USE_CLOSE_RANGE 0
#else
#define USE_CLOSE_RANGE 1
#endif

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/*
 * The fds came one after another, each the lowest free: they mostly form
 * a run of numbers, every one of them ours, which one close_range()
 * closes.
 */
void dma_file_close_deferred(struct dma_table *t)
{
	unsigned int i = 0, n = t->ndefer;

	/* Usually in order already: the kernel gives the lowest free fd. */
	for (unsigned int k = 1; k < n; k++) {
		if (t->defer_fd[k] < t->defer_fd[k - 1]) {
			qsort(t->defer_fd, n, sizeof(int), cmp_int);
			break;
		}
	}
	while (i < n) {
		unsigned int j = i;

		while (j + 1 < n && t->defer_fd[j + 1] == t->defer_fd[j] + 1)
			j++;
		if (j == i || !USE_CLOSE_RANGE ||
		    close_range((unsigned int)t->defer_fd[i],
				(unsigned int)t->defer_fd[j], 0))
			for (unsigned int k = i; k <= j; k++)
				close(t->defer_fd[k]);
		i = j + 1;
	}
	t->ndefer = 0;
}

HOT static void file_drop(struct dma_table *t, struct dma_file *f)
{
	struct dma_files *fs = &t->files;

	struct dma_file **pp = &fs->b[bucket(fs, f->st_dev, f->st_ino)];

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	fs->nfiles--;
	close(f->fd);
	free(f);
	/* Deferred fds may be of this file: it goes now, not later. */
	dma_file_close_deferred(t);
}

HOT void dma_file_unmap(struct dma_table *t, struct dma_map *m)
{
	struct dma_file *f = m->file;

	if (!--m->windows) {
		struct dma_map **pp = &f->maps;

		while (*pp != m)
			pp = &(*pp)->next;
		*pp = m->next;
		munmap(m->base, (size_t)m->len);
		t->nmaps--;
		free(m);
	}
	if (!--f->windows)
		file_drop(t, f);
}

void dma_files_fini(struct dma_table *t)
{
	/* Every window is gone by now, and with it every file. */
	dma_file_close_deferred(t);
	free(t->files.b);
	memset(&t->files, 0, sizeof(t->files));
}
