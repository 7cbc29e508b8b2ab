// SPDX-License-Identifier: MIT
/*
 * DMA at vIOMMU scale (issue 9): 65,535 windows of 4 KiB, all of one
 * memfd, at consecutive IOVAs from BASE (IOVA BASE + k * 4 KiB is page k
 * of the file), mapped in random order as a vIOMMU guest's mappings
 * come.  Two in-process devices, each served by its own thread
 * (uvfio_dev_run), each with an in-process uvfio client over a
 * socketpair that passes the memfd with every DMA_MAP and gives its own
 * mapping of the file as vaddr: one device holds the 65,535 windows (it
 * announces max_dma_maps 65,536 so that one more can come), the other
 * window 0 alone.  Everything is pinned to one CPU (BENCH_NOPIN=1: not).
 *
 * - dma_translate: ns per uvfio_dma_get(64 bytes, UVFIO_DMA_READ) plus
 *   uvfio_dma_put(), from a device-side thread, over a precomputed array
 *   of random IOVAs (a random window, a random offset in it), at 65,535
 *   windows and at 1 window; the ratio of the two is the goal.  The
 *   floor, over the same arrays: the same arithmetic without a table
 *   (IOVA minus the base, range check against the span, plus the base of
 *   this process's mapping of the file, read the byte).  Also printed:
 *   get, a read of the first byte through ref.ptr and put, which reads
 *   the floor's bytes (checked by their sums), and 65,535 windows with
 *   the same window again and again (the thread's hint hits).
 * - dma_map_unmap: ns per uvfio_client_dma_map() (fd passed) plus
 *   uvfio_client_dma_unmap() of a new 4 KiB window whose IOVA sorts below
 *   every other, with the 65,535 windows mapped, from the client thread
 *   to the device's thread and back.  The floor, between two threads of
 *   this process over a raw socketpair: the same messages (DMA_MAP's 48
 *   bytes with the memfd by SCM_RIGHTS, which the receiver closes, and
 *   a 16-byte reply; DMA_UNMAP's 40 bytes, and the 40-byte reply that
 *   echoes it), each received whole, nothing else done.  Also printed:
 *   the same pair on the other device with its table empty, and pairs
 *   that alternate below and above every window, where the window
 *   trees' finger on the last leaf they changed never helps.
 *
 * Rounds alternate between the figures and their floors; each figure is
 * the median of its rounds (best in parentheses).  Setting the 65,535
 * windows up is timed too (informational).
 *
 * usage: dma_scale
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "dev.h"
#include "proto/wire.h"
#include "stats.h"

#define PG 4096ull
#define NWIN 65535u
#define FILE_PAGES (NWIN + 1) /* the last page: the map/unmap window */
#define BASE 0x100000000ull
#define NEW_IOVA (BASE - PG) /* below every other window */
#define TOP_IOVA (BASE + NWIN * PG) /* above every other window */
#define LEN 64u
#define NSAMP (1u << 16) /* random IOVAs per array */
#define PASSES 4 /* over the array per measurement */
#define TR_ROUNDS 15
#define MU_ROUNDS 31
#define MU_PAIRS 200 /* map+unmap pairs per measurement */
#define RW (UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE)

#define MAP_MSG \
	(sizeof(struct vfio_user_header) + sizeof(struct vfio_user_dma_map))
#define MAP_REPLY sizeof(struct vfio_user_header)
#define UNMAP_MSG \
	(sizeof(struct vfio_user_header) + sizeof(struct vfio_user_dma_unmap))
#define UNMAP_REPLY UNMAP_MSG /* the device echoes the request */

struct side {
	const char *name;
	struct uvfio_dev *dev;
	struct uvfio_client *c;
	pthread_t thread;
};

static int memfd = -1;
static uint8_t *mem; /* the client's mapping of the file */

static void die(const char *what, int err)
{
	fprintf(stderr, "dma_scale: %s: %s\n", what, strerror(err));
	exit(1);
}

/* splitmix64: a fixed seed, the same arrays every run. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void dev_log(struct uvfio_dev *dev, void *priv, int err, const char *msg)
{
	static atomic_int n;

	if (atomic_fetch_add(&n, 1) < 10)
		fprintf(stderr, "dma_scale: %s device: %s (%s)\n",
			(const char *)priv, msg, strerror(err));
}

static void start_side(struct side *s, const char *name, uint32_t max_maps)
{
	static const struct uvfio_dev_ops ops = { .log = dev_log };
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10ff };
	struct uvfio_dev_opts o = { .max_dma_maps = max_maps };
	int sv[2], err;

	s->name = name;
	s->dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, &ops, (void *)name,
				  &o);
	if (!s->dev)
		die("uvfio_dev_create", errno);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair", errno);
	err = uvfio_dev_attach_fd(s->dev, sv[0]);
	if (err)
		die("uvfio_dev_attach_fd", -err);
	err = pthread_create(&s->thread, NULL, bench_dev_main, s->dev);
	if (err)
		die("pthread_create", err);
	s->c = uvfio_client_attach_fd(sv[1], NULL);
	if (!s->c)
		die("uvfio_client_attach_fd", errno);
}

static void stop_side(struct side *s)
{
	uvfio_client_close(s->c);
	pthread_join(s->thread, NULL);
	uvfio_dev_destroy(s->dev);
}

/* Window k: IOVA BASE + k pages, page k of the file. */
static void map_page(struct side *s, uint64_t iova, uint32_t page)
{
	int r = uvfio_client_dma_map(s->c, iova, PG, RW, mem + page * PG, memfd,
				     page * PG);

	if (r) {
		fprintf(stderr,
			"dma_scale: DMA_MAP of window %u (IOVA 0x%llx) on the "
			"%s device failed: %s\n",
			page, (unsigned long long)iova, s->name, strerror(-r));
		exit(1);
	}
}

static uint32_t windows(struct side *s)
{
	uint32_t n = 0;

	uvfio_dma_stats(s->dev, &n, NULL);
	return n;
}

/* NSAMP IOVAs, each in window first + a random one of nwin. */
static void fill_iovas(uint64_t *a, uint32_t first, uint32_t nwin,
		       uint64_t seed)
{
	for (uint32_t i = 0; i < NSAMP; i++) {
		uint64_t k = first + rnd(&seed) % nwin;

		a[i] = BASE + k * PG + rnd(&seed) % (PG - LEN + 1);
	}
}

/* The device side: get and put. */
static __attribute__((noinline)) uint64_t
translate_pass(struct uvfio_dev *dev, const uint64_t *iova, uint64_t *sum)
{
	struct uvfio_dma_ref ref;
	uint64_t t = bench_now_ns(), s = 0;

	for (uint32_t i = 0; i < NSAMP; i++) {
		int r = uvfio_dma_get(dev, iova[i], LEN, UVFIO_DMA_READ, &ref);

		if (__builtin_expect(r, 0))
			die("uvfio_dma_get", -r);
		s += (uintptr_t)ref.ptr;
		uvfio_dma_put(dev, &ref);
	}
	t = bench_now_ns() - t;
	*sum += s;
	return t;
}

/* Get, read the first byte as the floor does, put. */
static __attribute__((noinline)) uint64_t
translate_read_pass(struct uvfio_dev *dev, const uint64_t *iova, uint64_t *sum)
{
	struct uvfio_dma_ref ref;
	uint64_t t = bench_now_ns(), s = 0;

	for (uint32_t i = 0; i < NSAMP; i++) {
		int r = uvfio_dma_get(dev, iova[i], LEN, UVFIO_DMA_READ, &ref);

		if (__builtin_expect(r, 0))
			die("uvfio_dma_get", -r);
		s += *(const uint8_t *)ref.ptr;
		uvfio_dma_put(dev, &ref);
	}
	t = bench_now_ns() - t;
	*sum += s;
	return t;
}

/* The floor: the same arithmetic over a base and a span, no table. */
static __attribute__((noinline)) uint64_t
floor_pass(const uint64_t *iova, uint64_t base, uint64_t span, const uint8_t *p,
	   uint64_t *sum)
{
	uint64_t t = bench_now_ns(), s = 0;

	for (uint32_t i = 0; i < NSAMP; i++) {
		uint64_t off = iova[i] - base;

		if (__builtin_expect(off > span - LEN, 0))
			die("floor", ERANGE);
		s += p[off];
	}
	t = bench_now_ns() - t;
	*sum += s;
	return t;
}

enum { T_BIG, T_ONE, T_HINT, R_BIG, R_ONE, F_BIG, F_ONE, T_N };

/* One measurement of kind k: PASSES passes; returns ns per iteration. */
static double tr_measure(int k, struct side *big, struct side *one,
			 uint64_t *const arr[3], uint64_t *sum)
{
	uint64_t ns = 0;

	for (int p = 0; p < PASSES; p++) {
		switch (k) {
		case T_BIG:
			ns += translate_pass(big->dev, arr[0], sum);
			break;
		case T_ONE:
			ns += translate_pass(one->dev, arr[1], sum);
			break;
		case T_HINT:
			ns += translate_pass(big->dev, arr[2], sum);
			break;
		case R_BIG:
			ns += translate_read_pass(big->dev, arr[0], sum);
			break;
		case R_ONE:
			ns += translate_read_pass(one->dev, arr[1], sum);
			break;
		case F_BIG:
			ns += floor_pass(arr[0], BASE, NWIN * PG, mem, sum);
			break;
		case F_ONE:
			ns += floor_pass(arr[1], BASE, PG, mem, sum);
		}
	}
	return (double)ns / (PASSES * NSAMP);
}

/* Medians (and bests) in ps, so that the stats work in integers. */
static uint64_t tr_ps[T_N][TR_ROUNDS];

static void translate(struct side *big, struct side *one, double *med,
		      double *best)
{
	uint64_t *arr[3], seed = 9;
	uint64_t sum[T_N] = { 0 };

	for (int i = 0; i < 3; i++) {
		arr[i] = malloc(NSAMP * sizeof(uint64_t));
		if (!arr[i])
			die("malloc", ENOMEM);
	}
	fill_iovas(arr[0], 0, NWIN, 1);
	fill_iovas(arr[1], 0, 1, 2);
	fill_iovas(arr[2], (uint32_t)(rnd(&seed) % NWIN), 1, 3);
	/* Warm up: page tables, caches, the device's mapping faulted in. */
	for (int k = 0; k < T_N; k++)
		tr_measure(k, big, one, arr, &sum[k]);
	for (int r = 0; r < TR_ROUNDS; r++) {
		for (int j = 0; j < T_N; j++) {
			int k = r & 1 ? T_N - 1 - j : j;

			sum[k] = 0;
			tr_ps[k][r] =
				(uint64_t)(1000 * tr_measure(k, big, one, arr,
							     &sum[k]));
		}
		/* The table found the bytes the arithmetic found. */
		if (sum[R_BIG] != sum[F_BIG] || sum[R_ONE] != sum[F_ONE]) {
			fprintf(stderr, "dma_scale: dma_translate read other "
					"bytes than its floor\n");
			exit(1);
		}
	}
	for (int k = 0; k < T_N; k++) {
		med[k] = bench_median(tr_ps[k], TR_ROUNDS) / 1e3;
		best[k] = tr_ps[k][0] / 1e3; /* sorted by the median */
	}
	for (int i = 0; i < 3; i++)
		free(arr[i]);
}

/* The floor's device side: answers as the device does, closing the fd. */
static void *floor_peer(void *arg)
{
	int fd = *(int *)arg;
	uint8_t buf[MAP_MSG > UNMAP_MSG ? MAP_MSG : UNMAP_MSG] = { 0 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;

	for (;;) {
		struct iovec iov = { buf, MAP_MSG };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cm.b,
				     .msg_controllen = sizeof(cm.b) };
		struct cmsghdr *c;
		int got;

		if (recvmsg(fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC) !=
		    (ssize_t)MAP_MSG)
			break;
		c = CMSG_FIRSTHDR(&mh);
		if (!c || c->cmsg_type != SCM_RIGHTS)
			die("floor: no fd came", EPROTO);
		memcpy(&got, CMSG_DATA(c), sizeof(got));
		close(got);
		if (send(fd, buf, MAP_REPLY, MSG_NOSIGNAL) !=
			    (ssize_t)MAP_REPLY ||
		    recv(fd, buf, UNMAP_MSG, MSG_WAITALL) !=
			    (ssize_t)UNMAP_MSG ||
		    send(fd, buf, UNMAP_REPLY, MSG_NOSIGNAL) !=
			    (ssize_t)UNMAP_REPLY)
			die("floor peer", errno);
	}
	return NULL;
}

static uint64_t floor_pairs(int fd)
{
	uint8_t buf[MAP_MSG > UNMAP_MSG ? MAP_MSG : UNMAP_MSG] = { 0 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	uint64_t t = bench_now_ns();

	for (int i = 0; i < MU_PAIRS; i++) {
		struct iovec iov = { buf, MAP_MSG };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cm.b,
				     .msg_controllen = sizeof(cm.b) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &memfd, sizeof(int));
		if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)MAP_MSG ||
		    recv(fd, buf, MAP_REPLY, MSG_WAITALL) !=
			    (ssize_t)MAP_REPLY ||
		    send(fd, buf, UNMAP_MSG, MSG_NOSIGNAL) !=
			    (ssize_t)UNMAP_MSG ||
		    recv(fd, buf, UNMAP_REPLY, MSG_WAITALL) !=
			    (ssize_t)UNMAP_REPLY)
			die("floor", errno);
	}
	return bench_now_ns() - t;
}

/*
 * Pairs of the new window, below every other one; with far, every other
 * pair above every other one instead, so that no pair lands where the
 * last one did (the window trees keep a finger on the last leaf).
 */
static uint64_t uvfio_pairs(struct side *s, bool far)
{
	uint64_t t = bench_now_ns();

	for (int i = 0; i < MU_PAIRS; i++) {
		uint64_t iova = far && (i & 1) ? TOP_IOVA : NEW_IOVA;
		int r;

		map_page(s, iova, NWIN);
		r = uvfio_client_dma_unmap(s->c, iova, PG);
		if (r)
			die("uvfio_client_dma_unmap", -r);
	}
	return bench_now_ns() - t;
}

enum { M_BIG, M_EMPTY, M_FLOOR, M_FAR, M_N };

static void map_unmap(struct side *big, struct side *empty, double *med,
		      double *best)
{
	uint64_t ns[M_N][MU_ROUNDS];
	pthread_t ft;
	int fl[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fl) ||
	    pthread_create(&ft, NULL, floor_peer, &fl[1]))
		die("floor set-up", errno);
	/* Warm up. */
	uvfio_pairs(big, false);
	uvfio_pairs(big, true);
	uvfio_pairs(empty, false);
	floor_pairs(fl[0]);
	for (int r = 0; r < MU_ROUNDS; r++) {
		for (int j = 0; j < M_N; j++) {
			int k = r & 1 ? M_N - 1 - j : j;

			ns[k][r] = k == M_BIG	? uvfio_pairs(big, false) :
				   k == M_FAR	? uvfio_pairs(big, true) :
				   k == M_EMPTY ? uvfio_pairs(empty, false) :
						  floor_pairs(fl[0]);
		}
	}
	close(fl[0]);
	pthread_join(ft, NULL);
	close(fl[1]);
	for (int k = 0; k < M_N; k++) {
		med[k] = (double)bench_median(ns[k], MU_ROUNDS) / MU_PAIRS;
		best[k] = (double)ns[k][0] / MU_PAIRS;
	}
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit", errno);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit", errno);
}

int main(void)
{
	struct side big, one;
	double tm[T_N], tb[T_N], mm[M_N], mb[M_N];
	uint32_t *order;
	uint64_t seed = 7, t;
	bool pin = !getenv("BENCH_NOPIN");

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (pin)
		bench_pin_cpu0();
	printf("dma_scale: %u windows of 4 KiB, one memfd, IOVAs 0x%llx + k "
	       "pages mapped in random order; device (a thread) and client "
	       "in this process, %s\n",
	       NWIN, BASE, pin ? "both pinned to one CPU (0)" : "not pinned");

	/* The file, every word holding its own IOVA (scrambled). */
	memfd = memfd_create("dma_scale", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)(FILE_PAGES * PG)))
		die("memfd", errno);
	mem = mmap(NULL, FILE_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
		   memfd, 0);
	if (mem == MAP_FAILED)
		die("mmap", errno);
	for (uint64_t w = 0; w < FILE_PAGES * PG / 8; w++)
		((uint64_t *)(void *)mem)[w] =
			(BASE + w * 8) * 0x9e3779b97f4a7c15ull;

	start_side(&big, "65535-window", NWIN + 1);
	start_side(&one, "1-window", 0);

	order = malloc(NWIN * sizeof(*order));
	if (!order)
		die("malloc", ENOMEM);
	for (uint32_t i = 0; i < NWIN; i++)
		order[i] = i;
	for (uint32_t i = NWIN; i > 1; i--) {
		uint32_t j = (uint32_t)(rnd(&seed) % i), x = order[i - 1];

		order[i - 1] = order[j];
		order[j] = x;
	}
	t = bench_now_ns();
	for (uint32_t i = 0; i < NWIN; i++)
		map_page(&big, BASE + order[i] * PG, order[i]);
	t = bench_now_ns() - t;
	free(order);
	map_page(&one, BASE, 0);
	if (windows(&big) != NWIN || windows(&one) != 1) {
		fprintf(stderr,
			"dma_scale: the devices hold %u and %u "
			"windows\n",
			windows(&big), windows(&one));
		return 1;
	}
	printf("set-up: %u DMA_MAPs in random order took %.2f s (%.1f us "
	       "each)\n",
	       NWIN, t / 1e9, t / 1e3 / NWIN);

	translate(&big, &one, tm, tb);

	/* The 1-window device becomes the empty table. */
	int r = uvfio_client_dma_unmap(one.c, BASE, PG);

	if (r)
		die("uvfio_client_dma_unmap", -r);
	map_unmap(&big, &one, mm, mb);
	if (windows(&big) != NWIN || windows(&one) != 0) {
		fprintf(stderr,
			"dma_scale: after map+unmap the devices hold "
			"%u and %u windows\n",
			windows(&big), windows(&one));
		return 1;
	}

	printf("dma_translate floor (IOVA - base, range check, + pointer, "
	       "read a byte): %.2f ns over the 65535-window IOVAs (best "
	       "%.2f), %.2f ns over the 1-window IOVAs (best %.2f)\n",
	       tm[F_BIG], tb[F_BIG], tm[F_ONE], tb[F_ONE]);
	printf("dma_translate (get+put) at 1 window: %.2f ns (best %.2f), "
	       "ratio to its floor %.2f; at 65535 windows: %.2f ns (best "
	       "%.2f)\n",
	       tm[T_ONE], tb[T_ONE], tm[T_ONE] / tm[F_ONE], tm[T_BIG],
	       tb[T_BIG]);
	printf("dma_translate reading the floor's byte through ref.ptr too: "
	       "%.2f ns at 65535 windows (ratio to its floor %.2f), %.2f ns "
	       "at 1 window (%.2f)\n",
	       tm[R_BIG], tm[R_BIG] / tm[F_BIG], tm[R_ONE],
	       tm[R_ONE] / tm[F_ONE]);
	printf("dma_translate at 65535 windows, the same window again and "
	       "again (hint hits): %.2f ns (best %.2f)\n",
	       tm[T_HINT], tb[T_HINT]);
	printf("dma_map_unmap with an empty table: %.0f ns (best %.0f), "
	       "ratio to the floor %.2f\n",
	       mm[M_EMPTY], mb[M_EMPTY], mm[M_EMPTY] / mm[M_FLOOR]);
	printf("dma_map_unmap at 65535 windows, every other pair above "
	       "every window instead of below (no pair where the last one "
	       "was): %.0f ns (best %.0f), ratio to the floor %.2f\n",
	       mm[M_FAR], mb[M_FAR], mm[M_FAR] / mm[M_FLOOR]);
	printf("dma_map_unmap floor (raw socketpair, the same messages and "
	       "fd): %.0f ns (best %.0f)\n",
	       mm[M_FLOOR], mb[M_FLOOR]);
	printf("dma_translate: %.2f ns at 65535 windows, %.2f ns at 1 window, "
	       "ratio %.2f\n",
	       tm[T_BIG], tm[T_ONE], tm[T_BIG] / tm[T_ONE]);
	printf("dma_map_unmap: %.0f ns at 65535 windows, floor %.0f ns, ratio "
	       "%.2f\n",
	       mm[M_BIG], mm[M_FLOOR], mm[M_BIG] / mm[M_FLOOR]);

	stop_side(&big);
	stop_side(&one);
	munmap(mem, FILE_PAGES * PG);
	close(memfd);
	return 0;
}
