// SPDX-License-Identifier: MIT
/*
 * DMA dirty-page logging (src/server/dirty.c), driven directly on a
 * device without a client: START's checks and page size, marks inside
 * and outside the ranges, REPORT at every page-size relation, holes, bits
 * past the end, clearing, marks racing reports, and the DMA paths of
 * dma.c / dma_xfer.c (write marks, read does not, unmap keeps marks, the
 * migration gate refuses).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/dirty.h"
#include "server/dma_ref.h"

#define K4 4096ull
#define M1 (1ull << 20)
#define M2 (2ull << 20)
#define G1 (1ull << 30)

static struct uvfio_dev *new_dev(void)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10f1 };
	struct uvfio_dev *dev;

	dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, NULL, NULL);
	assert_non_null(dev);
	return dev;
}

struct start_req {
	struct vfio_user_dma_logging_control c;
	struct vfio_user_dma_logging_range r[8];
};

static int start(struct uvfio_dev *dev, uint64_t ps, uint64_t *got,
		 unsigned int n, ...)
{
	struct start_req q = { .c = { .page_size = ps, .num_ranges = n } };
	uint64_t dummy;
	va_list ap;

	va_start(ap, n);
	for (unsigned int i = 0; i < n; i++) {
		q.r[i].iova = va_arg(ap, uint64_t);
		q.r[i].length = va_arg(ap, uint64_t);
	}
	va_end(ap);
	return dirty_start(dev, &q.c, sizeof(q.c) + n * sizeof(q.r[0]),
			   got ? got : &dummy);
}

/* A REPORT into a fresh bitmap (poisoned first); *out is to be freed. */
static int report(struct uvfio_dev *dev, uint64_t iova, uint64_t len,
		  uint64_t ps, uint64_t **out, size_t *words)
{
	struct vfio_user_dma_logging_report r = {
		.iova = iova, .length = len, .page_size = ps,
	};
	size_t bytes = dirty_report_bytes(&r);
	uint64_t *bm;
	int err;

	*out = NULL;
	if (!bytes) {
		uint64_t one;

		return dirty_report(dev, &r, &one, sizeof(one));
	}
	bm = malloc(bytes);
	assert_non_null(bm);
	memset(bm, 0xa5, bytes);
	err = dirty_report(dev, &r, bm, bytes);
	if (err) {
		free(bm);
		return err;
	}
	*out = bm;
	if (words)
		*words = bytes / 8;
	return 0;
}

static bool bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

static uint64_t popcount(const uint64_t *bm, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

/* The report of [iova, iova + len) at ps has no bit set. */
static void assert_clean(struct uvfio_dev *dev, uint64_t iova, uint64_t len,
			 uint64_t ps)
{
	uint64_t *bm;
	size_t w;

	assert_int_equal(report(dev, iova, len, ps, &bm, &w), 0);
	assert_int_equal(popcount(bm, w), 0);
	free(bm);
}

static void test_page_size_choice(void **state)
{
	static const struct {
		uint64_t ask, got;
	} t[] = {
		{ 4096, 4096 }, { 8192, 8192 }, { 65536, 65536 },
		{ M2, M2 }, { G1, G1 }, { 2 * G1, 4096 }, { 1ull << 63, 4096 },
		{ 0, 4096 }, { 2048, 4096 }, { 1, 4096 }, { 3000, 4096 },
		{ 12288, 4096 }, { UINT64_MAX, 4096 },
	};
	struct uvfio_dev *dev = new_dev();

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t got = 0;

		assert_int_equal(start(dev, t[i].ask, &got, 0), 0);
		assert_int_equal(got, t[i].got);
		assert_true(atomic_load(&dev->dirty_on));
		assert_int_equal(dirty_stop(dev), 0);
		assert_false(atomic_load(&dev->dirty_on));
		assert_null(dev->dirty);
	}
	uvfio_dev_destroy(dev);
}

/* Zero ranges (a 16-byte request, as libvfio-user sends): everything. */
static void test_zero_ranges(void **state)
{
	struct vfio_user_dma_logging_control c = { .page_size = 4096 };
	static const uint64_t at[] = { 0, 1000 * K4, 1ull << 40,
				       (1ull << 52) + 7 * K4,
				       UINT64_MAX - K4 + 1 };
	struct uvfio_dev *dev = new_dev();
	uint64_t ps = 0, *bm;

	assert_int_equal(dirty_start(dev, &c, sizeof(c), &ps), 0);
	assert_int_equal(ps, 4096);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		dirty_mark(dev, at[i] + 100, 1);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]) - 1; i++) {
		assert_int_equal(report(dev, at[i], 64 * K4, K4, &bm, NULL), 0);
		assert_int_equal(bm[0], 1);
		free(bm);
	}
	/* The last page of the IOVA space: iova + length must not wrap. */
	assert_int_equal(report(dev, UINT64_MAX - K4 + 1, K4, K4, &bm, NULL),
			 -EOVERFLOW);
	assert_int_equal(report(dev, UINT64_MAX - 2 * K4 + 1, K4, K4, &bm,
				NULL), 0);
	assert_int_equal(bm[0], 0);
	free(bm);
	/* Length 0 marks nothing; a mark running to 2^64 is clamped. */
	dirty_mark(dev, 9 * K4, 0);
	dirty_mark(dev, UINT64_MAX - 3 * K4 + 1, 3 * K4);
	assert_int_equal(report(dev, 0, 64 * K4, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 0);
	free(bm);
	assert_int_equal(report(dev, UINT64_MAX - 64 * K4 + 1, 63 * K4, K4,
				&bm, NULL), 0);
	assert_int_equal(bm[0], 3ull << 61);
	free(bm);
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

static void test_ranges(void **state)
{
	struct uvfio_dev *dev = new_dev();
	uint64_t *bm;

	/* Given out of order; two of them touch and form one range. */
	assert_int_equal(start(dev, K4, NULL, 3, 8 * M1, M1, M1, M1,
			       9 * M1, M1), 0);
	dirty_mark(dev, M1 + 3 * K4, 10);          /* in */
	dirty_mark(dev, M1 - K4, 2 * K4);          /* straddles the start */
	dirty_mark(dev, 2 * M1 - K4, 3 * K4);      /* straddles the end */
	dirty_mark(dev, 4 * M1, K4);               /* in no range */
	dirty_mark(dev, 9 * M1 - 1, 2);            /* across two ranges */
	assert_int_equal(report(dev, M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 1 | 1 << 3);
	assert_int_equal(bm[3], 1ull << 63);
	free(bm);
	assert_int_equal(report(dev, 8 * M1, 2 * M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[3], 1ull << 63);
	assert_int_equal(bm[4], 1);
	free(bm);
	dirty_stop(dev);

	assert_int_equal(start(dev, K4, NULL, 2, M1, M1, 8 * M1, 2 * M1), 0);
	/* Not inside the logged ranges (kernel semantics): -EINVAL. */
	assert_int_equal(report(dev, 0, M1, K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, M1 - K4, 2 * K4, K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, M1, 8 * M1, K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, 10 * M1 - K4, 2 * K4, K4, &bm, NULL),
			 -EINVAL);
	assert_int_equal(report(dev, 9 * M1, M1, K4, &bm, NULL), 0);
	free(bm);
	dirty_stop(dev);

	/* Ranges aligned to the page size asked, rounded out to 4 KiB. */
	assert_int_equal(start(dev, 2048, NULL, 1, 2048ull, 2048ull), 0);
	dirty_mark(dev, 0, 1);
	assert_int_equal(report(dev, 0, K4, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 1);
	free(bm);
	dirty_stop(dev);
	uvfio_dev_destroy(dev);
}

static void test_bad_starts(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct vfio_user_dma_logging_control *c;
	size_t big = sizeof(*c) + 4097 * sizeof(c->ranges[0]);
	uint64_t ps;

	/* Overlapping, in either order, and equal starts. */
	assert_int_equal(start(dev, K4, NULL, 2, 0ull, 2 * K4, K4, K4),
			 -EINVAL);
	assert_int_equal(start(dev, K4, NULL, 2, 8 * K4, K4, 0ull, 9 * K4),
			 -EINVAL);
	assert_int_equal(start(dev, K4, NULL, 2, K4, K4, K4, 2 * K4), -EINVAL);
	/* Unaligned to the page size asked (or to 4 KiB), or empty. */
	assert_int_equal(start(dev, K4, NULL, 1, 100ull, K4), -EINVAL);
	assert_int_equal(start(dev, K4, NULL, 1, 0ull, 100ull), -EINVAL);
	assert_int_equal(start(dev, M2, NULL, 1, K4, M2), -EINVAL);
	assert_int_equal(start(dev, 3000, NULL, 1, 3000ull, 3000ull), -EINVAL);
	assert_int_equal(start(dev, K4, NULL, 1, K4, 0ull), -EINVAL);
	/* Past 2^64, or reaching it. */
	assert_int_equal(start(dev, K4, NULL, 1, UINT64_MAX - K4 + 1, 2 * K4),
			 -EOVERFLOW);
	assert_int_equal(start(dev, K4, NULL, 1, UINT64_MAX - K4 + 1, K4),
			 -EOVERFLOW);
	assert_int_equal(start(dev, K4, NULL, 2, 0ull, K4, K4,
			       UINT64_MAX - K4 + 1), -EOVERFLOW);
	/* Too many ranges, whatever the length. */
	c = calloc(1, big);
	assert_non_null(c);
	c->page_size = K4;
	c->num_ranges = 4097;
	for (uint32_t i = 0; i < 4097; i++) {
		c->ranges[i].iova = i * 2 * K4;
		c->ranges[i].length = K4;
	}
	assert_int_equal(dirty_start(dev, c, big, &ps), -E2BIG);
	assert_int_equal(dirty_start(dev, c, sizeof(*c), &ps), -E2BIG);
	/* 4096 are fine. */
	c->num_ranges = 4096;
	assert_int_equal(dirty_start(dev, c, big - sizeof(c->ranges[0]), &ps),
			 0);
	dirty_mark(dev, 4095 * 2 * K4, 2 * K4);
	{
		uint64_t *bm;

		assert_int_equal(report(dev, 4095 * 2 * K4, K4, K4, &bm, NULL),
				 0);
		assert_int_equal(bm[0], 1);
		free(bm);
		assert_int_equal(report(dev, 4095 * 2 * K4, 2 * K4, K4, &bm,
					NULL), -EINVAL);
	}
	assert_int_equal(dirty_stop(dev), 0);
	/* Truncated: the length must hold num_ranges ranges. */
	c->num_ranges = 2;
	assert_int_equal(dirty_start(dev, c, sizeof(*c) + 16 + 15, &ps),
			 -EINVAL);
	assert_int_equal(dirty_start(dev, c, sizeof(*c) - 1, &ps), -EINVAL);
	assert_int_equal(dirty_start(dev, c, 0, &ps), -EINVAL);
	free(c);
	/* Nothing was started by the failures. */
	assert_null(dev->dirty);
	assert_false(atomic_load(&dev->dirty_on));
	assert_int_equal(dirty_stop(dev), -EINVAL);
	uvfio_dev_destroy(dev);
}

static void test_report_args(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct vfio_user_dma_logging_report r = {
		.iova = 0, .length = K4, .page_size = K4,
	};
	uint64_t *bm, one;

	assert_int_equal(report(dev, 0, K4, K4, &bm, NULL), -EINVAL);
	assert_int_equal(start(dev, K4, NULL, 0), 0);
	assert_int_equal(report(dev, 0, K4, 2048, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, 0, 3 * K4, 3 * K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, 0, 0, K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, K4, 2 * K4, 2 * K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, 0, K4 + 1, K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, 100, K4, K4, &bm, NULL), -EINVAL);
	assert_int_equal(report(dev, UINT64_MAX - K4 + 1, 2 * K4, K4, &bm,
				NULL), -EOVERFLOW);
	/* Sizes: ceil(bits / 64) words. */
	assert_int_equal(dirty_report_bytes(&r), 8);
	r.length = 65 * K4;
	assert_int_equal(dirty_report_bytes(&r), 16);
	r.length = 64 * K4;
	assert_int_equal(dirty_report_bytes(&r), 8);
	r.page_size = 1ull << 63;
	r.length = 1ull << 63;
	assert_int_equal(dirty_report_bytes(&r), 8);
	r.page_size = K4;
	r.length = 0;
	assert_int_equal(dirty_report_bytes(&r), 0);
	/* A bitmap too small is refused. */
	r.length = 65 * K4;
	assert_int_equal(dirty_report(dev, &r, &one, sizeof(one)), -EINVAL);
	/* The largest page size works too. */
	dirty_mark(dev, (1ull << 63) + 5, 1);
	assert_int_equal(report(dev, 0, 1ull << 63, 1ull << 62, &bm, NULL), 0);
	assert_int_equal(bm[0], 0);
	free(bm);
	r.iova = 1ull << 63;
	r.length = 1ull << 63;
	r.page_size = 1ull << 63;
	assert_int_equal(dirty_report(dev, &r, &one, sizeof(one)), -EOVERFLOW);
	assert_int_equal(report(dev, 1ull << 63, 1ull << 62, 1ull << 62, &bm,
				NULL), 0);
	assert_int_equal(bm[0], 1);
	free(bm);
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

/* Log pages of 4 KiB, reported at 4 KiB (aligned and not), 8 KiB .. */
static void test_report_sizes(void **state)
{
	struct uvfio_dev *dev = new_dev();
	uint64_t *bm;
	size_t w;

	assert_int_equal(start(dev, K4, NULL, 0), 0);
	/* Equal, aligned to 64 pages: words as they are. */
	dirty_mark(dev, 3 * K4, 1);
	dirty_mark(dev, 17 * K4 + 100, K4);        /* pages 17, 18 */
	dirty_mark(dev, 100 * K4, 1);
	assert_int_equal(report(dev, 0, 128 * K4, K4, &bm, &w), 0);
	assert_int_equal(w, 2);
	assert_int_equal(bm[0], 1ull << 3 | 3ull << 17);
	assert_int_equal(bm[1], 1ull << 36);
	free(bm);
	assert_clean(dev, 0, 128 * K4, K4);

	/* Equal, not aligned to 64 pages. */
	dirty_mark(dev, 5 * K4, 2 * K4);
	dirty_mark(dev, 70 * K4, 1);
	dirty_mark(dev, 4 * K4, 1);                /* before the report */
	assert_int_equal(report(dev, 5 * K4, 100 * K4, K4, &bm, &w), 0);
	assert_int_equal(w, 2);
	assert_int_equal(bm[0], 3);
	assert_int_equal(bm[1], 2);
	free(bm);
	/* Page 4 was not reported: still there, alone. */
	assert_int_equal(report(dev, 0, 64 * K4, K4, &bm, &w), 0);
	assert_int_equal(bm[0], 1ull << 4);
	free(bm);

	/* Larger report pages: dirty if any log page under them is. */
	dirty_mark(dev, 0, 1);
	dirty_mark(dev, 3 * K4, 1);
	dirty_mark(dev, 9 * K4, 1);
	assert_int_equal(report(dev, 0, 64 * K4, 2 * K4, &bm, &w), 0);
	assert_int_equal(w, 1);
	assert_int_equal(bm[0], 1 | 2 | 1 << 4);
	free(bm);
	assert_clean(dev, 0, 64 * K4, K4);
	dirty_mark(dev, 300 * K4, 1);
	dirty_mark(dev, 301 * K4, 1);
	dirty_mark(dev, 1023 * K4, 1);
	assert_int_equal(report(dev, 0, 64 * M1, M1, &bm, &w), 0);
	assert_int_equal(w, 1);
	assert_int_equal(bm[0], 2 | 8);
	free(bm);
	assert_clean(dev, 0, 8 * M1, K4);
	dirty_mark(dev, 40 * K4, 1);
	assert_int_equal(report(dev, 0, 64 * 32 * K4, 32 * K4, &bm, &w), 0);
	assert_int_equal(bm[0], 2);
	free(bm);
	assert_clean(dev, 0, 8 * M1, K4);
	assert_int_equal(dirty_stop(dev), 0);

	/* Log pages of 2 MiB, reported at 4 KiB: every bit they cover. */
	assert_int_equal(start(dev, M2, NULL, 0), 0);
	dirty_mark(dev, M2 + 5000, 1);
	assert_int_equal(report(dev, M2, M2, K4, &bm, &w), 0);
	assert_int_equal(w, 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(bm[i], UINT64_MAX);
	free(bm);
	assert_clean(dev, 0, 4 * M2, K4);
	/* Half of it: reported, but kept (only whole log pages clear). */
	dirty_mark(dev, M2 + 5000, 1);
	assert_int_equal(report(dev, M2 + M1, M1, K4, &bm, &w), 0);
	assert_int_equal(popcount(bm, w), 256);
	free(bm);
	assert_int_equal(report(dev, M2 + 4 * K4, 8 * K4, 4 * K4, &bm, &w), 0);
	assert_int_equal(bm[0], 3);
	free(bm);
	assert_int_equal(report(dev, 0, 2 * M2, M2, &bm, &w), 0);
	assert_int_equal(bm[0], 2);
	free(bm);
	assert_clean(dev, 0, 4 * M2, K4);
	/* Larger report pages over larger log pages. */
	dirty_mark(dev, 5 * M2, 1);
	assert_int_equal(report(dev, 0, 64 * G1, G1, &bm, &w), 0);
	assert_int_equal(bm[0], 1);
	free(bm);
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

/* A sub-range over far-apart leaves and empty subtrees. */
static void test_holes(void **state)
{
	static const uint64_t pages[] = { 0, 63, 64, 65535, 65536,
					  65536 * 3 + 7, 524287 };
	struct uvfio_dev *dev = new_dev();
	uint64_t *bm;
	size_t w;

	assert_int_equal(start(dev, K4, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		dirty_mark(dev, pages[i] * K4, 1);
	dirty_mark(dev, 3 * G1, K4);               /* outside the report */
	assert_int_equal(report(dev, 0, 2 * G1, K4, &bm, &w), 0);
	assert_int_equal(w, 2 * G1 / K4 / 64);
	assert_int_equal(popcount(bm, w), 7);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		assert_true(bit(bm, pages[i]));
	free(bm);
	/* Starting inside a leaf, after its first word. */
	dirty_mark(dev, (65536 + 128) * K4, K4);
	dirty_mark(dev, (65536 * 2 + 1) * K4, K4);
	assert_int_equal(report(dev, (65536 + 64) * K4, 65536 * K4, K4, &bm,
				&w), 0);
	assert_int_equal(w, 1024);
	assert_int_equal(popcount(bm, w), 2);
	assert_true(bit(bm, 64));
	assert_true(bit(bm, 65536 - 64 + 1));
	free(bm);
	/* A huge sparse range: 2^50 bytes at 1 GiB pages. */
	dirty_mark(dev, (1ull << 45) + 123, 1);
	assert_int_equal(report(dev, 0, 1ull << 50, G1, &bm, &w), 0);
	assert_int_equal(w, (1ull << 20) / 64);
	assert_int_equal(popcount(bm, w), 2);
	assert_true(bit(bm, 3));
	assert_true(bit(bm, 1ull << 15));
	free(bm);
	/* And at 4 KiB pages over a huge IOVA (2^32 pages): 512 MiB. */
	dirty_mark(dev, (1ull << 44) - K4, 2 * K4);
	assert_int_equal(report(dev, (1ull << 44) - 64 * K4, 128 * K4, K4, &bm,
				&w), 0);
	assert_int_equal(bm[0], 1ull << 63);
	assert_int_equal(bm[1], 1);
	free(bm);
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

/* Bits past the length are zero, whatever the log holds beyond it. */
static void test_bits_beyond(void **state)
{
	struct uvfio_dev *dev = new_dev();
	uint64_t *bm;
	size_t w;

	assert_int_equal(start(dev, K4, NULL, 0), 0);
	dirty_mark(dev, 0, 256 * K4);
	assert_int_equal(report(dev, 0, 70 * K4, K4, &bm, &w), 0);
	assert_int_equal(w, 2);
	assert_int_equal(bm[0], UINT64_MAX);
	assert_int_equal(bm[1], 0x3f);
	free(bm);
	/* Unaligned path: 10 pages from page 100. */
	assert_int_equal(report(dev, 100 * K4, 10 * K4, K4, &bm, &w), 0);
	assert_int_equal(w, 1);
	assert_int_equal(bm[0], 0x3ff);
	free(bm);
	/* Coarser pages: 3 pages of 64 KiB. */
	assert_int_equal(report(dev, 128 * K4, 3 * 16 * K4, 16 * K4, &bm, &w),
			 0);
	assert_int_equal(bm[0], 7);
	free(bm);
	/* What was not reported is still there. */
	assert_int_equal(report(dev, 0, 256 * K4, K4, &bm, &w), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(bm[1], ~0x3full & ~(0x3ffull << 36));
	assert_int_equal(bm[2], ~0ull << 48);
	assert_int_equal(bm[3], UINT64_MAX);
	free(bm);
	/* A bigger buffer than needed: the rest is zeroed. */
	{
		struct vfio_user_dma_logging_report r = {
			.iova = 0, .length = K4, .page_size = K4,
		};
		uint64_t b[3] = { 7, 7, 7 };

		dirty_mark(dev, 0, 1);
		assert_int_equal(dirty_report(dev, &r, b, sizeof(b)), 0);
		assert_int_equal(b[0], 1);
		assert_int_equal(b[1], 0);
		assert_int_equal(b[2], 0);
	}
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

/* Random marks and reports against a plain model of the log. */
#define RND_PAGES 8192
#define RND_BASE (65536 - 4096)         /* crosses a leaf */

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_random(void **state)
{
	static const unsigned int shifts[] = { 12, 13, 16, 21 };
	struct uvfio_dev *dev = new_dev();
	static bool ref[RND_PAGES];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t t = 0; t < sizeof(shifts) / sizeof(shifts[0]); t++) {
		unsigned int s = shifts[t];
		uint64_t lo = (uint64_t)RND_BASE << s;
		uint64_t size = (uint64_t)RND_PAGES << s;

		memset(ref, 0, sizeof(ref));
		assert_int_equal(start(dev, 1ull << s, NULL, 0), 0);
		for (int it = 0; it < 3000; it++) {
			uint64_t a = rnd(&x) % size, n = 1 + rnd(&x) % (64ull << s);
			unsigned int rs;
			uint64_t pg, iova, len, *bm;

			if (n > size - a)
				n = size - a;
			dirty_mark(dev, lo + a, n);
			for (uint64_t p = a >> s; p <= (a + n - 1) >> s; p++)
				ref[p] = true;
			if (rnd(&x) % 4)
				continue;
			rs = s - 3 + (unsigned int)(rnd(&x) % 11);
			if (rs < 12)
				rs = 12;
			pg = 1ull << rs;
			if (pg > size)
				continue;
			iova = rnd(&x) % (size / pg) * pg;
			len = (1 + rnd(&x) % ((size - iova) / pg)) * pg;
			assert_int_equal(report(dev, lo + iova, len, pg, &bm,
						NULL), 0);
			for (uint64_t k = 0; k < len / pg; k++) {
				uint64_t b0 = iova + k * pg, b1 = b0 + pg - 1;
				bool want = false;

				for (uint64_t p = b0 >> s; p <= b1 >> s; p++)
					want |= ref[p];
				if (bit(bm, k) != want)
					fail_msg("s %u rs %u iova %#lx len %#lx "
						 "bit %lu", s, rs,
						 (unsigned long)iova,
						 (unsigned long)len,
						 (unsigned long)k);
			}
			for (uint64_t k = len / pg; k % 64; k++)
				assert_false(bit(bm, k));
			free(bm);
			/* Cleared: log pages the report covered whole. */
			for (uint64_t p = iova >> s; p <= (iova + len - 1) >> s;
			     p++)
				if (p << s >= iova &&
				    ((p + 1) << s) - 1 <= iova + len - 1)
					ref[p] = false;
		}
		assert_int_equal(dirty_stop(dev), 0);
	}
	uvfio_dev_destroy(dev);
}

/* Marks racing reports: none is lost. */
#define RACE_PAGES 1000000
#define RACE_SPAN (RACE_PAGES * 2ull)

struct race {
	struct uvfio_dev *dev;
	atomic_bool done;
	uint64_t *seen;
	unsigned long reports;
};

static void *marker(void *arg)
{
	struct race *r = arg;

	for (uint64_t i = 0; i < RACE_PAGES; i++)
		dirty_mark(r->dev, (i * 2) * K4 + (i % 7), 1 + i % 100);
	atomic_store(&r->done, true);
	return NULL;
}

static void merge(struct race *r, uint64_t iova, uint64_t len)
{
	uint64_t *bm;
	size_t w;
	uint64_t first = iova / K4;

	assert_int_equal(report(r->dev, iova, len, K4, &bm, &w), 0);
	if (first % 64 == 0) {
		for (size_t i = 0; i < w; i++)
			r->seen[first / 64 + i] |= bm[i];
	} else {
		for (uint64_t i = 0; i < len / K4; i++)
			if (bit(bm, i))
				r->seen[(first + i) / 64] |=
					1ull << ((first + i) % 64);
	}
	free(bm);
}

static void report_all(struct race *r, unsigned long k)
{
	/* Alternately whole words, and a split not on a word. */
	if (k % 2) {
		merge(r, 0, RACE_SPAN * K4);
	} else {
		merge(r, 0, 1000 * K4 + (k % 61) * K4);
		merge(r, 1000 * K4 + (k % 61) * K4,
		      (RACE_SPAN - 1000 - k % 61) * K4);
	}
}

static void test_race(void **state)
{
	struct race r = { .dev = new_dev() };
	pthread_t t;
	bool done;

	r.seen = calloc(RACE_SPAN / 64 + 1, 8);
	assert_non_null(r.seen);
	assert_int_equal(start(r.dev, K4, NULL, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, marker, &r), 0);
	do {
		done = atomic_load(&r.done);
		report_all(&r, r.reports++);
	} while (!done);
	pthread_join(t, NULL);
	report_all(&r, 1);
	print_message("%lu reports during the marks\n", r.reports);
	for (uint64_t i = 0; i < RACE_PAGES; i++) {
		uint64_t p = i * 2;

		if (!(r.seen[p / 64] >> (p % 64) & 1))
			fail_msg("page %lu lost", (unsigned long)p);
	}
	/* Nothing else was ever reported. */
	for (uint64_t p = 0; p < RACE_SPAN; p++)
		if (p % 2)
			assert_false(r.seen[p / 64] >> (p % 64) & 1);
	assert_int_equal(dirty_stop(r.dev), 0);
	free(r.seen);
	uvfio_dev_destroy(r.dev);
}

/* STOP, START while started, stopping while marks run, fini. */
static void test_lifecycle(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct race r = { .dev = dev };
	uint64_t *bm;
	pthread_t t;

	dirty_fini(dev);                /* never started: nothing */
	assert_int_equal(dirty_stop(dev), -EINVAL);
	assert_int_equal(start(dev, K4, NULL, 0), 0);
	assert_int_equal(start(dev, K4, NULL, 0), -EBUSY);
	assert_int_equal(start(dev, M2, NULL, 1, 0ull, M2), -EBUSY);
	dirty_mark(dev, 0, 1);
	assert_int_equal(dirty_stop(dev), 0);
	assert_int_equal(report(dev, 0, K4, K4, &bm, NULL), -EINVAL);
	assert_int_equal(dirty_stop(dev), -EINVAL);
	/* Marks while off do nothing; a new START starts clean. */
	dirty_mark(dev, 0, 1);
	dirty_mark_slow(dev, 0, 1);
	assert_int_equal(start(dev, K4, NULL, 0), 0);
	assert_clean(dev, 0, K4, K4);
	/* Stopping and starting under a marking thread. */
	assert_int_equal(pthread_create(&t, NULL, marker, &r), 0);
	for (int i = 0; !atomic_load(&r.done) && i < 2000; i++) {
		assert_int_equal(dirty_stop(dev), 0);
		assert_int_equal(start(dev, i % 2 ? K4 : M2, NULL, 0), 0);
	}
	pthread_join(t, NULL);
	/* Left started with leaves: fini frees them (ASan checks). */
	dirty_mark(dev, 1ull << 50, M1);
	dirty_fini(dev);
	assert_null(dev->dirty);
	assert_false(atomic_load(&dev->dirty_on));
	dirty_fini(dev);
	assert_int_equal(start(dev, K4, NULL, 0), 0);
	dirty_mark(dev, 0, 1);
	/* uvfio_dev_destroy() calls dirty_fini() itself. */
	uvfio_dev_destroy(dev);
}

/* The DMA paths: a memfd window mapped as DMA_MAP maps it. */
static int map(struct uvfio_dev *dev, uint64_t iova, uint64_t size)
{
	struct vfio_user_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_USER_F_DMA_REGION_READ |
			 VFIO_USER_F_DMA_REGION_WRITE,
		.addr = iova,
		.size = size,
	};
	struct uvfio_msg msg = { .payload = &m, .size = sizeof(m), .nfds = 1 };
	int fd = memfd_create("dirty", MFD_ALLOW_SEALING), err;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	msg.fds[0] = fd;
	err = handle_dma_map(dev, &msg);
	if (msg.fds[0] >= 0)
		close(msg.fds[0]);
	return err;
}

static void test_dma_paths(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct uvfio_dma_ref ref, rd;
	uint8_t buf[3 * 4096] = { 1 };
	uint64_t *bm;

	assert_int_equal(map(dev, M1, M1), 0);
	assert_int_equal(map(dev, 4 * M1, M1), 0);
	/* Off: writes mark nothing (and leave no log). */
	assert_int_equal(uvfio_dma_write(dev, M1, buf, 10), 0);
	assert_null(dev->dirty);
	assert_int_equal(start(dev, K4, NULL, 0), 0);

	/* uvfio_dma_write marks; uvfio_dma_read does not. */
	assert_int_equal(uvfio_dma_write(dev, M1 + K4 - 1, buf, 2), 0);
	assert_int_equal(uvfio_dma_read(dev, M1 + 8 * K4, buf, sizeof(buf)),
			 0);
	assert_int_equal(report(dev, M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 3);
	assert_int_equal(bm[1], 0);
	free(bm);

	/* A write reference: marked at get, and again at put. */
	assert_int_equal(uvfio_dma_get(dev, 4 * M1 + 2 * K4, 2 * K4,
				       UVFIO_DMA_READ | UVFIO_DMA_WRITE, &ref),
			 0);
	assert_int_equal(uvfio_dma_get(dev, 4 * M1 + 9 * K4, K4,
				       UVFIO_DMA_READ, &rd), 0);
	/* Both held, in this thread's slot: the migration gate sees them. */
	assert_true(dma_ref_held(NULL, &dev->dma));
	assert_int_equal(report(dev, 4 * M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 3 << 2);
	free(bm);
	memset(ref.ptr, 0x5a, ref.len);
	uvfio_dma_put(dev, &ref);
	uvfio_dma_put(dev, &rd);
	uvfio_dma_put(dev, &rd);        /* a second put does nothing */
	assert_false(dma_ref_held(NULL, &dev->dma));
	assert_int_equal(atomic_load(&dev->dma_active), 0);
	assert_int_equal(report(dev, 4 * M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 3 << 2);
	free(bm);

	/* Written, then unmapped: still reported. */
	assert_int_equal(uvfio_dma_write(dev, 4 * M1 + 20 * K4, buf, 1), 0);
	dma_unmap_all(&dev->dma);
	assert_int_equal(uvfio_dma_write(dev, 4 * M1, buf, 1), -ENOENT);
	assert_int_equal(report(dev, 4 * M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], 1 << 20);
	free(bm);

	/* The migration gate: refused, nothing left counted. */
	assert_int_equal(map(dev, M1, M1), 0);
	atomic_store(&dev->dma_blocked, true);
	assert_int_equal(uvfio_dma_get(dev, M1, K4, UVFIO_DMA_WRITE, &ref),
			 -EBUSY);
	assert_int_equal(uvfio_dma_write(dev, M1, buf, 1), -EBUSY);
	assert_int_equal(uvfio_dma_read(dev, M1, buf, 1), -EBUSY);
	assert_int_equal(atomic_load(&dev->dma_active), 0);
	assert_clean(dev, M1, M1, K4);
	atomic_store(&dev->dma_blocked, false);
	/* Failed lookups leave the gate balanced too. */
	assert_int_equal(uvfio_dma_get(dev, 8 * M1, K4, UVFIO_DMA_READ, &ref),
			 -ENOENT);
	assert_int_equal(uvfio_dma_read(dev, 8 * M1, buf, 1), -ENOENT);
	assert_int_equal(atomic_load(&dev->dma_active), 0);
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

/*
 * More write references than a slot has entries: the rest count in their
 * window.  Each put marks what its reference covers, or the whole window
 * when the device moved ptr out of it, held or counted alike; the gate
 * sees every reference until its put.
 */
static void test_many_refs(void **state)
{
	struct uvfio_dev *dev = new_dev();
	struct uvfio_dma_ref ref[DMA_HELD + 5];
	const unsigned int n = DMA_HELD + 5;
	uint64_t *bm, want = 0;

	(void)state;
	assert_int_equal(map(dev, M1, M1), 0);
	assert_int_equal(start(dev, K4, NULL, 0), 0);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(uvfio_dma_get(dev, M1 + i * 2 * K4, 8,
					       UVFIO_DMA_READ |
						       UVFIO_DMA_WRITE,
					       &ref[i]),
				 0);
	/* The slot's entries are taken: 5 are counted. */
	assert_int_equal(atomic_load(&dev->dma_active), 5);
	assert_true(dma_ref_held(NULL, &dev->dma));
	assert_int_equal(report(dev, M1, M1, K4, &bm, NULL), 0);
	free(bm);
	for (unsigned int i = 1; i + 1 < n; i++) {
		uvfio_dma_put(dev, &ref[i]);
		want |= 1ull << (2 * i);
	}
	assert_int_equal(atomic_load(&dev->dma_active), 1);
	assert_int_equal(report(dev, M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0], want);
	assert_int_equal(bm[1] | bm[2] | bm[3], 0);
	free(bm);
	/* Moved past the window (counted), before it (held). */
	ref[n - 1].ptr = (uint8_t *)ref[n - 1].ptr + M1;
	uvfio_dma_put(dev, &ref[n - 1]);
	assert_int_equal(atomic_load(&dev->dma_active), 0);
	assert_int_equal(report(dev, M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0] & bm[1] & bm[2] & bm[3], UINT64_MAX);
	free(bm);
	ref[0].ptr = (uint8_t *)ref[0].ptr - K4;
	uvfio_dma_put(dev, &ref[0]);
	assert_false(dma_ref_held(NULL, &dev->dma));
	assert_int_equal(report(dev, M1, M1, K4, &bm, NULL), 0);
	assert_int_equal(bm[0] & bm[1] & bm[2] & bm[3], UINT64_MAX);
	free(bm);
	assert_int_equal(dirty_stop(dev), 0);
	uvfio_dev_destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_size_choice),
		cmocka_unit_test(test_zero_ranges),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_bad_starts),
		cmocka_unit_test(test_report_args),
		cmocka_unit_test(test_report_sizes),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_bits_beyond),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_race),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_dma_paths),
		cmocka_unit_test(test_many_refs),
	};

	return cmocka_run_group_tests_name("unit_dirty", tests, NULL, NULL);
}
