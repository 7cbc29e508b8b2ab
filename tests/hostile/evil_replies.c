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
#include "client/testing.h"

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

/* ---- Migration replies: a hook plays a device that migrates ---- */

#define FEAT sizeof(struct vfio_device_feature)
#define CMD_FEAT VFIO_USER_DEVICE_FEATURE
#define CMD_MIG_READ VFIO_USER_MIG_DATA_READ

static enum evil_verdict mig_hook(struct evil_srv *s, struct uvfio_msg *m)
{
	uint8_t out[EVIL_SERVER_XFER + 64];
	struct vfio_user_mig_data md;
	struct vfio_device_feature f;
	uint64_t v;
	size_t n;

	if (m->hdr.cmd == CMD_MIG_READ) {
		if (m->size != sizeof(md))
			return evil_error(s, m, EINVAL);
		memcpy(&md, m->payload, sizeof(md));
		n = md.size < EVIL_SERVER_XFER ? md.size : EVIL_SERVER_XFER;
		md.argsz = (uint32_t)(sizeof(md) + n);
		md.size = (uint32_t)n;
		memcpy(out, &md, sizeof(md));
		memcpy(out + sizeof(md), s->bar, n);
		return evil_reply(s, m, out, sizeof(md) + n, NULL, 0);
	}
	if (m->hdr.cmd != CMD_FEAT)
		return EVIL_PASS;
	if (m->size < FEAT || m->size > 256)
		return evil_error(s, m, EINVAL);
	memcpy(&f, m->payload, FEAT);
	memcpy(out, m->payload, m->size);
	n = m->size;
	switch (f.flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		v = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
		memcpy(out + FEAT, &v, 8);
		n = FEAT + 8;
		break;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		if (f.flags & VFIO_DEVICE_FEATURE_GET) {
			v = 0xffffffff00000000ull | UVFIO_MIG_RUNNING;
			memcpy(out + FEAT, &v, 8);
			n = FEAT + 8;
		}
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		/* Every page dirty, bits past the range too. */
		if (f.argsz > sizeof(out) || f.argsz < m->size)
			return evil_error(s, m, E2BIG);
		memset(out + m->size, 0xff, f.argsz - m->size);
		n = f.argsz;
		break;
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		v = 12345;
		memcpy(out + FEAT, &v, 8);
		n = FEAT + 8;
		break;
	}
	return evil_reply(s, m, out, n, NULL, 0);
}

enum mig_call { MIG_READ, MIG_SET, MIG_GET, MIG_REPORT, MIG_FLAGS };

struct mig_case {
	const char *name;
	struct evil_cfg cfg;
	enum mig_call call;
	int err;
	bool breaks;
};

/* check: the data is what the good device answers (not under fuzz). */
static int mig_call(struct evil_env *e, enum mig_call k, bool check)
{
	uint8_t buf[3 * EVIL_SERVER_XFER];
	enum uvfio_mig_state st;
	uint64_t bm[2], v;
	ssize_t n;
	int r = -EINVAL;

	switch (k) {
	case MIG_READ:
		n = uvfio_client_mig_read(e->c, buf, sizeof(buf));
		if (n >= 0 && check) {
			assert_int_equal(n, sizeof(buf));
			for (int i = 0; i < 3; i++)
				assert_memory_equal(buf + i * EVIL_SERVER_XFER,
						    e->s->bar,
						    EVIL_SERVER_XFER);
		}
		r = n < 0 ? (int)n : 0;
		break;
	case MIG_SET:
		r = uvfio_client_mig_set_state(e->c, UVFIO_MIG_RUNNING_P2P);
		break;
	case MIG_GET:
		r = uvfio_client_mig_get_state(e->c, &st);
		if (r == 0 && check)
			assert_int_equal(st, UVFIO_MIG_RUNNING);
		break;
	case MIG_REPORT:
		r = uvfio_client_dirty_report(e->c, 0x10000, 100 * PAGE, PAGE,
					      bm);
		if (r == 0 && check) {
			assert_true(bm[0] == ~0ull);
			assert_true(bm[1] == (1ull << 36) - 1);
		}
		break;
	case MIG_FLAGS:
		r = uvfio_client_mig_flags(e->c, &v);
		if (r == 0 && check)
			assert_true(v == (VFIO_MIGRATION_STOP_COPY |
					  VFIO_MIGRATION_P2P));
		break;
	}
	return r;
}

static void mig_size_plus_one(uint8_t *p, size_t *len)
{
	p[4]++;
}

static void mig_state_other(uint8_t *p, size_t *len)
{
	p[FEAT]++;
}

static void mig_state_huge(uint8_t *p, size_t *len)
{
	p[FEAT + 3] = 0x80;
}

static void mig_report_other_pgsize(uint8_t *p, size_t *len)
{
	p[FEAT + 17] ^= 0x20;
}

static void mig_feature_other(uint8_t *p, size_t *len)
{
	p[4]++;
}

#define MIG_SPOIL(c, ...)                                   \
	{                                                   \
		.hook = mig_hook,                           \
		.tamper = &(const struct evil_tamper)       \
		{                                           \
			.cmd = (c), .times = 1, __VA_ARGS__ \
		}                                           \
	}

static const struct mig_case mig_cases[] = {
	{ "mig read: data one byte short",
	  MIG_SPOIL(CMD_MIG_READ, .size_delta = -1), MIG_READ, -EPROTO },
	{ "mig read: size above the request",
	  MIG_SPOIL(CMD_MIG_READ, .edit = mig_size_plus_one, .size_delta = 1),
	  MIG_READ, -EPROTO },
	{ "mig read: no header",
	  MIG_SPOIL(CMD_MIG_READ, .size_delta = -(long)EVIL_SERVER_XFER - 4),
	  MIG_READ, -EPROTO },
	{ "mig read: second chunk short by a byte",
	  MIG_SPOIL(CMD_MIG_READ, .skip = 1, .size_delta = -1), MIG_READ,
	  -EPROTO },
	{ "mig read: error ENOMSG",
	  MIG_SPOIL(CMD_MIG_READ, .error = true, .error_no = ENOMSG),
	  MIG_READ, -ENOMSG },
	{ "mig read: oversize reply",
	  MIG_SPOIL(CMD_MIG_READ, .size_delta = 70000), MIG_READ, -EPROTO },
	{ "mig read: reply with another id",
	  MIG_SPOIL(CMD_MIG_READ, .id_delta = 3), MIG_READ, -EPROTO, true },
	{ "mig state: SET reply 4 bytes short",
	  MIG_SPOIL(CMD_FEAT, .size_delta = -4), MIG_SET, -EPROTO },
	{ "mig state: SET echo of another state",
	  MIG_SPOIL(CMD_FEAT, .edit = mig_state_other), MIG_SET, -EPROTO },
	{ "mig state: SET reply with data after the echo",
	  MIG_SPOIL(CMD_FEAT, .size_delta = 8), MIG_SET, -EPROTO },
	{ "mig state: GET state 2^31",
	  MIG_SPOIL(CMD_FEAT, .edit = mig_state_huge), MIG_GET, -EPROTO },
	{ "mig state: GET reply without data",
	  MIG_SPOIL(CMD_FEAT, .size_delta = -8), MIG_GET, -EPROTO },
	{ "mig state: reply for another feature",
	  MIG_SPOIL(CMD_FEAT, .edit = mig_feature_other), MIG_GET, -EPROTO },
	{ "mig report: bitmap one word short",
	  MIG_SPOIL(CMD_FEAT, .size_delta = -8), MIG_REPORT, -EPROTO },
	{ "mig report: echo of another page size",
	  MIG_SPOIL(CMD_FEAT, .edit = mig_report_other_pgsize), MIG_REPORT,
	  -EPROTO },
	{ "mig report: error EINVAL",
	  MIG_SPOIL(CMD_FEAT, .error = true, .error_no = EINVAL), MIG_REPORT,
	  -EINVAL },
	{ "mig flags: 4 bytes of flags",
	  MIG_SPOIL(CMD_FEAT, .size_delta = -4), MIG_FLAGS, -EPROTO },
	{ "mig flags: closed mid-reply", MIG_SPOIL(CMD_FEAT, .cut = true),
	  MIG_FLAGS, -ECONNRESET, true },
};

static void test_mig_reply(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct mig_case *mc =
		evil_container_of(e->s->cfg, struct mig_case, cfg);

	assert_non_null(e->c);
	assert_int_equal(mig_call(e, mc->call, true), mc->err);
	if (mc->breaks)
		assert_int_equal(mig_call(e, mc->call, true), mc->err);
	else
		assert_int_equal(mig_call(e, mc->call, true), 0);
}

static const struct evil_cfg mig_fuzz_cfg = {
	.hook = mig_hook,
	.tamper =
		&(const struct evil_tamper){ .cmd = EVIL_ANY_CMD, .flips = 2 },
};

/* Flipped bits in migration replies: errors, never a crash. */
static void test_mig_fuzz(void **state)
{
	struct evil_env *e = evil_env(state);

	assert_non_null(e->c);
	for (unsigned int i = 0; i < 300; i++) {
		int ret = mig_call(e, (enum mig_call)(i % 5), false);

		if (ret < -4095 || ret == -ECONNRESET)
			fail_msg("call %u gave %d", i, ret);
	}
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
	for (size_t i = 0; i < ARRAY_SIZE(mig_cases); i++)
		evil_suite_add(s, mig_cases[i].name, test_mig_reply,
			       &mig_cases[i].cfg);
	evil_suite_add(s, "mig fuzz: two flipped bits in every reply",
		       test_mig_fuzz, &mig_fuzz_cfg);
}
