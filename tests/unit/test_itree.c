// SPDX-License-Identifier: MIT
/*
 * The range B+tree (src/proto/itree.c) against reference models: a
 * sorted array for random inserts, removes and finds over small and
 * large address spaces (overlaps, touching ranges, ranges at 0 and up to
 * UINT64_MAX, bad bounds); a slot table for 65,535 and 100,000 ranges in
 * random order; lookups through a root a change replaced (nodes retired,
 * not yet reclaimed); lock-free readers racing a writer that reclaims
 * only once they have moved on; and, through the linker's --wrap,
 * allocations failing under inserts and removes, which must change
 * nothing.
 *
 * ITREE_SEED=n in the environment replaces the fixed seeds; a failure
 * names the seed and operation that found it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/itree.h"

static uint64_t ctx_seed;
static unsigned long ctx_op;
/* Local runs: half the changes land near the last one (the finger). */
static bool ctx_local;
static uint64_t ctx_last;

#define EXPECT(c)                                                          \
	do {                                                               \
		if (!(c))                                                  \
			fail_msg("seed %" PRIu64 " op %lu: %s (line %d)",  \
				 ctx_seed, ctx_op, #c, __LINE__);          \
	} while (0)

/* Random numbers (splitmix64), reproducible from a seed. */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 0 <= x < n, n > 0. */
static uint64_t below(struct rng *r, uint64_t n)
{
	return rnd(r) % n;
}

static uint64_t seed_for(uint64_t dflt)
{
	const char *s = getenv("ITREE_SEED");

	ctx_seed = s && *s ? strtoull(s, NULL, 0) : dflt;
	ctx_op = 0;
	return ctx_seed;
}

/* The data word of a range: checks a hit was not put together wrongly. */
static uintptr_t mix(uint64_t start, uint64_t last)
{
	uint64_t z = start * 0x9e3779b97f4a7c15ull;

	z ^= last + 0x632be59bd9b4e019ull;

	return (uintptr_t)(z ^ (z >> 29));
}

static void shuffle(struct rng *r, uint32_t *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		a[i] = i;
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)below(r, i), x = a[i - 1];

		a[i - 1] = a[j];
		a[j] = x;
	}
}

/*
 * Values are malloc'd, so that under ASan a value itree_destroy() does not
 * hand back, or hands back twice, shows up as a leak or a double free.
 */
struct tval {
	uint64_t start, last;
};

static void *val_new(uint64_t start, uint64_t last)
{
	struct tval *v = malloc(sizeof(*v));

	assert_non_null(v);
	v->start = start;
	v->last = last;
	return v;
}

static size_t destroyed;
static uint64_t destroyed_sum;

/* For values that are not malloc'd: counts them only. */
static void destroy_val_plain(void *val, uintptr_t data)
{
	destroyed++;
	destroyed_sum += (uint64_t)data;
}

static void destroy_val(void *val, uintptr_t data)
{
	struct tval *v = val;

	if (v)
		EXPECT(data == mix(v->start, v->last));
	destroyed++;
	destroyed_sum += (uint64_t)data;
	free(v);
}

/*
 * Failing allocations: itree.c's calls to the allocators come here
 * (--wrap), whichever of them it uses.
 */

#ifdef TEST_WRAP_MALLOC
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);

static struct {
	bool armed;
	unsigned int per256; /* chance of failing, of 256 */
	struct rng r;
	unsigned long calls, failed;
} nomem;

static bool nomem_fail(void)
{
	if (!nomem.armed)
		return false;
	nomem.calls++;
	if (below(&nomem.r, 256) >= nomem.per256)
		return false;
	nomem.failed++;
	return true;
}

void *__wrap_malloc(size_t size)
{
	return nomem_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return nomem_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	return nomem_fail() ? NULL : __real_aligned_alloc(align, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	return nomem_fail() ? ENOMEM : __real_posix_memalign(p, align, size);
}

static void nomem_arm(unsigned int per256)
{
	nomem.per256 = per256;
	nomem.armed = per256 > 0;
}
#else
static void nomem_arm(unsigned int per256)
{
}
#endif

/* The reference model: a sorted array of disjoint ranges. */

struct mrange {
	uint64_t start, last;
	void *val;
	uintptr_t data;
};

struct model {
	struct mrange *r;
	size_t n, cap;
};

/* The first range starting above addr. */
static size_t m_upper(const struct model *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->r[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct mrange *m_find(const struct model *m, uint64_t addr)
{
	size_t i = m_upper(m, addr);

	if (!i || m->r[i - 1].last < addr)
		return NULL;
	return &m->r[i - 1];
}

/* What itree_insert() and itree_check() must answer for [s, l]. */
static int m_check(const struct model *m, uint64_t s, uint64_t l)
{
	size_t i;

	if (l < s)
		return -EINVAL;
	i = m_upper(m, l);
	return i && m->r[i - 1].last >= s ? -EEXIST : 0;
}

static void m_insert(struct model *m, uint64_t s, uint64_t l, void *val,
		     uintptr_t data)
{
	size_t i = m_upper(m, s);

	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->r = realloc(m->r, m->cap * sizeof(*m->r));
		assert_non_null(m->r);
	}
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
	m->r[i] = (struct mrange){ s, l, val, data };
	m->n++;
}

/* Index of the range with exactly these bounds, or -1. */
static long m_exact(const struct model *m, uint64_t s, uint64_t l)
{
	size_t i = m_upper(m, s);

	if (!i || m->r[i - 1].start != s || m->r[i - 1].last != l)
		return -1;
	return (long)(i - 1);
}

static void m_remove_at(struct model *m, size_t i)
{
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(*m->r));
	m->n--;
}

static void m_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->r[i].val);
	free(m->r);
	memset(m, 0, sizeof(*m));
}

static bool hit_is(const struct itree_hit *h, const struct mrange *e)
{
	return h->start == e->start && h->last == e->last &&
	       h->val == e->val && h->data == e->data;
}

static void check_find(const struct itree *t, const struct model *m,
		       uint64_t addr)
{
	const struct mrange *e = m_find(m, addr);
	struct itree_hit h;
	int r;

	memset(&h, 0xa5, sizeof(h));
	r = itree_find(t, addr, &h);
	if (!e) {
		if (r != 0)
			fail_msg("seed %" PRIu64 " op %lu: find %#" PRIx64
				 " gave [%#" PRIx64 ", %#" PRIx64 "], none "
				 "expected", ctx_seed, ctx_op, addr, h.start,
				 h.last);
		return;
	}
	if (r != 1 || !hit_is(&h, e))
		fail_msg("seed %" PRIu64 " op %lu: find %#" PRIx64 " gave %d "
			 "[%#" PRIx64 ", %#" PRIx64 "], [%#" PRIx64 ", %#"
			 PRIx64 "] expected", ctx_seed, ctx_op, addr, r,
			 r == 1 ? h.start : 0, r == 1 ? h.last : 0, e->start,
			 e->last);
}

/* The range's own edges, its middle, and the addresses either side. */
static void check_around(const struct itree *t, const struct model *m,
			 uint64_t s, uint64_t l)
{
	check_find(t, m, s);
	check_find(t, m, l);
	check_find(t, m, s + (l - s) / 2);
	if (s)
		check_find(t, m, s - 1);
	if (l != UINT64_MAX)
		check_find(t, m, l + 1);
}

struct walk_ctx {
	const struct model *m;
	size_t i;
	bool bad;
	uint64_t prev_last;
};

static int walk_cmp(const struct itree_hit *h, void *arg)
{
	struct walk_ctx *w = arg;

	if (w->i >= w->m->n || !hit_is(h, &w->m->r[w->i]))
		w->bad = true;
	w->i++;
	return 0;
}

static void check_walk(const struct itree *t, const struct model *m)
{
	struct walk_ctx w = { m, 0, false, 0 };

	EXPECT(itree_walk(t, walk_cmp, &w) == 0);
	EXPECT(!w.bad);
	EXPECT(w.i == m->n);
	EXPECT(t->n == m->n);
}

struct stop_ctx {
	size_t calls, stop_at;
};

static int walk_stop(const struct itree_hit *h, void *arg)
{
	struct stop_ctx *s = arg;

	return ++s->calls == s->stop_at ? 42 : 0;
}

static void check_walk_stop(const struct itree *t, size_t stop_at)
{
	struct stop_ctx s = { 0, stop_at };
	int r = itree_walk(t, walk_stop, &s);

	if (stop_at && stop_at <= t->n) {
		EXPECT(r == 42);
		EXPECT(s.calls == stop_at);
	} else {
		EXPECT(r == 0);
		EXPECT(s.calls == t->n);
	}
}

/* A lookup through the root as it was: what an earlier reader holds. */
static void snapshot(struct itree *snap, const struct itree *t)
{
	itree_init(snap);
	atomic_store(&snap->root, atomic_load(&t->root));
}

/* Basics */

static void test_basic(void **state)
{
	struct itree t;
	struct itree_hit h;
	int x;

	seed_for(0);
	itree_init(&t);
	EXPECT(itree_find(&t, 0, &h) == 0);
	EXPECT(itree_find(&t, UINT64_MAX, &h) == 0);
	EXPECT(itree_remove(&t, 0, 0, &h) == -ENOENT);
	EXPECT(itree_check(&t, 5, 4, NULL) == -EINVAL);
	EXPECT(itree_insert(&t, 5, 4, NULL, 0) == -EINVAL);
	EXPECT(itree_insert(&t, UINT64_MAX, 0, NULL, 0) == -EINVAL);
	EXPECT(itree_check(&t, 0, UINT64_MAX, NULL) == 0);
	check_walk_stop(&t, 1);

	/* The whole space, then nothing fits beside it. */
	EXPECT(itree_insert(&t, 0, UINT64_MAX, &x, 7) == 0);
	EXPECT(t.n == 1);
	EXPECT(itree_find(&t, 0, &h) == 1);
	EXPECT(h.start == 0 && h.last == UINT64_MAX && h.val == &x &&
	       h.data == 7);
	EXPECT(itree_find(&t, UINT64_MAX, &h) == 1);
	EXPECT(itree_check(&t, 0, 0, NULL) == -EEXIST);
	EXPECT(itree_insert(&t, UINT64_MAX, UINT64_MAX, NULL, 0) == -EEXIST);
	EXPECT(itree_remove(&t, 0, UINT64_MAX - 1, &h) == -ENOENT);
	EXPECT(itree_remove(&t, 1, UINT64_MAX, &h) == -ENOENT);
	EXPECT(itree_remove(&t, 0, UINT64_MAX, NULL) == 0);
	itree_reclaim(&t);
	EXPECT(t.n == 0);
	EXPECT(atomic_load(&t.root) == NULL);

	/* Single addresses at both ends, and ranges touching them. */
	EXPECT(itree_insert(&t, 0, 0, NULL, 1) == 0);
	EXPECT(itree_insert(&t, UINT64_MAX, UINT64_MAX, NULL, 2) == 0);
	EXPECT(itree_insert(&t, 1, UINT64_MAX - 1, NULL, 3) == 0);
	EXPECT(itree_insert(&t, 1, 1, NULL, 4) == -EEXIST);
	EXPECT(itree_insert(&t, UINT64_MAX - 1, UINT64_MAX - 1, NULL, 4) ==
	       -EEXIST);
	EXPECT(itree_find(&t, 0, &h) == 1 && h.data == 1);
	EXPECT(itree_find(&t, 1, &h) == 1 && h.data == 3);
	EXPECT(itree_find(&t, UINT64_MAX - 1, &h) == 1 && h.data == 3);
	EXPECT(itree_find(&t, UINT64_MAX, &h) == 1 && h.data == 2);
	check_walk_stop(&t, 2);
	check_walk_stop(&t, 3);
	check_walk_stop(&t, 4);
	EXPECT(itree_remove(&t, 1, UINT64_MAX - 1, &h) == 0);
	EXPECT(h.start == 1 && h.last == UINT64_MAX - 1 && h.data == 3);
	EXPECT(itree_find(&t, 1, &h) == 0);
	EXPECT(itree_find(&t, UINT64_MAX - 1, &h) == 0);
	EXPECT(itree_remove(&t, 1, UINT64_MAX - 1, &h) == -ENOENT);
	/* Last below start names no range. */
	EXPECT(itree_remove(&t, UINT64_MAX, 0, &h) == -ENOENT);
	itree_reclaim(&t);
	destroyed = 0;
	itree_destroy(&t, destroy_val);
	EXPECT(destroyed == 2);
	EXPECT(t.n == 0);
	/* Destroyed is empty and usable again. */
	EXPECT(itree_insert(&t, 10, 20, NULL, 0) == 0);
	itree_destroy(&t, NULL);
}

/* Random changes against the sorted array */

/* A random address: near 0 or near UINT64_MAX, within span of the end. */
static uint64_t rnd_addr(struct rng *r, uint64_t span)
{
	uint64_t off = below(r, span);

	return below(r, 2) ? off : UINT64_MAX - off;
}

static uint64_t rnd_last(struct rng *r, uint64_t s, uint64_t span)
{
	uint64_t len;

	switch (below(r, 16)) {
	case 0:
		len = 1;
		break;
	case 1:
		len = 1 + below(r, span / 16 + 1);
		break;
	case 2:
	case 3:
		len = 1 + below(r, 4096);
		break;
	default:
		len = 1 + below(r, span < 64 ? 8 : 64);
		break;
	}
	return len - 1 > UINT64_MAX - s ? UINT64_MAX : s + len - 1;
}

/* A range to insert: random, touching one in the model, or backwards. */
static void rnd_range(struct rng *r, const struct model *m, uint64_t span,
		      uint64_t *s, uint64_t *l)
{
	unsigned int k = (unsigned int)below(r, 16);
	const struct mrange *e = m->n ? &m->r[below(r, m->n)] : NULL;

	*s = rnd_addr(r, span);
	if (ctx_local && below(r, 2)) {
		uint64_t d = below(r, 256);

		*s = ctx_last > UINT64_MAX - d ? UINT64_MAX : ctx_last + d;
	}
	*l = rnd_last(r, *s, span);
	if (k == 0 && *s > 0) {
		*l = *s - 1 - below(r, *s < 4 ? *s : 4);
	} else if (k == 1 && e && e->last != UINT64_MAX) {
		*s = e->last + 1;       /* just after e */
		*l = rnd_last(r, *s, span);
	} else if (k == 2 && e && e->start) {
		*l = e->start - 1;      /* just before e */
		*s = *l - below(r, *l < 16 ? *l + 1 : 16);
	} else if (k == 3 && e) {
		*s = e->start;          /* e's bounds, overlapping */
		*l = e->last;
	} else if (k == 4 && e) {
		/* Straddling e's end. */
		*s = e->last;
		*l = rnd_last(r, *s, span);
	} else if (k == 5 && !below(r, 8)) {
		*s = 0;
		*l = UINT64_MAX;
	}
}

/* A remove: e's bounds, or bounds close to them that name no range. */
static void rnd_remove_bounds(struct rng *r, const struct mrange *e,
			      uint64_t span, uint64_t *s, uint64_t *l)
{
	*s = e->start;
	*l = e->last;
	switch (below(r, 10)) {
	case 0:
		if (*l != UINT64_MAX)
			(*l)++;
		break;
	case 1:
		if (*l > *s)
			(*l)--;
		break;
	case 2:
		if (*s < *l)
			(*s)++;
		break;
	case 3:
		if (*s)
			(*s)--;
		break;
	case 4:
		*s = rnd_addr(r, span);
		*l = rnd_last(r, *s, span);
		break;
	case 5:
		*l = *s ? *s - 1 : *l;
		break;
	default:
		break;
	}
}

/*
 * Addresses a change may affect: around [s, l], and random ones.  Their
 * answers before and after the change are kept, so that a lookup through
 * the root the change replaced can be checked to give one of them.
 */
#define NPROBE 16

struct probes {
	uint64_t addr[NPROBE];
	const struct mrange *e[2][NPROBE];
	struct mrange copy[2][NPROBE];
};

static void probes_pick(struct probes *p, struct rng *r, uint64_t s,
			uint64_t l, uint64_t span)
{
	unsigned int i = 0;

	if (l < s)
		l = s;
	p->addr[i++] = s;
	p->addr[i++] = l;
	p->addr[i++] = s + (l - s) / 2;
	p->addr[i++] = s ? s - 1 : 0;
	p->addr[i++] = l != UINT64_MAX ? l + 1 : l;
	p->addr[i++] = 0;
	p->addr[i++] = UINT64_MAX;
	while (i < NPROBE)
		p->addr[i++] = rnd_addr(r, span);
}

static void probes_record(struct probes *p, const struct model *m, int when)
{
	for (unsigned int i = 0; i < NPROBE; i++) {
		const struct mrange *e = m_find(m, p->addr[i]);

		p->e[when][i] = e ? &p->copy[when][i] : NULL;
		if (e)
			p->copy[when][i] = *e;
	}
}

static bool probe_is(const struct itree_hit *h, int r, const struct mrange *e)
{
	return e ? r == 1 && hit_is(h, e) : r == 0;
}

/* Through snap (the root before the change): the answer before or after. */
static void probes_check(const struct probes *p, const struct itree *snap)
{
	for (unsigned int i = 0; i < NPROBE; i++) {
		struct itree_hit h;
		int r = itree_find(snap, p->addr[i], &h);

		if (!probe_is(&h, r, p->e[0][i]) &&
		    !probe_is(&h, r, p->e[1][i]))
			fail_msg("seed %" PRIu64 " op %lu: find %#" PRIx64
				 " through the old root gave %d [%#" PRIx64
				 ", %#" PRIx64 "]", ctx_seed, ctx_op,
				 p->addr[i], r, r == 1 ? h.start : 0,
				 r == 1 ? h.last : 0);
	}
}

struct run_opts {
	uint64_t span;          /* addresses within span of 0 or the top */
	unsigned long ops;
	unsigned int reclaim_of8;       /* reclaims after a change, of 8 */
	unsigned int nomem_per256;      /* malloc failing, of 256 */
	size_t min_peak;                /* ranges the tree must reach */
};

struct run {
	const struct run_opts *o;
	struct rng r;
	struct model m;
	struct itree t;
	/* A remove cannot need memory: an insert or reclaim left a spare. */
	bool spare;
	unsigned long nomem_overlap;    /* -ENOMEM for an overlap */
};

/* After a failed change: the tree is as it was. */
static void check_unchanged(struct run *x, uint64_t s, uint64_t l)
{
	EXPECT(x->t.n == x->m.n);
	check_around(&x->t, &x->m, s, l);
	if (!below(&x->r, 8))
		check_walk(&x->t, &x->m);
}

static bool op_insert(struct run *x, bool snap_it)
{
	struct itree snap;
	struct probes p;
	uint64_t s, l;
	int want, got;
	void *v;

	rnd_range(&x->r, &x->m, x->o->span, &s, &l);
	ctx_last = s;
	want = m_check(&x->m, s, l);
	EXPECT(itree_check(&x->t, s, l, NULL) == want);
	v = want ? NULL : val_new(s, l);
	probes_pick(&p, &x->r, s, l, x->o->span);
	probes_record(&p, &x->m, 0);
	snapshot(&snap, &x->t);
	nomem_arm(x->o->nomem_per256);
	got = itree_insert(&x->t, s, l, v, mix(s, l));
	nomem_arm(0);
	if (got == -ENOMEM && want != -EINVAL) {
		/* Memory is sought before the overlap is looked for. */
		if (want)
			x->nomem_overlap++;
		free(v);
		check_unchanged(x, s, l);
		return false;
	}
	EXPECT(got == want);
	if (got)
		return false;
	m_insert(&x->m, s, l, v, mix(s, l));
	x->spare = true;
	probes_record(&p, &x->m, 1);
	if (snap_it)
		probes_check(&p, &snap);
	check_around(&x->t, &x->m, s, l);
	return true;
}

static bool op_remove(struct run *x, bool snap_it)
{
	bool with_hit = below(&x->r, 4);
	struct itree snap;
	struct itree_hit h;
	struct probes p;
	uint64_t s, l;
	long i;
	int got;

	if (x->m.n) {
		rnd_remove_bounds(&x->r, &x->m.r[below(&x->r, x->m.n)],
				  x->o->span, &s, &l);
	} else {
		s = rnd_addr(&x->r, x->o->span);
		l = rnd_last(&x->r, s, x->o->span);
	}
	ctx_last = s;
	i = m_exact(&x->m, s, l);
	probes_pick(&p, &x->r, s, l, x->o->span);
	probes_record(&p, &x->m, 0);
	snapshot(&snap, &x->t);
	/* With a spare in reserve, a remove must not allocate at all. */
	nomem_arm(i >= 0 && x->spare ? 256 : x->o->nomem_per256);
	got = itree_remove(&x->t, s, l, with_hit ? &h : NULL);
	nomem_arm(0);
	if (got == -ENOMEM && i >= 0 && !x->spare) {
		check_unchanged(x, s, l);
		return false;
	}
	EXPECT(got == (i >= 0 ? 0 : -ENOENT));
	if (i < 0) {
		check_unchanged(x, s, l);
		return false;
	}
	if (with_hit)
		EXPECT(hit_is(&h, &x->m.r[i]));
	free(x->m.r[i].val);
	m_remove_at(&x->m, (size_t)i);
	x->spare = false;
	probes_record(&p, &x->m, 1);
	if (snap_it)
		probes_check(&p, &snap);
	check_around(&x->t, &x->m, s, l);
	return true;
}

static void op_finds(struct run *x)
{
	for (int j = 0; j < 8; j++)
		check_find(&x->t, &x->m, rnd_addr(&x->r, x->o->span));
	if (x->m.n) {
		const struct mrange *e = &x->m.r[below(&x->r, x->m.n)];

		check_around(&x->t, &x->m, e->start, e->last);
	}
	check_find(&x->t, &x->m, 0);
	check_find(&x->t, &x->m, UINT64_MAX);
}

static void op_clear(struct run *x)
{
	struct itree_hit h;

	itree_clear(&x->t);
	EXPECT(x->t.n == 0);
	EXPECT(itree_find(&x->t, 0, &h) == 0);
	EXPECT(itree_find(&x->t, UINT64_MAX, &h) == 0);
	for (size_t j = 0; j < x->m.n; j++)
		free(x->m.r[j].val);
	x->m.n = 0;
	check_walk(&x->t, &x->m);
}

static void run_model(uint64_t seed, const struct run_opts *o)
{
	struct run *x = calloc(1, sizeof(*x));
	size_t maxn = 0;

	assert_non_null(x);
	x->o = o;
	x->r.s = seed_for(seed);
	itree_init(&x->t);
	for (ctx_op = 0; ctx_op < o->ops; ctx_op++) {
		unsigned int k = (unsigned int)below(&x->r, 1000);
		bool changed = false, snap_it = !below(&x->r, 16);

		if (k < 500)
			changed = op_insert(x, snap_it);
		else if (k < 800)
			changed = op_remove(x, snap_it);
		else if (k < 999 || below(&x->r, 8))
			op_finds(x);
		else {
			op_clear(x);
			changed = true;
		}
		if (changed && below(&x->r, 8) < o->reclaim_of8) {
			itree_reclaim(&x->t);
			EXPECT(x->t.nretired == 0);
			x->spare = true;
		}
		EXPECT(x->t.n == x->m.n);
		if (x->m.n > maxn)
			maxn = x->m.n;
		if (!(ctx_op % 64))
			check_walk(&x->t, &x->m);
		if (!(ctx_op % 256))
			check_walk_stop(&x->t,
					(size_t)below(&x->r, x->t.n + 2));
	}
	check_walk(&x->t, &x->m);
	/* The sparse runs grow trees several levels deep. */
	if (maxn < o->min_peak)
		fail_msg("seed %" PRIu64 ": at most %zu ranges, %zu expected",
			 ctx_seed, maxn, o->min_peak);
	destroyed = 0;
	itree_destroy(&x->t, destroy_val);
	EXPECT(destroyed == x->m.n);
	free(x->m.r);
	if (x->nomem_overlap)
		print_message("seed %" PRIu64 ": %lu overlapping inserts "
			      "failed with ENOMEM, not EEXIST\n", ctx_seed,
			      x->nomem_overlap);
	free(x);
}

static void test_random_dense(void **state)
{
	/* A small space: most inserts overlap, most ranges touch. */
	const struct run_opts o = { 64, 20000, 7, 0 };

	for (uint64_t s = 1; s <= 4; s++)
		run_model(s, &o);
}

static void test_random_medium(void **state)
{
	const struct run_opts o = { 4096, 30000, 7, 0 };

	for (uint64_t s = 11; s <= 13; s++)
		run_model(s, &o);
}

static void test_random_sparse(void **state)
{
	/* Mostly inserts that fit: thousands of ranges, a deeper tree. */
	const struct run_opts o = { 1u << 20, 40000, 7, 0, 1000 };

	run_model(21, &o);
	run_model(22, &o);
}

static void test_random_local(void **state)
{
	/* Changes next to the last: the finger is used and moved. */
	const struct run_opts o = { 1u << 20, 40000, 7, 0, 1000 };

	ctx_local = true;
	run_model(41, &o);
	run_model(42, &(struct run_opts){ 4096, 30000, 2, 0 });
	ctx_local = false;
}

/*
 * A vIOMMU's pattern: one window mapped and unmapped below thousands of
 * others, again and again.  The tree keeps its finger (a leaf change
 * alone), and every step is checked against what must be there.
 */
static void test_finger(void **state)
{
	struct itree t;
	struct itree_hit h;
	const uint64_t base = 1u << 20;

	itree_init(&t);
	for (uint64_t k = 0; k < 5000; k++)
		EXPECT(itree_insert(&t, base + k * 16, base + k * 16 + 15,
				    (void *)(uintptr_t)(k + 1), k) == 0);
	itree_reclaim(&t);
	for (uint64_t k = 0; k < 3000; k++) {
		uint64_t s = base - 16 * (1 + k % 4);

		EXPECT(itree_check(&t, s, s + 15, NULL) == 0);
		EXPECT(t.finger.depth >= 3);
		EXPECT(itree_insert(&t, s, s + 15, (void *)8, 7) == 0);
		EXPECT(itree_check(&t, s, s + 15, NULL) == -EEXIST);
		EXPECT(itree_find(&t, s + 3, &h) == 1 && h.start == s &&
		       h.data == 7);
		EXPECT(itree_find(&t, base, &h) == 1 && h.start == base &&
		       h.data == 0);
		EXPECT(itree_remove(&t, s, s + 15, &h) == 0 && h.data == 7);
		EXPECT(itree_find(&t, s, &h) == 0);
		EXPECT(t.n == 5000);
		itree_reclaim(&t);
	}
	/* Appends past the end: splits move the finger, finds stay right. */
	for (uint64_t k = 5000; k < 9000; k++) {
		EXPECT(itree_insert(&t, base + k * 16, base + k * 16 + 15,
				    (void *)(uintptr_t)(k + 1), k) == 0);
		EXPECT(itree_find(&t, base + k * 16 + 9, &h) == 1 &&
		       h.data == k);
		EXPECT(itree_find(&t, base + (k / 2) * 16, &h) == 1 &&
		       h.data == k / 2);
	}
	for (uint64_t k = 0; k < 9000; k += 3)
		EXPECT(itree_remove(&t, base + k * 16, base + k * 16 + 15,
				    NULL) == 0);
	for (uint64_t k = 0; k < 9000; k++)
		EXPECT(itree_find(&t, base + k * 16, &h) == (k % 3 != 0));
	itree_destroy(&t, NULL);
}

static void test_random_lazy_reclaim(void **state)
{
	/* Reclaims far apart: removes run without a spare in reserve. */
	const struct run_opts o = { 4096, 30000, 1, 0 };

	run_model(31, &o);
	run_model(32, &(struct run_opts){ 1u << 20, 30000, 0, 0, 1000 });
}

static void test_nomem(void **state)
{
#ifdef TEST_WRAP_MALLOC
	const struct run_opts o[] = {
		{ 64, 20000, 2, 64 },
		{ 4096, 30000, 2, 64 },
		{ 1u << 20, 30000, 2, 32, 1000 },
		{ 1u << 20, 20000, 0, 128 },
	};

	nomem.r.s = 7;
	nomem.failed = 0;
	for (unsigned int i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		run_model(41 + i, &o[i]);
	/* The failures did happen. */
	assert_true(nomem.failed > 100);
#else
	skip();
#endif
}

/*
 * An insert after itree_reserve() at its path cannot fail, whatever the
 * allocator does: the device maps a window it may already have shown to
 * lookups only once the tree's nodes are reserved.
 */
static void test_reserve(void **state)
{
#ifdef TEST_WRAP_MALLOC
	struct itree t;
	struct rng r = { 51 };
	unsigned long reserved = 0, refused = 0;

	itree_init(&t);
	nomem.r.s = 9;
	nomem.failed = 0;
	for (unsigned int k = 0; k < 20000; k++) {
		uint64_t s = below(&r, 1u << 20) * 16;
		struct itree_path p;

		if (itree_check(&t, s, s + 7, &p))
			continue;
		nomem_arm(64);
		if (itree_reserve(&t, &p)) {
			refused++;
			nomem_arm(0);
			continue;
		}
		reserved++;
		assert_int_equal(itree_insert_at(&t, &p, s, s + 7,
						 (void *)(uintptr_t)(s + 1), s),
				 0);
		nomem_arm(0);
		if (k % 64 == 0)
			itree_reclaim(&t);
	}
	nomem_arm(0);
	assert_true(reserved > 1000 && refused > 100);
	itree_destroy(&t, NULL);
#else
	skip();
#endif
}

/* Lookups through roots changes replaced (no reclaim in between) */

/* Whether the ranges of a snapshot window include [h] at addr. */
static bool seen(const struct model *before, const struct mrange *added,
		 size_t nadded, const struct itree_hit *h, uint64_t addr)
{
	long i = m_exact(before, h->start, h->last);

	if (h->start > addr || h->last < addr || h->data != mix(h->start,
								 h->last))
		return false;
	/* The same bounds may have gone and come back, with another val. */
	if (i >= 0 && before->r[i].val == h->val)
		return true;
	for (size_t j = 0; j < nadded; j++)
		if (added[j].start == h->start && added[j].last == h->last &&
		    added[j].val == h->val)
			return true;
	return false;
}

static void test_old_root(void **state)
{
	struct rng r = { seed_for(51) };
	struct model m = { 0 }, before = { 0 };
	struct mrange added[64];
	struct itree t;

	itree_init(&t);
	for (int round = 0; round < 300; round++) {
		struct itree snap;
		unsigned int nch = 1 + (unsigned int)below(&r, 64);
		size_t nadded = 0, ngone = 0;
		void *gone[64];

		ctx_op = (unsigned long)round;
		/* Grow to a few levels, then churn. */
		while (m.n < 200 + below(&r, 3000)) {
			uint64_t s = below(&r, 1ull << 40);
			uint64_t l = s + below(&r, 4096);

			if (!m_check(&m, s, l)) {
				void *v = val_new(s, l);

				EXPECT(!itree_insert(&t, s, l, v, mix(s, l)));
				m_insert(&m, s, l, v, mix(s, l));
			}
		}
		itree_reclaim(&t);
		before.n = 0;
		for (size_t i = 0; i < m.n; i++)
			m_insert(&before, m.r[i].start, m.r[i].last,
				 m.r[i].val, m.r[i].data);
		snapshot(&snap, &t);
		/* nch changes, no reclaim; removed values are freed after. */
		for (unsigned int c = 0; c < nch; c++) {
			if (below(&r, 2)) {
				size_t i = (size_t)below(&r, m.n);

				EXPECT(itree_remove(&t, m.r[i].start,
						    m.r[i].last, NULL) == 0);
				gone[ngone++] = m.r[i].val;
				m_remove_at(&m, i);
			} else {
				/* Often in the gap a remove just left. */
				uint64_t s, l;

				if (ngone && below(&r, 2)) {
					struct tval *g = gone[below(&r, ngone)];

					s = g->start + below(&r, 64);
					l = g->last + below(&r, 64);
				} else {
					s = below(&r, 1ull << 40);
					l = s + below(&r, 1 << 16);
				}
				int want = m_check(&m, s, l);

				if (want) {
					EXPECT(itree_insert(&t, s, l, NULL,
							    0) == want);
					continue;
				}
				void *v = val_new(s, l);

				EXPECT(!itree_insert(&t, s, l, v, mix(s, l)));
				m_insert(&m, s, l, v, mix(s, l));
				added[nadded++] = (struct mrange){ s, l, v,
								   mix(s, l) };
			}
		}
		if (ngone || nadded)
			EXPECT(t.nretired > 0);
		/*
		 * Through the old root: a range no change touched is found
		 * whole, and anything found was there at some point.
		 */
		for (size_t i = 0; i < before.n; i++) {
			const struct mrange *e = &before.r[i];
			struct itree_hit h;
			long j = m_exact(&m, e->start, e->last);
			bool stable = j >= 0 && m.r[j].val == e->val;
			uint64_t a[3] = { e->start, e->last,
					  e->start + (e->last - e->start) / 2 };

			for (int q = 0; q < 3; q++) {
				int f = itree_find(&snap, a[q], &h);

				if (stable)
					EXPECT(f == 1 && h.start == e->start &&
					       h.last == e->last &&
					       h.val == e->val);
				else if (f)
					EXPECT(seen(&before, added, nadded, &h,
						    a[q]));
			}
		}
		for (size_t i = 0; i < nadded; i++) {
			struct itree_hit h;

			if (itree_find(&snap, added[i].start, &h))
				EXPECT(seen(&before, added, nadded, &h,
					    added[i].start));
		}
		for (int q = 0; q < 200; q++) {
			uint64_t a = below(&r, 1ull << 40);
			struct itree_hit h;

			if (itree_find(&snap, a, &h))
				EXPECT(seen(&before, added, nadded, &h, a));
			check_find(&t, &m, a);
		}
		/* The readers are gone: now the retired nodes can go. */
		itree_reclaim(&t);
		for (size_t i = 0; i < ngone; i++)
			free(gone[i]);
		check_walk(&t, &m);
	}
	destroyed = 0;
	itree_destroy(&t, destroy_val);
	EXPECT(destroyed == m.n);
	free(m.r);
	free(before.r);
}

/* Many ranges: a slot table as the model */

/*
 * Slot k is SLOT bytes; the low half of the slots count up from 0, the
 * high half end at UINT64_MAX.  A slot's range lies inside it, often
 * touching the slot's edges (and so its neighbours' ranges).
 */
#define SLOT (1ull << 20)

struct slots {
	uint32_t ns;
	uint64_t *a, *b;        /* offsets of the range in its slot */
	bool *in;
};

static uint64_t slot_base(const struct slots *sl, uint32_t k)
{
	uint32_t lo = sl->ns / 2;

	return k < lo ? k * SLOT : (uint64_t)0 - (uint64_t)(sl->ns - k) * SLOT;
}

static long slot_of(const struct slots *sl, uint64_t addr)
{
	uint32_t lo = sl->ns / 2;
	uint64_t hb = (uint64_t)0 - (uint64_t)(sl->ns - lo) * SLOT;

	if (addr < lo * SLOT)
		return (long)(addr / SLOT);
	if (addr >= hb)
		return (long)(lo + (addr - hb) / SLOT);
	return -1;
}

static void slots_init(struct slots *sl, struct rng *r, uint32_t ns)
{
	sl->ns = ns;
	sl->a = calloc(ns, sizeof(*sl->a));
	sl->b = calloc(ns, sizeof(*sl->b));
	sl->in = calloc(ns, sizeof(*sl->in));
	assert_true(sl->a && sl->b && sl->in);
	for (uint32_t k = 0; k < ns; k++) {
		sl->a[k] = below(r, 4) ? below(r, SLOT / 2) : 0;
		sl->b[k] = below(r, 4) ? sl->a[k] + below(r, SLOT - sl->a[k]) :
					 SLOT - 1;
	}
}

static void slots_fini(struct slots *sl)
{
	free(sl->a);
	free(sl->b);
	free(sl->in);
}

static uint64_t s_start(const struct slots *sl, uint32_t k)
{
	return slot_base(sl, k) + sl->a[k];
}

static uint64_t s_last(const struct slots *sl, uint32_t k)
{
	return slot_base(sl, k) + sl->b[k];
}

static void s_check_find(const struct itree *t, const struct slots *sl,
			 uint64_t addr)
{
	long k = slot_of(sl, addr);
	bool want = k >= 0 && sl->in[k] && s_start(sl, (uint32_t)k) <= addr &&
		    addr <= s_last(sl, (uint32_t)k);
	struct itree_hit h;
	int r = itree_find(t, addr, &h);

	if (!want) {
		EXPECT(r == 0);
		return;
	}
	EXPECT(r == 1);
	EXPECT(h.start == s_start(sl, (uint32_t)k));
	EXPECT(h.last == s_last(sl, (uint32_t)k));
	EXPECT(h.data == mix(h.start, h.last));
	EXPECT(h.val == (void *)&sl->in[k]);
}

static void s_probe(const struct itree *t, const struct slots *sl,
		    struct rng *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint32_t k = (uint32_t)below(r, sl->ns);
		uint64_t s = s_start(sl, k), l = s_last(sl, k);

		s_check_find(t, sl, s);
		s_check_find(t, sl, l);
		s_check_find(t, sl, s + below(r, l - s + 1));
		if (s)
			s_check_find(t, sl, s - 1);
		if (l != UINT64_MAX)
			s_check_find(t, sl, l + 1);
		s_check_find(t, sl, rnd(r));
	}
	s_check_find(t, sl, 0);
	s_check_find(t, sl, UINT64_MAX);
}

struct s_walk {
	const struct slots *sl;
	uint32_t k;
	bool bad;
	size_t n;
};

static int s_walk_fn(const struct itree_hit *h, void *arg)
{
	struct s_walk *w = arg;

	while (w->k < w->sl->ns && !w->sl->in[w->k])
		w->k++;
	if (w->k == w->sl->ns || h->start != s_start(w->sl, w->k) ||
	    h->last != s_last(w->sl, w->k))
		w->bad = true;
	w->k++;
	w->n++;
	return 0;
}

static void s_check_walk(const struct itree *t, const struct slots *sl,
			 size_t n)
{
	struct s_walk w = { sl, 0, false, 0 };

	EXPECT(itree_walk(t, s_walk_fn, &w) == 0);
	EXPECT(!w.bad);
	EXPECT(w.n == n);
}

/* An insert that must fail: overlapping a range that is in. */
static void s_try_overlap(struct itree *t, const struct slots *sl,
			  struct rng *r, uint32_t k)
{
	uint64_t s = s_start(sl, k), l = s_last(sl, k), x, y;

	switch (below(r, 4)) {
	case 0: /* ending on its first byte */
		x = s - below(r, s - slot_base(sl, k) + 1);
		y = s;
		break;
	case 1: /* starting on its last byte */
		x = l;
		y = l + below(r, slot_base(sl, k) + SLOT - 1 - l + 1);
		break;
	case 2: /* inside */
		x = s + below(r, l - s + 1);
		y = x + below(r, l - x + 1);
		break;
	default: /* around all of it, and beyond the slot */
		x = s ? s - 1 - below(r, s < SLOT ? s : SLOT) : 0;
		y = UINT64_MAX - l < SLOT ? UINT64_MAX : l + below(r, SLOT);
		break;
	}
	EXPECT(itree_check(t, x, y, NULL) == -EEXIST);
	EXPECT(itree_insert(t, x, y, NULL, 0) == -EEXIST);
}

static void run_slots(uint32_t ns, uint64_t seed, bool remove_all)
{
	struct rng r = { seed_for(seed) };
	struct slots sl;
	struct itree t;
	uint32_t *order;
	size_t n = 0;

	slots_init(&sl, &r, ns);
	order = malloc(ns * sizeof(*order));
	assert_non_null(order);
	itree_init(&t);
	shuffle(&r, order, ns);
	for (uint32_t i = 0; i < ns; i++) {
		uint32_t k = order[i];
		uint64_t s = s_start(&sl, k), l = s_last(&sl, k);

		ctx_op = i;
		EXPECT(itree_check(&t, s, l, NULL) == 0);
		EXPECT(itree_insert(&t, s, l, &sl.in[k], mix(s, l)) == 0);
		itree_reclaim(&t);
		sl.in[k] = true;
		n++;
		EXPECT(t.n == n);
		if (!(i % 7))
			s_try_overlap(&t, &sl, &r, k);
		if (!(i % 1024) || i + 1 == ns)
			s_probe(&t, &sl, &r, 128);
	}
	s_check_walk(&t, &sl, n);
	check_walk_stop(&t, ns / 2);
	if (!remove_all) {
		destroyed = destroyed_sum = 0;
		uint64_t sum = 0;

		for (uint32_t k = 0; k < ns; k++)
			sum += (uint64_t)mix(s_start(&sl, k), s_last(&sl, k));
		itree_destroy(&t, destroy_val_plain);
		EXPECT(destroyed == ns);
		EXPECT(destroyed_sum == sum);
		goto out;
	}
	shuffle(&r, order, ns);
	for (uint32_t i = 0; i < ns; i++) {
		uint32_t k = order[i];
		uint64_t s = s_start(&sl, k), l = s_last(&sl, k);
		struct itree_hit h;

		ctx_op = ns + i;
		if (!(i % 5)) {
			/* Bounds that are not the range's own. */
			if (l != UINT64_MAX)
				EXPECT(itree_remove(&t, s, l + 1, &h) ==
				       -ENOENT);
			if (s < l)
				EXPECT(itree_remove(&t, s + 1, l, &h) ==
				       -ENOENT);
			if (s)
				EXPECT(itree_remove(&t, s - 1, l, &h) ==
				       -ENOENT);
		}
		memset(&h, 0, sizeof(h));
		EXPECT(itree_remove(&t, s, l, &h) == 0);
		EXPECT(h.start == s && h.last == l && h.val == &sl.in[k] &&
		       h.data == mix(s, l));
		itree_reclaim(&t);
		sl.in[k] = false;
		n--;
		EXPECT(t.n == n);
		EXPECT(itree_remove(&t, s, l, &h) == -ENOENT);
		if (!(i % 1024) || i + 1 == ns)
			s_probe(&t, &sl, &r, 128);
		if (!(i % 8192))
			s_check_walk(&t, &sl, n);
	}
	EXPECT(t.n == 0);
	EXPECT(atomic_load(&t.root) == NULL);
	s_check_walk(&t, &sl, 0);
	destroyed = 0;
	itree_destroy(&t, destroy_val_plain);
	EXPECT(destroyed == 0);
out:
	free(order);
	slots_fini(&sl);
}

static void test_65535(void **state)
{
	/* vIOMMU scale: in in one random order, out in another. */
	run_slots(65535, 61, true);
	run_slots(65535, 62, true);
}

static void test_100k(void **state)
{
	/* Torn down by itree_destroy(), which hands back every value. */
	run_slots(100000, 71, false);
	run_slots(100000, 72, true);
}

static void test_clear(void **state)
{
	struct rng r = { seed_for(81) };
	struct model m = { 0 };
	struct itree t;

	itree_init(&t);
	for (int round = 0; round < 4; round++) {
		struct itree snap;

		ctx_op = (unsigned long)round;
		while (m.n < 5000u << round) {
			uint64_t s = rnd(&r), l = s + below(&r, 1 << 20);

			if (l >= s && !m_check(&m, s, l)) {
				void *v = val_new(s, l);

				EXPECT(!itree_insert(&t, s, l, v, mix(s, l)));
				m_insert(&m, s, l, v, mix(s, l));
			}
		}
		itree_reclaim(&t);
		check_walk(&t, &m);
		snapshot(&snap, &t);
		itree_clear(&t);
		EXPECT(t.n == 0);
		EXPECT(atomic_load(&t.root) == NULL);
		/* A lookup that began before the clear still sees it all. */
		for (int q = 0; q < 1000; q++) {
			const struct mrange *e = &m.r[below(&r, m.n)];
			struct itree_hit h;

			EXPECT(itree_find(&snap, e->start, &h) == 1 &&
			       hit_is(&h, e));
			EXPECT(itree_find(&t, e->start, &h) == 0);
		}
		EXPECT(t.nretired > 0);
		itree_reclaim(&t);
		m_free(&m);
		check_walk(&t, &m);
		/* And the cleared tree fills again. */
		EXPECT(itree_insert(&t, 0, 0, NULL, mix(0, 0)) == 0);
		EXPECT(itree_remove(&t, 0, 0, NULL) == 0);
		itree_reclaim(&t);
	}
	/* Values in the tree at the end are handed back, cleared ones not. */
	for (uint64_t i = 0; i < 100; i++) {
		void *v = val_new(i * 10, i * 10 + 9);

		EXPECT(itree_insert(&t, i * 10, i * 10 + 9, v,
				    mix(i * 10, i * 10 + 9)) == 0);
	}
	destroyed = 0;
	itree_destroy(&t, destroy_val);
	EXPECT(destroyed == 100);
	EXPECT(t.n == 0 && t.nretired == 0 && t.npool == 0);
}

/*
 * Lock-free readers against one writer.  Slot k % 4 == 0 holds a range
 * that never moves; the other slots come and go in two shapes (the
 * second reaching the slot's end, touching the next).  The writer
 * reclaims only after every reader has finished the lookup it was in
 * (its count moved on), so a node freed or reused too early shows up as
 * a wrong answer, or under ASan as a use after free.
 */
#define C_SLOTS 4096u
#define C_READERS 2

struct creader {
	pthread_t th;
	_Atomic unsigned long seq;
	uint64_t seed;
};

static struct {
	struct itree t;
	atomic_bool stop;
	atomic_ulong errors;
	_Atomic uint64_t bad_addr;
	struct creader rd[C_READERS];
} cs;

static void c_shape(uint32_t k, unsigned int v, uint64_t *s, uint64_t *l)
{
	uint64_t base = (uint64_t)k * SLOT;

	if (k % 4 == 0) {
		*s = base + 100;
		*l = base + SLOT / 2;
	} else if (!v) {
		*s = base;
		*l = base + SLOT / 2 - 1;
	} else {
		*s = base + SLOT / 4;
		*l = base + SLOT - 1;
	}
}

static void *c_reader(void *arg)
{
	struct creader *rd = arg;
	struct rng r = { rd->seed };
	unsigned long seq = 0;

	while (!atomic_load_explicit(&cs.stop, memory_order_relaxed)) {
		uint32_t k = (uint32_t)below(&r, C_SLOTS);
		uint64_t addr = (uint64_t)k * SLOT + below(&r, SLOT), s, l;
		struct itree_hit h;
		bool ok = true;
		int f = itree_find(&cs.t, addr, &h);

		if (f) {
			ok = h.start <= addr && addr <= h.last &&
			     h.data == mix(h.start, h.last) &&
			     h.start / SLOT == k && h.last / SLOT == k;
		}
		if (k % 4 == 0) {
			c_shape(k, 0, &s, &l);
			if (addr >= s && addr <= l)
				ok = ok && f == 1 && h.start == s &&
				     h.last == l;
		}
		if (!ok) {
			atomic_fetch_add(&cs.errors, 1);
			atomic_store(&cs.bad_addr, addr);
		}
		atomic_store_explicit(&rd->seq, ++seq, memory_order_release);
	}
	return NULL;
}

/* Every reader has left the lookup it was in: retired nodes can go. */
static void c_quiesce(void)
{
	unsigned long seen[C_READERS];

	for (int i = 0; i < C_READERS; i++)
		seen[i] = atomic_load_explicit(&cs.rd[i].seq,
					       memory_order_acquire);
	for (int i = 0; i < C_READERS; i++)
		while (atomic_load_explicit(&cs.rd[i].seq,
					    memory_order_acquire) == seen[i])
			sched_yield();
	itree_reclaim(&cs.t);
}

static void test_concurrent(void **state)
{
	struct rng r = { seed_for(91) };
	signed char shape[C_SLOTS];     /* -1: out */
	size_t n = 0;
	int bad = 0;

	memset(&cs, 0, sizeof(cs));
	itree_init(&cs.t);
	for (uint32_t k = 0; k < C_SLOTS; k++) {
		uint64_t s, l;

		shape[k] = -1;
		if (k % 4 && below(&r, 2))
			continue;
		shape[k] = (signed char)below(&r, 2);
		c_shape(k, (unsigned int)shape[k], &s, &l);
		EXPECT(itree_insert(&cs.t, s, l, NULL, mix(s, l)) == 0);
		n++;
	}
	itree_reclaim(&cs.t);
	for (int i = 0; i < C_READERS; i++) {
		cs.rd[i].seed = rnd(&r);
		assert_int_equal(pthread_create(&cs.rd[i].th, NULL, c_reader,
						&cs.rd[i]), 0);
	}
	/* No asserts while the readers run: they must be stopped first. */
	for (ctx_op = 0; ctx_op < 50000 && !bad; ctx_op++) {
		uint32_t k = (uint32_t)below(&r, C_SLOTS);
		uint64_t s, l;

		if (k % 4 == 0)
			continue;
		if (shape[k] >= 0) {
			c_shape(k, (unsigned int)shape[k], &s, &l);
			bad = itree_remove(&cs.t, s, l, NULL) ? __LINE__ : 0;
			shape[k] = -1;
			n--;
		} else {
			shape[k] = (signed char)below(&r, 2);
			c_shape(k, (unsigned int)shape[k], &s, &l);
			bad = itree_insert(&cs.t, s, l, NULL, mix(s, l)) ?
				      __LINE__ : 0;
			n++;
		}
		if (cs.t.n != n)
			bad = __LINE__;
		if (!below(&r, 128))
			c_quiesce();
	}
	atomic_store(&cs.stop, true);
	for (int i = 0; i < C_READERS; i++)
		pthread_join(cs.rd[i].th, NULL);
	if (bad)
		fail_msg("seed %" PRIu64 " op %lu: line %d", ctx_seed, ctx_op,
			 bad);
	if (atomic_load(&cs.errors))
		fail_msg("%lu wrong lookups, one at %#" PRIx64,
			 (unsigned long)atomic_load(&cs.errors),
			 (uint64_t)atomic_load(&cs.bad_addr));
	for (int i = 0; i < C_READERS; i++)
		EXPECT(atomic_load(&cs.rd[i].seq) > 1000);
	for (uint32_t k = 0; k < C_SLOTS; k++) {
		struct itree_hit h;
		uint64_t s, l;

		if (shape[k] < 0)
			continue;
		c_shape(k, (unsigned int)shape[k], &s, &l);
		EXPECT(itree_find(&cs.t, s, &h) == 1 && h.start == s &&
		       h.last == l);
	}
	destroyed = 0;
	itree_destroy(&cs.t, destroy_val_plain);
	EXPECT(destroyed == n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_random_dense),
		cmocka_unit_test(test_random_medium),
		cmocka_unit_test(test_random_sparse),
		cmocka_unit_test(test_random_lazy_reclaim),
		cmocka_unit_test(test_random_local),
		cmocka_unit_test(test_finger),
		cmocka_unit_test(test_nomem),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_old_root),
		cmocka_unit_test(test_65535),
		cmocka_unit_test(test_100k),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_concurrent),
	};

	/* ITREE_TEST=pattern runs only the tests it names. */
	if (getenv("ITREE_TEST"))
		cmocka_set_test_filter(getenv("ITREE_TEST"));
	return cmocka_run_group_tests_name("unit_itree", tests, NULL, NULL);
}
