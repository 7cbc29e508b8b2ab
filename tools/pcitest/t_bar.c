// SPDX-License-Identifier: MIT
/*
 * BAR test, as pcitest -b: fill each memory BAR with a pattern 32 bits
 * at a time and read it back.  Done twice, through REGION_WRITE and
 * through the BAR's mmap, each checked through both paths, so that a
 * write that lands in the wrong place or only in one view shows up.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcitest.h"

/* Differs per BAR, offset and pass, so misplaced words are caught. */
static uint32_t pattern(unsigned int bar, uint64_t off, uint32_t salt)
{
	return (uint32_t)((off / 4 + 1) * 2654435761u) ^ (bar << 28) ^ salt;
}

/* Finds the first word of buf that is not the pattern. */
static int verify(const uint8_t *buf, uint64_t base, size_t len,
		  unsigned int bar, uint32_t salt, const char *how, char *why,
		  size_t wlen)
{
	size_t off;

	for (off = 0; off + 4 <= len; off += 4) {
		uint32_t v, want = pattern(bar, base + off, salt);

		memcpy(&v, buf + off, 4);
		v = le32toh(v);
		if (v != want) {
			snprintf(why, wlen,
				 "BAR%u offset %#llx reads %#010x via %s, "
				 "wrote %#010x",
				 bar, (unsigned long long)(base + off), v, how,
				 want);
			return -EIO;
		}
	}
	return 0;
}

static int write_by_msg(struct pt *t, unsigned int bar, uint64_t size,
			uint32_t salt, char *why, size_t len)
{
	uint64_t off;
	int ret;

	for (off = 0; off + 4 <= size; off += 4) {
		uint32_t v = htole32(pattern(bar, off, salt));

		ret = uvfio_client_region_write(t->c, bar, off, &v, 4, 0);
		if (ret < 0) {
			snprintf(why, len, "BAR%u write at %#llx: %s", bar,
				 (unsigned long long)off, strerror(-ret));
			return -EIO;
		}
	}
	return 0;
}

static int check_by_msg(struct pt *t, unsigned int bar, uint64_t base,
			uint64_t size, uint32_t salt, char *why, size_t len)
{
	uint8_t *buf = malloc(size ? size : 1);
	int ret;

	if (!buf) {
		snprintf(why, len, "out of memory");
		return -EIO;
	}
	ret = uvfio_client_region_read(t->c, bar, base, buf, size);
	if (ret < 0)
		snprintf(why, len, "BAR%u read: %s", bar, strerror(-ret));
	else
		ret = verify(buf, base, size, bar, salt, "REGION_READ", why,
			     len);
	free(buf);
	return ret < 0 ? -EIO : 0;
}

/* The mappable pieces of a BAR: the whole, or each sparse area. */
struct piece {
	volatile uint32_t *p;
	uint64_t off;
	size_t len;
};

static int map_pieces(struct pt *t, unsigned int bar,
		      const struct uvfio_region *r, struct piece *pc,
		      unsigned int *n, char *why, size_t len)
{
	unsigned int i, areas = r->nr_areas ? r->nr_areas : 1;

	for (i = 0; i < areas && i < UVFIO_CLIENT_MAX_AREAS; i++) {
		size_t sz;
		void *p = uvfio_client_region_mmap(t->c, bar,
						   r->nr_areas ? (int)i : -1,
						   &sz);

		if (!p) {
			snprintf(why, len, "BAR%u mmap of area %u: %s", bar, i,
				 strerror(errno));
			return -EIO;
		}
		pc[i].p = p;
		pc[i].off = r->nr_areas ? r->areas[i].offset : 0;
		pc[i].len = sz;
		if (pc[i].off > r->size || sz > r->size - pc[i].off) {
			snprintf(why, len, "BAR%u area %u passes the BAR's end",
				 bar, i);
			return -EIO;
		}
	}
	*n = i;
	return 0;
}

static int check_mapped(const struct piece *pc, unsigned int n,
			unsigned int bar, uint32_t salt, char *why, size_t len)
{
	unsigned int i;
	size_t w;

	for (i = 0; i < n; i++) {
		for (w = 0; w < pc[i].len / 4; w++) {
			uint64_t off = pc[i].off + w * 4;
			uint32_t v = le32toh(pc[i].p[w]);

			if (v == pattern(bar, off, salt))
				continue;
			snprintf(why, len,
				 "BAR%u offset %#llx reads %#010x via mmap, "
				 "wrote %#010x",
				 bar, (unsigned long long)off, v,
				 pattern(bar, off, salt));
			return -EIO;
		}
	}
	return 0;
}

static int test_one(struct pt *t, unsigned int bar, char *why, size_t len)
{
	struct piece pc[UVFIO_CLIENT_MAX_AREAS];
	const struct uvfio_region *r;
	unsigned int n = 0, i;
	uint32_t salt = (uint32_t)pt_rand(t);
	size_t w;
	int ret;

	ret = uvfio_client_region_info(t->c, bar, &r);
	if (ret < 0 || !r->size) {
		snprintf(why, len, "BAR%u region info: %s", bar,
			 ret < 0 ? strerror(-ret) : "empty");
		return -EIO;
	}
	if ((r->flags & VFIO_REGION_INFO_FLAG_MMAP) &&
	    map_pieces(t, bar, r, pc, &n, why, len))
		return -EIO;

	/* Pass 1: messages write, both views read. */
	if (write_by_msg(t, bar, r->size, salt, why, len) ||
	    check_by_msg(t, bar, 0, r->size, salt, why, len) ||
	    check_mapped(pc, n, bar, salt, why, len))
		return -EIO;
	if (!n) {
		pt_note(t, "BAR%u: %#llx bytes, not mappable", bar,
			(unsigned long long)r->size);
		return 0;
	}

	/* Pass 2: the mapping writes, both views read. */
	salt = ~salt;
	for (i = 0; i < n; i++)
		for (w = 0; w < pc[i].len / 4; w++)
			pc[i].p[w] = htole32(pattern(bar, pc[i].off + w * 4,
						     salt));
	if (check_mapped(pc, n, bar, salt, why, len))
		return -EIO;
	for (i = 0; i < n; i++)
		if (check_by_msg(t, bar, pc[i].off, pc[i].len, salt, why, len))
			return -EIO;
	pt_note(t, "BAR%u: %#llx bytes, messages and %u mapping(s)", bar,
		(unsigned long long)r->size, n);
	return 0;
}

/* BAR0 holds the registers: one word at offset 0, then put it back. */
static int test_bar0(struct pt *t, char *why, size_t len)
{
	uint32_t old, v, want = 0x5a000000u | ((uint32_t)pt_rand(t) >> 8);
	int ret;

	ret = pt_reg_read(t, 0, &old);
	if (!ret)
		ret = pt_reg_write(t, 0, want);
	if (!ret)
		ret = pt_reg_read(t, 0, &v);
	if (!ret)
		ret = pt_reg_write(t, 0, old);
	if (ret) {
		snprintf(why, len, "BAR0 access: %s", strerror(-ret));
		return -EIO;
	}
	if (v != want) {
		snprintf(why, len, "BAR0 offset 0 reads %#010x, wrote %#010x",
			 v, want);
		return -EIO;
	}
	return 0;
}

int pt_test_bar(struct pt *t, char *why, size_t len)
{
	unsigned int bar;

	if (test_bar0(t, why, len))
		return -EIO;
	for (bar = 1; bar < 6; bar++)
		if (test_one(t, bar, why, len))
			return -EIO;
	return 0;
}
