// SPDX-License-Identifier: MIT
/*
 * DMA at vIOMMU scale (issue 9): tens of thousands of small windows, most
 * of them into the same few files, as a VMM maps a guest's vIOMMU
 * mappings page by page.  The device is served in this process by a
 * thread (uvfio_dev_run); the client is in this process too, over a
 * socketpair.  Both share one fd table and one address space, so
 * /proc/self/fd and /proc/self/maps count what the device keeps: one fd
 * and one mapping per file, not per window.
 *
 * Every page of a test file holds a pattern naming the IOVA it is mapped
 * at (the 8-byte word at IOVA a holds a), so a translation that goes to
 * the wrong window, or to a window that is gone, reads the wrong words.
 *
 * many_windows_one_file  65,535 windows of 4 KiB into one memfd
 * few_files              windows over 4 memfds and an unsealable file
 * limits_max_dma_maps    the (N+1)th map fails with -ENOSPC, no change
 * limits_dma_bytes       a map over dma_limit fails with -ENOMEM
 * limits_fds             out of fds: -EMFILE, no change, and windows of
 *                        files the device knows still map
 * concurrent_translate   4 device threads translate while the client maps
 *                        and unmaps
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "proto/wire.h"
#include "client/testing.h"
#include "server/priv.h"

#define PG 4096ull
#define WORDS (PG / 8)
#define BASE (1ull << 32)
#define RW (UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE)

/*
 * Mappings the process may gain besides the device's one per file: the
 * allocator's (the window arrays of client and device grow past the
 * mmap threshold).  ASan's and TSan's allocators map regions as they fill.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MAPS_SLACK 64
#else
#define MAPS_SLACK 4
#endif

#define MAX_FILES 128
#define NREADERS 4
#define SOFT_PRINT 20

struct file {
	int fd;
	uint8_t *mem;
	size_t len;
};

/* A window: pages pages of file from page page, at iova. */
struct win {
	uint64_t iova;
	uint32_t file;
	uint32_t page;
	uint32_t pages;
};

struct fx;

struct reader {
	struct fx *fx;
	pthread_t thread;
	uint64_t seed;
	bool bursty;
	uint64_t ok, enoent, other, mismatch, stale;
	int other_err;
};

struct fx {
	struct uvfio_dev *dev;
	struct uvfio_client *c;
	pthread_t thread;
	bool served;
	struct file f[MAX_FILES];
	unsigned int nf;
	struct rlimit nofile;           /* restored by teardown */
	bool nofile_saved;
	unsigned int soft_failures;
	atomic_uint logs;
	/* concurrent_translate */
	struct reader rd[NREADERS];
	unsigned int nreaders;
	atomic_bool stop;
	atomic_uint *seq;
	/* Freed by teardown, so a failed test leaks nothing. */
	void *mem[4];
	unsigned int nmem;
};

static void *fx_alloc(struct fx *fx, size_t size)
{
	void *p = calloc(1, size);

	assert_non_null(p);
	assert_true(fx->nmem < sizeof(fx->mem) / sizeof(fx->mem[0]));
	fx->mem[fx->nmem++] = p;
	return p;
}

/* splitmix64: fixed seeds, the same run every time. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void shuffle(uint32_t *a, uint32_t n, uint64_t *s)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)(rnd(s) % i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* A random permutation of 0..n-1, into a. */
static uint32_t *perm(uint32_t *a, uint32_t n, uint64_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		a[i] = i;
	shuffle(a, n, &seed);
	return a;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define FD_SCAN 4096

/* Open fds; open[fd] set for those below FD_SCAN if open is given. */
static int scan_fds(bool *open)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, self;

	assert_non_null(d);
	self = dirfd(d);
	while ((e = readdir(d))) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == self)
			continue;
		if (open && fd < FD_SCAN)
			open[fd] = true;
		n++;
	}
	closedir(d);
	return n;
}

static int count_fds(void)
{
	return scan_fds(NULL);
}

/*
 * The RLIMIT_NOFILE under which exactly spare more fds can be opened: a
 * new fd takes the lowest free number, and there may be holes (and fds
 * inherited at high numbers).
 */
static rlim_t nofile_for(unsigned int spare)
{
	bool open[FD_SCAN] = { false };
	unsigned int free_below = 0;

	scan_fds(open);
	for (int fd = 0; fd < FD_SCAN; fd++) {
		if (open[fd])
			continue;
		if (free_below == spare)
			return (rlim_t)fd;
		free_below++;
	}
	fail_msg("no %u free fd numbers below %d", spare, FD_SCAN);
	return 0;
}

static int count_maps(void)
{
	static char buf[1 << 16];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t r;

	assert_true(fd >= 0);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}

/*
 * A check whose failure is reported and counted, and the test goes on:
 * what happens next tells more than the first failure alone.
 * soft_done() fails the test if any did.
 */
__attribute__((format(printf, 3, 4)))
static void soft_fail(struct fx *fx, int line, const char *fmt, ...)
{
	va_list ap;

	if (fx->soft_failures++ >= SOFT_PRINT)
		return;
	fprintf(stderr, "test_dma_scale.c:%d: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define expect(fx, cond, ...)                                          \
	do {                                                           \
		if (!(cond))                                           \
			soft_fail(fx, __LINE__, __VA_ARGS__);          \
	} while (0)

static void soft_done(struct fx *fx)
{
	if (fx->soft_failures)
		fail_msg("%u checks failed (the first %u are printed above)",
			 fx->soft_failures,
			 fx->soft_failures < SOFT_PRINT ? fx->soft_failures :
							  SOFT_PRINT);
}

static const char *err_name(int r)
{
	return r < 0 ? strerror(-r) : r ? "positive" : "success";
}

#define assert_ret(r, want)                                            \
	do {                                                           \
		int r_ = (r), w_ = (want);                             \
		if (r_ != w_)                                          \
			fail_msg("%s: %d (%s), want %d (%s)", #r, r_,  \
				 err_name(r_), w_, err_name(w_));      \
	} while (0)

static void dev_log_fn(struct uvfio_dev *dev, void *priv, int err,
		       const char *msg)
{
	struct fx *fx = priv;

	if (atomic_fetch_add(&fx->logs, 1) < 10)
		fprintf(stderr, "device: %s (%s)\n", msg, strerror(err));
}

static void *serve(void *arg)
{
	uvfio_dev_run(arg, true);
	return NULL;
}

static struct fx *start(void **state, const struct uvfio_dev_opts *o)
{
	static const struct uvfio_dev_ops ops = { .log = dev_log_fn };
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10f1 };
	struct fx *fx = calloc(1, sizeof(*fx));
	int sv[2];

	assert_non_null(fx);
	*state = fx;    /* teardown cleans up whatever start got to */
	for (unsigned int i = 0; i < MAX_FILES; i++)
		fx->f[i].fd = -1;
	fx->dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, &ops, fx, o);
	assert_non_null(fx->dev);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_dev_attach_fd(fx->dev, sv[1]), 0);
	assert_int_equal(pthread_create(&fx->thread, NULL, serve, fx->dev), 0);
	fx->served = true;
	fx->c = uvfio_client_attach_fd(sv[0], NULL);
	assert_non_null(fx->c);
	return fx;
}

static void stop_readers(struct fx *fx)
{
	atomic_store(&fx->stop, true);
	for (unsigned int i = 0; i < fx->nreaders; i++)
		pthread_join(fx->rd[i].thread, NULL);
	fx->nreaders = 0;
}

static void restore_nofile(struct fx *fx)
{
	if (fx->nofile_saved)
		setrlimit(RLIMIT_NOFILE, &fx->nofile);
	fx->nofile_saved = false;
}

static void save_nofile(struct fx *fx)
{
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &fx->nofile), 0);
	fx->nofile_saved = true;
}

static void raise_nofile(struct fx *fx)
{
	struct rlimit r;

	save_nofile(fx);
	r = fx->nofile;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r))
		print_message("RLIMIT_NOFILE stays at %llu: %s\n",
			      (unsigned long long)fx->nofile.rlim_cur,
			      strerror(errno));
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (!fx)
		return 0;
	stop_readers(fx);
	restore_nofile(fx);
	if (fx->c)
		uvfio_client_close(fx->c);
	if (fx->served) {
		uvfio_dev_stop(fx->dev);
		pthread_join(fx->thread, NULL);
	}
	if (fx->dev)
		uvfio_dev_destroy(fx->dev);
	for (unsigned int i = 0; i < fx->nf; i++) {
		if (fx->f[i].mem)
			munmap(fx->f[i].mem, fx->f[i].len);
		if (fx->f[i].fd >= 0)
			close(fx->f[i].fd);
	}
	for (unsigned int i = 0; i < fx->nmem; i++)
		free(fx->mem[i]);
	free(fx);
	*state = NULL;
	return 0;
}

static uint32_t add_file(struct fx *fx, int fd, uint32_t pages)
{
	struct file *f = &fx->f[fx->nf];

	assert_true(fx->nf < MAX_FILES);
	assert_true(fd >= 0);
	f->fd = fd;
	f->len = pages * PG;
	fx->nf++;
	assert_int_equal(ftruncate(fd, (off_t)f->len), 0);
	f->mem = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(f->mem != MAP_FAILED);
	return fx->nf - 1;
}

/* A memfd open to sealing: the device seals it against shrinking. */
static uint32_t new_memfd(struct fx *fx, uint32_t pages)
{
	return add_file(fx, memfd_create("dma", MFD_CLOEXEC |
						MFD_ALLOW_SEALING), pages);
}

/* A file opened by path: it cannot be sealed. */
static uint32_t new_tmpfile(struct fx *fx, uint32_t pages)
{
	struct stat st;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "%s/uvfio-dma-XXXXXX",
		 stat("/dev/shm", &st) || !S_ISDIR(st.st_mode) ? "/tmp" :
								 "/dev/shm");
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(path);
	return add_file(fx, fd, pages);
}

/* The pattern: the word at IOVA a holds a. */
static void fill(struct fx *fx, const struct win *w)
{
	uint64_t *p = (uint64_t *)(fx->f[w->file].mem + w->page * PG);

	for (uint64_t i = 0; i < w->pages * WORDS; i++)
		p[i] = w->iova + i * 8;
}

static int map_win(struct fx *fx, const struct win *w)
{
	const struct file *f = &fx->f[w->file];

	return uvfio_client_dma_map(fx->c, w->iova, w->pages * PG, RW,
				    f->mem + w->page * PG, f->fd,
				    w->page * PG);
}

static int unmap_win(struct fx *fx, const struct win *w)
{
	return uvfio_client_dma_unmap(fx->c, w->iova, w->pages * PG);
}

/* DMA_MAP straight to the device, past the client's own checks. */
static int raw_map(struct fx *fx, const struct win *w)
{
	struct vfio_user_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_USER_F_DMA_REGION_READ |
			 VFIO_USER_F_DMA_REGION_WRITE,
		.offset = w->page * PG,
		.addr = w->iova,
		.size = w->pages * PG,
	};
	int fd = fx->f[w->file].fd;
	int r = uvfio_client_raw(fx->c, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd,
				 1, NULL, 0);

	return r < 0 ? r : 0;
}

/* A get of length len at iova: 0, or the get's error. */
static int try_get(struct fx *fx, uint64_t iova, size_t len)
{
	struct uvfio_dma_ref ref;
	int r = uvfio_dma_get(fx->dev, iova, len, UVFIO_DMA_READ, &ref);

	if (!r)
		uvfio_dma_put(fx->dev, &ref);
	return r;
}

/*
 * A get at a random offset and length inside w reads w's pattern at
 * both ends.  The words are read while the reference is held and
 * checked after the put, so a failure leaves no reference behind.
 */
static void check_win(struct fx *fx, const struct win *w, uint64_t *rng)
{
	uint64_t words = w->pages * WORDS;
	uint64_t o = rnd(rng) % words;
	uint64_t len = 8 * (1 + rnd(rng) % (words - o));
	uint64_t iova = w->iova + o * 8, first, last;
	uint32_t acc = rnd(rng) & 1 ? UVFIO_DMA_READ :
				      UVFIO_DMA_READ | UVFIO_DMA_WRITE;
	struct uvfio_dma_ref ref;
	size_t rlen;
	int r;

	r = uvfio_dma_get(fx->dev, iova, len, acc, &ref);
	if (r)
		fail_msg("get [%#llx, +%#llx) in window %#llx: %d (%s)",
			 (unsigned long long)iova, (unsigned long long)len,
			 (unsigned long long)w->iova, r, err_name(r));
	memcpy(&first, ref.ptr, 8);
	memcpy(&last, (uint8_t *)ref.ptr + len - 8, 8);
	rlen = ref.len;
	uvfio_dma_put(fx->dev, &ref);
	if (first != iova || last != iova + len - 8 || rlen != len)
		fail_msg("get [%#llx, +%#llx): read %#llx .. %#llx (len %zu)",
			 (unsigned long long)iova, (unsigned long long)len,
			 (unsigned long long)first, (unsigned long long)last,
			 rlen);
}

static void assert_stats(struct fx *fx, uint32_t windows, uint64_t bytes)
{
	uint32_t n = ~0u;
	uint64_t b = ~0ull;

	assert_int_equal(uvfio_dma_stats(fx->dev, &n, &b), 0);
	if (n != windows || b != bytes)
		fail_msg("uvfio_dma_stats: %u windows, %llu bytes; want %u, "
			 "%llu", n, (unsigned long long)b, windows,
			 (unsigned long long)bytes);
}

/*
 * The device closes a message's fds it did not keep after its reply: a
 * round trip after it, and it is done with them.
 */
static int count_fds_synced(struct fx *fx)
{
	struct uvfio_device_info info;

	assert_int_equal(uvfio_client_device_info(fx->c, &info), 0);
	return count_fds();
}

/* fds exactly, mappings at most. */
/*
 * The device closes the later fds of a file it keeps a batch at a time
 * (and all of them when a file goes): up to FDS_BATCH - 1 wait.
 */
#define FDS_BATCH DMA_DEFER_FDS
#define expect_res_slack(fx, fds, slack, maps, what, ...)              \
	do {                                                           \
		int f_ = count_fds_synced(fx), m_ = count_maps();      \
		expect(fx, f_ >= (fds) && f_ <= (fds) + (slack),       \
		       "fds " what ": %d, want %d (+ %d)", __VA_ARGS__, \
		       f_, (fds), (slack));                            \
		expect(fx, m_ <= (maps),                               \
		       "mappings " what ": %d, want at most %d",       \
		       __VA_ARGS__, m_, (maps));                       \
	} while (0)
#define expect_res(fx, fds, maps, what, ...) \
	expect_res_slack(fx, fds, FDS_BATCH - 1, maps, what, __VA_ARGS__)
/* Right after a file went: no fd waits. */
#define expect_res_exact(fx, fds, maps, what, ...) \
	expect_res_slack(fx, fds, 0, maps, what, __VA_ARGS__)

/*
 * Window k's IOVA: pages side by side, with a gap after every 7th one
 * (page 7, 15, ... of the IOVA space stay unmapped).
 */
static uint64_t slot_iova(uint32_t k)
{
	return BASE + (uint64_t)(k + k / 7) * PG;
}

static bool checkpoint(uint32_t done, uint32_t n)
{
	return done <= 2 || done % 8192 == 0 || done == n;
}

/* Gaps and neighbours: nothing between or across windows translates. */
static void check_holes(struct fx *fx, uint32_t n)
{
	for (uint32_t k = 0; k + 1 < n; k += 13) {
		uint64_t end = slot_iova(k) + PG;

		if (k % 7 == 6)
			assert_ret(try_get(fx, end, 8), -ENOENT);
		else    /* two windows side by side are not one */
			assert_ret(try_get(fx, end - 8, 16), -ENOENT);
	}
	assert_ret(try_get(fx, BASE - 8, 8), -ENOENT);
	assert_ret(try_get(fx, BASE - 8, 16), -ENOENT);
	assert_ret(try_get(fx, slot_iova(n - 1) + PG, 8), -ENOENT);
	assert_ret(try_get(fx, slot_iova(n - 1) + PG - 8, 16), -ENOENT);
}

#define NWIN 65535u

static void test_many_windows_one_file(void **state)
{
	struct fx *fx = start(state, NULL);
	uint32_t *pg, *order;
	struct win *w;
	uint64_t rng = 1;
	int fds0, maps0;

	raise_nofile(fx);
	assert_true(uvfio_client_caps(fx->c)->max_dma_maps >= NWIN);
	new_memfd(fx, NWIN + 16);
	w = fx_alloc(fx, NWIN * sizeof(*w));
	order = fx_alloc(fx, NWIN * sizeof(*order));
	/* Window k on page pg[k]. */
	pg = perm(fx_alloc(fx, NWIN * sizeof(*pg)), NWIN, 2);
	for (uint32_t k = 0; k < NWIN; k++) {
		w[k] = (struct win){ slot_iova(k), 0, pg[k], 1 };
		fill(fx, &w[k]);
	}
	perm(order, NWIN, 3);
	fds0 = count_fds();
	maps0 = count_maps();

	for (uint32_t i = 0; i < NWIN; i++) {
		int r = map_win(fx, &w[order[i]]);

		if (r)
			fail_msg("map %u of %u (iova %#llx): %d (%s)", i + 1,
				 NWIN, (unsigned long long)w[order[i]].iova,
				 r, err_name(r));
		if (checkpoint(i + 1, NWIN))
			expect_res(fx, fds0 + 1, maps0 + 1 + MAPS_SLACK,
				   "after %u maps", i + 1);
	}
	assert_stats(fx, NWIN, NWIN * PG);

	shuffle(order, NWIN, &rng);
	for (uint32_t i = 0; i < NWIN; i++)
		check_win(fx, &w[order[i]], &rng);
	check_holes(fx, NWIN);

	shuffle(order, NWIN, &rng);
	for (uint32_t i = 0; i < NWIN; i++) {
		assert_ret(unmap_win(fx, &w[order[i]]), 0);
		if (i + 1 < NWIN && checkpoint(i + 1, NWIN))
			expect_res(fx, fds0 + 1, maps0 + 1 + MAPS_SLACK,
				   "after %u unmaps", i + 1);
	}
	assert_stats(fx, 0, 0);
	expect_res_exact(fx, fds0, maps0 + MAPS_SLACK,
			 "after unmapping all%s", "");
	for (uint32_t k = 0; k < NWIN; k += 1021)
		assert_ret(try_get(fx, w[k].iova, 8), -ENOENT);
	soft_done(fx);
}

#define NMEMFD 4
#define MEMFD_WINS 4096u
#define TMP_WINS 1024u

static void test_few_files(void **state)
{
	static const struct uvfio_dev_opts o = { .allow_unsealed_dma = true };
	struct fx *fx = start(state, &o);
	const uint32_t n = NMEMFD * MEMFD_WINS + TMP_WINS;
	uint32_t live = 0, *order, nwin[NMEMFD + 1] = { 0 };
	uint32_t forder[NMEMFD + 1] = { 0, 1, 2, 3, 4 };
	struct win *w;
	uint64_t rng = 11;
	int fds0, maps0;

	raise_nofile(fx);
	for (unsigned int i = 0; i < NMEMFD; i++)
		new_memfd(fx, MEMFD_WINS + 1);
	new_tmpfile(fx, TMP_WINS + 1);
	w = fx_alloc(fx, n * sizeof(*w));
	/* Every page of every file, dealt out over the IOVA space. */
	order = perm(fx_alloc(fx, n * sizeof(*order)), n, 12);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t p = order[k];
		uint32_t f = p / MEMFD_WINS < NMEMFD ? p / MEMFD_WINS : NMEMFD;

		w[k] = (struct win){ slot_iova(k), f,
				     p - f * MEMFD_WINS, 1 };
		fill(fx, &w[k]);
	}
	shuffle(order, n, &rng);
	fds0 = count_fds();
	maps0 = count_maps();

	for (uint32_t i = 0; i < n; i++) {
		const struct win *x = &w[order[i]];
		int r = map_win(fx, x);

		if (r)
			fail_msg("map %u of %u (iova %#llx, file %u): %d (%s)",
				 i + 1, n, (unsigned long long)x->iova,
				 x->file, r, err_name(r));
		if (!nwin[x->file]++)
			live++;
		if (checkpoint(i + 1, n) || i % 1024 == 0)
			expect_res(fx, fds0 + (int)live,
				   maps0 + (int)live + MAPS_SLACK,
				   "after %u maps (%u files)", i + 1, live);
	}
	assert_int_equal(live, NMEMFD + 1);
	assert_stats(fx, n, n * PG);
	/* The device sealed the memfds against shrinking. */
	for (unsigned int i = 0; i < NMEMFD; i++) {
		int seals = fcntl(fx->f[i].fd, F_GET_SEALS);

		assert_true(seals >= 0 && (seals & F_SEAL_SHRINK));
	}
	shuffle(order, n, &rng);
	for (uint32_t i = 0; i < n; i++)
		check_win(fx, &w[order[i]], &rng);
	check_holes(fx, n);

	/* A file at a time: its fd goes with its last window, not before. */
	shuffle(forder, NMEMFD + 1, &rng);
	shuffle(order, n, &rng);
	for (unsigned int j = 0; j < NMEMFD + 1; j++) {
		uint32_t f = forder[j];

		for (uint32_t i = 0; i < n; i++) {
			const struct win *x = &w[order[i]];

			if (x->file != f)
				continue;
			if (nwin[f] == 1)
				expect_res(fx, fds0 + (int)live,
					   maps0 + (int)live + MAPS_SLACK,
					   "before the last unmap of file "
					   "%u", f);
			assert_ret(unmap_win(fx, x), 0);
			nwin[f]--;
		}
		live--;
		expect_res_exact(fx, fds0 + (int)live,
			   maps0 + (int)live + MAPS_SLACK,
			   "after the last unmap of file %u", f);
		/* The other files' windows are untouched. */
		for (uint32_t i = 0; i < 256; i++) {
			const struct win *x = &w[order[rnd(&rng) % n]];

			if (nwin[x->file])
				check_win(fx, x, &rng);
			else
				assert_ret(try_get(fx, x->iova, 8), -ENOENT);
		}
	}
	assert_stats(fx, 0, 0);
	expect_res_exact(fx, fds0, maps0 + MAPS_SLACK,
			 "after unmapping all%s", "");
	soft_done(fx);
}

#define MAX_MAPS 8

static void test_limits_max_dma_maps(void **state)
{
	static const struct uvfio_dev_opts o = { .max_dma_maps = MAX_MAPS };
	struct fx *fx = start(state, &o);
	struct win w[MAX_MAPS + 1];
	uint64_t rng = 21;

	assert_int_equal(uvfio_client_caps(fx->c)->max_dma_maps, MAX_MAPS);
	new_memfd(fx, MAX_MAPS + 1);
	for (uint32_t k = 0; k <= MAX_MAPS; k++) {
		w[k] = (struct win){ slot_iova(k), 0, k, 1 };
		fill(fx, &w[k]);
	}
	for (uint32_t k = 0; k < MAX_MAPS; k++)
		assert_ret(map_win(fx, &w[k]), 0);
	assert_stats(fx, MAX_MAPS, MAX_MAPS * PG);
	/* The client knows the limit; the device enforces it too. */
	assert_ret(map_win(fx, &w[MAX_MAPS]), -ENOSPC);
	assert_ret(raw_map(fx, &w[MAX_MAPS]), -ENOSPC);
	assert_stats(fx, MAX_MAPS, MAX_MAPS * PG);
	assert_ret(try_get(fx, w[MAX_MAPS].iova, 8), -ENOENT);
	for (uint32_t k = 0; k < MAX_MAPS; k++)
		check_win(fx, &w[k], &rng);
	/* A slot freed is a slot to map again. */
	assert_ret(unmap_win(fx, &w[3]), 0);
	assert_ret(map_win(fx, &w[MAX_MAPS]), 0);
	assert_ret(raw_map(fx, &w[3]), -ENOSPC);
	assert_stats(fx, MAX_MAPS, MAX_MAPS * PG);
	check_win(fx, &w[MAX_MAPS], &rng);
	for (uint32_t k = 0; k <= MAX_MAPS; k++)
		if (k != 3)
			assert_ret(unmap_win(fx, &w[k]), 0);
	assert_stats(fx, 0, 0);
}

static void test_limits_dma_bytes(void **state)
{
	static const struct uvfio_dev_opts o = { .dma_limit = 16 * PG };
	struct fx *fx = start(state, &o);
	/* Four of 16 KiB fill the limit; the rest are for after. */
	struct win w[] = {
		{ BASE + 0 * PG, 0, 0, 4 },     { BASE + 8 * PG, 0, 4, 4 },
		{ BASE + 16 * PG, 0, 8, 4 },    { BASE + 24 * PG, 0, 12, 4 },
		{ BASE + 32 * PG, 0, 16, 1 },   { BASE + 40 * PG, 0, 20, 20 },
		{ BASE + 64 * PG, 0, 40, 4 },   { BASE + 72 * PG, 0, 44, 3 },
	};
	uint64_t rng = 31;

	new_memfd(fx, 64);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		fill(fx, &w[i]);
	for (unsigned int i = 0; i < 4; i++)
		assert_ret(map_win(fx, &w[i]), 0);
	assert_stats(fx, 4, 16 * PG);
	/* One page over, and a window over the limit by itself. */
	assert_ret(map_win(fx, &w[4]), -ENOMEM);
	assert_ret(map_win(fx, &w[5]), -ENOMEM);
	assert_stats(fx, 4, 16 * PG);
	assert_ret(try_get(fx, w[4].iova, 8), -ENOENT);
	assert_ret(try_get(fx, w[5].iova, 8), -ENOENT);
	for (unsigned int i = 0; i < 4; i++)
		check_win(fx, &w[i], &rng);
	/* The bytes of an unmapped window are free again. */
	assert_ret(unmap_win(fx, &w[1]), 0);
	assert_stats(fx, 3, 12 * PG);
	assert_ret(map_win(fx, &w[4]), 0);          /* 13 pages */
	assert_ret(map_win(fx, &w[6]), -ENOMEM);    /* would be 17 */
	assert_stats(fx, 4, 13 * PG);
	assert_ret(map_win(fx, &w[7]), 0);          /* 16: the limit */
	assert_stats(fx, 5, 16 * PG);
	assert_ret(raw_map(fx, &w[6]), -ENOMEM);
	assert_stats(fx, 5, 16 * PG);
	for (unsigned int i = 0; i < 8; i++) {
		if (i == 1 || i == 5 || i == 6)
			continue;
		check_win(fx, &w[i], &rng);
		assert_ret(unmap_win(fx, &w[i]), 0);
	}
	assert_stats(fx, 0, 0);
}

/*
 * More spare fds than a device may want to keep free for itself, fewer
 * than the files: some files map, then one fails.
 */
#define FD_FILES 100
#define FD_SPARE 64

static struct win fd_win(uint32_t file, uint32_t page)
{
	return (struct win){ BASE + (file * 4 + page) * PG, file, page, 1 };
}

static void test_limits_fds(void **state)
{
	struct fx *fx = start(state, NULL);
	bool mapped[FD_FILES][2] = { { false } };
	uint32_t nmapped = 0, i;
	uint64_t rng = 41;
	struct win x;
	struct rlimit lim;
	int fds0, r = 0, r2;

	/* Every file is made, mapped by the client and filled first. */
	for (i = 0; i < FD_FILES; i++) {
		new_memfd(fx, 2);
		for (uint32_t p = 0; p < 2; p++) {
			x = fd_win(i, p);
			fill(fx, &x);
		}
	}
	fds0 = count_fds();
	x = fd_win(0, 0);
	assert_ret(map_win(fx, &x), 0);
	mapped[0][0] = true;
	nmapped = 1;

	/* Room for FD_SPARE more fds; only the device opens any now. */
	save_nofile(fx);
	lim = fx->nofile;
	lim.rlim_cur = nofile_for(FD_SPARE);
	assert_true(lim.rlim_cur <= lim.rlim_max);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	for (i = 1; i < FD_FILES; i++) {
		x = fd_win(i, 0);
		r = map_win(fx, &x);
		if (r)
			break;
		mapped[i][0] = true;
		nmapped++;
	}
	print_message("limits_fds: %u files mapped with %d fds to spare, "
		      "the next: %d (%s)\n", nmapped, FD_SPARE, r,
		      err_name(r));
	if (i == FD_FILES)
		fail_msg("%u files mapped with %d fds to spare", nmapped,
			 FD_SPARE);
	expect(fx, r == -EMFILE, "map of file %u at the fd limit: %d (%s), "
	       "want %d (%s)", i, r, err_name(r), -EMFILE, err_name(-EMFILE));
	/* Nothing changed, in the device nor in the client. */
	assert_stats(fx, nmapped, nmapped * PG);
	assert_ret(try_get(fx, x.iova, 8), -ENOENT);
	assert_ret(unmap_win(fx, &x), -ENOENT);
	for (uint32_t f = 0; f < i; f++) {
		x = fd_win(f, 0);
		check_win(fx, &x, &rng);
	}
	/* A file the device has already needs no new fd. */
	for (uint32_t f = 0; f < 2 && (f == 0 || i > 1); f++) {
		x = fd_win(f == 0 ? 0 : i - 1, 1);
		r2 = map_win(fx, &x);
		expect(fx, !r2, "map of known file %u at the fd limit: %d (%s)",
		       x.file, r2, err_name(r2));
		if (!r2) {
			mapped[x.file][1] = true;
			nmapped++;
			check_win(fx, &x, &rng);
		}
	}
	/* Still no room for one more. */
	if (i + 1 < FD_FILES) {
		x = fd_win(i + 1, 0);
		r2 = map_win(fx, &x);
		expect(fx, r2 == -EMFILE, "map of file %u at the fd limit: "
		       "%d (%s)", i + 1, r2, err_name(r2));
		if (!r2) {
			mapped[i + 1][0] = true;
			nmapped++;
		}
	}
	assert_stats(fx, nmapped, nmapped * PG);

	/* With the limit back, the file refused maps. */
	restore_nofile(fx);
	x = fd_win(i, 0);
	assert_ret(map_win(fx, &x), 0);
	mapped[i][0] = true;
	nmapped++;
	check_win(fx, &x, &rng);
	assert_stats(fx, nmapped, nmapped * PG);
	for (uint32_t f = 0; f < FD_FILES; f++) {
		for (uint32_t p = 0; p < 2; p++) {
			if (!mapped[f][p])
				continue;
			x = fd_win(f, p);
			assert_ret(unmap_win(fx, &x), 0);
		}
	}
	assert_stats(fx, 0, 0);
	r = count_fds_synced(fx);
	expect(fx, r == fds0, "fds after unmapping all: %d, want %d", r,
	       fds0);
	soft_done(fx);
}

#define NSLOT 4096u
/*
 * 2 s or CYCLES map/unmap cycles, whichever comes first; but at least
 * MIN_CYCLES, for which the client gets up to MAX_MS: a table whose
 * writers starve behind its readers fails.
 */
#define CYCLES 20000u
#define MIN_CYCLES 1000u
#define RUN_MS 2000
#define MAX_MS 60000

static uint64_t cslot_iova(uint32_t s)
{
	return BASE + (uint64_t)s * 2 * PG;
}

/*
 * fx->seq[s] counts slot s's changes: made odd by the client before it
 * maps the slot, even again once its unmap has returned.  Holding a
 * reference, a reader must see it odd: the unmap waits for the put.
 */
static void *reader(void *arg)
{
	struct reader *rd = arg;
	struct fx *fx = rd->fx;
	uint64_t rng = rd->seed;

	while (!atomic_load_explicit(&fx->stop, memory_order_relaxed)) {
		uint32_t s = (uint32_t)(rnd(&rng) % NSLOT);
		uint64_t o = rnd(&rng) % WORDS;
		uint64_t len = 8 * (1 + rnd(&rng) % (WORDS - o));
		uint64_t iova = cslot_iova(s) + o * 8, first, last;
		struct uvfio_dma_ref ref;
		unsigned int q;
		int r;

		r = uvfio_dma_get(fx->dev, iova, len, UVFIO_DMA_READ, &ref);
		if (r == -ENOENT) {
			rd->enoent++;
			continue;
		}
		if (r) {
			rd->other++;
			rd->other_err = r;
			continue;
		}
		memcpy(&first, ref.ptr, 8);
		memcpy(&last, (uint8_t *)ref.ptr + len - 8, 8);
		q = atomic_load(&fx->seq[s]);
		uvfio_dma_put(fx->dev, &ref);
		rd->ok++;
		if (first != iova || last != iova + len - 8)
			rd->mismatch++;
		if (!(q & 1))
			rd->stale++;
		/* Off the CPU now and then: unmaps find the slot idle. */
		if (rd->bursty && rnd(&rng) % 256 == 0)
			for (uint64_t n = rnd(&rng) % 256; n; n--)
				sched_yield();
	}
	return NULL;
}

/*
 * Device threads translate while the client maps and unmaps.  Bursty
 * readers pause now and then, and the client does not translate, so that
 * unmaps find every slot idle and wait without membarrier().
 */
static void concurrent(void **state, bool bursty)
{
	struct fx *fx = start(state, NULL);
	uint64_t rng = 51, ok = 0, enoent = 0, other = 0, bad = 0, stale = 0;
	uint32_t cycles = 0, nmapped = 0, s;
	struct win x;
	bool *mapped = fx_alloc(fx, NSLOT * sizeof(*mapped));
	int64_t t0, ms;
	int fds0, err = 0, r;

	fx->seq = fx_alloc(fx, NSLOT * sizeof(*fx->seq));
	new_memfd(fx, NSLOT);
	for (s = 0; s < NSLOT; s++) {
		x = (struct win){ cslot_iova(s), 0, s, 1 };
		fill(fx, &x);
	}
	fds0 = count_fds();
	for (s = 0; s < NSLOT; s++) {
		x = (struct win){ cslot_iova(s), 0, s, 1 };
		if (rnd(&rng) & 1)
			continue;
		atomic_fetch_add(&fx->seq[s], 1);
		assert_ret(map_win(fx, &x), 0);
		mapped[s] = true;
		nmapped++;
	}
	for (unsigned int i = 0; i < NREADERS; i++) {
		fx->rd[i].fx = fx;
		fx->rd[i].seed = 100 + i;
		fx->rd[i].bursty = bursty;
		assert_int_equal(pthread_create(&fx->rd[i].thread, NULL,
						reader, &fx->rd[i]), 0);
		fx->nreaders++;
	}

	t0 = now_ms();
	while (cycles < CYCLES) {
		ms = now_ms() - t0;
		if (ms >= MAX_MS || (ms >= RUN_MS && cycles >= MIN_CYCLES))
			break;
		s = (uint32_t)(rnd(&rng) % NSLOT);
		x = (struct win){ cslot_iova(s), 0, s, 1 };
		if (mapped[s]) {
			assert_ret(unmap_win(fx, &x), 0);
			atomic_fetch_add(&fx->seq[s], 1);
			mapped[s] = false;
			nmapped--;
			/* Gone for good the moment the unmap returned. */
			r = bursty ? -ENOENT :
				     try_get(fx, x.iova + rnd(&rng) % WORDS * 8,
					     8);
			if (r != -ENOENT)
				fail_msg("get in window %#llx after its unmap "
					 "returned: %d (%s)",
					 (unsigned long long)x.iova, r,
					 err_name(r));
		} else {
			atomic_fetch_add(&fx->seq[s], 1);
			assert_ret(map_win(fx, &x), 0);
			mapped[s] = true;
			nmapped++;
		}
		cycles++;
	}
	ms = now_ms() - t0;
	stop_readers(fx);
	for (unsigned int i = 0; i < NREADERS; i++) {
		ok += fx->rd[i].ok;
		enoent += fx->rd[i].enoent;
		other += fx->rd[i].other;
		bad += fx->rd[i].mismatch;
		stale += fx->rd[i].stale;
		if (fx->rd[i].other)
			err = fx->rd[i].other_err;
	}
	print_message("concurrent_translate%s: %u map/unmap cycles in %lld ms; "
		      "gets: %llu ok, %llu -ENOENT, %llu other; "
		      "%llu mismatches, %llu after their unmap\n",
		      bursty ? " (bursty)" : "", cycles, (long long)ms,
		      (unsigned long long)ok,
		      (unsigned long long)enoent, (unsigned long long)other,
		      (unsigned long long)bad, (unsigned long long)stale);
	assert_true(ok > 0);
	expect(fx, cycles >= MIN_CYCLES, "the client's map/unmap starved: "
	       "%u cycles in %lld ms", cycles, (long long)ms);
	if (other)
		fail_msg("%llu gets failed otherwise, e.g. %d (%s)",
			 (unsigned long long)other, err, err_name(err));
	assert_int_equal(bad, 0);
	assert_int_equal(stale, 0);
	assert_stats(fx, nmapped, nmapped * PG);
	for (s = 0; s < NSLOT; s++) {
		if (!mapped[s])
			continue;
		x = (struct win){ cslot_iova(s), 0, s, 1 };
		check_win(fx, &x, &rng);
		assert_ret(unmap_win(fx, &x), 0);
	}
	assert_stats(fx, 0, 0);
	r = count_fds_synced(fx);
	expect(fx, r == fds0, "fds after unmapping all: %d, want %d", r,
	       fds0);
	soft_done(fx);
}

/*
 * Windows the device's radix table cannot hold are looked up in its tree:
 * windows past 2^48, and, when a hostile layout puts every window alone
 * in its own GiB, those past the table's node budget (16,384 nodes: two
 * per such window).  Windows of several pages are read across their page
 * boundaries, and never across their ends.
 */
#define SPARSE_WINS 8400u
#define MULTI_PAGES 5u

static void test_radix_fallback(void **state)
{
	struct fx *fx = start(state, NULL);
	const uint32_t n = 8 + SPARSE_WINS;
	uint32_t *order, page = 0, k;
	uint64_t rng = 21;
	unsigned int logs0;
	struct win *w;

	new_memfd(fx, 8 * MULTI_PAGES + SPARSE_WINS);
	w = fx_alloc(fx, n * sizeof(*w));
	for (k = 0; k < 4; k++) {
		w[k] = (struct win){ BASE + k * 8 * PG, 0, page, MULTI_PAGES };
		page += MULTI_PAGES;
	}
	for (k = 4; k < 7; k++) {
		w[k] = (struct win){ (1ull << 48) + k * 8 * PG, 0, page,
				     MULTI_PAGES };
		page += MULTI_PAGES;
	}
	w[7] = (struct win){ UINT64_MAX - 8 * PG + 1, 0, page, MULTI_PAGES };
	page += MULTI_PAGES;
	for (k = 8; k < n; k++)
		w[k] = (struct win){ (1ull << 40) + ((uint64_t)(k - 8) << 30),
				     0, page++, 1 };
	order = perm(fx_alloc(fx, n * sizeof(*order)), n, 22);
	logs0 = atomic_load(&fx->logs);
	for (k = 0; k < n; k++) {
		fill(fx, &w[k]);
		assert_ret(map_win(fx, &w[k]), 0);
	}
	/* The budget ran out once, and said so once. */
	assert_int_equal(atomic_load(&fx->logs), logs0 + 1);
	assert_stats(fx, n, (8 * MULTI_PAGES + SPARSE_WINS) * PG);
	for (uint32_t i = 0; i < 4 * n; i++)
		check_win(fx, &w[order[i % n]], &rng);
	for (k = 0; k < n; k++) {
		uint64_t end = w[k].iova + w[k].pages * PG;

		assert_ret(try_get(fx, end - 8, 16), -ENOENT);
		assert_ret(try_get(fx, w[k].iova - 8, 16), -ENOENT);
		if (end)
			assert_ret(try_get(fx, end, 8), -ENOENT);
	}
	/* Unmaps in random order; what is left still translates. */
	shuffle(order, n, &rng);
	for (uint32_t i = 0; i < n; i++) {
		const struct win *x = &w[order[i]];

		assert_ret(unmap_win(fx, x), 0);
		assert_ret(try_get(fx, x->iova, 8), -ENOENT);
		if (i + 1 < n) {
			uint32_t j = i + 1 + (uint32_t)(rnd(&rng) % (n - i - 1));

			check_win(fx, &w[order[j]], &rng);
		}
	}
	assert_stats(fx, 0, 0);
	soft_done(fx);
}

static void test_concurrent_translate(void **state)
{
	concurrent(state, false);
}

static void test_concurrent_bursty(void **state)
{
	concurrent(state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_many_windows_one_file,
					  teardown),
		cmocka_unit_test_teardown(test_few_files, teardown),
		cmocka_unit_test_teardown(test_limits_max_dma_maps, teardown),
		cmocka_unit_test_teardown(test_limits_dma_bytes, teardown),
		cmocka_unit_test_teardown(test_limits_fds, teardown),
		cmocka_unit_test_teardown(test_concurrent_translate,
					  teardown),
		cmocka_unit_test_teardown(test_concurrent_bursty, teardown),
		cmocka_unit_test_teardown(test_radix_fallback, teardown),
	};

	return cmocka_run_group_tests_name("integration_dma_scale", tests,
					   NULL, NULL);
}
