// SPDX-License-Identifier: MIT
/*
 * libvfio-user's migration, replayed against uvfio's client: a fake
 * samples/server answers, on the source and on the destination
 * connection, with the bytes the real one sent while samples/client
 * migrated it, and checks that each request of uvfio's client is the one
 * samples/client made (msg_id aside): DMA_LOGGING_START, 16 REPORTs and
 * STOP; PRE_COPY, 16 MIG_DATA_READs, STOP_COPY, 17 reads (the last one
 * short, in a full-size message), STOP; on the destination RESUMING, 17
 * MIG_DATA_WRITEs, STOP, RUNNING.  The data read must be the recorded
 * data byte for byte, and what is written what samples/client wrote.
 *
 * Then a hostile server (replies that claim more data than asked or
 * carried, short bitmaps, state replies of the wrong size), a REPORT
 * split in pieces, and the migration driver against two fake devices
 * with P2P, through a file.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "check.h"
#include "peer.h"
#include "rec.h"

#define XFER 1024u /* samples/client's max_data_xfer_size */
#define FEAT sizeof(struct vfio_device_feature)

struct fake;
typedef void (*handler_fn)(struct fake *fk, const struct peer_msg *m);

/* A device model for the driver test. */
struct model {
	uint64_t flags;
	uint32_t state;
	const uint8_t *pre, *stop;
	size_t pre_len, pre_pos, stop_len, stop_pos;
	uint8_t *got;
	size_t got_len, got_cap;
	unsigned int seq_p2p, seq_stop_copy; /* when they were entered */
	uint32_t visited[32];
	unsigned int nvisited;
};

struct fake {
	const struct rec *r;
	const char *conn;
	int sock;
	pthread_t t;
	handler_fn fn;
	size_t cursor; /* replay: next recorded message to look at */
	unsigned int replayed;
	int evil; /* hostile: which misbehaviour */
	struct model *dev;
	unsigned int reports; /* chunked REPORT requests seen */
};

static atomic_uint seq;

static void answer(struct fake *fk, const struct peer_msg *m, const void *p,
		   size_t n, uint32_t err)
{
	CHECK(!peer_reply(fk->sock, m, p, n, NULL, 0, err), "send");
}

/* The recorded VERSION reply of fk->conn, minor as libvfio-user answers. */
static void version(struct fake *fk, const struct peer_msg *m)
{
	uint8_t buf[512];
	uint16_t minor;

	for (size_t i = 0; i < fk->r->n; i++) {
		const struct rec_msg *v = &fk->r->m[i];

		if (v->c2s || v->hdr.cmd != VFIO_USER_VERSION ||
		    strcmp(v->conn, fk->conn) || v->size > sizeof(buf))
			continue;
		memcpy(buf, v->payload, v->size);
		memcpy(&minor, m->data + 2, 2);
		if (minor > 2)
			minor = 2;
		memcpy(buf + 2, &minor, 2);
		answer(fk, m, buf, v->size, 0);
		return;
	}
	answer(fk, m, NULL, 0, EINVAL);
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	struct peer_msg m;

	while (!peer_recv(fk->sock, &m, 10000)) {
		if (m.hdr.cmd == VFIO_USER_VERSION)
			version(fk, &m);
		else
			fk->fn(fk, &m);
		peer_msg_free(&m);
	}
	return NULL;
}

static bool mig_cmd(uint16_t cmd)
{
	return cmd == VFIO_USER_DEVICE_FEATURE ||
	       cmd == VFIO_USER_MIG_DATA_READ ||
	       cmd == VFIO_USER_MIG_DATA_WRITE;
}

/* The next recorded migration request of fk->conn. */
static const struct rec_msg *next_recorded(struct fake *fk)
{
	while (fk->cursor < fk->r->n) {
		const struct rec_msg *q = &fk->r->m[fk->cursor++];

		if (q->c2s && !rec_is_reply(q) && mig_cmd(q->hdr.cmd) &&
		    !strcmp(q->conn, fk->conn))
			return q;
	}
	return NULL;
}

static void replay(struct fake *fk, const struct peer_msg *m)
{
	const struct rec_msg *q = next_recorded(fk), *rep;

	if (!q) {
		CHECK(0, "%s: request %u (cmd %u) beyond the recording",
		      fk->conn, m->hdr.msg_id, m->hdr.cmd);
		answer(fk, m, NULL, 0, EINVAL);
		return;
	}
	CHECK(m->hdr.cmd == q->hdr.cmd && m->hdr.flags == q->hdr.flags &&
		      m->size == q->size &&
		      !memcmp(m->data, q->payload, q->size),
	      "%s: request cmd %u of %u bytes differs from samples/client's "
	      "cmd %u of %u bytes (recorded id %u)",
	      fk->conn, m->hdr.cmd, m->size, q->hdr.cmd, q->size,
	      q->hdr.msg_id);
	rep = rec_reply_to(fk->r, q);
	if (!rep) {
		CHECK(0, "no recorded reply to %u", q->hdr.msg_id);
		answer(fk, m, NULL, 0, EINVAL);
		return;
	}
	answer(fk, m, rep->payload, rep->size, rep->hdr.error_no);
	fk->replayed++;
}

static struct uvfio_client *start(struct fake *fk, uint32_t xfer)
{
	struct uvfio_client_opts o = { .flags = UVFIO_CLIENT_NO_TWIN,
				       .max_data_xfer_size = xfer };
	struct uvfio_client *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		exit(99);
	fk->sock = sv[1];
	pthread_create(&fk->t, NULL, fake_main, fk);
	c = uvfio_client_attach_fd(sv[0], &o);
	CHECK(c, "%s: attach: %s", fk->conn, strerror(errno));
	if (!c)
		exit(1);
	return c;
}

static void finish(struct fake *fk, struct uvfio_client *c)
{
	uvfio_client_close(c);
	pthread_join(fk->t, NULL);
	close(fk->sock);
}

/* What the recording says was read in each phase, and written. */
struct expect {
	uint8_t pre[65536], stop[65536], wr[65536];
	size_t pre_len, stop_len, wr_len;
	unsigned int reads_pre, reads_stop, writes;
	uint64_t bitmap[16];
	unsigned int nreports;
};

static void append(uint8_t *dst, size_t *len, const uint8_t *p, size_t n)
{
	if (*len + n > 65536)
		exit(99);
	memcpy(dst + *len, p, n);
	*len += n;
}

static void expectations(const struct rec *r, struct expect *e)
{
	bool stop_copy = false;

	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < r->n; i++) {
		const struct rec_msg *m = &r->m[i];
		uint32_t state, size;

		if (rec_is_reply(m) || !m->c2s)
			continue;
		if (m->hdr.cmd == VFIO_USER_DEVICE_FEATURE && m->size == 16 &&
		    m->payload[4] == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE &&
		    !strcmp(m->conn, "src")) {
			memcpy(&state, m->payload + 8, 4);
			stop_copy = state == UVFIO_MIG_STOP_COPY;
		}
		if (m->hdr.cmd == VFIO_USER_DEVICE_FEATURE && m->size == 32 &&
		    m->payload[4] == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT) {
			const struct rec_msg *rep = rec_reply_to(r, m);

			if (rep && rep->size == 40 && e->nreports < 16)
				memcpy(&e->bitmap[e->nreports++],
				       rep->payload + 32, 8);
		}
		if (m->hdr.cmd == VFIO_USER_MIG_DATA_READ) {
			const struct rec_msg *rep = rec_reply_to(r, m);

			if (!rep || rep->size < 8)
				exit(99);
			memcpy(&size, rep->payload + 4, 4);
			if (size > rep->size - 8)
				exit(99);
			if (stop_copy) {
				append(e->stop, &e->stop_len, rep->payload + 8,
				       size);
				e->reads_stop++;
			} else {
				append(e->pre, &e->pre_len, rep->payload + 8,
				       size);
				e->reads_pre++;
			}
		}
		if (m->hdr.cmd == VFIO_USER_MIG_DATA_WRITE) {
			memcpy(&size, m->payload + 4, 4);
			if (size > m->size - 8)
				exit(99);
			append(e->wr, &e->wr_len, m->payload + 8, size);
			e->writes++;
		}
	}
}

static void replay_src(const struct rec *r, const struct expect *e)
{
	struct fake fk = { .r = r, .conn = "src", .fn = replay };
	struct uvfio_client *c = start(&fk, XFER);
	static uint8_t buf[65536];
	uint64_t ps = 0x1000, bm;
	unsigned int dirty = 0;
	ssize_t n;

	CHECK(uvfio_client_caps(c)->max_data_xfer_size == 1 << 20 &&
		      uvfio_client_caps(c)->has_migration,
	      "samples/server's VERSION reply");
	CHECK(uvfio_client_dirty_start(c, &ps, NULL, 0) == 0 && ps == 0x1000,
	      "DMA_LOGGING_START");
	for (unsigned int i = 0; i < 16; i++) {
		bm = ~0ull;
		CHECK(uvfio_client_dirty_report(c, i * 0x1000ull, 0x1000,
						0x1000, &bm) == 0 &&
			      bm == e->bitmap[i],
		      "REPORT of page %u: %#llx, recorded %#llx", i,
		      (unsigned long long)bm,
		      (unsigned long long)e->bitmap[i]);
		dirty += bm != 0;
	}
	CHECK(dirty == 1 && e->bitmap[1] == 1, "page 0x1000 alone dirty");
	CHECK(uvfio_client_dirty_stop(c) == 0, "DMA_LOGGING_STOP");
	CHECK(uvfio_client_mig_set_state(c, UVFIO_MIG_PRE_COPY) == 0,
	      "PRE_COPY");
	/* samples/client reads 16 chunks in PRE_COPY: so do we. */
	n = uvfio_client_mig_read(c, buf, e->pre_len);
	CHECK(n == (ssize_t)e->pre_len && !memcmp(buf, e->pre, e->pre_len),
	      "pre-copy data: %zd bytes, recorded %zu", n, e->pre_len);
	CHECK(uvfio_client_mig_set_state(c, UVFIO_MIG_STOP_COPY) == 0,
	      "STOP_COPY");
	/* Until the short read: the 17th, 8 bytes in a 1048-byte message. */
	n = uvfio_client_mig_read(c, buf, sizeof(buf));
	CHECK(n == (ssize_t)e->stop_len && !memcmp(buf, e->stop, e->stop_len),
	      "stop-copy data: %zd bytes, recorded %zu", n, e->stop_len);
	CHECK(uvfio_client_mig_set_state(c, UVFIO_MIG_STOP) == 0, "STOP");
	CHECK(!next_recorded(&fk), "src: recorded requests left unsent");
	finish(&fk, c);
	printf("src: %u requests as samples/client's; %zu + %zu bytes read "
	       "as recorded\n",
	       fk.replayed, e->pre_len, e->stop_len);
}

static void replay_dst(const struct rec *r, const struct expect *e)
{
	struct fake fk = { .r = r, .conn = "dst", .fn = replay };
	struct uvfio_client *c = start(&fk, XFER);

	CHECK(e->wr_len == e->stop_len && !memcmp(e->wr, e->stop, e->wr_len),
	      "recording: stop-copy data is what was written");
	CHECK(uvfio_client_mig_set_state(c, UVFIO_MIG_RESUMING) == 0,
	      "RESUMING");
	/* The source's stop-copy data; the fake checks every chunk. */
	CHECK(uvfio_client_mig_write(c, e->stop, e->stop_len) == 0, "write");
	CHECK(uvfio_client_mig_set_state(c, UVFIO_MIG_STOP) == 0, "STOP");
	CHECK(uvfio_client_mig_set_state(c, UVFIO_MIG_RUNNING) == 0,
	      "RUNNING");
	CHECK(!next_recorded(&fk), "dst: recorded requests left unsent");
	finish(&fk, c);
	printf("dst: %u requests as samples/client's (%u writes)\n",
	       fk.replayed, e->writes);
}

/* Hostile replies. */

enum evil {
	EVIL_READ_MORE_THAN_ASKED = 1,
	EVIL_READ_MORE_THAN_CARRIED,
	EVIL_READ_NO_HEADER,
	EVIL_READ_HUGE,
	EVIL_REPORT_SHORT,
	EVIL_REPORT_LONG,
	EVIL_REPORT_OTHER_IOVA,
	EVIL_STATE_SHORT,
	EVIL_STATE_OTHER,
	EVIL_GET_STATE_BAD,
	EVIL_FLAGS_EMPTY,
	EVIL_START_OTHER_RANGES,
	EVIL_SIZE_LONG,
};

static void hostile(struct fake *fk, const struct peer_msg *m)
{
	static uint8_t out[4 * XFER];
	struct vfio_user_mig_data md;
	struct vfio_device_feature f = { 0 };
	uint32_t ask = 0;
	size_t n = 0;
	/* Only the first reply after VERSION is spoiled. */
	int evil = fk->replayed++ ? 0 : fk->evil;

	memset(out, 0x5a, sizeof(out));
	if (m->hdr.cmd == VFIO_USER_MIG_DATA_READ && m->size >= 8) {
		memcpy(&md, m->data, 8);
		ask = md.size;
		switch (evil) {
		case EVIL_READ_MORE_THAN_ASKED:
			md.size = ask + 1;
			n = 8 + ask + 1;
			break;
		case EVIL_READ_MORE_THAN_CARRIED:
			md.size = ask;
			n = 8 + 100;
			break;
		case EVIL_READ_NO_HEADER:
			n = 4;
			break;
		case EVIL_READ_HUGE:
			md.size = 0xffffffffu;
			n = 8 + 16;
			break;
		default:
			n = 8 + ask;
		}
		memcpy(out, &md, 8);
		answer(fk, m, out, n, 0);
		return;
	}
	if (m->hdr.cmd != VFIO_USER_DEVICE_FEATURE || m->size < FEAT ||
	    m->size > 256) {
		answer(fk, m, NULL, 0, ENOSYS);
		return;
	}
	memcpy(&f, m->data, FEAT);
	memcpy(out, m->data, m->size);
	n = m->size;
	switch (f.flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		n = f.argsz; /* echo + bitmap of 0x5a */
		if (evil == EVIL_REPORT_SHORT)
			n -= 8;
		if (evil == EVIL_REPORT_LONG)
			n += 8;
		if (evil == EVIL_REPORT_OTHER_IOVA)
			out[FEAT] ^= 0x10;
		break;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		if (evil == EVIL_STATE_SHORT)
			n = FEAT + 4;
		if (evil == EVIL_STATE_OTHER)
			out[FEAT] ^= 1;
		if (evil == EVIL_GET_STATE_BAD) {
			out[FEAT] = 9;
			n = FEAT + 8;
		}
		break;
	case VFIO_DEVICE_FEATURE_MIGRATION:
		n = evil == EVIL_FLAGS_EMPTY ? FEAT : FEAT + 8;
		memset(out + FEAT, 0, 8);
		out[FEAT] = VFIO_MIGRATION_STOP_COPY;
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		if (evil == EVIL_START_OTHER_RANGES && n > FEAT + 16)
			out[FEAT + 16] ^= 1;
		break;
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		n = evil == EVIL_SIZE_LONG ? FEAT + 16 : FEAT + 8;
		break;
	}
	answer(fk, m, out, n, 0);
}

static void hostile_case(const struct rec *r, int evil, const char *what)
{
	struct fake fk = { .r = r, .conn = "src", .fn = hostile, .evil = evil };
	struct uvfio_client *c = start(&fk, XFER);
	static uint8_t buf[4 * XFER];
	struct uvfio_iova_range rg = { 0x10000, 0x10000 };
	enum uvfio_mig_state st;
	uint64_t bm[2] = { 0, 0 }, v, ps = 4096;
	long ret = 0;

	switch (evil) {
	case EVIL_READ_MORE_THAN_ASKED:
	case EVIL_READ_MORE_THAN_CARRIED:
	case EVIL_READ_NO_HEADER:
	case EVIL_READ_HUGE:
		ret = uvfio_client_mig_read(c, buf, XFER);
		break;
	case EVIL_REPORT_SHORT:
	case EVIL_REPORT_LONG:
	case EVIL_REPORT_OTHER_IOVA:
		ret = uvfio_client_dirty_report(c, 0, 100 * 4096ull, 4096, bm);
		break;
	case EVIL_STATE_SHORT:
	case EVIL_STATE_OTHER:
		ret = uvfio_client_mig_set_state(c, UVFIO_MIG_STOP);
		break;
	case EVIL_GET_STATE_BAD:
		ret = uvfio_client_mig_get_state(c, &st);
		break;
	case EVIL_FLAGS_EMPTY:
		ret = uvfio_client_mig_flags(c, &v);
		break;
	case EVIL_START_OTHER_RANGES:
		ret = uvfio_client_dirty_start(c, &ps, &rg, 1);
		break;
	case EVIL_SIZE_LONG:
		ret = uvfio_client_mig_data_size(c, &v);
		break;
	}
	CHECK(ret == -EPROTO, "%s: %ld, not -EPROTO", what, ret);
	/* The link survives a reply that merely does not fit. */
	CHECK(uvfio_client_mig_flags(c, &v) == 0 &&
		      v == VFIO_MIGRATION_STOP_COPY,
	      "%s: link unusable after", what);
	finish(&fk, c);
	printf("hostile: %s: -EPROTO\n", what);
}

/* A REPORT larger than one message: pages whose index % 3 == 0 dirty. */
static void chunked(struct fake *fk, const struct peer_msg *m)
{
	static uint8_t out[XFER + 64];
	struct vfio_user_dma_logging_report q;
	struct vfio_device_feature f;
	uint64_t base = 0x100000, npages, words;

	if (m->hdr.cmd != VFIO_USER_DEVICE_FEATURE || m->size != FEAT + 24) {
		answer(fk, m, NULL, 0, ENOSYS);
		return;
	}
	memcpy(&f, m->data, FEAT);
	memcpy(&q, m->data + FEAT, 24);
	npages = (q.length + q.page_size - 1) / q.page_size;
	words = (npages + 63) / 64;
	CHECK(f.flags == (VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT) &&
		      f.argsz == FEAT + 24 + 8 * words &&
		      f.argsz <= XFER && (q.iova - base) % (64 * 4096) == 0,
	      "REPORT piece: argsz %u iova %#llx", f.argsz,
	      (unsigned long long)q.iova);
	if (f.argsz > sizeof(out)) {
		answer(fk, m, NULL, 0, EINVAL);
		return;
	}
	memcpy(out, m->data, FEAT + 24);
	memset(out + FEAT + 24, 0, 8 * words);
	for (uint64_t i = 0; i < 64 * words; i++) {
		uint64_t page = (q.iova - base) / 4096 + i;

		/* Bits past the piece set too: the client must drop them. */
		if (page % 3 == 0)
			out[FEAT + 24 + i / 8] |= (uint8_t)(1u << (i % 8));
	}
	fk->reports++;
	answer(fk, m, out, f.argsz, 0);
}

static void report_pieces(const struct rec *r)
{
	struct fake fk = { .r = r, .conn = "src", .fn = chunked };
	struct uvfio_client *c = start(&fk, XFER);
	const uint64_t pages = 20000;
	uint64_t *bm = calloc(pages / 64 + 1, 8);
	bool ok = true;

	CHECK(uvfio_client_dirty_report(c, 0x100000, pages * 4096, 4096,
					bm) == 0,
	      "chunked REPORT");
	for (uint64_t i = 0; i < (pages / 64 + 1) * 64; i++) {
		bool set = bm[i / 64] >> (i % 64) & 1;

		ok &= set == (i < pages && i % 3 == 0);
	}
	CHECK(ok, "chunked REPORT: bitmap assembled wrong");
	/* Merge: ORed into what the caller has. */
	for (uint64_t i = 0; i < pages / 64 + 1; i++)
		bm[i] = 0;
	bm[0] = 2;
	CHECK(uvfio_client_dirty_merge(c, 0x100000, pages * 4096, 4096,
				       bm) == 0 &&
		      (bm[0] & 0xf) == 0xb,
	      "merge");
	CHECK(fk.reports == 6, "%u pieces, expected 3 per call",
	      fk.reports);
	finish(&fk, c);
	free(bm);
	printf("REPORT of %llu pages in %u pieces of whole words\n",
	       (unsigned long long)pages, fk.reports / 2);
}

/* The driver against two device models. */

static void model_reply_feature(struct fake *fk, const struct peer_msg *m)
{
	struct model *d = fk->dev;
	struct vfio_device_feature f;
	uint8_t out[64];
	size_t n;
	uint64_t v;

	memcpy(&f, m->data, FEAT);
	memcpy(out, m->data, m->size <= sizeof(out) ? m->size : FEAT);
	n = FEAT;
	switch (f.flags) {
	case VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION:
		memcpy(out + FEAT, &d->flags, 8);
		n += 8;
		break;
	case VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		memcpy(out + FEAT, &d->state, 4);
		memset(out + FEAT + 4, 0xff, 4);
		n += 8;
		break;
	case VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		CHECK(m->size == FEAT + 8 && f.argsz == 16, "SET state form");
		memcpy(&d->state, m->data + FEAT, 4);
		if (d->nvisited < 32)
			d->visited[d->nvisited++] = d->state;
		if (d->state == UVFIO_MIG_RUNNING_P2P ||
		    d->state == UVFIO_MIG_PRE_COPY_P2P)
			d->seq_p2p = ++seq;
		if (d->state == UVFIO_MIG_STOP_COPY)
			d->seq_stop_copy = ++seq;
		n += 8;
		break;
	case VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		v = d->pre_len - d->pre_pos + d->stop_len;
		memcpy(out + FEAT, &v, 8);
		n += 8;
		break;
	default:
		answer(fk, m, NULL, 0, ENOTSUP);
		return;
	}
	answer(fk, m, out, n, 0);
}

static void model(struct fake *fk, const struct peer_msg *m)
{
	struct model *d = fk->dev;
	uint8_t out[XFER + 8];
	struct vfio_user_mig_data md;
	const uint8_t *src;
	size_t avail;

	switch (m->hdr.cmd) {
	case VFIO_USER_DEVICE_FEATURE:
		model_reply_feature(fk, m);
		return;
	case VFIO_USER_MIG_DATA_READ:
		memcpy(&md, m->data, 8);
		if (d->state == UVFIO_MIG_PRE_COPY ||
		    d->state == UVFIO_MIG_PRE_COPY_P2P) {
			src = d->pre + d->pre_pos;
			avail = d->pre_len - d->pre_pos;
		} else if (d->state == UVFIO_MIG_STOP_COPY) {
			src = d->stop + d->stop_pos;
			avail = d->stop_len - d->stop_pos;
		} else {
			answer(fk, m, NULL, 0, EINVAL);
			return;
		}
		CHECK(md.size <= XFER, "read of %u", md.size);
		if (md.size < avail)
			avail = md.size;
		md.argsz = (uint32_t)(8 + avail);
		md.size = (uint32_t)avail;
		memcpy(out, &md, 8);
		memcpy(out + 8, src, avail);
		if (d->state == UVFIO_MIG_STOP_COPY)
			d->stop_pos += avail;
		else
			d->pre_pos += avail;
		answer(fk, m, out, 8 + avail, 0);
		return;
	case VFIO_USER_MIG_DATA_WRITE:
		memcpy(&md, m->data, 8);
		CHECK(d->state == UVFIO_MIG_RESUMING &&
			      md.size <= m->size - 8 && md.argsz == 8 + md.size &&
			      d->got_len + md.size <= d->got_cap,
		      "MIG_DATA_WRITE");
		if (d->got_len + md.size <= d->got_cap &&
		    md.size <= m->size - 8) {
			memcpy(d->got + d->got_len, m->data + 8, md.size);
			d->got_len += md.size;
		}
		answer(fk, m, NULL, 0, 0);
		return;
	}
	answer(fk, m, NULL, 0, ENOSYS);
}

static bool visited(const struct model *d, const uint32_t *want,
		    unsigned int n)
{
	return d->nvisited == n &&
	       !memcmp(d->visited, want, n * sizeof(*want));
}

static void driver(const struct rec *r)
{
	enum { PRE = 5000, STOP = 3000 };
	static uint8_t data[2][PRE + STOP];
	struct model src[2], dst[2];
	struct fake fs[2], fd[2];
	struct uvfio_client *cs[2], *cd[2];
	struct uvfio_mig_driver_stats st, good;
	struct uvfio_mig_driver_opts o = { .precopy_threshold = STOP,
					   .max_iters = 4,
					   .stats = &st };
	int file = memfd_create("stream", MFD_CLOEXEC);

	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < sizeof(data[i]); k++)
			data[i][k] = (uint8_t)(k * 7 + i * 101 + (k >> 8));
		src[i] = (struct model){
			.flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
				 VFIO_MIGRATION_PRE_COPY,
			.state = UVFIO_MIG_RUNNING,
			.pre = data[i], .pre_len = PRE,
			.stop = data[i] + PRE, .stop_len = STOP,
		};
		dst[i] = (struct model){
			.flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P,
			.state = UVFIO_MIG_RUNNING,
			.got = malloc(PRE + STOP), .got_cap = PRE + STOP,
		};
		fs[i] = (struct fake){ .r = r, .conn = "src", .fn = model,
				       .dev = &src[i] };
		fd[i] = (struct fake){ .r = r, .conn = "dst", .fn = model,
				       .dev = &dst[i] };
		cs[i] = start(&fs[i], XFER);
		cd[i] = start(&fd[i], XFER);
	}
	CHECK(uvfio_client_migrate_out(cs, 2, file, &o) == 0, "migrate_out");
	good = st;
	CHECK(st.iters == 1 && st.precopy_bytes == 2 * PRE &&
		      st.stopcopy_bytes == 2 * STOP,
	      "stats: %u rounds, %llu + %llu bytes", st.iters,
	      (unsigned long long)st.precopy_bytes,
	      (unsigned long long)st.stopcopy_bytes);
	static const uint32_t out_states[] = {
		UVFIO_MIG_PRE_COPY, UVFIO_MIG_PRE_COPY_P2P,
		UVFIO_MIG_STOP_COPY, UVFIO_MIG_STOP
	};
	for (int i = 0; i < 2; i++)
		CHECK(visited(&src[i], out_states, 4), "source %d states", i);
	CHECK(src[0].seq_p2p < src[0].seq_stop_copy &&
		      src[1].seq_p2p < src[0].seq_stop_copy,
	      "a device stopped before every device was in P2P");
	lseek(file, 0, SEEK_SET);
	CHECK(uvfio_client_migrate_in(cd, 2, file) == 0, "migrate_in");
	static const uint32_t in_states[] = {
		UVFIO_MIG_RESUMING, UVFIO_MIG_STOP, UVFIO_MIG_RUNNING_P2P,
		UVFIO_MIG_RUNNING
	};
	for (int i = 0; i < 2; i++) {
		CHECK(visited(&dst[i], in_states, 4), "destination %d states",
		      i);
		CHECK(dst[i].got_len == PRE + STOP &&
			      !memcmp(dst[i].got, data[i], PRE + STOP),
		      "destination %d got %zu bytes, not the stream", i,
		      dst[i].got_len);
	}
	/* A stream cut short, and one with a frame for a third device. */
	for (int i = 0; i < 2; i++)
		dst[i].got_len = 0;
	off_t full = lseek(file, 0, SEEK_END);

	CHECK(ftruncate(file, full - 16) == 0, "truncate");
	lseek(file, 0, SEEK_SET);
	CHECK(uvfio_client_migrate_in(cd, 2, file) == -ENODATA,
	      "truncated stream");
	struct uvfio_mig_frame bad = { 2, UVFIO_MIG_FRAME_STOP_COPY, 0 };

	for (int i = 0; i < 2; i++)
		dst[i].state = UVFIO_MIG_RUNNING;
	CHECK(ftruncate(file, 0) == 0 && lseek(file, 0, SEEK_SET) == 0 &&
		      write(file, &bad, sizeof(bad)) == sizeof(bad),
	      "write");
	lseek(file, 0, SEEK_SET);
	CHECK(uvfio_client_migrate_in(cd, 2, file) == -EBADMSG, "bad frame");
	/* A source whose fd fails goes back to RUNNING. */
	for (int i = 0; i < 2; i++) {
		src[i].state = UVFIO_MIG_RUNNING;
		src[i].pre_pos = src[i].stop_pos = 0;
	}
	int pf[2];

	CHECK(pipe(pf) == 0, "pipe");
	close(pf[0]);
	CHECK(uvfio_client_migrate_out(cs, 2, pf[1], &o) == -EPIPE,
	      "migrate_out to a closed pipe");
	close(pf[1]);
	for (int i = 0; i < 2; i++)
		CHECK(src[i].state == UVFIO_MIG_RUNNING,
		      "source %d not back to RUNNING: %u", i, src[i].state);
	for (int i = 0; i < 2; i++) {
		finish(&fs[i], cs[i]);
		finish(&fd[i], cd[i]);
		free(dst[i].got);
	}
	close(file);
	printf("driver: 2 devices, %u pre-copy round(s), %llu + %llu bytes, "
	       "P2P before STOP_COPY\n",
	       good.iters, (unsigned long long)good.precopy_bytes,
	       (unsigned long long)good.stopcopy_bytes);
}

int main(void)
{
	static struct expect e;
	struct rec r;

	/* A closed pipe must give EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	rec_load(&r, "lvu-client-server.jsonl");
	expectations(&r, &e);
	CHECK(e.reads_pre == 16 && e.reads_stop == 17 && e.writes == 17 &&
		      e.pre_len == 16384 && e.stop_len == 16392 &&
		      e.nreports == 16,
	      "recording not as documented");
	replay_src(&r, &e);
	replay_dst(&r, &e);
	hostile_case(&r, EVIL_READ_MORE_THAN_ASKED,
		     "MIG_DATA_READ size above the request");
	hostile_case(&r, EVIL_READ_MORE_THAN_CARRIED,
		     "MIG_DATA_READ size above the message");
	hostile_case(&r, EVIL_READ_NO_HEADER, "MIG_DATA_READ of 4 bytes");
	hostile_case(&r, EVIL_READ_HUGE, "MIG_DATA_READ size 2^32-1");
	hostile_case(&r, EVIL_REPORT_SHORT, "REPORT bitmap one word short");
	hostile_case(&r, EVIL_REPORT_LONG, "REPORT bitmap one word long");
	hostile_case(&r, EVIL_REPORT_OTHER_IOVA, "REPORT echo of another iova");
	hostile_case(&r, EVIL_STATE_SHORT, "SET state reply of 12 bytes");
	hostile_case(&r, EVIL_STATE_OTHER, "SET state echo of another state");
	hostile_case(&r, EVIL_GET_STATE_BAD, "GET state 9");
	hostile_case(&r, EVIL_FLAGS_EMPTY, "MIGRATION reply without flags");
	hostile_case(&r, EVIL_START_OTHER_RANGES,
		     "LOGGING_START echo of other ranges");
	hostile_case(&r, EVIL_SIZE_LONG, "MIG_DATA_SIZE of 16 bytes");
	report_pieces(&r);
	driver(&r);
	rec_free(&r);
	return failures ? 1 : 0;
}
