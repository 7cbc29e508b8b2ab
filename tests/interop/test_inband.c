// SPDX-License-Identifier: MIT
/*
 * In-band DMA as each peer does it, without a twin socket: a device of
 * this process (dispatch thread + work) against a raw client that answers
 * the way QEMU 10.1 or libvfio-user's sample client answers.  Covers the
 * two layouts, every form of DMA_WRITE reply, QEMU's read chunk, errors,
 * the dispatch thread's -EDEADLK, and work that starts only after the
 * reply to the doorbell that queued it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/server.h>

#include "peer.h"
#include "proto/limits.h"

#define IOVA 0x40000000ull
#define WIN (4u << 20)
#define DOORBELL 0x10
#define STOP 0x20

struct fx {
	struct uvfio_dev *dev;
	int sock;               /* the raw client's end */
	pthread_t dispatcher;
	struct peer_mem mem;
	uint16_t id;
	/* Set by the doorbell handler, run by the work item. */
	struct uvfio_work *work;
	uint32_t op;            /* 1 write, 2 read */
	uint32_t len;
	_Atomic int result;
	atomic_bool done;
	int handler_err;        /* in-band DMA tried inside the handler */
	bool in_handler_dma;
	bool joined;
	char log[256];
	int log_err;
	uint8_t *buf;
};

static void work_fn(struct uvfio_dev *dev, void *arg)
{
	struct fx *f = arg;
	int r = f->op == 1 ? uvfio_dma_write(dev, IOVA + 8, f->buf, f->len) :
			     uvfio_dma_read(dev, IOVA + 8, f->buf, f->len);

	atomic_store(&f->result, r);
	atomic_store(&f->done, true);
}

static ssize_t bar0(struct uvfio_dev *dev, void *priv, uint64_t off,
		    void *buf, size_t count, bool is_write)
{
	struct fx *f = priv;

	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (off == STOP) {
		/* As SIGTERM landing while a handler runs. */
		uvfio_dev_stop(dev);
	} else if (off == DOORBELL && f->in_handler_dma) {
		f->handler_err = uvfio_dma_read(dev, IOVA, f->buf, 8);
	} else if (off == DOORBELL) {
		struct timespec ts = { 0, 5000000 };

		uvfio_work_queue(f->work);
		/*
		 * Work released too early would send its first request in
		 * this time, before our reply: ring() would see it first.
		 * Not synchronisation: right code passes whatever its length;
		 * it only gives a wrong release time to show.
		 */
		nanosleep(&ts, NULL);
	}
	return (ssize_t)count;
}

static void log_fn(struct uvfio_dev *dev, void *priv, int err,
		   const char *msg)
{
	struct fx *f = priv;

	f->log_err = err;
	snprintf(f->log, sizeof(f->log), "%s", msg);
}

static void *dispatch(void *dev)
{
	uvfio_dev_run(dev, true);
	return NULL;
}

/*
 * A raw command; the next message must be its reply (as QEMU needs: it
 * serves device requests only once its own command is answered).
 */
static void call(struct fx *f, uint16_t cmd, const void *p, size_t n,
		 struct peer_msg *rep)
{
	struct vfio_user_header h = { .msg_id = f->id++, .cmd = cmd,
				      .msg_size = (uint32_t)(16 + n) };

	assert_int_equal(peer_send(f->sock, &h, p, n, NULL, 0), 0);
	assert_int_equal(peer_recv(f->sock, rep, 5000), 0);
	assert_true(peer_is_reply(rep));
	assert_int_equal(rep->hdr.msg_id, h.msg_id);
	assert_false(rep->hdr.flags & VFIO_USER_F_ERROR);
}

/* A client proposing version 0.minor, with guest RAM it does not share. */
static struct fx *setup(uint16_t minor, enum uvfio_dma_layout layout)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10ff };
	static const struct uvfio_dev_ops ops = { .log = log_fn };
	struct uvfio_region_desc bar = { .size = 4096,
					 .flags = UVFIO_REGION_RW,
					 .access = bar0 };
	struct uvfio_dev_opts o = { .no_twin_socket = true,
				    .dma_layout = layout };
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t v[64] = { 0 };
	struct vfio_user_dma_map m = { .argsz = 32, .flags = 3, .addr = IOVA,
				       .size = WIN };
	struct peer_msg rep;
	int sv[2];

	assert_non_null(f);
	bar.priv = f;
	f->buf = malloc(WIN);
	f->mem.p = calloc(1, WIN);
	f->mem.iova = IOVA;
	f->mem.len = WIN;
	f->mem.qemu = minor == 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	f->dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, &ops, f, &o);
	assert_non_null(f->dev);
	assert_int_equal(uvfio_dev_add_region(f->dev, 0, &bar), 0);
	f->work = uvfio_work_new(f->dev, work_fn, f);
	assert_non_null(f->work);
	assert_int_equal(uvfio_dev_attach_fd(f->dev, sv[0]), 0);
	f->sock = sv[1];
	pthread_create(&f->dispatcher, NULL, dispatch, f->dev);
	memcpy(v + 2, &minor, 2);
	strcpy((char *)v + 4, "{\"capabilities\":{\"max_msg_fds\":16}}");
	call(f, VFIO_USER_VERSION, v, 4 + strlen((char *)v + 4) + 1, &rep);
	peer_msg_free(&rep);
	call(f, VFIO_USER_DMA_MAP, &m, sizeof(m), &rep);
	peer_msg_free(&rep);
	return f;
}

static void teardown(struct fx *f)
{
	close(f->sock);
	if (!f->joined)
		pthread_join(f->dispatcher, NULL);
	uvfio_dev_destroy(f->dev); /* frees the work item too */
	free(f->mem.p);
	free(f->buf);
	free(f);
}

/* Rings the doorbell; the reply comes before any DMA request of its work. */
static int ring(struct fx *f, uint32_t op, uint32_t len)
{
	struct vfio_user_region_access a = { DOORBELL, 0, 4 };
	uint8_t p[20] = { 0 };
	struct peer_msg rep;

	f->op = op;
	f->len = len;
	atomic_store(&f->done, false);
	memcpy(p, &a, sizeof(a));
	call(f, VFIO_USER_REGION_WRITE, p, sizeof(p), &rep);
	peer_msg_free(&rep);
	/* Like QEMU, serve the device only from our own loop, now. */
	for (int ms = 0; !atomic_load(&f->done); ms += 10) {
		int err = peer_recv(f->sock, &rep, 10);

		assert_true(ms < 10000);
		if (err == -ETIMEDOUT)
			continue;
		assert_int_equal(err, 0);
		assert_false(peer_is_reply(&rep));
		assert_int_equal(peer_answer_dma(f->sock, &rep, &f->mem), 0);
		peer_msg_free(&rep);
	}
	return atomic_load(&f->result);
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + (i >> 9) + seed);
}

static void both_ways(struct fx *f, uint32_t len)
{
	fill(f->buf, len, len);
	assert_int_equal(ring(f, 1, len), 0);
	assert_memory_equal(f->mem.p + 8, f->buf, len);
	fill(f->mem.p + 8, len, len + 7);
	memset(f->buf, 0, len);
	assert_int_equal(ring(f, 2, len), 0);
	assert_memory_equal(f->buf, f->mem.p + 8, len);
	assert_false(f->mem.bad_layout);
}

/* QEMU proposes 0.0: its u32 count; reads in chunks it delivers whole. */
static void test_qemu_layout(void **state)
{
	struct fx *f = setup(0, UVFIO_DMA_LAYOUT_AUTO);

	both_ways(f, 1);
	both_ways(f, 1 << 20);
	assert_true(f->mem.max_read <= UVFIO_QEMU_DMA_READ_CHUNK);
	assert_true(f->mem.max_write > UVFIO_QEMU_DMA_READ_CHUNK);
	teardown(f);
}

/* libvfio-user's client proposes 0.2: the specification's layout. */
static void test_spec_layout(void **state)
{
	struct fx *f = setup(2, UVFIO_DMA_LAYOUT_AUTO);

	both_ways(f, 3);
	both_ways(f, (1 << 20) + 5);
	assert_int_equal(f->mem.max_read, 1 << 20);
	teardown(f);
}

/* The option overrides what the version suggests, both ways. */
static void test_layout_forced(void **state)
{
	struct fx *f = setup(2, UVFIO_DMA_LAYOUT_COUNT32);

	f->mem.qemu = true;
	both_ways(f, 4096);
	teardown(f);
	f = setup(0, UVFIO_DMA_LAYOUT_SPEC);
	f->mem.qemu = false;
	both_ways(f, 4096);
	teardown(f);
}

/*
 * DMA_WRITE replies in each form a peer sends: header only (QEMU), the
 * specification's 12 bytes, libvfio-user's 16; and ones that do not echo.
 */
static void test_write_reply_forms(void **state)
{
	struct fx *f = setup(2, UVFIO_DMA_LAYOUT_AUTO);
	static const struct {
		size_t n;
		int64_t addr_delta;
		int want;
	} forms[] = {
		{ 0, 0, 0 },  { 12, 0, 0 },  { 16, 0, 0 },
		{ 12, 8, -EPROTO }, { 8, 0, -EPROTO }, { 20, 0, -EPROTO },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct vfio_user_region_access a = { DOORBELL, 0, 4 };
		uint8_t p[20] = { 0 }, r[20] = { 0 };
		struct peer_msg req, rep;
		uint64_t addr;

		f->op = 1;
		f->len = 4;
		atomic_store(&f->done, false);
		memcpy(p, &a, sizeof(a));
		call(f, VFIO_USER_REGION_WRITE, p, sizeof(p), &rep);
		peer_msg_free(&rep);
		assert_int_equal(peer_recv(f->sock, &req, 5000), 0);
		assert_int_equal(req.hdr.cmd, VFIO_USER_DMA_WRITE);
		memcpy(&addr, req.data, 8);
		addr += (uint64_t)forms[i].addr_delta;
		memcpy(r, &addr, 8);
		memcpy(r + 8, req.data + 8, 8);
		struct vfio_user_header h = {
			.msg_id = req.hdr.msg_id,
			.cmd = req.hdr.cmd,
			.msg_size = (uint32_t)(16 + forms[i].n),
			.flags = VFIO_USER_F_TYPE_REPLY,
		};
		assert_int_equal(peer_send(f->sock, &h, r, forms[i].n, NULL, 0),
				 0);
		peer_msg_free(&req);
		/* The work ends once it has our reply: wait, with a deadline. */
		for (int ms = 0; !atomic_load(&f->done); ms++) {
			if (ms >= 10000)
				fail_msg("work not done 10 s after its reply");
			usleep(1000);
		}
		assert_int_equal(atomic_load(&f->result), forms[i].want);
	}
	teardown(f);
}

/* QEMU's errno replies reach the caller; outside the window: ENODEV. */
static void test_error_replies(void **state)
{
	struct fx *f = setup(0, UVFIO_DMA_LAYOUT_AUTO);

	f->mem.len = 4; /* the client knows only 4 bytes of the window */
	assert_int_equal(ring(f, 1, 64), -ENODEV);
	assert_int_equal(ring(f, 2, 64), -ENODEV);
	teardown(f);
}

/* Inside a handler, without twin socket: refused at once, and said why. */
static void test_dispatcher_edeadlk(void **state)
{
	struct fx *f = setup(2, UVFIO_DMA_LAYOUT_AUTO);
	struct vfio_user_region_access a = { DOORBELL, 0, 4 };
	uint8_t p[20] = { 0 };
	struct peer_msg rep;

	f->in_handler_dma = true;
	memcpy(p, &a, sizeof(a));
	call(f, VFIO_USER_REGION_WRITE, p, sizeof(p), &rep);
	peer_msg_free(&rep);
	assert_int_equal(f->handler_err, -EDEADLK);
	assert_int_equal(f->log_err, EDEADLK);
	assert_non_null(strstr(f->log, "uvfio_work_queue"));
	/* Nothing was sent: the next message is the reply to this. */
	f->in_handler_dma = false;
	both_ways(f, 16);
	teardown(f);
}

/*
 * Stopped while work waits for the client's DMA reply: uvfio_dev_run
 * returns with the client dropped, and the work ends with an error
 * instead of waiting forever (as testdev's SIGTERM path needs).
 */
static void test_stop_with_dma_out(void **state)
{
	struct fx *f = setup(2, UVFIO_DMA_LAYOUT_AUTO);
	struct vfio_user_region_access a = { DOORBELL, 0, 4 };
	struct vfio_user_header h = { .cmd = VFIO_USER_REGION_WRITE,
				      .msg_size = 16 + 20 };
	uint8_t p[20] = { 0 };
	struct peer_msg m;

	f->op = 2;
	f->len = 64;
	memcpy(p, &a, sizeof(a));
	call(f, VFIO_USER_REGION_WRITE, p, sizeof(p), &m);
	peer_msg_free(&m);
	assert_int_equal(peer_recv(f->sock, &m, 5000), 0);
	assert_int_equal(m.hdr.cmd, VFIO_USER_DMA_READ);
	peer_msg_free(&m);
	/* Not answered; the stop comes as a posted write. */
	a.offset = STOP;
	memcpy(p, &a, sizeof(a));
	h.msg_id = f->id++;
	h.flags = VFIO_USER_F_NO_REPLY;
	assert_int_equal(peer_send(f->sock, &h, p, sizeof(p), NULL, 0), 0);
	pthread_join(f->dispatcher, NULL);
	f->joined = true;
	assert_false(uvfio_dev_connected(f->dev));
	uvfio_work_flush(f->work);
	assert_true(atomic_load(&f->done));
	assert_int_equal(atomic_load(&f->result), -ECONNRESET);
	teardown(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_layout),
		cmocka_unit_test(test_spec_layout),
		cmocka_unit_test(test_layout_forced),
		cmocka_unit_test(test_write_reply_forms),
		cmocka_unit_test(test_error_replies),
		cmocka_unit_test(test_dispatcher_edeadlk),
		cmocka_unit_test(test_stop_with_dma_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
