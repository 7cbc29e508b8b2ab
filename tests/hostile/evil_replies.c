// SPDX-License-Identifier: MIT
/*
 * Replies after a good negotiation: spoiled ones give -EPROTO, the
 * server's errno or -ECONNRESET, and leave the link usable unless the
 * stream itself is lost; region access goes in chunks of the negotiated
 * size; random damage gives errors, never a crash.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evil_cases.h"

enum call { CALL_INFO, CALL_IRQ, CALL_READ, CALL_WRITE, CALL_UNMAP };

struct reply_case {
	const char *name;
	struct evil_cfg cfg;
	enum call call;
	int err;
	bool breaks; /* the client gives the connection up */
};

#define DMA_IOVA 0x100000ull

static int call(struct evil_env *e, enum call k)
{
	static const uint8_t pattern[16] = "0123456789abcdef";
	struct uvfio_device_info di;
	struct vfio_irq_info ii;
	uint8_t buf[64];
	int r = -EINVAL;

	switch (k) {
	case CALL_INFO:
		r = uvfio_client_device_info(e->c, &di);
		if (r == 0)
			assert_int_equal(di.num_regions, EVIL_NREGIONS);
		break;
	case CALL_IRQ:
		r = uvfio_client_irq_info(e->c, 1, &ii);
		if (r == 0)
			assert_int_equal(ii.index, 1);
		break;
	case CALL_READ:
		r = uvfio_client_region_read(e->c, 0, 0x40, buf, sizeof(buf));
		if (r == 0)
			assert_memory_equal(buf, e->s->bar + 0x40, sizeof(buf));
		break;
	case CALL_WRITE:
		r = uvfio_client_region_write(e->c, 0, 0x80, pattern,
					      sizeof(pattern), 0);
		break;
	case CALL_UNMAP:
		r = uvfio_client_dma_unmap(e->c, DMA_IOVA, PAGE);
		break;
	}
	return r;
}

static void echo_offset(uint8_t *p, size_t *len)
{
	p[0]++;
}

static void echo_region(uint8_t *p, size_t *len)
{
	p[8]++;
}

static void echo_count(uint8_t *p, size_t *len)
{
	p[12]++;
}

static void info_argsz_8(uint8_t *p, size_t *len)
{
	struct vfio_user_device_info d;

	memcpy(&d, p, sizeof(d));
	d.argsz = 8;
	memcpy(p, &d, sizeof(d));
}

static void info_regions_huge(uint8_t *p, size_t *len)
{
	struct vfio_user_device_info d;

	memcpy(&d, p, sizeof(d));
	d.num_regions = 1u << 30;
	memcpy(p, &d, sizeof(d));
}

static void irq_other_index(uint8_t *p, size_t *len)
{
	p[8]++;
}

static void unmap_other_addr(uint8_t *p, size_t *len)
{
	p[8] ^= 0x10;
}

#define SPOIL(c, ...)                                       \
	{                                                   \
		.tamper = &(const struct evil_tamper)       \
		{                                           \
			.cmd = (c), .times = 1, __VA_ARGS__ \
		}                                           \
	}
#define CMD_INFO VFIO_USER_DEVICE_GET_INFO
#define CMD_READ VFIO_USER_REGION_READ

static const struct reply_case replies[] = {
	{ "info: reply too short", SPOIL(CMD_INFO, .size_delta = -8), CALL_INFO,
	  -EPROTO },
	{ "info: empty reply", SPOIL(CMD_INFO, .size_delta = -16), CALL_INFO,
	  -EPROTO },
	{ "info: argsz below 16", SPOIL(CMD_INFO, .edit = info_argsz_8),
	  CALL_INFO, -EPROTO },
	{ "info: 2^30 regions", SPOIL(CMD_INFO, .edit = info_regions_huge),
	  CALL_INFO, -EPROTO },
	{ "info: reply with another id", SPOIL(CMD_INFO, .id_delta = 7),
	  CALL_INFO, -EPROTO, true },
	{ "info: reply to another command", SPOIL(CMD_INFO, .cmd_delta = 1),
	  CALL_INFO, -EPROTO, true },
	/*
	 * A reply that may carry no fds is read with recv(): the kernel
	 * drops and closes them, so the client never holds them.
	 */
	{ "info: fds attached", SPOIL(CMD_INFO, .baits = 2), CALL_INFO, 0 },
	{ "info: error with errno 0",
	  SPOIL(CMD_INFO, .error = true, .error_no = 0), CALL_INFO, -EIO },
	{ "info: error with errno 5000",
	  SPOIL(CMD_INFO, .error = true, .error_no = 5000), CALL_INFO, -EIO },
	{ "info: error ENOTSUP",
	  SPOIL(CMD_INFO, .error = true, .error_no = ENOTSUP), CALL_INFO,
	  -ENOTSUP },
	{ "info: oversize reply", SPOIL(CMD_INFO, .size_delta = 70000),
	  CALL_INFO, -EPROTO },
	{ "info: msg_size below the header", SPOIL(CMD_INFO, .msg_size = 15),
	  CALL_INFO, -EPROTO, true },
	{ "info: closed mid-reply", SPOIL(CMD_INFO, .cut = true), CALL_INFO,
	  -ECONNRESET, true },
	{ "irq info: other index",
	  SPOIL(VFIO_USER_DEVICE_GET_IRQ_INFO, .edit = irq_other_index),
	  CALL_IRQ, -EPROTO },
	{ "irq info: too short",
	  SPOIL(VFIO_USER_DEVICE_GET_IRQ_INFO, .size_delta = -4), CALL_IRQ,
	  -EPROTO },
	{ "read: data one byte short", SPOIL(CMD_READ, .size_delta = -1),
	  CALL_READ, -EPROTO },
	{ "read: data one byte long", SPOIL(CMD_READ, .size_delta = 1),
	  CALL_READ, -EPROTO },
	{ "read: no data", SPOIL(CMD_READ, .size_delta = -64), CALL_READ,
	  -EPROTO },
	{ "read: echo of another offset", SPOIL(CMD_READ, .edit = echo_offset),
	  CALL_READ, -EPROTO },
	{ "read: echo of another region", SPOIL(CMD_READ, .edit = echo_region),
	  CALL_READ, -EPROTO },
	{ "read: echo of another count", SPOIL(CMD_READ, .edit = echo_count),
	  CALL_READ, -EPROTO },
	{ "read: server error EINVAL",
	  SPOIL(CMD_READ, .error = true, .error_no = EINVAL), CALL_READ,
	  -EINVAL },
	{ "read: server vanishes", SPOIL(CMD_READ, .hangup = true), CALL_READ,
	  -ECONNRESET, true },
	{ "write: echo of another count",
	  SPOIL(VFIO_USER_REGION_WRITE, .edit = echo_count), CALL_WRITE,
	  -EPROTO },
	{ "write: reply with data",
	  SPOIL(VFIO_USER_REGION_WRITE, .size_delta = 4), CALL_WRITE, -EPROTO },
	{ "unmap: echo of another address",
	  SPOIL(VFIO_USER_DMA_UNMAP, .edit = unmap_other_addr), CALL_UNMAP,
	  -EPROTO },
	{ "unmap: reply of the wrong size",
	  SPOIL(VFIO_USER_DMA_UNMAP, .size_delta = -4), CALL_UNMAP, -EPROTO },
};

static void test_bad_reply(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct reply_case *rc =
		evil_container_of(e->s->cfg, struct reply_case, cfg);
	uint16_t cmd = rc->cfg.tamper->cmd;
	struct uvfio_device_info di;
	uint8_t *guest = NULL;
	unsigned int seen;

	assert_non_null(e->c);
	if (rc->call == CALL_UNMAP) {
		guest = aligned_alloc(PAGE, PAGE);
		assert_non_null(guest);
		assert_int_equal(uvfio_client_dma_map(e->c, DMA_IOVA, PAGE,
						      UVFIO_DMA_PROT_READ,
						      guest, -1, 0),
				 0);
	}
	assert_int_equal(call(e, rc->call), rc->err);
	assert_true(evil_baits_closed(e->s));
	seen = evil_seen(e->s, cmd);
	if (rc->breaks) {
		/* Fails fast, without a word to the server. */
		assert_int_equal(call(e, rc->call), rc->err);
		assert_int_equal(uvfio_client_device_info(e->c, &di), rc->err);
		assert_int_equal(uvfio_client_reset(e->c), rc->err);
		assert_int_equal(evil_seen(e->s, cmd), seen);
	} else {
		/* The next reply is good, and so is the link. */
		assert_int_equal(call(e, rc->call), 0);
		assert_int_equal(evil_seen(e->s, cmd), seen + 1);
	}
	/* Closed before the window's memory goes. */
	uvfio_client_close(e->c);
	e->c = NULL;
	free(guest);
}

/* ---- Region access in chunks of the negotiated size ---- */

#define BIG 10240u

static const struct evil_cfg chunk_cfg = { 0 };
static const struct evil_cfg chunk_big_server = { .server_xfer = 1u << 20 };
static const struct evil_cfg chunk_error_cfg =
	SPOIL(CMD_READ, .skip = 1, .error = true, .error_no = EIO);
static const struct evil_cfg chunk_short_cfg =
	SPOIL(CMD_READ, .skip = 2, .size_delta = -1);

static void test_read_chunks(void **state)
{
	struct evil_env *e = evil_env(state);
	unsigned int seen = evil_seen(e->s, CMD_READ);
	uint32_t xfer =
		e->s->cfg->server_xfer ? EVIL_CLIENT_XFER : EVIL_SERVER_XFER;
	uint8_t *buf = malloc(BIG);

	assert_non_null(buf);
	assert_non_null(e->c);
	assert_int_equal(uvfio_client_region_read(e->c, 0, 100, buf, BIG), 0);
	/* The smaller of the two sides' limits decides. */
	assert_int_equal(evil_seen(e->s, CMD_READ) - seen,
			 (BIG + xfer - 1) / xfer);
	assert_memory_equal(buf, e->s->bar + 100, BIG);
	free(buf);
}

static void test_write_chunks(void **state)
{
	struct evil_env *e = evil_env(state);
	const uint16_t cmd = VFIO_USER_REGION_WRITE;
	unsigned int seen = evil_seen(e->s, cmd);
	uint8_t *buf = malloc(BIG);

	assert_non_null(buf);
	assert_non_null(e->c);
	for (unsigned int i = 0; i < BIG; i++)
		buf[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(uvfio_client_region_write(e->c, 0, 300, buf, BIG, 0),
			 0);
	assert_int_equal(evil_seen(e->s, cmd) - seen, 3);
	assert_memory_equal(buf, e->s->bar + 300, BIG);
	free(buf);
}

/* A bad chunk stops the access there. */
static void test_read_chunk_fails(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct evil_tamper *t = e->s->cfg->tamper;
	unsigned int seen = evil_seen(e->s, CMD_READ);
	uint8_t *buf = malloc(BIG);

	assert_non_null(buf);
	assert_non_null(e->c);
	assert_int_equal(uvfio_client_region_read(e->c, 0, 0, buf, BIG),
			 t->error ? -EIO : -EPROTO);
	assert_int_equal(evil_seen(e->s, CMD_READ) - seen, t->skip + 1);
	assert_int_equal(uvfio_client_region_read(e->c, 0, 0, buf, BIG), 0);
	assert_memory_equal(buf, e->s->bar, BIG);
	free(buf);
}

/* ---- The server vanishes ---- */

static const struct evil_cfg vanish_cfg = SPOIL(CMD_READ, .hangup = true);

static void test_vanish(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct uvfio_region *r;
	struct uvfio_device_info di;
	struct vfio_irq_info ii;
	uint8_t buf[16], page[PAGE];
	size_t sz;

	assert_non_null(e->c);
	assert_int_equal(uvfio_client_region_read(e->c, 0, 0, buf, 16),
			 -ECONNRESET);
	assert_int_equal(uvfio_client_region_read(e->c, 0, 0, buf, 16),
			 -ECONNRESET);
	assert_int_equal(uvfio_client_region_write(e->c, 0, 0, buf, 16, 0),
			 -ECONNRESET);
	assert_int_equal(uvfio_client_region_write(e->c, 0, 0, buf, 16,
						   UVFIO_WRITE_POSTED),
			 -ECONNRESET);
	assert_int_equal(uvfio_client_device_info(e->c, &di), -ECONNRESET);
	assert_int_equal(uvfio_client_region_info(e->c, 0, &r), -ECONNRESET);
	assert_null(uvfio_client_region_mmap(e->c, 1, -1, &sz));
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(uvfio_client_irq_info(e->c, 0, &ii), -ECONNRESET);
	assert_int_equal(uvfio_client_dma_map(e->c, DMA_IOVA, PAGE,
					      UVFIO_DMA_PROT_READ, page, -1, 0),
			 -ECONNRESET);
	assert_int_equal(uvfio_client_dma_unmap_all(e->c), -ECONNRESET);
	assert_int_equal(uvfio_client_reset(e->c), -ECONNRESET);
	assert_int_equal(uvfio_client_raw(e->c, 99, NULL, 0, NULL, 0, NULL, 0),
			 -ECONNRESET);
}

/* ---- Random damage: errors, never a crash, a hang or a leak ---- */

static const struct evil_cfg fuzz_cfg = {
	.tamper =
		&(const struct evil_tamper){ .cmd = EVIL_ANY_CMD, .flips = 2 },
};

static void fuzz_one(struct evil_env *e, unsigned int i, uint8_t *buf,
		     uint8_t *guest)
{
	const struct uvfio_region *r;
	struct uvfio_device_info di;
	struct vfio_irq_info ii;
	size_t sz;
	int ret = 0;

	switch (i % 8) {
	case 0:
		ret = uvfio_client_device_info(e->c, &di);
		break;
	case 1:
		ret = uvfio_client_region_info(e->c, i / 8 % EVIL_NREGIONS, &r);
		if (ret == 0 &&
		    uvfio_client_region_mmap(e->c, r->index, -1, &sz) == NULL)
			ret = -errno;
		break;
	case 2:
		ret = uvfio_client_irq_info(e->c, i % EVIL_NIRQS, &ii);
		break;
	case 3:
		ret = uvfio_client_region_read(e->c, 0, i * 8, buf, i * 13);
		break;
	case 4:
		ret = uvfio_client_region_write(e->c, 0, i * 4, buf, i * 7, 0);
		break;
	case 5:
		ret = uvfio_client_dma_map(e->c, DMA_IOVA, PAGE,
					   UVFIO_DMA_PROT_READ, guest, -1, 0);
		break;
	case 6:
		ret = uvfio_client_dma_unmap_all(e->c);
		break;
	case 7:
		ret = uvfio_client_region_io_fds(e->c, 0);
		break;
	}
	/* Damage inside a payload never desynchronizes the stream. */
	if (ret < -4095 || ret == -ECONNRESET)
		fail_msg("call %u (kind %u) gave %d", i, i % 8, ret);
}

static void test_fuzz(void **state)
{
	struct evil_env *e = evil_env(state);
	uint8_t *buf = malloc(EVIL_BAR_SIZE), *guest = malloc(PAGE);
	struct uvfio_device_info di;

	assert_non_null(e->c);
	assert_non_null(buf);
	assert_non_null(guest);
	memset(buf, 0x3c, EVIL_BAR_SIZE);
	for (unsigned int i = 0; i < 400; i++)
		fuzz_one(e, i, buf, guest);
	/* The link is still in step: a bad reply is answered, not lost. */
	assert_true(uvfio_client_device_info(e->c, &di) <= 0);
	uvfio_client_close(e->c);
	e->c = NULL;
	free(guest);
	free(buf);
}

void evil_add_reply_tests(struct evil_suite *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(replies); i++)
		evil_suite_add(s, replies[i].name, test_bad_reply,
			       &replies[i].cfg);
	evil_suite_add(s, "read: 10 KiB in 4 KiB chunks", test_read_chunks,
		       &chunk_cfg);
	evil_suite_add(s, "read: 10 KiB, client limit 8 KiB", test_read_chunks,
		       &chunk_big_server);
	evil_suite_add(s, "write: 10 KiB in 4 KiB chunks", test_write_chunks,
		       &chunk_cfg);
	evil_suite_add(s, "read: error on the second chunk",
		       test_read_chunk_fails, &chunk_error_cfg);
	evil_suite_add(s, "read: short third chunk", test_read_chunk_fails,
		       &chunk_short_cfg);
	evil_suite_add(s, "vanish: mid-request, then fail fast", test_vanish,
		       &vanish_cfg);
	evil_suite_add(s, "fuzz: two flipped bits in every reply", test_fuzz,
		       &fuzz_cfg);
}
