// SPDX-License-Identifier: MIT
/*
 * The channel's framing and fd passing, over real AF_UNIX stream
 * socketpairs.  The far end is driven with raw send()/sendmsg() so the
 * bytes and segment boundaries the channel sees are exactly the ones a
 * test means to produce.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/chan.h"
#include "proto/wire.h"

#define HDR_SIZE ((uint32_t)sizeof(struct vfio_user_header))
#define SMALL_MAX 4096u
#define BIG_MAX ((1u << 20) + 64)

/* ---- helpers ---------------------------------------------------------- */

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static int max_open_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int m = -1, self;

	if (!d)
		return -1;
	self = dirfd(d);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd != self && fd > m)
			m = fd;
	}
	closedir(d);
	return m;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void xclose(int fd)
{
	assert_int_equal(close(fd), 0);
}

/*
 * A channel on one end of a fresh socketpair; *peer is the other end.
 * Blocking reads on either end give up after a while, so a lost byte
 * fails a test instead of hanging it.
 */
static void chan_open(struct uvfio_chan *ch, int *peer, uint32_t max)
{
	struct timeval tv = { .tv_sec = 10 };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &tv,
					    sizeof(tv)),
				 0);
	assert_int_equal(uvfio_chan_init(ch, sv[0], max), 0);
	*peer = sv[1];
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -errno;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One sendmsg() carrying fds, then plain writes for what it left. */
static int send_with_fds(int fd, const void *p, size_t n, const int *fds,
			 unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * UVFIO_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { (void *)p, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (nfds) {
		struct cmsghdr *c;

		memset(cb.b, 0, sizeof(cb.b));
		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return write_all(fd, (const uint8_t *)p + r, n - (size_t)r);
}

static void hdr_put(uint8_t *b, uint16_t id, uint16_t cmd, uint32_t size,
		    uint32_t flags, uint32_t err)
{
	struct vfio_user_header h = { id, cmd, size, flags, err };

	memcpy(b, &h, sizeof(h));
}

static uint8_t pat(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 8) + (i >> 16));
}

static void pat_fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(seed, i);
}

/* Index of the first byte off the pattern, or n. */
static size_t pat_check(const uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(seed, i))
			return i;
	return n;
}

/* A whole message with a patterned payload; returns its size. */
static size_t msg_put(uint8_t *b, uint16_t id, uint16_t cmd, uint32_t size)
{
	hdr_put(b, id, cmd, size, 0, 0);
	pat_fill(b + HDR_SIZE, size - HDR_SIZE, id);
	return size;
}

static void *msg_new(uint16_t id, uint16_t cmd, uint32_t size)
{
	uint8_t *b = malloc(size);

	assert_non_null(b);
	msg_put(b, id, cmd, size);
	return b;
}

/* Checks a received message against what msg_put() built. */
static void expect_msg(const struct uvfio_msg *m, uint16_t id, uint16_t cmd,
		       uint32_t size)
{
	assert_false(m->oversize);
	assert_int_equal(m->hdr.msg_id, id);
	assert_int_equal(m->hdr.cmd, cmd);
	assert_int_equal(m->hdr.msg_size, size);
	assert_int_equal(m->size, size - HDR_SIZE);
	if (m->size)
		assert_non_null(m->payload);
	else
		assert_null(m->payload);
	assert_int_equal(pat_check(m->payload, m->size, id), m->size);
}

static void recv_expect(struct uvfio_chan *ch, struct uvfio_msg *m, uint16_t id,
			uint16_t cmd, uint32_t size)
{
	assert_int_equal(uvfio_chan_recv(ch, m, true), 1);
	expect_msg(m, id, cmd, size);
}

/* Proves w and r are ends of one pipe: a byte written to w comes out of r. */
static void expect_same_pipe(int w, int r)
{
	char c = 'q', got = 0;

	assert_int_equal(write(w, &c, 1), 1);
	assert_int_equal(read(r, &got, 1), 1);
	assert_int_equal(got, 'q');
}

/* 1: every write end of the pipe is gone; 0: one is still open. */
static int pipe_eof(int r)
{
	char c;
	int fl = fcntl(r, F_GETFL);
	ssize_t n;

	fcntl(r, F_SETFL, fl | O_NONBLOCK);
	n = read(r, &c, 1);
	fcntl(r, F_SETFL, fl);
	if (n == 0)
		return 1;
	assert_int_equal(n, -1);
	assert_int_equal(errno, EAGAIN);
	return 0;
}

static void nop_handler(int sig)
{
	(void)sig;
}

/* SIGUSR1 interrupts blocking calls instead of restarting them. */
static void sigusr1_interrupts(struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = nop_handler };

	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, old), 0);
}

/* Pacing for the signal pester only: it synchronises nothing. */
static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- a writer thread -------------------------------------------------- */

struct seg {
	const void *p;
	size_t len;
	const int *fds;
	unsigned int nfds;
};

#define MAX_SEGS 4

/*
 * Writer threads live on the heap, and the data they send is freed only
 * after the join: a test failing half-way leaks them instead of leaving
 * a thread working on a dead stack frame.
 */
struct writer {
	pthread_t tid;
	int fd;
	struct seg segs[MAX_SEGS];
	int nsegs;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < w->nsegs && !w->err; i++)
		w->err = send_with_fds(w->fd, w->segs[i].p, w->segs[i].len,
				       w->segs[i].fds, w->segs[i].nfds);
	return NULL;
}

static struct writer *writer_start(int fd, const struct seg *segs, int nsegs)
{
	struct writer *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	assert_true(nsegs <= MAX_SEGS);
	w->fd = fd;
	memcpy(w->segs, segs, sizeof(*segs) * (size_t)nsegs);
	w->nsegs = nsegs;
	assert_int_equal(pthread_create(&w->tid, NULL, writer_main, w), 0);
	return w;
}

static void writer_join(struct writer *w)
{
	int err;

	assert_int_equal(pthread_join(w->tid, NULL), 0);
	err = w->err;
	free(w);
	assert_int_equal(err, 0);
}

/* ---- framing ---------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	/* 0 and 240 go out gathered by send(), 241 and up by sendmsg(). */
	static const uint32_t sizes[] = { 0, 1, 5, 240, 241, 4000 };
	struct uvfio_chan tx, rx;
	struct uvfio_msg m;
	uint8_t pay[4000];
	int peer;

	chan_open(&rx, &peer, SMALL_MAX);
	assert_int_equal(uvfio_chan_init(&tx, peer, SMALL_MAX), 0);
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i];
		struct vfio_user_header h = {
			.msg_id = (uint16_t)(0xfff0 + i),
			.cmd = (uint16_t)(i + 2),
			.msg_size = HDR_SIZE + n,
			.flags = VFIO_USER_F_NO_REPLY,
			.error_no = 0xdeadbeef,
		};
		struct iovec iov[2] = { { pay, n / 3 },
					{ pay + n / 3, n - n / 3 } };

		pat_fill(pay, n, h.msg_id);
		assert_int_equal(uvfio_chan_sendv(&tx, &h, iov, 2, NULL, 0), 0);
		assert_int_equal(uvfio_chan_recv(&rx, &m, false), 1);
		assert_memory_equal(&m.hdr, &h, sizeof(h));
		expect_msg(&m, h.msg_id, h.cmd, h.msg_size);
		assert_int_equal(m.nfds, 0);
		assert_false(m.fds_truncated);
		assert_null(m.heap);
	}
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	uvfio_chan_fini(&tx);
	uvfio_chan_fini(&rx);
}

static void test_split_writes(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[1016 + 100];
	size_t len, i;
	int peer;

	chan_open(&rx, &peer, SMALL_MAX);
	len = msg_put(b, 1, 2, 1016);
	msg_put(b + len, 2, 3, 100);
	for (i = 0; i < HDR_SIZE; i++) {
		assert_int_equal(write_all(peer, b + i, 1), 0);
		assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	}
	for (; i + 37 < len; i += 37) {
		assert_int_equal(write_all(peer, b + i, 37), 0);
		assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	}
	/* The rest of the first message and 3 bytes of the next. */
	assert_int_equal(write_all(peer, b + i, len - i + 3), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 1);
	expect_msg(&m, 1, 2, 1016);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	assert_int_equal(write_all(peer, b + len + 3, 97), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 1);
	expect_msg(&m, 2, 3, 100);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	xclose(peer);
	uvfio_chan_fini(&rx);
}

static void test_pipelined(void **state)
{
	static const uint32_t sizes[] = { 16, 116, 16, 3016, 33 };
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[4096];
	size_t len = 0;
	int peer, fd;

	chan_open(&rx, &peer, SMALL_MAX);
	for (int i = 0; i < 5; i++)
		len += msg_put(b + len, (uint16_t)(10 + i), (uint16_t)i,
			       sizes[i]);
	assert_int_equal(write_all(peer, b, len), 0);
	xclose(peer);

	recv_expect(&rx, &m, 10, 0, sizes[0]);
	/* With no socket, anything that is not served from the buffer fails. */
	fd = rx.fd;
	rx.fd = -1;
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), 1);
	expect_msg(&m, 11, 1, sizes[1]);
	for (int i = 2; i < 5; i++) {
		assert_int_equal(uvfio_chan_next_buffered(&rx, &m), 1);
		expect_msg(&m, (uint16_t)(10 + i), (uint16_t)i, sizes[i]);
	}
	assert_int_equal(uvfio_chan_next_buffered(&rx, &m), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), -EBADF);
	rx.fd = fd;
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), -ECONNRESET);
	uvfio_chan_fini(&rx);
}

static void test_bad_size(void **state)
{
	static const uint32_t bad[] = { 0, 1, 15 };

	for (unsigned int i = 0; i < 3; i++) {
		struct uvfio_chan rx;
		struct uvfio_msg m;
		uint8_t b[64];
		int peer;

		chan_open(&rx, &peer, SMALL_MAX);
		msg_put(b, 1, 1, 16);
		hdr_put(b + 16, 2, 1, bad[i], 0, 0);
		memset(b + 32, 0, 32);
		assert_int_equal(write_all(peer, b, 64), 0);
		recv_expect(&rx, &m, 1, 1, 16);
		assert_int_equal(uvfio_chan_recv(&rx, &m, true), -EPROTO);
		/* Framing is lost for good: it stays an error. */
		assert_int_equal(uvfio_chan_recv(&rx, &m, false), -EPROTO);
		assert_int_equal(uvfio_chan_next_buffered(&rx, &m), -EPROTO);
		xclose(peer);
		uvfio_chan_fini(&rx);
	}
}

static void test_oversize(void **state)
{
	const uint32_t big = SMALL_MAX + 1 + 5000;
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t *b = malloc(2 * big);
	size_t len, i;
	int peer;

	assert_non_null(b);
	chan_open(&rx, &peer, SMALL_MAX);

	/* Exactly the limit is fine, one more is not. */
	len = msg_put(b, 1, 9, SMALL_MAX);
	len += msg_put(b + len, 2, 9, SMALL_MAX + 1);
	len += msg_put(b + len, 3, 9, 20);
	assert_int_equal(write_all(peer, b, len), 0);
	recv_expect(&rx, &m, 1, 9, SMALL_MAX);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), 1);
	assert_true(m.oversize);
	assert_int_equal(m.hdr.msg_id, 2);
	assert_int_equal(m.hdr.msg_size, SMALL_MAX + 1);
	assert_null(m.payload);
	assert_int_equal(m.size, 0);
	recv_expect(&rx, &m, 3, 9, 20);

	/* The oversize body trickles in after the header. */
	len = msg_put(b, 4, 10, big);
	len += msg_put(b + len, 5, 11, 300);
	assert_int_equal(write_all(peer, b, HDR_SIZE), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 1);
	assert_true(m.oversize);
	assert_int_equal(m.hdr.msg_id, 4);
	assert_int_equal(m.hdr.cmd, 10);
	assert_int_equal(m.hdr.msg_size, big);
	assert_int_equal(m.nfds, 0);
	assert_null(m.payload);
	for (i = HDR_SIZE; i + 1500 < big; i += 1500) {
		assert_int_equal(write_all(peer, b + i, 1500), 0);
		assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	}
	/* Its last bytes share a write with the next message's first. */
	assert_int_equal(write_all(peer, b + i, big - i + 10), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	assert_int_equal(write_all(peer, b + big + 10, 290), 0);
	recv_expect(&rx, &m, 5, 11, 300);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);

	/* A header claiming 4 GiB, then the peer is gone. */
	hdr_put(b, 6, 1, UINT32_MAX, 0, 0);
	assert_int_equal(write_all(peer, b, 100), 0);
	xclose(peer);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), 1);
	assert_true(m.oversize);
	assert_int_equal(m.hdr.msg_size, UINT32_MAX);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	uvfio_chan_fini(&rx);
	free(b);
}

static void test_oversize_fds(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t *b = malloc(3 * SMALL_MAX);
	size_t len;
	int peer, p[2];

	assert_non_null(b);
	chan_open(&rx, &peer, SMALL_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	len = msg_put(b, 1, 1, 2 * SMALL_MAX);
	msg_put(b + len, 2, 1, 40);
	assert_int_equal(send_with_fds(peer, b, 100, &p[1], 1), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), 1);
	assert_true(m.oversize);
	/* Handed to the caller, who closes them with the message. */
	assert_int_equal(m.nfds, 1);
	uvfio_msg_release(&m);
	/* A hostile peer attaches more fds to the dropped part. */
	assert_int_equal(send_with_fds(peer, b + 100, 100, &p[1], 1), 0);
	assert_int_equal(write_all(peer, b + 200, len - 200 + 40), 0);
	recv_expect(&rx, &m, 2, 1, 40);
	assert_int_equal(m.nfds, 0);
	xclose(p[1]);
	assert_int_equal(pipe_eof(p[0]), 1);
	xclose(p[0]);
	xclose(peer);
	uvfio_chan_fini(&rx);
	free(b);
}

/* A message of exactly max_msg arrives whole; one byte more is dropped. */
static void test_max_msg(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t *a = msg_new(1, 10, BIG_MAX);
	uint8_t *o = msg_new(2, 10, BIG_MAX + 1);
	uint8_t *s = msg_new(3, 11, 64);
	struct seg segs[] = { { a, BIG_MAX, NULL, 0 },
			      { o, BIG_MAX + 1, NULL, 0 },
			      { s, 64, NULL, 0 },
			      { a, BIG_MAX, NULL, 0 } };
	struct writer *w;
	int peer;

	chan_open(&rx, &peer, BIG_MAX);
	w = writer_start(peer, segs, 4);
	recv_expect(&rx, &m, 1, 10, BIG_MAX);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), 1);
	assert_true(m.oversize);
	assert_int_equal(m.hdr.msg_id, 2);
	recv_expect(&rx, &m, 3, 11, 64);
	recv_expect(&rx, &m, 1, 10, BIG_MAX);
	writer_join(w);
	xclose(peer);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	uvfio_chan_fini(&rx);
	free(a);
	free(o);
	free(s);
}

/* ---- many messages through one buffer ---------------------------------- */

#define STRESS_MSGS 10000
#define STRESS_FD_EVERY 97

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint32_t stress_size(uint64_t *s)
{
	if (rnd(s) % 10 < 3)
		return 16 + (uint32_t)(rnd(s) % (70000 - 16 + 1));
	return 16 + (uint32_t)(rnd(s) % 600);
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Payload: sequence number, checksum of the rest, patterned rest. */
static void stress_put(uint8_t *b, uint32_t seq, uint32_t size)
{
	uint8_t *p = b + HDR_SIZE;
	uint32_t n = size - HDR_SIZE, sum;

	hdr_put(b, (uint16_t)seq, (uint16_t)(seq % 19), size, 0, seq);
	pat_fill(p, n, seq);
	if (n < 8)
		return;
	memcpy(p, &seq, 4);
	sum = fnv(p + 8, n - 8);
	memcpy(p + 4, &sum, 4);
}

struct stress {
	pthread_t tid;
	int fd;
	int pipe_w;
	int err;
	uint8_t *out;
	size_t nout;
	uint64_t rng;
};

/* Writes out the pending bytes in random pieces, some tiny. */
static int stress_flush(struct stress *st)
{
	size_t done = 0;

	while (done < st->nout) {
		size_t left = st->nout - done;
		size_t n = rnd(&st->rng) % 4 == 0 ? 1 + rnd(&st->rng) % 16 :
						    1 + rnd(&st->rng) % left;
		int err;

		if (n > left)
			n = left;
		err = write_all(st->fd, st->out + done, n);
		if (err)
			return err;
		done += n;
	}
	st->nout = 0;
	return 0;
}

static void *stress_main(void *arg)
{
	struct stress *st = arg;
	uint64_t sizes = 0x9e3779b97f4a7c15ull;
	uint8_t *m = malloc(70000);

	st->out = malloc(256 * 1024);
	if (!m || !st->out) {
		st->err = -ENOMEM;
		goto out;
	}
	for (uint32_t seq = 0; seq < STRESS_MSGS && !st->err; seq++) {
		uint32_t size = stress_size(&sizes);
		size_t first;

		stress_put(m, seq, size);
		if (seq % STRESS_FD_EVERY) {
			memcpy(st->out + st->nout, m, size);
			st->nout += size;
			if (st->nout > 64 * 1024)
				st->err = stress_flush(st);
			continue;
		}
		/* fds go with the first piece of their message. */
		st->err = stress_flush(st);
		first = 1 + rnd(&st->rng) % size;
		if (!st->err)
			st->err =
				send_with_fds(st->fd, m, first, &st->pipe_w, 1);
		memcpy(st->out, m + first, size - first);
		st->nout = size - first;
	}
	if (!st->err)
		st->err = stress_flush(st);
out:
	shutdown(st->fd, SHUT_WR);
	free(st->out);
	free(m);
	return NULL;
}

static void stress_check(const struct uvfio_msg *m, uint32_t seq, uint32_t size)
{
	uint32_t n = size - HDR_SIZE, v;

	assert_false(m->oversize);
	assert_int_equal(m->hdr.msg_id, (uint16_t)seq);
	assert_int_equal(m->hdr.cmd, seq % 19);
	assert_int_equal(m->hdr.error_no, seq);
	assert_int_equal(m->hdr.msg_size, size);
	assert_int_equal(m->size, n);
	if (n < 8) {
		assert_int_equal(pat_check(m->payload, n, seq), n);
		return;
	}
	memcpy(&v, m->payload, 4);
	assert_int_equal(v, seq);
	memcpy(&v, (uint8_t *)m->payload + 4, 4);
	assert_int_equal(v, fnv((uint8_t *)m->payload + 8, n - 8));
}

static void test_stress(void **state)
{
	struct stress *st = calloc(1, sizeof(*st));
	uint64_t sizes = 0x9e3779b97f4a7c15ull;
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint32_t seq = 0;
	int p[2], r, err;

	assert_non_null(st);
	st->rng = 88172645463325252ull;
	chan_open(&rx, &st->fd, BIG_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	st->pipe_w = p[1];
	assert_int_equal(pthread_create(&st->tid, NULL, stress_main, st), 0);
	for (;;) {
		r = uvfio_chan_recv(&rx, &m, seq % 3 != 0);
		if (r == 0)
			r = uvfio_chan_recv(&rx, &m, true);
		assert_int_not_equal(r, 0);
		if (r < 0)
			break;
		stress_check(&m, seq, stress_size(&sizes));
		if (seq % STRESS_FD_EVERY == 0) {
			assert_int_equal(m.nfds, 1);
			expect_same_pipe(m.fds[0], p[0]);
		} else {
			assert_int_equal(m.nfds, 0);
		}
		uvfio_msg_release(&m);
		seq++;
	}
	assert_int_equal(pthread_join(st->tid, NULL), 0);
	err = st->err;
	xclose(st->fd);
	free(st);
	assert_int_equal(err, 0);
	assert_int_equal(r, -ECONNRESET);
	assert_int_equal(seq, STRESS_MSGS);
	xclose(p[0]);
	xclose(p[1]);
	uvfio_chan_fini(&rx);
}

/* ---- fds -------------------------------------------------------------- */

static void test_fds_three(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[56];
	int peer, p[2], fds[3], got[3];
	uint64_t v = 7;
	char c = 'y';

	chan_open(&rx, &peer, SMALL_MAX);
	fds[0] = eventfd(0, EFD_CLOEXEC);
	assert_true(fds[0] >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[1] = p[0];
	fds[2] = p[1];
	msg_put(b, 3, 6, sizeof(b));
	assert_int_equal(send_with_fds(peer, b, sizeof(b), fds, 3), 0);
	recv_expect(&rx, &m, 3, 6, sizeof(b));
	assert_int_equal(m.nfds, 3);
	assert_false(m.fds_truncated);
	for (int i = 0; i < 3; i++) {
		got[i] = m.fds[i];
		assert_true(fd_open(got[i]));
		assert_int_equal(fcntl(got[i], F_GETFD), FD_CLOEXEC);
		for (int j = 0; j < 3; j++)
			assert_int_not_equal(got[i], fds[j]);
	}
	assert_int_equal(write(got[0], &v, 8), 8);
	v = 0;
	assert_int_equal(read(fds[0], &v, 8), 8);
	assert_int_equal(v, 7);
	expect_same_pipe(got[2], p[0]);
	assert_int_equal(write(p[1], &c, 1), 1);
	c = 0;
	assert_int_equal(read(got[1], &c, 1), 1);
	assert_int_equal(c, 'y');

	uvfio_msg_release(&m);
	assert_int_equal(m.nfds, 0);
	for (int i = 0; i < 3; i++)
		assert_false(fd_open(got[i]));
	uvfio_msg_release(&m);
	for (int i = 0; i < 3; i++)
		xclose(fds[i]);
	xclose(peer);
	uvfio_chan_fini(&rx);
}

/* Both orders of a message with fds and one without, sent ahead. */
static void test_fds_neighbours(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[300];
	int peer, p[2], q[2], two[2];

	chan_open(&rx, &peer, SMALL_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	two[0] = p[1];
	two[1] = q[1];

	msg_put(b, 1, 1, 36);
	msg_put(b + 36, 2, 1, 100);
	msg_put(b + 136, 3, 1, 50);
	assert_int_equal(write_all(peer, b, 36), 0);
	assert_int_equal(send_with_fds(peer, b + 36, 100, two, 2), 0);
	assert_int_equal(write_all(peer, b + 136, 50), 0);
	recv_expect(&rx, &m, 1, 1, 36);
	assert_int_equal(m.nfds, 0);
	recv_expect(&rx, &m, 2, 1, 100);
	assert_int_equal(m.nfds, 2);
	expect_same_pipe(m.fds[0], p[0]);
	expect_same_pipe(m.fds[1], q[0]);
	uvfio_msg_release(&m);
	recv_expect(&rx, &m, 3, 1, 50);
	assert_int_equal(m.nfds, 0);

	/* Now the first carries the fd, the next two do not. */
	msg_put(b, 4, 1, 200);
	msg_put(b + 200, 5, 1, 16);
	msg_put(b + 216, 6, 1, 84);
	assert_int_equal(send_with_fds(peer, b, 200, &q[1], 1), 0);
	assert_int_equal(write_all(peer, b + 200, 100), 0);
	recv_expect(&rx, &m, 4, 1, 200);
	assert_int_equal(m.nfds, 1);
	expect_same_pipe(m.fds[0], q[0]);
	uvfio_msg_release(&m);
	recv_expect(&rx, &m, 5, 1, 16);
	assert_int_equal(m.nfds, 0);
	recv_expect(&rx, &m, 6, 1, 84);
	assert_int_equal(m.nfds, 0);

	/*
	 * The fds ride on the first byte of the next message alone, so the
	 * read that brings them ends exactly where the previous one ends.
	 */
	msg_put(b, 7, 1, 40);
	msg_put(b + 40, 8, 1, 60);
	assert_int_equal(write_all(peer, b, 40), 0);
	assert_int_equal(send_with_fds(peer, b + 40, 1, &p[1], 1), 0);
	recv_expect(&rx, &m, 7, 1, 40);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	assert_int_equal(write_all(peer, b + 41, 59), 0);
	recv_expect(&rx, &m, 8, 1, 60);
	assert_int_equal(m.nfds, 1);
	expect_same_pipe(m.fds[0], p[0]);
	uvfio_msg_release(&m);

	for (int i = 0; i < 2; i++) {
		xclose(p[i]);
		xclose(q[i]);
	}
	xclose(peer);
	uvfio_chan_fini(&rx);
}

static void test_fds_back_to_back(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[64];
	int peer, p[2], q[2];

	chan_open(&rx, &peer, SMALL_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	msg_put(b, 1, 2, 32);
	msg_put(b + 32, 2, 2, 32);
	assert_int_equal(send_with_fds(peer, b, 32, &p[1], 1), 0);
	assert_int_equal(send_with_fds(peer, b + 32, 32, &q[1], 1), 0);
	recv_expect(&rx, &m, 1, 2, 32);
	assert_int_equal(m.nfds, 1);
	expect_same_pipe(m.fds[0], p[0]);
	uvfio_msg_release(&m);
	recv_expect(&rx, &m, 2, 2, 32);
	assert_int_equal(m.nfds, 1);
	expect_same_pipe(m.fds[0], q[0]);
	uvfio_msg_release(&m);
	for (int i = 0; i < 2; i++) {
		xclose(p[i]);
		xclose(q[i]);
	}
	xclose(peer);
	uvfio_chan_fini(&rx);
}

/* A 300 KB message with fds, which the kernel splits into segments. */
static void test_fds_large(void **state)
{
	const uint32_t big = 300 * 1024;
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t *l = msg_new(2, 12, big);
	uint8_t s1[40], s2[24];
	int peer, p[2], q[2], two[2];
	struct seg segs[3];
	struct writer *w;

	chan_open(&rx, &peer, BIG_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	two[0] = p[1];
	two[1] = q[1];
	msg_put(s1, 1, 12, sizeof(s1));
	msg_put(s2, 3, 12, sizeof(s2));
	segs[0] = (struct seg){ s1, sizeof(s1), NULL, 0 };
	segs[1] = (struct seg){ l, big, two, 2 };
	segs[2] = (struct seg){ s2, sizeof(s2), &p[1], 1 };
	w = writer_start(peer, segs, 3);
	recv_expect(&rx, &m, 1, 12, sizeof(s1));
	assert_int_equal(m.nfds, 0);
	recv_expect(&rx, &m, 2, 12, big);
	assert_int_equal(m.nfds, 2);
	expect_same_pipe(m.fds[0], p[0]);
	expect_same_pipe(m.fds[1], q[0]);
	uvfio_msg_release(&m);
	recv_expect(&rx, &m, 3, 12, sizeof(s2));
	assert_int_equal(m.nfds, 1);
	expect_same_pipe(m.fds[0], p[0]);
	uvfio_msg_release(&m);
	writer_join(w);
	for (int i = 0; i < 2; i++) {
		xclose(p[i]);
		xclose(q[i]);
	}
	xclose(peer);
	uvfio_chan_fini(&rx);
	free(l);
}

/*
 * The kernel drops fds it cannot install (MSG_CTRUNC); a low
 * RLIMIT_NOFILE with one free slot lets exactly one of three through.
 */
static void test_fds_ctrunc(void **state)
{
	struct rlimit old, low;
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[32];
	int peer, p[2], fds[3], *dups, ndup = 0, r, nfds, trunc, lim = -1;
	char line[256];
	FILE *f;

	chan_open(&rx, &peer, SMALL_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = p[1];
	fds[1] = p[1];
	fds[2] = p[1];
	msg_put(b, 1, 1, sizeof(b));
	assert_int_equal(send_with_fds(peer, b, sizeof(b), fds, 3), 0);
	dups = calloc(4096, sizeof(int));
	assert_non_null(dups);
	f = fopen("/proc/self/limits", "r");
	assert_non_null(f);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)max_open_fd() + 2;
	if (low.rlim_cur > old.rlim_cur || setrlimit(RLIMIT_NOFILE, &low))
		goto skip;
	/* Under valgrind the limit is emulated, not the kernel's. */
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14))
			lim = atoi(line + 26);
	if (lim != (int)low.rlim_cur) {
		setrlimit(RLIMIT_NOFILE, &old);
		goto skip;
	}
	while (ndup < 4096 &&
	       (dups[ndup] = fcntl(peer, F_DUPFD_CLOEXEC, 0)) >= 0)
		ndup++;
	if (ndup)
		close(dups[--ndup]);
	r = uvfio_chan_recv(&rx, &m, true);
	nfds = (int)m.nfds;
	trunc = m.fds_truncated;
	setrlimit(RLIMIT_NOFILE, &old);
	for (int i = 0; i < ndup; i++)
		close(dups[i]);

	assert_int_equal(r, 1);
	expect_msg(&m, 1, 1, sizeof(b));
	uvfio_msg_release(&m);
	assert_int_equal(nfds, 1);
	assert_true(trunc);
	xclose(p[1]);
	assert_int_equal(pipe_eof(p[0]), 1);
	xclose(p[0]);
	xclose(peer);
	uvfio_chan_fini(&rx);
	free(dups);
	fclose(f);
	return;
skip:
	free(dups);
	fclose(f);
	xclose(p[0]);
	xclose(p[1]);
	xclose(peer);
	uvfio_chan_fini(&rx);
	skip();
}

/*
 * Fills the stack under the caller with SCM_RIGHTS control messages
 * naming fd, starting phase words in, so that reading uninitialised
 * control data would find fds there.
 */
static __attribute__((noinline)) void spray_stack(int fd, unsigned int phase)
{
	uint64_t area[2048];

	for (unsigned int i = 0; i < 2048; i++) {
		switch ((i + phase) % 3) {
		case 0:
			area[i] = CMSG_LEN(sizeof(int));
			break;
		case 1:
			area[i] = SOL_SOCKET | (uint64_t)SCM_RIGHTS << 32;
			break;
		default:
			area[i] = (uint32_t)fd;
			break;
		}
	}
	__asm__ volatile("" : : "r"(area) : "memory");
}

/* Without want_fds the kernel closes fds a peer sends; none show up. */
static void test_no_fds_mode(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[48];
	int peer, p[2], decoy[2], before, r;
	unsigned int nfds;

	chan_open(&rx, &peer, SMALL_MAX);
	rx.want_fds = false;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(decoy, O_CLOEXEC), 0);
	before = fd_count();
	msg_put(b, 1, 4, sizeof(b));
	assert_int_equal(send_with_fds(peer, b, sizeof(b), &p[1], 1), 0);
	xclose(p[1]);
	/* The copy in flight keeps the pipe open... */
	assert_int_equal(pipe_eof(p[0]), 0);
	recv_expect(&rx, &m, 1, 4, sizeof(b));
	assert_int_equal(m.nfds, 0);
	/* ...until the receive drops it. */
	assert_int_equal(pipe_eof(p[0]), 1);
	assert_int_equal(fd_count(), before - 1);

	/* No fds may come from stale control-buffer bytes either. */
	for (unsigned int phase = 0; phase < 3; phase++) {
		msg_put(b, (uint16_t)(2 + phase), 4, 16);
		assert_int_equal(write_all(peer, b, 16), 0);
		spray_stack(decoy[1], phase);
		r = uvfio_chan_recv(&rx, &m, true);
		nfds = m.nfds;
		assert_int_equal(r, 1);
		assert_int_equal(nfds, 0);
		assert_true(fd_open(decoy[1]));
	}
	xclose(decoy[0]);
	xclose(decoy[1]);
	xclose(p[0]);
	xclose(peer);
	uvfio_chan_fini(&rx);
}

/* Callers may take an fd (leaving -1); release closes the rest. */
static void test_release(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[16];
	int peer, p[2], q[2], two[2], taken;

	chan_open(&rx, &peer, SMALL_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	two[0] = p[1];
	two[1] = q[1];
	msg_put(b, 1, 1, 16);
	assert_int_equal(send_with_fds(peer, b, 16, two, 2), 0);
	xclose(p[1]);
	xclose(q[1]);
	recv_expect(&rx, &m, 1, 1, 16);
	assert_int_equal(m.nfds, 2);
	taken = m.fds[0];
	m.fds[0] = -1;
	uvfio_msg_release(&m);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(pipe_eof(q[0]), 1);
	assert_int_equal(pipe_eof(p[0]), 0);
	xclose(taken);
	assert_int_equal(pipe_eof(p[0]), 1);
	xclose(q[0]);

	/* fds of a message never completed are closed by fini. */
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	assert_int_equal(send_with_fds(peer, b, 10, &q[1], 1), 0);
	xclose(q[1]);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	assert_int_equal(pipe_eof(q[0]), 0);
	uvfio_chan_fini(&rx);
	assert_int_equal(pipe_eof(q[0]), 1);
	xclose(q[0]);
	xclose(p[0]);
	xclose(peer);
}

static void test_detach(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg a, m;
	uint8_t *b = malloc(30 * 3000);
	void *in_buf, *heap;
	size_t len = 0;
	int peer;

	assert_non_null(b);
	chan_open(&rx, &peer, SMALL_MAX);
	msg_put(b, 1, 1, 516);
	assert_int_equal(write_all(peer, b, 516), 0);
	recv_expect(&rx, &a, 1, 1, 516);
	in_buf = a.payload;
	assert_int_equal(uvfio_msg_detach(&a), 0);
	assert_non_null(a.heap);
	assert_ptr_equal(a.payload, a.heap);
	assert_ptr_not_equal(a.payload, in_buf);
	heap = a.heap;
	assert_int_equal(uvfio_msg_detach(&a), 0);
	assert_ptr_equal(a.heap, heap);

	for (int i = 0; i < 30; i++)
		len += msg_put(b + len, (uint16_t)(100 + i), 2, 3000);
	assert_int_equal(write_all(peer, b, len), 0);
	for (int i = 0; i < 30; i++)
		recv_expect(&rx, &m, (uint16_t)(100 + i), 2, 3000);
	expect_msg(&a, 1, 1, 516);
	uvfio_msg_release(&a);
	assert_null(a.heap);
	assert_null(a.payload);

	/* Nothing to copy for an empty payload. */
	msg_put(b, 2, 1, 16);
	assert_int_equal(write_all(peer, b, 16), 0);
	recv_expect(&rx, &m, 2, 1, 16);
	assert_int_equal(uvfio_msg_detach(&m), 0);
	assert_null(m.heap);
	assert_null(m.payload);
	uvfio_msg_release(&m);
	xclose(peer);
	uvfio_chan_fini(&rx);
	free(b);
}

/* ---- nesting ---------------------------------------------------------- */

static void test_nest(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg a, mb, mc, m;
	uint8_t b[8192];
	void *pa;
	size_t len;
	int peer;

	/* cap 12288: a read past 6144 would compact if it were allowed. */
	chan_open(&rx, &peer, SMALL_MAX);
	len = msg_put(b, 1, 1, 2000);
	len += msg_put(b + len, 2, 1, 1000);
	assert_int_equal(write_all(peer, b, len), 0);
	recv_expect(&rx, &m, 1, 1, 2000);
	recv_expect(&rx, &a, 2, 1, 1000);
	pa = a.payload;
	rx.nest = 1;

	msg_put(b, 3, 1, 3000);
	assert_int_equal(write_all(peer, b, 3000), 0);
	recv_expect(&rx, &mb, 3, 1, 3000);
	msg_put(b, 4, 1, SMALL_MAX);
	assert_int_equal(write_all(peer, b, 2048), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	assert_int_equal(write_all(peer, b + 2048, SMALL_MAX - 2048), 0);
	recv_expect(&rx, &mc, 4, 1, SMALL_MAX);
	assert_ptr_equal(a.payload, pa);
	expect_msg(&a, 2, 1, 1000);
	expect_msg(&mb, 3, 1, 3000);
	expect_msg(&mc, 4, 1, SMALL_MAX);

	rx.nest = 0;
	for (int i = 0; i < 20; i++) {
		len = msg_put(b, (uint16_t)(10 + i), 5, 1000 + 150 * i);
		assert_int_equal(write_all(peer, b, len), 0);
		recv_expect(&rx, &m, (uint16_t)(10 + i), 5, 1000 + 150 * i);
	}
	xclose(peer);
	uvfio_chan_fini(&rx);
}

/*
 * The buffer promises room for one nested reply of max_msg behind the
 * message being handled, wherever that message happens to sit: here the
 * peer's requests fill the 12288-byte buffer exactly, so the one being
 * handled ends at the very end of it.
 */
static void test_nest_room(void **state)
{
	static const uint32_t layouts[2][4] = {
		{ SMALL_MAX, SMALL_MAX, SMALL_MAX, 0 },
		{ SMALL_MAX, SMALL_MAX, SMALL_MAX - 16, 16 },
	};

	for (int l = 0; l < 2; l++) {
		const uint32_t *sz = layouts[l];
		int n = sz[3] ? 4 : 3, peer, r;
		struct uvfio_chan rx;
		struct uvfio_msg a, m;
		uint8_t b[3 * SMALL_MAX];
		size_t len = 0;

		chan_open(&rx, &peer, SMALL_MAX);
		for (int i = 0; i < n; i++)
			len += msg_put(b + len, (uint16_t)(1 + i), 10, sz[i]);
		assert_int_equal(len, sizeof(b));
		assert_int_equal(write_all(peer, b, len), 0);
		for (int i = 0; i < n - 1; i++)
			recv_expect(&rx, &m, (uint16_t)(1 + i), 10, sz[i]);
		recv_expect(&rx, &a, (uint16_t)n, 10, sz[n - 1]);
		rx.nest = 1;
		msg_put(b, 9, 11, SMALL_MAX);
		assert_int_equal(write_all(peer, b, SMALL_MAX), 0);
		r = uvfio_chan_recv(&rx, &m, true);
		if (r != 1) {
			xclose(peer);
			uvfio_chan_fini(&rx);
			fail_msg("layout %d: nested receive gave %d", l, r);
		}
		expect_msg(&m, 9, 11, SMALL_MAX);
		expect_msg(&a, (uint16_t)n, 10, sz[n - 1]);
		rx.nest = 0;
		xclose(peer);
		uvfio_chan_fini(&rx);
	}
}

/* ---- end of stream and signals ---------------------------------------- */

static void test_eof(void **state)
{
	struct uvfio_chan rx;
	struct uvfio_msg m;
	uint8_t b[64];
	int peer;

	chan_open(&rx, &peer, SMALL_MAX);
	xclose(peer);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), -ECONNRESET);
	uvfio_chan_fini(&rx);

	/* Half a message, then the peer goes away. */
	chan_open(&rx, &peer, SMALL_MAX);
	msg_put(b, 1, 1, 64);
	assert_int_equal(write_all(peer, b, 40), 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, false), 0);
	xclose(peer);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	uvfio_chan_fini(&rx);
}

/* Signals a thread every period_us, count times (0: until stopped). */
struct pester {
	pthread_t tid;
	pthread_t target;
	long period_us;
	unsigned int count;
	int stop; /* accessed atomically */
};

static void *pester_main(void *arg)
{
	struct pester *p = arg;

	for (unsigned int i = 0; !p->count || i < p->count; i++) {
		if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			break;
		sleep_us(p->period_us);
		pthread_kill(p->target, SIGUSR1);
	}
	return NULL;
}

static void pester_start(struct pester *p, pthread_t target, long period_us,
			 unsigned int count)
{
	p->target = target;
	p->period_us = period_us;
	p->count = count;
	p->stop = 0;
	assert_int_equal(pthread_create(&p->tid, NULL, pester_main, p), 0);
}

static void pester_stop(struct pester *p)
{
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(p->tid, NULL), 0);
}

static void test_eintr(void **state)
{
	struct sigaction old;
	struct uvfio_chan rx;
	struct uvfio_msg m;
	struct pester p;
	uint8_t b[20];
	int peer, r;

	chan_open(&rx, &peer, SMALL_MAX);
	sigusr1_interrupts(&old);
	pester_start(&p, pthread_self(), 20000, 50);
	r = uvfio_chan_recv(&rx, &m, true);
	pester_stop(&p);
	sigaction(SIGUSR1, &old, NULL);
	assert_int_equal(r, -EINTR);
	/* Nothing was lost: the channel still works. */
	msg_put(b, 1, 1, sizeof(b));
	assert_int_equal(write_all(peer, b, sizeof(b)), 0);
	recv_expect(&rx, &m, 1, 1, sizeof(b));
	xclose(peer);
	uvfio_chan_fini(&rx);
}

/* ---- sending ---------------------------------------------------------- */

static void read_exact(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = recv(fd, b, n, 0);

		assert_true(r > 0);
		b += r;
		n -= (size_t)r;
	}
}

static void expect_nothing(int fd)
{
	char c;

	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* Receives n bytes with one recvmsg(), and up to max fds. */
static int recv_with_fds(int fd, void *p, size_t n, int *fds, unsigned int max)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * UVFIO_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { p, n };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cb.b,
		.msg_controllen = sizeof(cb.b),
	};
	struct cmsghdr *c;
	int got = 0;

	assert_int_equal(recvmsg(fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC),
			 (ssize_t)n);
	assert_false(mh.msg_flags & MSG_CTRUNC);
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		assert_int_equal(c->cmsg_level, SOL_SOCKET);
		assert_int_equal(c->cmsg_type, SCM_RIGHTS);
		assert_true(got + k <= max);
		memcpy(fds + got, CMSG_DATA(c), k * sizeof(int));
		got += (int)k;
	}
	return got;
}

static void test_send_reply_bytes(void **state)
{
	/* clang-format off */
	static const uint8_t want_reply[] = {
		0xef, 0xbe, 9, 0, 21, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
		'h', 'e', 'l', 'l', 'o',
	};
	static const uint8_t want_err[] = {
		0xef, 0xbe, 9, 0, 16, 0, 0, 0, 0x21, 0, 0, 0, 22, 0, 0, 0,
	};
	static const uint8_t want_eio[] = {
		0xef, 0xbe, 9, 0, 16, 0, 0, 0, 0x21, 0, 0, 0, 5, 0, 0, 0,
	};
	static const uint8_t want_empty[] = {
		0xef, 0xbe, 9, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	};
	/* clang-format on */
	struct vfio_user_header req = {
		.msg_id = 0xbeef,
		.cmd = 9,
		.msg_size = 99,
		.flags = VFIO_USER_F_NO_REPLY | VFIO_USER_F_ERROR,
		.error_no = 77,
	};
	struct uvfio_chan tx;
	uint8_t got[1100], big[1000];
	int peer;

	chan_open(&tx, &peer, SMALL_MAX);
	assert_int_equal(uvfio_chan_send_reply(&tx, &req, "hello", 5, NULL, 0),
			 0);
	read_exact(peer, got, sizeof(want_reply));
	assert_memory_equal(got, want_reply, sizeof(want_reply));
	assert_int_equal(uvfio_chan_send_error(&tx, &req, -EINVAL), 0);
	read_exact(peer, got, 16);
	assert_memory_equal(got, want_err, 16);
	assert_int_equal(uvfio_chan_send_error(&tx, &req, EIO), 0);
	read_exact(peer, got, 16);
	assert_memory_equal(got, want_eio, 16);
	assert_int_equal(uvfio_chan_send_reply(&tx, &req, NULL, 0, NULL, 0), 0);
	read_exact(peer, got, 16);
	assert_memory_equal(got, want_empty, 16);

	/* Large enough for sendmsg(). */
	pat_fill(big, sizeof(big), 5);
	assert_int_equal(
		uvfio_chan_send_reply(&tx, &req, big, sizeof(big), NULL, 0), 0);
	read_exact(peer, got, 16 + sizeof(big));
	assert_memory_equal(got, want_empty, 4);
	assert_int_equal(got[4] | got[5] << 8, 1016);
	assert_int_equal(got[8], 1);
	assert_memory_equal(got + 16, big, sizeof(big));
	expect_nothing(peer);
	xclose(peer);
	uvfio_chan_fini(&tx);
}

static void test_sendv_fds(void **state)
{
	struct vfio_user_header h = { .msg_id = 5, .cmd = 8, .msg_size = 16 };
	struct uvfio_chan tx;
	uint8_t pay[12], got[28];
	struct iovec iov[8];
	int peer, p[2], e, fds[3], rfds[4];
	uint64_t v = 3;

	chan_open(&tx, &peer, SMALL_MAX);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	e = eventfd(0, EFD_CLOEXEC);
	assert_true(e >= 0);
	fds[0] = p[1];
	fds[1] = e;
	fds[2] = p[1];

	/* A reply with fds, tiny as it is, must carry them. */
	assert_int_equal(uvfio_chan_send_reply(&tx, &h, "ab", 2, &e, 1), 0);
	assert_int_equal(recv_with_fds(peer, got, 18, rfds, 4), 1);
	assert_int_equal(got[8], 1);
	assert_memory_equal(got + 16, "ab", 2);
	assert_int_equal(write(rfds[0], &v, 8), 8);
	v = 0;
	assert_int_equal(read(e, &v, 8), 8);
	assert_int_equal(v, 3);
	xclose(rfds[0]);

	pat_fill(pay, sizeof(pay), 5);
	h.msg_size = 28;
	iov[0] = (struct iovec){ pay, 5 };
	iov[1] = (struct iovec){ pay + 5, 0 };
	iov[2] = (struct iovec){ pay + 5, 7 };
	assert_int_equal(uvfio_chan_sendv(&tx, &h, iov, 3, fds, 3), 0);
	assert_int_equal(recv_with_fds(peer, got, 28, rfds, 4), 3);
	assert_memory_equal(got, &h, 16);
	assert_memory_equal(got + 16, pay, 12);
	expect_same_pipe(rfds[0], p[0]);
	expect_same_pipe(rfds[2], p[0]);
	v = 9;
	assert_int_equal(write(rfds[1], &v, 8), 8);
	assert_int_equal(read(e, &v, 8), 8);
	assert_int_equal(v, 9);
	for (int i = 0; i < 3; i++)
		xclose(rfds[i]);

	/* Bad arguments send nothing. */
	for (int i = 0; i < 8; i++)
		iov[i] = (struct iovec){ pay, 1 };
	h.msg_size = 24;
	assert_int_equal(uvfio_chan_sendv(&tx, &h, iov, 8, NULL, 0), -EINVAL);
	assert_int_equal(
		uvfio_chan_sendv(&tx, &h, iov, 1, fds, UVFIO_CHAN_MAX_FDS + 1),
		-EINVAL);
	expect_nothing(peer);

	/* A peer that is gone gives EPIPE, not SIGPIPE. */
	xclose(peer);
	h.msg_size = 16;
	assert_int_equal(uvfio_chan_sendv(&tx, &h, NULL, 0, NULL, 0), -EPIPE);
	assert_int_equal(uvfio_chan_sendv(&tx, &h, NULL, 0, &e, 1), -EPIPE);
	xclose(p[0]);
	xclose(p[1]);
	xclose(e);
	uvfio_chan_fini(&tx);
}

/* On the heap, for the same reason as struct writer. */
struct big_send {
	pthread_t tid;
	struct uvfio_chan tx;
	const uint8_t *pay;
	size_t len;
	int fd;
	int err;
};

static void *big_send_main(void *arg)
{
	struct big_send *s = arg;
	struct vfio_user_header h = {
		.msg_id = 77,
		.cmd = 12,
		.msg_size = (uint32_t)(HDR_SIZE + s->len),
	};
	struct vfio_user_header t = { .msg_id = 78, .cmd = 1, .msg_size = 16 };
	struct iovec iov[3] = {
		{ (void *)s->pay, 1000 },
		{ (void *)s->pay, 0 },
		{ (void *)(s->pay + 1000), s->len - 1000 },
	};

	s->err = uvfio_chan_sendv(&s->tx, &h, iov, 3, &s->fd, 1);
	if (!s->err)
		s->err = uvfio_chan_sendv(&s->tx, &t, NULL, 0, NULL, 0);
	return NULL;
}

/*
 * 2 MiB through a small send buffer while signals keep interrupting the
 * sender: the short-write loop must neither lose, repeat nor reorder
 * bytes, and must send the fds once.
 */
static void test_sendv_large(void **state)
{
	const size_t len = 2u << 20;
	struct big_send *s = calloc(1, sizeof(*s));
	struct uvfio_chan rx;
	struct sigaction old;
	struct uvfio_msg m;
	struct pester p;
	uint8_t *pay = malloc(len);
	int peer, sndbuf = 4096, ev, before, after, r, err;

	assert_non_null(s);
	assert_non_null(pay);
	pat_fill(pay, len, 77);
	chan_open(&rx, &peer, (uint32_t)len + 64);
	assert_int_equal(setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)),
			 0);
	assert_int_equal(uvfio_chan_init(&s->tx, peer, SMALL_MAX), 0);
	ev = eventfd(0, EFD_CLOEXEC);
	assert_true(ev >= 0);
	s->pay = pay;
	s->len = len;
	s->fd = ev;
	sigusr1_interrupts(&old);
	assert_int_equal(pthread_create(&s->tid, NULL, big_send_main, s), 0);
	pester_start(&p, s->tid, 200, 0);
	r = uvfio_chan_recv(&rx, &m, true);
	pester_stop(&p);
	if (r != 1)
		shutdown(rx.fd, SHUT_RDWR); /* so the sender gives up */
	assert_int_equal(r, 1);
	expect_msg(&m, 77, 12, (uint32_t)(len + HDR_SIZE));
	assert_int_equal(m.nfds, 1);
	uvfio_msg_release(&m);
	recv_expect(&rx, &m, 78, 1, 16);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(pthread_join(s->tid, NULL), 0);
	/* Only now can no signal be pending for the sender. */
	sigaction(SIGUSR1, &old, NULL);
	err = s->err;
	before = fd_count();
	uvfio_chan_fini(&s->tx);
	free(s);
	assert_int_equal(err, 0);
	assert_int_equal(uvfio_chan_recv(&rx, &m, true), -ECONNRESET);
	after = fd_count();
	/* No second copy of the fd was left pending in the channel. */
	assert_int_equal(after, before - 1);
	assert_int_equal(rx.npfd, 0);
	xclose(ev);
	uvfio_chan_fini(&rx);
	free(pay);
}

/* ---- the suite -------------------------------------------------------- */

static int group_setup(void **state)
{
	int *n = malloc(sizeof(*n));

	if (!n)
		return -1;
	*n = fd_count();
	*state = n;
	return 0;
}

static int group_teardown(void **state)
{
	int *n = *state, now = fd_count();

	if (now != *n) {
		fprintf(stderr, "fd leak: %d open before, %d after\n", *n, now);
		free(n);
		return -1;
	}
	free(n);
	return 0;
}

/* A writer that sends buf in pieces, so a reader finds it half there. */
struct slow_send {
	int fd;
	const uint8_t *buf;
	size_t len;
	pthread_t tid;
};

static void *slow_send_main(void *arg)
{
	struct slow_send *s = arg;
	struct timespec ts = { 0, 2000000 };

	for (size_t done = 0; done < s->len;) {
		size_t n = s->len - done < 65536 ? s->len - done : 65536;

		if (write_all(s->fd, s->buf + done, n))
			break;
		done += n;
		/* Pacing, not synchronisation: any split must read right. */
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/*
 * peek, then take: the data after `at` goes to the caller's buffer, what
 * follows it is dropped, and the next message reads normally.  Once with
 * the message all buffered, once arriving over time (most of it read
 * straight from the socket).
 */
static void peek_take(size_t data, bool slow)
{
	const size_t len = HDR_SIZE + 12 + data + 4;
	uint8_t *msg = malloc(len + HDR_SIZE), *dst = malloc(data);
	struct slow_send s = { .len = len + HDR_SIZE };
	struct vfio_user_header h;
	struct uvfio_chan ch;
	struct uvfio_msg m;
	uint8_t head[12];
	int peer;

	assert_non_null(msg);
	assert_non_null(dst);
	hdr_put(msg, 5, 11, (uint32_t)len, 1, 0);
	memset(msg + HDR_SIZE, 0xaa, 12);
	pat_fill(msg + HDR_SIZE + 12, data, 9);
	memset(msg + HDR_SIZE + 12 + data, 0, 4);
	hdr_put(msg + len, 6, 4, HDR_SIZE, 1, 0);
	chan_open(&ch, &peer, 4096);
	s.fd = peer;
	s.buf = msg;
	if (slow)
		assert_int_equal(pthread_create(&s.tid, NULL, slow_send_main,
						&s),
				 0);
	else
		assert_int_equal(write_all(peer, msg, len + HDR_SIZE), 0);
	assert_int_equal(uvfio_chan_peek(&ch, &h, head, sizeof(head), true), 1);
	assert_int_equal(h.msg_id, 5);
	assert_int_equal(h.msg_size, len);
	assert_memory_equal(head, msg + HDR_SIZE, 12);
	/* Peeking again finds the same message. */
	assert_int_equal(uvfio_chan_peek(&ch, &h, head, 4, true), 1);
	assert_int_equal(h.msg_id, 5);
	memset(dst, 0, data);
	assert_int_equal(uvfio_chan_take(&ch, 12, dst, data), 0);
	assert_int_equal(pat_check(dst, data, 9), data);
	recv_expect(&ch, &m, 6, 4, HDR_SIZE);
	if (slow)
		pthread_join(s.tid, NULL);
	xclose(peer);
	uvfio_chan_fini(&ch);
	free(msg);
	free(dst);
}

/*
 * peek, then take: the data after `at` goes to the caller's buffer, what
 * follows it is dropped, and the next message reads normally.  Once with
 * the message all buffered, once arriving over time (most of it read
 * straight from the socket, far more than the channel's buffer holds).
 */
static void test_peek_take(void **state)
{
	peek_take(1000, false);
	peek_take(1u << 20, true);
}

/* take refuses what does not fit the message, and reports its fds. */
static void test_take_bad(void **state)
{
	uint8_t msg[HDR_SIZE + 100], dst[100], head[16];
	struct vfio_user_header h;
	struct uvfio_chan ch;
	int peer, ev = eventfd(0, EFD_CLOEXEC), before;

	assert_true(ev >= 0);
	hdr_put(msg, 1, 12, sizeof(msg), 0, 0);
	memset(msg + HDR_SIZE, 1, 100);
	chan_open(&ch, &peer, 4096);
	/* Nothing there, not blocking. */
	assert_int_equal(uvfio_chan_peek(&ch, &h, head, 16, false), 0);
	assert_int_equal(write_all(peer, msg, sizeof(msg)), 0);
	assert_int_equal(uvfio_chan_peek(&ch, &h, head, 16, true), 1);
	assert_int_equal(uvfio_chan_take(&ch, 16, dst, 85), -EINVAL);
	/* More than 64 bytes left after the data. */
	assert_int_equal(uvfio_chan_take(&ch, 0, dst, 20), -EINVAL);
	assert_int_equal(uvfio_chan_take(&ch, 16, dst, 84), 0);
	/* With an fd: taken, the fd closed, and said so. */
	before = fd_count();
	assert_int_equal(send_with_fds(peer, msg, sizeof(msg), &ev, 1), 0);
	assert_int_equal(uvfio_chan_peek(&ch, &h, head, 16, true), 1);
	assert_int_equal(uvfio_chan_take(&ch, 16, dst, 84), -EBADMSG);
	assert_int_equal(fd_count(), before);
	assert_int_equal(ch.npfd, 0);
	xclose(ev);
	xclose(peer);
	uvfio_chan_fini(&ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_split_writes),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_oversize_fds),
		cmocka_unit_test(test_max_msg),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_fds_three),
		cmocka_unit_test(test_fds_neighbours),
		cmocka_unit_test(test_fds_back_to_back),
		cmocka_unit_test(test_fds_large),
		cmocka_unit_test(test_fds_ctrunc),
		cmocka_unit_test(test_no_fds_mode),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_nest),
		cmocka_unit_test(test_nest_room),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_eintr),
		cmocka_unit_test(test_send_reply_bytes),
		cmocka_unit_test(test_sendv_fds),
		cmocka_unit_test(test_sendv_large),
		cmocka_unit_test(test_peek_take),
		cmocka_unit_test(test_take_bad),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
