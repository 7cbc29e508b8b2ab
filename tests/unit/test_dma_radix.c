// SPDX-License-Identifier: MIT
/*
 * The DMA radix table (src/server/dma_radix.c) against a reference model:
 * random maps and unmaps of windows (pages, 2 MiB and 1 GiB blocks, with
 * and without a host address) checked by lookups inside, at the edges
 * of and between windows; 2 MiB and 1 GiB blocks where a window covers
 * them whole; windows it must refuse (past 2^48, not page aligned); a
 * budget that runs out part way through a map, which must leave nothing
 * behind; and every node given back when the table empties.  Each
 * entry names its window (dma_radix_window()), dma_radix_range_free()
 * agrees with the model, and dma_radix_walk() meets every window once
 * at its first entry.
 *
 * RADIX_SEED=n in the environment replaces the fixed seeds.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/dma_radix.h"

#define PG ((uint64_t)4096)
#define MB2 ((uint64_t)1 << 21)
#define GB ((uint64_t)1 << 30)
#define NWIN 48

static uint64_t ctx_seed;
static unsigned long ctx_op;

#define EXPECT(c)                                                         \
	do {                                                              \
		if (!(c))                                                 \
			fail_msg("seed %" PRIu64 " op %lu: %s (line %d)", \
				 ctx_seed, ctx_op, #c, __LINE__);         \
	} while (0)

struct win {
	uint64_t iova, size, addr;
	uint32_t rights;
};

struct model {
	struct win w[NWIN];
	unsigned int n;
};

/* The window pointer the table keeps for w: anything unique will do. */
static void *tag(const struct win *w)
{
	return (void *)(uintptr_t)(w->iova + 1);
}

static int map_win(struct dma_radix *r, const struct win *w)
{
	return dma_radix_map(r, w->iova, w->size, w->addr, w->rights, tag(w));
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t seed_or(uint64_t s)
{
	const char *e = getenv("RADIX_SEED");

	ctx_seed = e ? strtoull(e, NULL, 0) : s;
	return ctx_seed;
}

static const struct win *owner(const struct model *m, uint64_t iova)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (iova >= m->w[i].iova && iova - m->w[i].iova < m->w[i].size)
			return &m->w[i];
	return NULL;
}

static bool overlaps(const struct model *m, uint64_t iova, uint64_t size)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (iova < m->w[i].iova + m->w[i].size &&
		    m->w[i].iova < iova + size)
			return true;
	return false;
}

/* What the table says of iova agrees with the model. */
static void check_at(const struct dma_radix *r, const struct model *m,
		     uint64_t iova)
{
	const struct win *w = owner(m, iova);
	unsigned int sh = 0;
	uint64_t e = dma_radix_find(r, iova, &sh), mask, start;

	if (!w) {
		EXPECT(e == 0);
		EXPECT(dma_radix_window(r, iova) == NULL);
		return;
	}
	EXPECT(dma_radix_window(r, iova) == tag(w));
	EXPECT(e & DMA_RADIX_P);
	EXPECT(sh == 12 || sh == 21 || sh == 30);
	EXPECT((e & DMA_RADIX_RIGHTS) == w->rights);
	mask = ((uint64_t)1 << sh) - 1;
	start = iova & ~mask;
	/* The entry lies in the window, and says whether it goes on. */
	EXPECT(start >= w->iova && start + mask < w->iova + w->size);
	EXPECT(!!(e & DMA_RADIX_C) == (start + mask + 1 < w->iova + w->size));
	if (w->addr)
		EXPECT((e & DMA_RADIX_ADDR) + (iova & mask) ==
		       w->addr + (iova - w->iova));
	else
		EXPECT((e & DMA_RADIX_ADDR) == 0);
}

/* Inside, at both edges of, and around every window; random points. */
static void check_all(const struct dma_radix *r, const struct model *m,
		      uint64_t *s, uint64_t span)
{
	for (unsigned int i = 0; i < m->n; i++) {
		const struct win *w = &m->w[i];
		uint64_t end = w->iova + w->size;

		check_at(r, m, w->iova);
		check_at(r, m, end - 1);
		check_at(r, m, end);
		if (w->iova)
			check_at(r, m, w->iova - 1);
		check_at(r, m, w->iova + rnd(s) % w->size);
	}
	for (int k = 0; k < 64; k++)
		check_at(r, m, rnd(s) % span);
}

struct walk_arg {
	const struct model *m;
	unsigned int firsts;
};

static void walk_one(void *win, uint64_t iova, void *arg)
{
	struct walk_arg *a = arg;
	const struct win *w = owner(a->m, iova);

	EXPECT(w && win == tag(w));
	if (w && iova == w->iova)
		a->firsts++;
}

/* The walk meets every window, at its first entry once. */
static void check_walk(const struct dma_radix *r, const struct model *m)
{
	struct walk_arg a = { m, 0 };

	dma_radix_walk(r, walk_one, &a);
	EXPECT(a.firsts == m->n);
}

static void unmap_all(struct dma_radix *r, struct model *m)
{
	while (m->n) {
		struct win *w = &m->w[--m->n];

		dma_radix_unmap(r, w->iova, w->size);
	}
	dma_radix_reclaim(r);
	/* Only spare nodes are left, every root entry is empty. */
	EXPECT(r->nodes == r->nspare);
	for (unsigned int i = 0; i < DMA_RADIX_FAN; i++)
		EXPECT(atomic_load(&r->root[i]) == 0);
}

/* A window of random placement and size, 4 KiB to about 3 GiB. */
static struct win random_win(uint64_t *s, uint64_t span)
{
	struct win w;
	uint64_t k = rnd(s) % 8;

	if (k < 4)
		w.size = (1 + rnd(s) % 16) * PG;
	else if (k < 6)
		w.size = (1 + rnd(s) % 2048) * PG;
	else if (k < 7)
		w.size = (1 + rnd(s) % 4) * MB2;
	else
		w.size = (1 + rnd(s) % 786432) * PG;
	w.iova = (rnd(s) % (span / PG)) * PG;
	/* Sometimes aligned, for blocks. */
	if (rnd(s) % 4 == 0)
		w.iova &= ~(MB2 - 1);
	w.addr = rnd(s) % 5 ? (0x100000000000ull + (rnd(s) % (1u << 20)) * PG) :
			      0;
	w.rights = (uint32_t)(rnd(s) % 4);
	return w;
}

static void random_run(uint64_t seed, uint64_t span, unsigned long ops,
		       bool lazy)
{
	struct dma_radix r;
	struct model m = { .n = 0 };
	uint64_t s = seed_or(seed);

	dma_radix_init(&r, DMA_RADIX_BUDGET);
	for (ctx_op = 0; ctx_op < ops; ctx_op++) {
		if (m.n < NWIN && (m.n == 0 || rnd(&s) % 3)) {
			struct win w = random_win(&s, span);

			if (w.iova + w.size > span)
				continue;
			EXPECT(dma_radix_range_free(&r, w.iova, w.size) ==
			       !overlaps(&m, w.iova, w.size));
			if (overlaps(&m, w.iova, w.size))
				continue;
			EXPECT(map_win(&r, &w) == 0);
			m.w[m.n++] = w;
		} else {
			unsigned int i = (unsigned int)(rnd(&s) % m.n);

			dma_radix_unmap(&r, m.w[i].iova, m.w[i].size);
			m.w[i] = m.w[--m.n];
		}
		if (!lazy || ctx_op % 16 == 0)
			dma_radix_reclaim(&r);
		check_all(&r, &m, &s, span);
		if (ctx_op % 64 == 0)
			check_walk(&r, &m);
	}
	unmap_all(&r, &m);
	dma_radix_destroy(&r);
}

static void test_random_dense(void **state)
{
	(void)state;
	random_run(1, 64 * MB2, 3000, false);
}

static void test_random_gib(void **state)
{
	(void)state;
	random_run(2, 16 * GB, 2000, true);
}

static void test_random_sparse(void **state)
{
	(void)state;
	random_run(3, (uint64_t)1 << 48, 2000, true);
}

/* A window covering 1 GiB and 2 MiB pieces whole takes blocks. */
static void test_blocks(void **state)
{
	struct dma_radix r;
	struct model m = { .n = 1 };
	struct win *w = &m.w[0];
	uint64_t s = seed_or(4);
	unsigned int sh;

	(void)state;
	dma_radix_init(&r, DMA_RADIX_BUDGET);
	/* From 8 KiB below 1 GiB to 16 KiB past 3 GiB + 2 MiB. */
	*w = (struct win){ GB - 2 * PG, 2 * GB + MB2 + 6 * PG,
			   0x200000000000ull, DMA_RADIX_R | DMA_RADIX_W };
	assert_int_equal(map_win(&r, w), 0);
	check_all(&r, &m, &s, 4 * GB);
	check_walk(&r, &m);
	/* Free around the window, taken in it, at each level. */
	assert_true(dma_radix_range_free(&r, 0, GB - 2 * PG));
	assert_false(dma_radix_range_free(&r, 0, GB - PG));
	assert_false(dma_radix_range_free(&r, GB + MB2, PG));
	assert_false(dma_radix_range_free(&r, 3 * GB + MB2 + 3 * PG, 64 * GB));
	assert_true(dma_radix_range_free(&r, 3 * GB + MB2 + 4 * PG, 64 * GB));
	assert_true(dma_radix_range_free(&r, (uint64_t)1 << 48, PG));
	assert_true(dma_radix_range_free(&r, UINT64_MAX - PG + 1, PG));
	assert_true(dma_radix_find(&r, GB - PG, &sh) && sh == 12);
	assert_true(dma_radix_find(&r, GB + 12345, &sh) && sh == 30);
	assert_true(dma_radix_find(&r, 2 * GB + GB - 1, &sh) && sh == 30);
	assert_true(dma_radix_find(&r, 3 * GB + 5, &sh) && sh == 21);
	assert_true(dma_radix_find(&r, 3 * GB + MB2, &sh) && sh == 12);
	/*
	 * Nodes: the root's one, a 2 MiB level under 0 and under 3 GiB,
	 * and a page level at each end: 5, whatever the window's size.
	 */
	assert_int_equal(r.nodes, 5);
	unmap_all(&r, &m);
	dma_radix_destroy(&r);
}

/* A 64 GiB guest-RAM window costs its 1 GiB blocks and one node. */
static void test_guest_ram(void **state)
{
	struct dma_radix r;
	struct model m = { .n = 1 };
	uint64_t s = seed_or(5);

	(void)state;
	dma_radix_init(&r, DMA_RADIX_BUDGET);
	m.w[0] = (struct win){ 0, 64 * GB, 0x300000000000ull, DMA_RADIX_R };
	assert_int_equal(map_win(&r, &m.w[0]), 0);
	assert_int_equal(r.nodes, 1);
	check_all(&r, &m, &s, 128 * GB);
	unmap_all(&r, &m);
	dma_radix_destroy(&r);
}

static void test_refused(void **state)
{
	struct dma_radix r;
	unsigned int sh;

	(void)state;
	dma_radix_init(&r, DMA_RADIX_BUDGET);
	assert_int_equal(dma_radix_map(&r, (uint64_t)1 << 48, PG, PG, 1, NULL),
			 -E2BIG);
	assert_int_equal(dma_radix_map(&r, ((uint64_t)1 << 48) - PG, 2 * PG, PG,
				       1, NULL),
			 -E2BIG);
	assert_int_equal(
		dma_radix_map(&r, UINT64_MAX - PG + 1, PG, PG, 1, NULL),
		-E2BIG);
	assert_int_equal(dma_radix_map(&r, 0x800, PG, PG, 1, NULL), -E2BIG);
	assert_int_equal(dma_radix_map(&r, PG, 0x800, PG, 1, NULL), -E2BIG);
	assert_int_equal(dma_radix_map(&r, PG, PG, 0x800, 1, NULL), -E2BIG);
	assert_int_equal(dma_radix_map(&r, PG, 0, PG, 1, NULL), -E2BIG);
	assert_int_equal(r.nodes, 0);
	assert_int_equal(dma_radix_find(&r, PG, &sh), 0);
	assert_int_equal(dma_radix_find(&r, UINT64_MAX, &sh), 0);
	/* The last page under 2^48 is fine. */
	assert_int_equal(
		dma_radix_map(&r, ((uint64_t)1 << 48) - PG, PG, PG, 1, NULL),
		0);
	assert_int_equal(dma_radix_find(&r, ((uint64_t)1 << 48) - 1, &sh),
			 PG | 1 | DMA_RADIX_P);
	dma_radix_unmap(&r, ((uint64_t)1 << 48) - PG, PG);
	dma_radix_destroy(&r);
}

/*
 * A budget that runs out part way: the map fails with ENOSPC and leaves
 * nothing, its nodes retired; the windows already in stay.
 */
static void test_budget(void **state)
{
	struct dma_radix r;
	struct model m = { .n = 1 };
	uint64_t s = seed_or(6), far = (uint64_t)1 << 40;
	unsigned int sh;

	(void)state;
	dma_radix_init(&r, 4);
	m.w[0] = (struct win){ PG, 3 * PG, 0x100000000000ull, 3 };
	assert_int_equal(map_win(&r, &m.w[0]), 0);
	assert_int_equal(r.nodes, 3);
	/* Under another root entry: takes one node, wants three. */
	assert_int_equal(dma_radix_map(&r, far, PG, 0x100000100000ull, 1, NULL),
			 -ENOSPC);
	assert_int_equal(dma_radix_find(&r, far, &sh), 0);
	assert_int_equal(r.nretired, 1);
	check_all(&r, &m, &s, 2 * far);
	/* In the same leaf: no node needed. */
	m.w[1] = (struct win){ 8 * PG, PG, 0, 2 };
	m.n = 2;
	assert_int_equal(map_win(&r, &m.w[1]), 0);
	check_all(&r, &m, &s, 2 * far);
	dma_radix_reclaim(&r);
	assert_int_equal(r.nodes, 4);
	assert_int_equal(r.nspare, 1);
	unmap_all(&r, &m);
	/* Spare nodes serve the next maps. */
	m.w[0] = (struct win){ far, PG, 0x100000100000ull, 1 };
	m.n = 1;
	assert_int_equal(map_win(&r, &m.w[0]), 0);
	assert_int_equal(r.nodes, 4);
	check_all(&r, &m, &s, 2 * far);
	unmap_all(&r, &m);
	dma_radix_destroy(&r);
	assert_int_equal(r.nodes, 0);
}

/* 65,535 windows of a page side by side: 128 leaves and two above. */
static void test_65535(void **state)
{
	struct dma_radix r;
	uint64_t base = (uint64_t)1 << 32;
	unsigned int sh;

	(void)state;
	dma_radix_init(&r, DMA_RADIX_BUDGET);
	for (uint64_t k = 0; k < 65535; k++)
		assert_int_equal(dma_radix_map(&r, base + k * PG, PG,
					       0x100000000000ull + k * PG, 1,
					       (void *)(uintptr_t)(k + 1)),
				 0);
	assert_int_equal(r.nodes, 128 + 2);
	for (uint64_t k = 0; k < 65535; k += 7) {
		uint64_t e = dma_radix_find(&r, base + k * PG + 100, &sh);

		assert_int_equal(sh, 12);
		/* Each window ends with its page. */
		assert_int_equal(e, (0x100000000000ull + k * PG) | 1 |
					    DMA_RADIX_P);
		assert_ptr_equal(dma_radix_window(&r, base + k * PG + 100),
				 (void *)(uintptr_t)(k + 1));
	}
	for (uint64_t k = 0; k < 65535; k++)
		dma_radix_unmap(&r, base + k * PG, PG);
	dma_radix_reclaim(&r);
	assert_int_equal(r.nodes, r.nspare);
	dma_radix_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_dense),
		cmocka_unit_test(test_random_gib),
		cmocka_unit_test(test_random_sparse),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_guest_ram),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_65535),
	};

	return cmocka_run_group_tests_name("unit_dma_radix", tests, NULL, NULL);
}
