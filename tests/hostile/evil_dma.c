// SPDX-License-Identifier: MIT
/*
 * The server's DMA_READ/DMA_WRITE (and other requests), on the twin
 * socket and inline on the main one: answered from inside one window
 * with the right, refused otherwise with guest memory untouched.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evil_cases.h"

#define IOVA_RW 0x10000ull /* two pages, read and write */
#define IOVA_RO 0x12000ull /* one page right after, read only */
#define IOVA_WO 0x20000ull /* one page, write only */
#define GUEST (4 * PAGE)

static const struct evil_cfg dma_cfgs[] = {
	{ 0 },
	{ .no_twin = true },
	{ .client_flags = UVFIO_CLIENT_NO_TWIN },
};
static const char *const dma_names[] = { "twin", "inline", "client-no-twin" };

static uint8_t *map_guest(struct evil_env *e)
{
	uint8_t *g = aligned_alloc(PAGE, GUEST);

	assert_non_null(e->c);
	assert_non_null(g);
	for (unsigned int i = 0; i < GUEST; i++)
		g[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(
		uvfio_client_dma_map(e->c, IOVA_RW, 2 * PAGE,
				     UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				     g, -1, 0),
		0);
	assert_int_equal(uvfio_client_dma_map(e->c, IOVA_RO, PAGE,
					      UVFIO_DMA_PROT_READ, g + 2 * PAGE,
					      -1, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(e->c, IOVA_WO, PAGE,
					      UVFIO_DMA_PROT_WRITE,
					      g + 3 * PAGE, -1, 0),
			 0);
	return g;
}

static void unmap_guest(struct evil_env *e, uint8_t *g)
{
	assert_int_equal(uvfio_client_dma_unmap_all(e->c), 0);
	free(g);
}

static bool twin_mode(struct evil_env *e)
{
	return uvfio_client_caps(e->c)->twin_socket;
}

/* The answer to op: an error reply with err, or (err 0) size bytes. */
static void expect(const struct evil_op *op, uint32_t err, uint32_t size)
{
	const struct vfio_user_header *h = &op->rhdr;
	uint32_t flags = VFIO_USER_F_TYPE_REPLY | (err ? VFIO_USER_F_ERROR : 0);

	if (!evil_op_answered(op))
		fail_msg("request %#x (cmd %u): no answer", op->hdr.msg_id,
			 op->hdr.cmd);
	if (h->msg_id != op->hdr.msg_id || h->cmd != op->hdr.cmd ||
	    h->flags != flags || h->error_no != err || op->rsize != size)
		fail_msg("request %#x (cmd %u): answer id %#x cmd %u flags "
			 "%#x errno %u size %u; want errno %u size %u",
			 op->hdr.msg_id, op->hdr.cmd, h->msg_id, h->cmd,
			 h->flags, h->error_no, op->rsize, err, size);
}

static void expect_error(const struct evil_op *op, uint32_t err)
{
	expect(op, err, 0);
}

static void expect_ok(const struct evil_op *op, uint32_t size)
{
	expect(op, 0, size);
}

/*
 * The twin thread counts a DMA after answering it, so the counters may
 * lag the answer a little: wait (a second at most) for exactly these.
 */
static void expect_stats(struct uvfio_client *c,
			 const struct uvfio_client_stats *s0, uint64_t reads,
			 uint64_t writes, uint64_t bytes)
{
	struct uvfio_client_stats s;

	for (int i = 0; i < 1000; i++) {
		uvfio_client_stats(c, &s);
		if (s.dma_reads - s0->dma_reads == reads &&
		    s.dma_writes - s0->dma_writes == writes &&
		    s.dma_bytes - s0->dma_bytes == bytes)
			return;
		usleep(1000);
	}
	fail_msg("dma stats moved by %" PRIu64 " reads, %" PRIu64
		 " writes, %" PRIu64 " bytes; want %" PRIu64 ", %" PRIu64
		 ", %" PRIu64,
		 s.dma_reads - s0->dma_reads, s.dma_writes - s0->dma_writes,
		 s.dma_bytes - s0->dma_bytes, reads, writes, bytes);
}

static struct evil_op *new_ops(unsigned int n)
{
	struct evil_op *ops = calloc(n, sizeof(*ops));

	assert_non_null(ops);
	return ops;
}

static void test_dma_read(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct evil_op *ops = new_ops(3);
	struct uvfio_client_stats st0;
	struct vfio_user_dma_region_access a;

	uvfio_client_stats(e->c, &st0);
	evil_op_dma(&ops[0], VFIO_USER_DMA_READ, IOVA_RW + 0x10, 100, NULL, 0);
	/* Across a page, inside one window; the last byte of a window. */
	evil_op_dma(&ops[1], VFIO_USER_DMA_READ, IOVA_RW + PAGE - 8, 64, NULL,
		    0);
	evil_op_dma(&ops[2], VFIO_USER_DMA_READ, IOVA_RO + PAGE - 1, 1, NULL,
		    0);
	assert_int_equal(evil_run_ops(e, ops, 3), 0);
	expect_ok(&ops[0], sizeof(a) + 100);
	memcpy(&a, ops[0].reply, sizeof(a));
	assert_int_equal(a.addr, IOVA_RW + 0x10);
	assert_int_equal(a.count, 100);
	assert_memory_equal(ops[0].reply + sizeof(a), g + 0x10, 100);
	expect_ok(&ops[1], sizeof(a) + 64);
	assert_memory_equal(ops[1].reply + sizeof(a), g + PAGE - 8, 64);
	expect_ok(&ops[2], sizeof(a) + 1);
	assert_int_equal(ops[2].reply[sizeof(a)], g[3 * PAGE - 1]);
	expect_stats(e->c, &st0, 3, 0, 165);
	free(ops);
	unmap_guest(e, g);
}

static void test_dma_write(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct evil_op *ops = new_ops(2);
	struct uvfio_client_stats st0;
	struct vfio_user_dma_region_access wr; /* 16 bytes, as libvfio-user wants */
	uint8_t *want = malloc(GUEST);

	assert_non_null(want);
	memcpy(want, g, GUEST);
	memcpy(want + 2 * PAGE - 8, "written!", 8);
	memcpy(want + 3 * PAGE + 100, "wo", 2);
	uvfio_client_stats(e->c, &st0);
	evil_op_dma(&ops[0], VFIO_USER_DMA_WRITE, IOVA_RW + 2 * PAGE - 8, 8,
		    "written!", 8);
	evil_op_dma(&ops[1], VFIO_USER_DMA_WRITE, IOVA_WO + 100, 2, "wo", 2);
	assert_int_equal(evil_run_ops(e, ops, 2), 0);
	expect_ok(&ops[0], sizeof(wr));
	memcpy(&wr, ops[0].reply, sizeof(wr));
	assert_int_equal(wr.addr, IOVA_RW + 2 * PAGE - 8);
	assert_int_equal(wr.count, 8);
	expect_ok(&ops[1], sizeof(wr));
	assert_memory_equal(g, want, GUEST);
	expect_stats(e->c, &st0, 0, 2, 10);
	free(want);
	free(ops);
	unmap_guest(e, g);
}

struct bad_dma {
	uint16_t cmd;
	uint64_t addr;
	uint64_t count;
	size_t data; /* payload bytes after the access header */
	uint32_t err;
};

#define DR VFIO_USER_DMA_READ
#define DW VFIO_USER_DMA_WRITE

static const struct bad_dma bad_dmas[] = {
	{ DR, 0x5000, 16, 0, EFAULT }, /* no window */
	{ DR, IOVA_RO - 16, 32, 0, EFAULT }, /* two windows */
	{ DR, IOVA_WO + PAGE - 8, 16, 0, EFAULT }, /* past the end */
	{ DR, UINT64_MAX - 15, 32, 0, EFAULT }, /* addr wraps */
	{ DR, IOVA_RW, 0, 0, EINVAL }, /* nothing */
	{ DR, IOVA_RW, EVIL_CLIENT_XFER + 1, 0, EINVAL }, /* above limit */
	{ DR, IOVA_RW, 1ull << 40, 0, EINVAL },
	{ DR, IOVA_RW, 8, 8, EINVAL }, /* data in a read */
	{ DR, IOVA_WO, 16, 0, EACCES }, /* write only */
	{ DW, IOVA_RO, 16, 16, EACCES }, /* read only */
	{ DW, IOVA_RW, 16, 8, EINVAL }, /* data short */
	{ DW, IOVA_RW, 8, 16, EINVAL }, /* data long */
	{ DW, IOVA_RW, 0, 0, EINVAL },
	{ DW, IOVA_RW, UINT64_MAX, 8, EINVAL },
	{ DW, 0x5000, 8, 8, EFAULT },
	{ DW, IOVA_RO - 4, 8, 8, EFAULT }, /* RW then RO */
	{ DW, UINT64_MAX - 3, 8, 8, EFAULT },
	{ 42, IOVA_RW, 8, 0, ENOSYS }, /* unknown */
	{ 0xffff, IOVA_RW, 8, 0, ENOSYS },
	{ VFIO_USER_VERSION, IOVA_RW, 8, 0, ENOSYS },
	{ VFIO_USER_REGION_READ, IOVA_RW, 8, 0, ENOSYS },
	{ VFIO_USER_DMA_MAP, IOVA_RW, 8, 0, ENOSYS },
};

/* Refused, all of them, with guest memory and counters untouched. */
static void test_dma_refused(void **state)
{
	struct evil_env *e = evil_env(state);
	const unsigned int n = ARRAY_SIZE(bad_dmas) + 2;
	struct evil_op *ops = new_ops(n);
	uint8_t *g = map_guest(e), *before = malloc(GUEST);
	struct uvfio_client_stats st0;
	uint8_t junk[16] = { 0xee };
	unsigned int i;

	assert_non_null(before);
	memcpy(before, g, GUEST);
	for (i = 0; i < ARRAY_SIZE(bad_dmas); i++) {
		const struct bad_dma *b = &bad_dmas[i];

		evil_op_dma(&ops[i], b->cmd, b->addr, b->count, junk, b->data);
	}
	/* Requests shorter than the access header. */
	evil_op_init(&ops[i++], DR, junk, 8);
	evil_op_init(&ops[i++], DW, junk, 15);
	uvfio_client_stats(e->c, &st0);
	assert_int_equal(evil_run_ops(e, ops, n), 0);
	for (i = 0; i < ARRAY_SIZE(bad_dmas); i++)
		expect_error(&ops[i], bad_dmas[i].err);
	expect_error(&ops[i++], EINVAL);
	expect_error(&ops[i++], EINVAL);
	assert_memory_equal(g, before, GUEST);
	/* Still serving; the answers come in order, so do the counters. */
	evil_op_dma(&ops[0], DR, IOVA_RW, 4, NULL, 0);
	assert_int_equal(evil_run_ops(e, ops, 1), 0);
	expect_ok(&ops[0], 20);
	expect_stats(e->c, &st0, 1, 0, 4);
	free(before);
	free(ops);
	unmap_guest(e, g);
}

/*
 * At the client's max_data_xfer_size exactly, and one byte above: on the
 * twin socket that is a message the client will not buffer (E2BIG), on
 * the main socket one it reads and refuses (EINVAL).
 */
static void test_dma_limits(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e), *before = malloc(GUEST);
	uint8_t *data = malloc(EVIL_CLIENT_XFER + 1);
	struct evil_op *ops = new_ops(3);

	assert_non_null(before);
	assert_non_null(data);
	assert_int_equal(uvfio_client_dma_unmap_all(e->c), 0);
	assert_int_equal(
		uvfio_client_dma_map(e->c, IOVA_RW, GUEST,
				     UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				     g, -1, 0),
		0);
	memset(data, 0xab, EVIL_CLIENT_XFER + 1);
	evil_op_dma(&ops[0], DW, IOVA_RW, EVIL_CLIENT_XFER + 1, data,
		    EVIL_CLIENT_XFER + 1);
	evil_op_dma(&ops[1], DR, IOVA_RW, EVIL_CLIENT_XFER, NULL, 0);
	evil_op_dma(&ops[2], DW, IOVA_RW, EVIL_CLIENT_XFER, data,
		    EVIL_CLIENT_XFER);
	memcpy(before, g, GUEST);
	assert_int_equal(evil_run_ops(e, ops, 3), 0);
	expect_error(&ops[0], twin_mode(e) ? E2BIG : EINVAL);
	expect_ok(&ops[1], 16 + EVIL_CLIENT_XFER);
	assert_memory_equal(ops[1].reply + 16, before, EVIL_OP_REPLY - 16);
	expect_ok(&ops[2], sizeof(struct vfio_user_dma_region_access));
	assert_memory_equal(g, data, EVIL_CLIENT_XFER);
	assert_memory_equal(g + EVIL_CLIENT_XFER, before + EVIL_CLIENT_XFER,
			    GUEST - EVIL_CLIENT_XFER);
	free(ops);
	free(data);
	free(before);
	unmap_guest(e, g);
}

/*
 * An fd on a DMA request: refused on the twin socket; on the main socket
 * the client reads without taking fds, so the kernel closes it.
 */
static void test_dma_with_fd(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct evil_op *ops = new_ops(1);

	evil_op_dma(&ops[0], DR, IOVA_RW, 8, NULL, 0);
	ops[0].bait = true;
	assert_int_equal(evil_run_ops(e, ops, 1), 0);
	if (twin_mode(e))
		expect_error(&ops[0], EINVAL);
	else
		expect_ok(&ops[0], 24);
	assert_true(evil_baits_closed(e->s));
	free(ops);
	unmap_guest(e, g);
}

/* No_reply: done, not answered; a read behind it sees the data. */
static void test_dma_no_reply(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct evil_op *ops = new_ops(3);

	evil_op_dma(&ops[0], DW, IOVA_RW + 64, 4, "post", 4);
	ops[0].hdr.flags |= VFIO_USER_F_NO_REPLY;
	evil_op_dma(&ops[1], DW, 0x5000, 4, "lost", 4);
	ops[1].hdr.flags |= VFIO_USER_F_NO_REPLY;
	evil_op_dma(&ops[2], DR, IOVA_RW + 64, 4, NULL, 0);
	assert_int_equal(evil_run_ops(e, ops, 3), 0);
	assert_false(evil_op_answered(&ops[0]));
	assert_false(evil_op_answered(&ops[1]));
	expect_ok(&ops[2], 20);
	assert_memory_equal(ops[2].reply + 16, "post", 4);
	assert_memory_equal(g + 64, "post", 4);
	free(ops);
	unmap_guest(e, g);
}

/* Unmapped means gone: the server can no longer reach it. */
static void test_dma_after_unmap(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct evil_op *ops = new_ops(2);

	assert_int_equal(uvfio_client_dma_unmap(e->c, IOVA_RW, 2 * PAGE), 0);
	evil_op_dma(&ops[0], DR, IOVA_RW, 8, NULL, 0);
	evil_op_dma(&ops[1], DR, IOVA_RO, 8, NULL, 0);
	assert_int_equal(evil_run_ops(e, ops, 2), 0);
	expect_error(&ops[0], EFAULT);
	expect_ok(&ops[1], 24);
	free(ops);
	unmap_guest(e, g);
}

struct poller {
	struct uvfio_client *c;
	bool stop; /* atomic */
	int last;
};

static void *poll_main(void *arg)
{
	struct poller *p = arg;
	struct pollfd pfd = { uvfio_client_get_poll_fd(p->c), POLLIN, 0 };

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		if (poll(&pfd, 1, 20) > 0) {
			p->last = uvfio_client_process(p->c);
			if (p->last < 0)
				break;
		}
	}
	return NULL;
}

static const struct evil_cfg no_thread_cfg = {
	.client_flags = UVFIO_CLIENT_NO_THREAD,
};

/* The caller serves the twin socket; the same rules hold. */
static void test_dma_no_thread(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct evil_op *ops = new_ops(2);
	struct poller p = { .c = e->c };
	pthread_t t;

	assert_true(twin_mode(e));
	assert_int_equal(pthread_create(&t, NULL, poll_main, &p), 0);
	evil_op_dma(&ops[0], DR, IOVA_RW, 8, NULL, 0);
	evil_op_dma(&ops[1], DW, IOVA_RO, 8, "readonly", 8);
	assert_int_equal(evil_run_ops(e, ops, 2), 0);
	__atomic_store_n(&p.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(p.last, 0);
	expect_ok(&ops[0], 24);
	assert_memory_equal(ops[0].reply + 16, g, 8);
	expect_error(&ops[1], EACCES);
	free(ops);
	unmap_guest(e, g);
}

/* Sends a DMA request, then hangs up before it can be answered. */
static enum evil_verdict vanish_in_dma(struct evil_srv *s, struct uvfio_msg *m)
{
	struct vfio_user_dma_region_access a = { IOVA_RW, 8 };
	struct vfio_user_header h = {
		.msg_id = 0x7777,
		.cmd = VFIO_USER_DMA_READ,
		.msg_size = sizeof(h) + sizeof(a),
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	struct iovec iov = { &a, sizeof(a) };

	if (m->hdr.cmd != VFIO_USER_DEVICE_RESET)
		return EVIL_PASS;
	uvfio_chan_sendv(s->has_twin ? &s->twin : &s->ch, &h, &iov, 1, NULL, 0);
	return EVIL_HANGUP;
}

static const struct evil_cfg vanish_dma_cfgs[] = {
	{ .hook = vanish_in_dma },
	{ .hook = vanish_in_dma, .no_twin = true },
};

static void test_vanish_in_dma(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *g = map_guest(e);
	struct uvfio_device_info di;

	assert_int_equal(uvfio_client_reset(e->c), -ECONNRESET);
	assert_int_equal(uvfio_client_device_info(e->c, &di), -ECONNRESET);
	/*
	 * Unmapping fails, yet the window is gone: once it returns, the
	 * twin thread (maybe still answering) no longer touches it.
	 */
	assert_int_equal(uvfio_client_dma_unmap(e->c, IOVA_RW, 2 * PAGE),
			 -ECONNRESET);
	assert_int_equal(uvfio_client_dma_unmap(e->c, IOVA_RW, 2 * PAGE),
			 -ENOENT);
	assert_int_equal(uvfio_client_dma_unmap_all(e->c), -ECONNRESET);
	free(g);
}

static void add_modes(struct evil_suite *s, const char *what,
		      CMUnitTestFunction f)
{
	char name[96];

	for (unsigned int i = 0; i < ARRAY_SIZE(dma_cfgs); i++) {
		snprintf(name, sizeof(name), "dma %s: %s", dma_names[i], what);
		evil_suite_add(s, name, f, &dma_cfgs[i]);
	}
}

void evil_add_dma_tests(struct evil_suite *s)
{
	add_modes(s, "read inside windows", test_dma_read);
	add_modes(s, "write inside windows", test_dma_write);
	add_modes(s, "refused requests", test_dma_refused);
	add_modes(s, "max_data_xfer_size", test_dma_limits);
	add_modes(s, "fd attached", test_dma_with_fd);
	add_modes(s, "no reply wanted", test_dma_no_reply);
	add_modes(s, "after unmap", test_dma_after_unmap);
	evil_suite_add(s, "dma: caller serves the twin", test_dma_no_thread,
		       &no_thread_cfg);
	evil_suite_add(s, "vanish: during a DMA request (twin)",
		       test_vanish_in_dma, &vanish_dma_cfgs[0]);
	evil_suite_add(s, "vanish: during a DMA request (inline)",
		       test_vanish_in_dma, &vanish_dma_cfgs[1]);
}
