// SPDX-License-Identifier: MIT
/*
 * GET_REGION_INFO with hostile capability chains, sizes and fds: refused
 * with -EPROTO (or -E2BIG), never cached, no fd kept.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evil_cases.h"

#define RI sizeof(struct vfio_region_info)
#define SPARSE sizeof(struct vfio_region_info_cap_sparse_mmap)
#define AREA sizeof(struct vfio_region_sparse_mmap_area)
/* The region the hook answers for. */
#define HOOKED 2u

struct region_case {
	const char *name;
	struct evil_cfg cfg;
	/* Writes the reply to a request with argsz asked; its length. */
	size_t (*build)(uint8_t *b, uint32_t asked);
	unsigned int memfds, baits;
	int err;
	unsigned int requests; /* GET_REGION_INFO per call (0: 1) */
};

static const struct vfio_region_sparse_mmap_area two_areas[2] = {
	{ 0, PAGE },
	{ PAGE, PAGE },
};

static size_t put_info(uint8_t *b, uint32_t index, uint32_t argsz,
		       uint32_t flags, uint32_t cap_offset)
{
	struct vfio_region_info ri = {
		.argsz = argsz,
		.flags = flags | VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE,
		.index = index,
		.cap_offset = cap_offset,
		.size = EVIL_MMAP_SIZE,
	};

	memcpy(b, &ri, RI);
	return RI;
}

/* A capability at off; returns where it ends. */
static size_t put_sparse(uint8_t *b, size_t off, uint32_t next, uint32_t nr,
			 const struct vfio_region_sparse_mmap_area *a,
			 unsigned int n)
{
	struct vfio_region_info_cap_sparse_mmap sp = {
		.header = { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, next },
		.nr_areas = nr,
	};

	memcpy(b + off, &sp, SPARSE);
	memcpy(b + off + SPARSE, a, n * AREA);
	return off + SPARSE + n * AREA;
}

/* A capability the client does not know, so nothing else stops a loop. */
static size_t put_unknown(uint8_t *b, size_t off, uint32_t next)
{
	struct vfio_info_cap_header h = { 0x99, 1, next };

	memcpy(b + off, &h, sizeof(h));
	return off + sizeof(h);
}

static size_t put_type(uint8_t *b, size_t off, uint32_t next)
{
	struct vfio_region_info_cap_type t = {
		.header = { VFIO_REGION_INFO_CAP_TYPE, 1, next },
		.type = 7,
		.subtype = 9,
	};

	memcpy(b + off, &t, sizeof(t));
	return off + sizeof(t);
}

#define MMAP_CAPS (VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS)
/* Sparse with two areas at 32, type at 80, 96 bytes in all. */
#define GOOD_LEN 96u

static size_t good_caps(uint8_t *b, uint32_t argsz, uint32_t cap_offset)
{
	size_t n = put_sparse(b, RI, 80, 2, two_areas, 2);

	n = put_type(b, n, 0);
	put_info(b, HOOKED, argsz, MMAP_CAPS, cap_offset);
	return n;
}

static size_t build_good(uint8_t *b, uint32_t asked)
{
	return good_caps(b, GOOD_LEN, RI);
}

/* Needs more than the client's first offer: it must ask again. */
static size_t build_big(uint8_t *b, uint32_t asked)
{
	if (asked < 1000)
		return put_info(b, HOOKED, 1000, MMAP_CAPS, RI);
	good_caps(b, 1000, RI);
	return 1000;
}

static size_t build_self_loop(uint8_t *b, uint32_t asked)
{
	size_t n = put_sparse(b, RI, RI, 2, two_areas, 2);

	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

/* type at 32 -> sparse at 48 -> back to 32. */
static size_t build_backwards(uint8_t *b, uint32_t asked)
{
	size_t n = put_type(b, RI, 48);

	n = put_sparse(b, n, RI, 2, two_areas, 2);
	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

static size_t build_unknown_loop(uint8_t *b, uint32_t asked)
{
	size_t n = put_unknown(b, RI, RI);

	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

static size_t build_unknown_back(uint8_t *b, uint32_t asked)
{
	size_t n = put_unknown(b, RI, RI + 8);

	n = put_unknown(b, n, RI);
	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

static size_t build_cap_at_end(uint8_t *b, uint32_t asked)
{
	return good_caps(b, GOOD_LEN, GOOD_LEN);
}

static size_t build_cap_far(uint8_t *b, uint32_t asked)
{
	return good_caps(b, GOOD_LEN, 1u << 28);
}

static size_t build_cap_in_header(uint8_t *b, uint32_t asked)
{
	return good_caps(b, GOOD_LEN, 16);
}

static size_t build_cap_unaligned(uint8_t *b, uint32_t asked)
{
	return good_caps(b, GOOD_LEN, RI + 2);
}

static size_t build_areas_huge(uint8_t *b, uint32_t asked)
{
	size_t n = put_sparse(b, RI, 0, UINT32_MAX, two_areas, 2);

	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

/* More areas than the client keeps, every one of them valid. */
/* One area more than the client accepts, asked for at its size. */
static size_t build_areas_over(uint8_t *b, uint32_t asked)
{
	struct vfio_region_sparse_mmap_area a[UVFIO_CLIENT_MAX_AREAS + 1];
	size_t n = RI + SPARSE + ARRAY_SIZE(a) * AREA;

	if (asked < n)
		return put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	for (unsigned int i = 0; i < ARRAY_SIZE(a); i++)
		a[i] = (struct vfio_region_sparse_mmap_area){ 0, PAGE };
	n = put_sparse(b, RI, 0, ARRAY_SIZE(a), a, ARRAY_SIZE(a));
	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

static size_t one_area(uint8_t *b, uint64_t offset, uint64_t size)
{
	struct vfio_region_sparse_mmap_area a = { offset, size };
	size_t n = put_sparse(b, RI, 0, 1, &a, 1);

	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

static size_t build_area_beyond(uint8_t *b, uint32_t asked)
{
	return one_area(b, PAGE, EVIL_MMAP_SIZE);
}

/* offset + size wraps to 1: inside the region if added naively. */
static size_t build_area_wraps(uint8_t *b, uint32_t asked)
{
	return one_area(b, PAGE, UINT64_MAX - PAGE + 2);
}

static size_t build_area_offset_huge(uint8_t *b, uint32_t asked)
{
	return one_area(b, UINT64_MAX - PAGE + 1, PAGE);
}

static size_t build_area_empty(uint8_t *b, uint32_t asked)
{
	return one_area(b, 0, 0);
}

static size_t build_sparse_twice(uint8_t *b, uint32_t asked)
{
	size_t n = put_sparse(b, RI, 80, 2, two_areas, 2);

	n = put_sparse(b, n, 0, 2, two_areas, 2);
	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

/* A type capability with 8 bytes before the next one. */
static size_t build_type_short(uint8_t *b, uint32_t asked)
{
	size_t n = put_type(b, RI, RI + 8);

	n = put_sparse(b, RI + 8, 0, 2, two_areas, 2);
	put_info(b, HOOKED, (uint32_t)n, MMAP_CAPS, RI);
	return n;
}

static size_t build_other_index(uint8_t *b, uint32_t asked)
{
	return put_info(b, HOOKED + 1, RI, 0, 0);
}

static size_t build_argsz_small(uint8_t *b, uint32_t asked)
{
	return put_info(b, HOOKED, 16, 0, 0);
}

static size_t build_truncated(uint8_t *b, uint32_t asked)
{
	good_caps(b, GOOD_LEN, RI);
	return GOOD_LEN - 16;
}

static size_t build_stub(uint8_t *b, uint32_t asked)
{
	put_info(b, HOOKED, RI, 0, 0);
	return 16;
}

/* Always a little more than was offered. */
static size_t build_grows(uint8_t *b, uint32_t asked)
{
	return put_info(b, HOOKED, asked + 8, MMAP_CAPS, RI);
}

static size_t build_argsz_huge(uint8_t *b, uint32_t asked)
{
	return put_info(b, HOOKED, 1u << 20, MMAP_CAPS, RI);
}

static size_t build_mmap_plain(uint8_t *b, uint32_t asked)
{
	return put_info(b, HOOKED, RI, VFIO_REGION_INFO_FLAG_MMAP, 0);
}

static size_t build_plain(uint8_t *b, uint32_t asked)
{
	return put_info(b, HOOKED, RI, 0, 0);
}

static enum evil_verdict region_hook(struct evil_srv *s, struct uvfio_msg *m)
{
	const struct region_case *rc =
		evil_container_of(s->cfg, struct region_case, cfg);
	struct vfio_region_info q;
	uint8_t buf[2048] = { 0 };
	int fds[4];
	unsigned int n = 0;
	size_t len;

	if (m->hdr.cmd != VFIO_USER_DEVICE_GET_REGION_INFO ||
	    m->size != sizeof(q))
		return EVIL_PASS;
	memcpy(&q, m->payload, sizeof(q));
	if (q.index != HOOKED)
		return EVIL_PASS;
	len = rc->build(buf, q.argsz);
	evil_must(len <= sizeof(buf));
	evil_must(rc->memfds + rc->baits <= ARRAY_SIZE(fds));
	for (unsigned int i = 0; i < rc->memfds; i++)
		fds[n++] = dup(s->memfd);
	for (unsigned int i = 0; i < rc->baits; i++)
		fds[n++] = evil_bait(s);
	uvfio_chan_send_reply(&s->ch, &m->hdr, buf, len, fds, n);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
	return EVIL_DONE;
}

#define REGION(name, build, ...)                                  \
	{                                                         \
		name, { .hook = region_hook }, build, __VA_ARGS__ \
	}

static const struct region_case regions[] = {
	REGION("region: cap next points to itself", build_self_loop, 1, 0,
	       -EPROTO),
	REGION("region: cap next points backwards", build_backwards, 1, 0,
	       -EPROTO),
	REGION("region: unknown cap points to itself", build_unknown_loop, 1, 0,
	       -EPROTO),
	REGION("region: unknown caps loop", build_unknown_back, 1, 0, -EPROTO),
	REGION("region: cap_offset at the end", build_cap_at_end, 1, 0,
	       -EPROTO),
	REGION("region: cap_offset far beyond", build_cap_far, 1, 0, -EPROTO),
	REGION("region: cap_offset inside the info", build_cap_in_header, 1, 0,
	       -EPROTO),
	REGION("region: cap_offset unaligned", build_cap_unaligned, 1, 0,
	       -EPROTO),
	REGION("region: 2^32-1 sparse areas", build_areas_huge, 1, 0, -EPROTO),
	REGION("region: one sparse area over the limit", build_areas_over, 1,
	       0, -E2BIG, 2),
	REGION("region: area beyond the region", build_area_beyond, 1, 0,
	       -EPROTO),
	REGION("region: area offset+size wraps", build_area_wraps, 1, 0,
	       -EPROTO),
	REGION("region: area offset huge", build_area_offset_huge, 1, 0,
	       -EPROTO),
	REGION("region: empty area", build_area_empty, 1, 0, -EPROTO),
	REGION("region: two sparse caps", build_sparse_twice, 1, 0, -EPROTO),
	REGION("region: type cap cut short", build_type_short, 1, 0, -EPROTO),
	REGION("region: reply for another index", build_other_index, 0, 0,
	       -EPROTO),
	REGION("region: argsz below the info", build_argsz_small, 0, 0,
	       -EPROTO),
	REGION("region: reply shorter than argsz", build_truncated, 1, 0,
	       -EPROTO),
	REGION("region: 16-byte reply", build_stub, 0, 0, -EPROTO),
	REGION("region: argsz grows forever", build_grows, 0, 0, -EPROTO, 2),
	REGION("region: argsz 1 MiB", build_argsz_huge, 0, 0, -EPROTO, 1),
	REGION("region: MMAP with two fds", build_mmap_plain, 0, 2, -EPROTO),
	REGION("region: fd without MMAP", build_plain, 0, 1, -EPROTO),
};

static const struct region_case region_good =
	REGION("region: sparse and type caps", build_good, 1, 0, 0);
static const struct region_case region_retry =
	REGION("region: larger argsz asked once", build_big, 1, 0, 0, 2);
static const struct region_case region_no_fd =
	REGION("region: MMAP without fd", build_mmap_plain, 0, 0, 0);

static void test_bad_region(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct region_case *rc =
		evil_container_of(e->s->cfg, struct region_case, cfg);
	const uint16_t cmd = VFIO_USER_DEVICE_GET_REGION_INFO;
	unsigned int want = rc->requests ? rc->requests : 1;
	const struct uvfio_region *r = NULL;
	unsigned int seen;

	assert_non_null(e->c);
	seen = evil_seen(e->s, cmd);
	assert_int_equal(uvfio_client_region_info(e->c, HOOKED, &r), rc->err);
	assert_null(r);
	assert_int_equal(evil_seen(e->s, cmd), seen + want);
	assert_true(evil_baits_closed(e->s));
	/* Not cached: asked again, refused again.  The link is fine. */
	assert_int_equal(uvfio_client_region_info(e->c, HOOKED, &r), rc->err);
	assert_int_equal(evil_seen(e->s, cmd), seen + 2 * want);
	assert_int_equal(uvfio_client_region_info(e->c, 0, &r), 0);
	assert_int_equal(r->size, EVIL_BAR_SIZE);
}

static void test_region_good(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct region_case *rc =
		evil_container_of(e->s->cfg, struct region_case, cfg);
	const uint16_t cmd = VFIO_USER_DEVICE_GET_REGION_INFO;
	unsigned int want = rc->requests ? rc->requests : 1;
	const struct uvfio_region *r;
	unsigned int seen;
	size_t sz = 0;
	uint8_t *p;

	assert_non_null(e->c);
	seen = evil_seen(e->s, cmd);
	assert_int_equal(uvfio_client_region_info(e->c, HOOKED, &r), 0);
	assert_int_equal(evil_seen(e->s, cmd), seen + want);
	assert_int_equal(r->flags & MMAP_CAPS, MMAP_CAPS);
	assert_int_equal(r->size, EVIL_MMAP_SIZE);
	assert_true(r->fd >= 0);
	assert_int_equal(r->nr_areas, 2);
	assert_int_equal(r->areas[1].offset, PAGE);
	assert_int_equal(r->areas[1].size, PAGE);
	assert_true(r->has_type);
	assert_int_equal(r->type, 7);
	assert_int_equal(r->subtype, 9);
	/* Cached: no second request. */
	assert_int_equal(uvfio_client_region_info(e->c, HOOKED, &r), 0);
	assert_int_equal(evil_seen(e->s, cmd), seen + want);
	/* Sparse: only the areas map, and they map the server's file. */
	assert_null(uvfio_client_region_mmap(e->c, HOOKED, -1, &sz));
	assert_int_equal(errno, EINVAL);
	assert_null(uvfio_client_region_mmap(e->c, HOOKED, 2, &sz));
	p = uvfio_client_region_mmap(e->c, HOOKED, 1, &sz);
	assert_non_null(p);
	assert_int_equal(sz, PAGE);
	assert_int_equal(pwrite(e->s->memfd, "Q", 1, PAGE + 5), 1);
	assert_int_equal(p[5], 'Q');
}

static void test_region_no_fd(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct uvfio_region *r;
	size_t sz;

	assert_non_null(e->c);
	assert_int_equal(uvfio_client_region_info(e->c, HOOKED, &r), 0);
	assert_false(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(r->fd, -1);
	assert_null(uvfio_client_region_mmap(e->c, HOOKED, -1, &sz));
	assert_int_equal(errno, EINVAL);
}

void evil_add_region_tests(struct evil_suite *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(regions); i++)
		evil_suite_add(s, regions[i].name, test_bad_region,
			       &regions[i].cfg);
	evil_suite_add(s, region_good.name, test_region_good, &region_good.cfg);
	evil_suite_add(s, region_retry.name, test_region_good,
		       &region_retry.cfg);
	evil_suite_add(s, region_no_fd.name, test_region_no_fd,
		       &region_no_fd.cfg);
}
