// SPDX-License-Identifier: MIT
/*
 * Migration figures, each with its floor from the same run:
 *
 * - migration_stream: a device's 64 MiB state read through MIG_DATA_READ
 *   (1 MiB per message) by uvfio's client, against a raw socketpair
 *   exchange of the same messages (a 24-byte request, a reply of 24 bytes
 *   plus 1 MiB received whole into a buffer), rounds alternating;
 * - stop_copy_downtime: uvfio-testdev after pre-copy (into a second
 *   testdev already RESUMING), from the SET that leaves PRE_COPY to the
 *   destination's reply to RUNNING: the arc, reading and writing what
 *   is left, the load and both arcs, each step printed;
 * - dirty_report_64g: one REPORT of 64 GiB of logged IOVA at 4 KiB pages
 *   (a 2 MiB bitmap, in as many messages as the transfer size needs),
 *   against a memcpy of the same bitmap.
 *
 * Everything runs pinned to CPU 0 (BENCH_NOPIN=1: not).
 *
 * usage: migration [TESTDEV_BINARY]  (default: the build tree's)
 *        BENCH_ONLY=stream|downtime|report runs one part.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "dev.h"
#include "proto/wire.h"
#include "stats.h"

#define MIB (1u << 20)
#define STATE (64u * MIB)
#define CHUNK (MIB - 64)        /* data per MIG_DATA_READ reply */
#define ROUNDS 9
#define GET VFIO_DEVICE_FEATURE_GET
#define SET VFIO_DEVICE_FEATURE_SET

static uint8_t *state_src, *floor_src;

/* The bench device: 64 MiB of state, written at STOP_COPY. */
static int big_save(struct uvfio_dev *dev, void *priv,
		    struct uvfio_mig_out *out, bool final)
{
	return final ? uvfio_mig_write(out, state_src, STATE) : 0;
}

static int set_state(struct uvfio_client *c, enum uvfio_mig_state s)
{
	return uvfio_client_mig_set_state(c, s);
}

/* An in-process device with ops on sv[0], its thread, a client on sv[1]. */
static struct uvfio_client *start_dev(const struct uvfio_mig_ops *ops,
				      int *sv, struct uvfio_dev **dev,
				      pthread_t *t)
{
	struct uvfio_pci_ids ids = { .vendor_id = 0x1af4, .device_id = 0x10ff };
	struct uvfio_client *c;

	*dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, NULL, NULL);
	if (!*dev || uvfio_dev_set_migration(*dev, ops, NULL) ||
	    uvfio_dev_attach_fd(*dev, sv[0]))
		exit(1);
	pthread_create(t, NULL, bench_dev_main, *dev);
	c = uvfio_client_attach_fd(sv[1], NULL);
	if (!c)
		exit(1);
	return c;
}

/* Reads until a short read; returns the bytes read. */
static size_t read_all(struct uvfio_client *c, uint8_t *buf, size_t cap)
{
	ssize_t n = uvfio_client_mig_read(c, buf, cap);

	if (n < 0) {
		fprintf(stderr, "migration: MIG_DATA_READ: %zd\n", n);
		exit(1);
	}
	return (size_t)n;
}

static void write_all(struct uvfio_client *c, const uint8_t *buf,
		      size_t len)
{
	int r = uvfio_client_mig_write(c, buf, len);

	if (r < 0) {
		fprintf(stderr, "migration: MIG_DATA_WRITE: %d\n", r);
		exit(1);
	}
}

/*
 * The floor's device side: answers each request with a reply whose data
 * comes from a state of the same size, as the device's does (a 1 MiB
 * buffer sent again and again would be served from the cache).
 */
static void *floor_peer(void *arg)
{
	int fd = *(int *)arg;
	uint8_t hdr[24] = { 0 }, rq[24];
	size_t at = 0;

	while (recv(fd, rq, sizeof(rq), MSG_WAITALL) == sizeof(rq)) {
		struct iovec iov[2] = { { hdr, sizeof(hdr) },
					{ floor_src + at, CHUNK } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		/* Always a whole chunk, as the floor's reader expects. */
		at += CHUNK;
		if (at > STATE - CHUNK)
			at = 0;
		while (mh.msg_iovlen) {
			ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL);

			if (r <= 0)
				return NULL;
			while (r > 0 && mh.msg_iovlen) {
				size_t k = (size_t)r < mh.msg_iov[0].iov_len ?
						   (size_t)r :
						   mh.msg_iov[0].iov_len;

				mh.msg_iov[0].iov_base =
					(uint8_t *)mh.msg_iov[0].iov_base + k;
				mh.msg_iov[0].iov_len -= k;
				r -= (ssize_t)k;
				if (!mh.msg_iov[0].iov_len) {
					mh.msg_iov++;
					mh.msg_iovlen--;
				}
			}
		}
	}
	return NULL;
}

static uint64_t floor_round(int fd, uint8_t *buf)
{
	uint8_t rq[24] = { 0 }, hdr[24];
	uint64_t t0 = bench_now_ns();

	for (size_t have = 0; have < STATE; have += CHUNK) {
		struct iovec iov[2] = {
			{ hdr, sizeof(hdr) },
			{ buf + have, STATE - have < CHUNK ? STATE - have :
							     CHUNK },
		};
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		size_t want = sizeof(hdr) + CHUNK, got = 0;

		if (send(fd, rq, sizeof(rq), MSG_NOSIGNAL) != sizeof(rq))
			exit(1);
		/* The last reply's surplus lands past the state: room kept. */
		iov[1].iov_len = CHUNK;
		while (got < want) {
			ssize_t r = recvmsg(fd, &mh, MSG_WAITALL);

			if (r <= 0)
				exit(1);
			got += (size_t)r;
			for (size_t k = 0, left = (size_t)r; k < 2; k++) {
				size_t n = left < iov[k].iov_len ?
						   left :
						   iov[k].iov_len;

				iov[k].iov_base = (uint8_t *)iov[k].iov_base +
						  n;
				iov[k].iov_len -= n;
				left -= n;
			}
		}
	}
	return bench_now_ns() - t0;
}

static void stream(void)
{
	static const struct uvfio_mig_ops ops = {
		.flags = VFIO_MIGRATION_STOP_COPY,
		.save = big_save,
	};
	uint8_t *buf = malloc(STATE + MIB);
	uint64_t ours[ROUNDS], floor[ROUNDS];
	struct uvfio_dev *dev;
	struct uvfio_client *c;
	pthread_t dt, ft;
	int sv[2], fl[2];

	state_src = malloc(STATE);
	floor_src = malloc(STATE);
	if (!buf || !state_src || !floor_src ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fl))
		exit(1);
	memset(state_src, 0x5a, STATE);
	memset(floor_src, 0xa5, STATE);
	c = start_dev(&ops, sv, &dev, &dt);
	pthread_create(&ft, NULL, floor_peer, &fl[1]);

	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t0;
		size_t n;

		if (set_state(c, UVFIO_MIG_STOP_COPY))
			exit(1);
		t0 = bench_now_ns();
		n = read_all(c, buf, STATE + MIB);
		ours[i] = bench_now_ns() - t0;
		if (n < STATE || set_state(c, UVFIO_MIG_RUNNING))
			exit(1);
		floor[i] = floor_round(fl[0], buf);
	}
	uvfio_client_close(c);
	close(fl[0]);
	pthread_join(ft, NULL);
	pthread_join(dt, NULL);
	uvfio_dev_destroy(dev);
	close(fl[1]);

	double o = STATE / (bench_median(ours, ROUNDS) / 1e3);
	double f = STATE / (bench_median(floor, ROUNDS) / 1e3);

	printf("migration_stream: %.0f MB/s, floor %.0f MB/s, ratio %.2f\n",
	       o, f, o / f);
	free(buf);
	free(state_src);
	free(floor_src);
}

/* stop_copy_downtime: two testdev processes. */
static void downtime(const char *bin)
{
	const char *step[] = { "arc to STOP_COPY", "read the rest",
			       "write it", "arc to STOP (load)",
			       "arc to RUNNING" };
	uint64_t t[ROUNDS][6];
	char dir[] = "/tmp/uvfio-bench-XXXXXX", sock[2][PATH_MAX];
	uint8_t *buf = malloc(8 * MIB);
	struct uvfio_client *c[2];
	pid_t pid[2];

	if (!buf || !mkdtemp(dir))
		exit(1);
	for (int i = 0; i < 2; i++) {
		snprintf(sock[i], sizeof(sock[i]), "%s/td%d.sock", dir, i);
		pid[i] = bench_start_testdev(bin, sock[i]);
		c[i] = uvfio_client_connect(sock[i], NULL);
		if (!c[i])
			exit(1);
	}
	for (int r = 0; r < ROUNDS; r++) {
		struct uvfio_client *src = c[r & 1], *dst = c[!(r & 1)];
		size_t n;

		if (set_state(dst, UVFIO_MIG_RESUMING) ||
		    set_state(src, UVFIO_MIG_PRE_COPY))
			exit(1);
		/* Pre-copy until nothing new is left. */
		do {
			n = read_all(src, buf, 8 * MIB);
			write_all(dst, buf, n);
		} while (n);
		t[r][0] = bench_now_ns();
		if (set_state(src, UVFIO_MIG_STOP_COPY))
			exit(1);
		t[r][1] = bench_now_ns();
		n = read_all(src, buf, 8 * MIB);
		t[r][2] = bench_now_ns();
		write_all(dst, buf, n);
		t[r][3] = bench_now_ns();
		if (set_state(dst, UVFIO_MIG_STOP))
			exit(1);
		t[r][4] = bench_now_ns();
		if (set_state(dst, UVFIO_MIG_RUNNING))
			exit(1);
		t[r][5] = bench_now_ns();
		if (set_state(src, UVFIO_MIG_STOP) ||
		    set_state(src, UVFIO_MIG_RUNNING))
			exit(1);
	}
	uint64_t v[ROUNDS];

	for (int r = 0; r < ROUNDS; r++)
		v[r] = t[r][5] - t[r][0];
	printf("stop_copy_downtime: %.0f us\n", bench_median(v, ROUNDS) / 1e3);
	for (int k = 0; k < 5; k++) {
		for (int r = 0; r < ROUNDS; r++)
			v[r] = t[r][k + 1] - t[r][k];
		printf("  %-20s %8.1f us\n", step[k],
		       bench_median(v, ROUNDS) / 1e3);
	}
	for (int i = 0; i < 2; i++) {
		uvfio_client_close(c[i]);
		kill(pid[i], SIGTERM);
		waitpid(pid[i], NULL, 0);
		unlink(sock[i]);
	}
	rmdir(dir);
	free(buf);
}

#define LOG_SPAN (64ull << 30)
#define LOG_PAGES (LOG_SPAN / 4096)
#define LOG_BITMAP (LOG_PAGES / 8)

/* dirty_report_64g: the device wrote every 64th page of 64 GiB. */
static void report(void)
{
	static const struct uvfio_mig_ops ops = {
		.flags = VFIO_MIGRATION_STOP_COPY,
	};
	uint8_t *bitmap = malloc(LOG_BITMAP), *copy = malloc(LOG_BITMAP);
	uint64_t ours[ROUNDS], floor[ROUNDS];
	struct uvfio_dev *dev;
	struct uvfio_client *c;
	pthread_t dt;
	int sv[2];

	if (!bitmap || !copy ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		exit(1);
	c = start_dev(&ops, sv, &dev, &dt);

	uint64_t ps = 4096;

	if (uvfio_client_dirty_start(c, &ps, NULL, 0) || ps != 4096)
		exit(1);
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t0;

		/* What the device wrote since the last report. */
		for (uint64_t p = (uint64_t)i; p < LOG_PAGES; p += 64)
			uvfio_dma_mark_dirty(dev, p * 4096, 4096);
		t0 = bench_now_ns();
		if (uvfio_client_dirty_report(c, 0, LOG_SPAN, 4096,
					      (uint64_t *)(void *)bitmap))
			exit(1);
		ours[i] = bench_now_ns() - t0;
		t0 = bench_now_ns();
		memcpy(copy, bitmap, LOG_BITMAP);
		floor[i] = bench_now_ns() - t0;
		if (((uint64_t *)(void *)copy)[0] != 1ull << i)
			exit(1);
	}
	uvfio_client_close(c);
	pthread_join(dt, NULL);
	uvfio_dev_destroy(dev);

	double o = bench_median(ours, ROUNDS) / 1e6;
	double f = bench_median(floor, ROUNDS) / 1e6;

	printf("dirty_report_64g: %.2f ms, floor %.2f ms, ratio %.1f\n", o, f,
	       o / f);
	free(bitmap);
	free(copy);
}

int main(int argc, char **argv)
{
	char bin[PATH_MAX];

	snprintf(bin, sizeof(bin), "%s",
		 argc > 1 ? argv[1] :
			    bench_build_path("devices/testdev/uvfio-testdev"));
	if (!getenv("BENCH_NOPIN"))
		bench_pin_cpu0();
	/* BENCH_ONLY=stream|downtime|report runs one part (for profiling). */
	const char *only = getenv("BENCH_ONLY");

	if (!only || !strcmp(only, "stream"))
		stream();
	if (!only || !strcmp(only, "downtime"))
		downtime(bin);
	if (!only || !strcmp(only, "report"))
		report();
	return 0;
}
