// SPDX-License-Identifier: MIT
/*
 * DMA dirty-page logging.
 *
 * The log is keyed by IOVA, not by DMA window: a radix tree over the log
 * page number whose leaves are bitmaps of 2^16 pages (8 KiB each, 256 MiB
 * of IOVA at 4 KiB pages), with interior nodes of 4096 slots (the top one
 * smaller) and at most three levels.  Nodes and leaves are allocated on
 * first touch by whoever marks, calloc'ed and installed with a CAS (the
 * loser frees its copy); they go when logging stops (leaves also when a
 * REPORT takes them whole, see below).  Because marks are keyed by IOVA,
 * unmapping a window loses nothing: its pages stay dirty until a REPORT
 * returns them.
 *
 * Marking is lock-free: an atomic OR into the leaf word (a locked RMW,
 * so the data written before it is visible to whoever takes the bit).
 * REPORT takes bits with an atomic AND (exchange for whole words) and
 * only the bits it reports, so a mark racing a report lands in this
 * report or in the next one.
 *
 * Each leaf also has summary bits, one per word that may hold bits, so
 * that a REPORT skips clean words 64 at a time; and a REPORT covering a
 * whole leaf unhooks it instead, waits for the marks that may still hold
 * it, and reads it with plain loads (no atomic exchange per word).
 *
 * What keeps the tree alive under the markers is a small SRCU: marks
 * count themselves in one of two global reader counters (chosen by the
 * parity of an epoch) around their use of dev->dirty; STOP unpublishes
 * the log, then flips the epoch twice, each time waiting for the counter
 * it left to drain, before freeing.  START, STOP, REPORT and fini are
 * serialized by a global mutex; none of them runs on the mark path.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirty.h"

#define MIN_SHIFT 12                    /* 4 KiB */
#define MAX_SHIFT 30                    /* 1 GiB */
#define MAX_RANGES 4096

#define LEAF_SHIFT 16                   /* pages per leaf, log2 */
#define LEAF_BITS (1ull << LEAF_SHIFT)
#define LEAF_WORDS (LEAF_BITS / 64)
#define NODE_SHIFT 12                   /* slots per interior node, log2 */

/*
 * Bit w of sum is set (after the word) whenever word w may hold bits,
 * so that a REPORT skips clean words 64 at a time.
 */
struct dirty_leaf {
	_Atomic uint64_t sum[LEAF_WORDS / 64];
	_Atomic uint64_t w[LEAF_WORDS];
};

typedef void *_Atomic slot_t;

/* Logged IOVA, inclusive bounds, rounded out to log pages. */
struct dirty_range {
	uint64_t first;
	uint64_t last;
};

struct dirty_log {
	unsigned int shift;             /* log page size, log2 */
	unsigned int levels;            /* interior levels, 1..3 */
	unsigned int top_shift;         /* slots of the top node, log2 */
	slot_t *top;
	atomic_bool lost;               /* a mark could not allocate */
	uint32_t nr;                    /* 0: every IOVA */
	struct dirty_range *r;          /* sorted, disjoint, not adjacent */
};

/* The SRCU-like guard of dev->dirty (see above). */
static struct {
	_Alignas(64) atomic_ulong n;
} readers[2];
static _Alignas(64) atomic_uint epoch;
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned int read_lock(void)
{
	unsigned int i = atomic_load(&epoch) & 1;

	atomic_fetch_add(&readers[i].n, 1);
	return i;
}

static void read_unlock(unsigned int i)
{
	atomic_fetch_sub_explicit(&readers[i].n, 1, memory_order_release);
}

/* Every reader that could have seen what was unpublished is gone. */
static void synchronize(void)
{
	for (int k = 0; k < 2; k++) {
		unsigned int i = atomic_fetch_add(&epoch, 1) & 1;
		unsigned int spins = 0;

		while (atomic_load(&readers[i].n)) {
			if (++spins < 64) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 50000 };

				nanosleep(&ts, NULL);
			}
		}
	}
}

static struct dirty_log *log_get(struct uvfio_dev *dev)
{
	return __atomic_load_n(&dev->dirty, __ATOMIC_SEQ_CST);
}

/* The radix tree */

static unsigned int fan_shift(const struct dirty_log *log, unsigned int l)
{
	return l == log->levels - 1 ? log->top_shift : NODE_SHIFT;
}

static void *child(struct dirty_log *log, slot_t *s, unsigned int l)
{
	void *p = atomic_load_explicit(s, memory_order_acquire);
	void *none = NULL;

	if (p)
		return p;
	p = l ? calloc(1ull << NODE_SHIFT, sizeof(slot_t)) :
		calloc(1, sizeof(struct dirty_leaf));
	if (!p) {
		atomic_store(&log->lost, true);
		return NULL;
	}
	if (!atomic_compare_exchange_strong_explicit(s, &none, p,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		free(p);
		p = none;
	}
	return p;
}

/* Leaf li, allocated on the way: NULL only when memory ran out. */
static struct dirty_leaf *leaf_make(struct dirty_log *log, uint64_t li)
{
	slot_t *node = log->top;

	for (unsigned int l = log->levels; l-- > 0;) {
		uint64_t i = (li >> (l * NODE_SHIFT)) &
			     ((1ull << fan_shift(log, l)) - 1);

		node = child(log, &node[i], l);
		if (!node)
			return NULL;
	}
	return (struct dirty_leaf *)node;
}

/* The slot holding leaf li, or NULL when a node above it is missing. */
static slot_t *leaf_slot(const struct dirty_log *log, uint64_t li)
{
	slot_t *node = log->top;

	for (unsigned int l = log->levels; l-- > 1;) {
		node = atomic_load_explicit(
			&node[(li >> (l * NODE_SHIFT)) &
			      ((1ull << fan_shift(log, l)) - 1)],
			memory_order_acquire);
		if (!node)
			return NULL;
	}
	return &node[li & ((1ull << fan_shift(log, 0)) - 1)];
}

/*
 * The first leaf whose index is in [*li, max], skipping empty subtrees
 * whole; *li is set to its index.  NULL when there is none.
 */
static struct dirty_leaf *leaf_next(const struct dirty_log *log,
				    uint64_t *li, uint64_t max)
{
	uint64_t i = *li;

	while (i <= max) {
		slot_t *node = log->top;
		unsigned int l = log->levels;
		void *c = NULL;
		uint64_t step;

		while (l-- > 0) {
			c = atomic_load_explicit(
				&node[(i >> (l * NODE_SHIFT)) &
				      ((1ull << fan_shift(log, l)) - 1)],
				memory_order_acquire);
			if (!c)
				break;
			node = c;
		}
		if (c) {
			*li = i;
			return c;
		}
		/* Nothing below slot l: skip all the leaves it covers. */
		step = 1ull << (l * NODE_SHIFT);
		i = (i | (step - 1)) + 1;
		if (!i)
			break;
	}
	return NULL;
}

static void tree_free(slot_t *node, unsigned int l, unsigned int fan)
{
	for (uint64_t i = 0; l && i < (1ull << fan); i++) {
		void *c = atomic_load_explicit(&node[i], memory_order_relaxed);

		if (c)
			tree_free(c, l - 1, NODE_SHIFT);
	}
	free(node);
}

static void log_free(struct dirty_log *log)
{
	if (!log)
		return;
	if (log->top)
		tree_free(log->top, log->levels, log->top_shift);
	free(log->r);
	free(log);
}

/* Bits lo..hi (inclusive, within one word) set. */
static uint64_t bits(unsigned int lo, unsigned int hi)
{
	return (~0ull << lo) & (~0ull >> (63 - hi));
}

/* Marking */

/*
 * Sets leaf bits b0..b1 (inclusive): the words, then their summary bits.
 * Sequentially consistent RMWs: the device's data is visible to whoever
 * takes a bit, and a summary bit found set (so left alone) was set
 * before a REPORT cleared it, which then takes the word after ours.
 */
static void leaf_set(struct dirty_leaf *leaf, uint64_t b0, uint64_t b1)
{
	uint64_t w0 = b0 / 64, w1 = b1 / 64, sb = 0;

	for (uint64_t w = w0; w <= w1; w++) {
		uint64_t m = bits(w == w0 ? b0 % 64 : 0,
				  w == w1 ? b1 % 64 : 63);

		atomic_fetch_or(&leaf->w[w], m);
		sb |= 1ull << (w % 64);
		if (w % 64 == 63 || w == w1) {
			_Atomic uint64_t *sp = &leaf->sum[w / 64];

			if ((atomic_load(sp) & sb) != sb)
				atomic_fetch_or(sp, sb);
			sb = 0;
		}
	}
}

/* Marks log pages p0..p1 (inclusive). */
static void mark_pages(struct dirty_log *log, uint64_t p0, uint64_t p1)
{
	for (;;) {
		uint64_t li = p0 >> LEAF_SHIFT;
		uint64_t end = p0 | (LEAF_BITS - 1);
		struct dirty_leaf *leaf = leaf_make(log, li);

		if (end > p1)
			end = p1;
		if (!leaf)
			return;
		leaf_set(leaf, p0 & (LEAF_BITS - 1), end & (LEAF_BITS - 1));
		if (end == p1)
			return;
		p0 = end + 1;
	}
}

/* Index of the first range whose last byte is at or above a. */
static uint32_t range_find(const struct dirty_log *log, uint64_t a)
{
	uint32_t lo = 0, hi = log->nr;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (log->r[mid].last < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void dirty_mark_slow(struct uvfio_dev *dev, uint64_t iova, uint64_t len)
{
	uint64_t last = iova + len - 1;
	struct dirty_log *log;
	unsigned int rl;

	if (!len)
		return;
	if (last < iova)
		last = UINT64_MAX;
	rl = read_lock();
	log = log_get(dev);
	if (!log) {
		read_unlock(rl);
		return;
	}
	if (!log->nr) {
		mark_pages(log, iova >> log->shift, last >> log->shift);
	} else {
		for (uint32_t i = range_find(log, iova);
		     i < log->nr && log->r[i].first <= last; i++) {
			uint64_t a = iova > log->r[i].first ? iova :
							      log->r[i].first;
			uint64_t b = last < log->r[i].last ? last :
							     log->r[i].last;

			mark_pages(log, a >> log->shift, b >> log->shift);
		}
	}
	read_unlock(rl);
}

/* START / STOP */

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int range_cmp(const void *a, const void *b)
{
	const struct dirty_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Checks the ranges as the kernel does (aligned to the page size asked
 * for, or to the one chosen when that was no page size; no overflow; no
 * overlap), then keeps their union rounded out to log pages.
 */
static int ranges_load(struct dirty_log *log, const uint8_t *in, uint32_t n,
		       uint64_t align)
{
	uint64_t pg = 1ull << log->shift;
	struct dirty_range *r;
	uint32_t k = 0;

	r = malloc(n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct vfio_user_dma_logging_range x;

		memcpy(&x, in + (size_t)i * sizeof(x), sizeof(x));
		if (!x.length || (x.iova | x.length) & (align - 1)) {
			free(r);
			return -EINVAL;
		}
		if (x.iova + x.length < x.iova ||
		    x.iova + x.length == 0) {
			free(r);
			return -EOVERFLOW;
		}
		r[i].first = x.iova;
		r[i].last = x.iova + x.length - 1;
	}
	qsort(r, n, sizeof(*r), range_cmp);
	for (uint32_t i = 1; i < n; i++) {
		if (r[i].first <= r[i - 1].last) {
			free(r);
			return -EINVAL;
		}
	}
	/* Round out to log pages and merge what then touches. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t first = r[i].first & ~(pg - 1);
		uint64_t last = r[i].last | (pg - 1);

		if (k && r[k - 1].last != UINT64_MAX &&
		    first <= r[k - 1].last + 1) {
			if (last > r[k - 1].last)
				r[k - 1].last = last;
			continue;
		}
		r[k].first = first;
		r[k].last = last;
		k++;
	}
	log->r = r;
	log->nr = k;
	return 0;
}

int dirty_start(struct uvfio_dev *dev,
		const struct vfio_user_dma_logging_control *c, size_t len,
		uint64_t *page_size)
{
	struct vfio_user_dma_logging_control h;
	struct dirty_log *log;
	unsigned int ib;
	uint64_t ps, align;
	int err;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, c, sizeof(h));
	if (h.num_ranges > MAX_RANGES)
		return -E2BIG;
	if ((len - sizeof(h)) / sizeof(struct vfio_user_dma_logging_range) <
	    h.num_ranges)
		return -EINVAL;
	ps = h.page_size;
	align = pow2(ps) ? ps : 1ull << MIN_SHIFT;
	if (!pow2(ps) || ps < (1ull << MIN_SHIFT) || ps > (1ull << MAX_SHIFT))
		ps = 1ull << MIN_SHIFT;

	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->shift = (unsigned int)__builtin_ctzll(ps);
	ib = 64 - log->shift - LEAF_SHIFT;
	log->levels = (ib + NODE_SHIFT - 1) / NODE_SHIFT;
	log->top_shift = ib - NODE_SHIFT * (log->levels - 1);
	if (h.num_ranges) {
		err = ranges_load(log, (const uint8_t *)c + sizeof(h),
				  h.num_ranges, align);
		if (err) {
			log_free(log);
			return err;
		}
	}
	log->top = calloc(1ull << log->top_shift, sizeof(slot_t));
	if (!log->top) {
		log_free(log);
		return -ENOMEM;
	}

	pthread_mutex_lock(&ctl_lock);
	if (log_get(dev)) {
		pthread_mutex_unlock(&ctl_lock);
		log_free(log);
		return -EBUSY;
	}
	__atomic_store_n(&dev->dirty, log, __ATOMIC_SEQ_CST);
	atomic_store(&dev->dirty_on, true);
	pthread_mutex_unlock(&ctl_lock);
	*page_size = ps;
	return 0;
}

int dirty_stop(struct uvfio_dev *dev)
{
	struct dirty_log *log;

	pthread_mutex_lock(&ctl_lock);
	log = log_get(dev);
	if (log) {
		atomic_store(&dev->dirty_on, false);
		__atomic_store_n(&dev->dirty, NULL, __ATOMIC_SEQ_CST);
		synchronize();
	}
	pthread_mutex_unlock(&ctl_lock);
	if (!log)
		return -EINVAL;
	log_free(log);
	return 0;
}

void dirty_fini(struct uvfio_dev *dev)
{
	dirty_stop(dev);
}

/* REPORT */

/* The report's page shift and bit count, or -errno. */
static int report_check(const struct vfio_user_dma_logging_report *r,
			unsigned int *shift, uint64_t *nbits)
{
	if (!pow2(r->page_size) || r->page_size < (1ull << MIN_SHIFT) ||
	    !r->length)
		return -EINVAL;
	if (r->iova + r->length < r->iova || r->iova + r->length == 0)
		return -EOVERFLOW;
	if ((r->iova | r->length) & (r->page_size - 1))
		return -EINVAL;
	*shift = (unsigned int)__builtin_ctzll(r->page_size);
	*nbits = r->length >> *shift;
	return 0;
}

size_t dirty_report_bytes(const struct vfio_user_dma_logging_report *r)
{
	unsigned int shift;
	uint64_t n;

	if (report_check(r, &shift, &n))
		return 0;
	n = (n + 63) / 64;
	if (n > SIZE_MAX / 8)
		return 0;
	return (size_t)n * 8;
}

/* Sets bits k0..k1 (inclusive) of out. */
static void out_set(uint64_t *out, uint64_t k0, uint64_t k1)
{
	uint64_t w0 = k0 / 64, w1 = k1 / 64;

	for (uint64_t w = w0; w <= w1; w++)
		out[w] |= bits(w == w0 ? k0 % 64 : 0, w == w1 ? k1 % 64 : 63);
}

/* Where the taken pages go: the report's bitmap. */
struct sink {
	uint64_t *out;
	uint64_t iova;
	uint64_t last;                  /* the report's last byte */
	uint64_t pa;                    /* its first log page */
	unsigned int s;                 /* log page shift */
	unsigned int rs;                /* report page shift */
};

/*
 * Bits at multiples of 2^g (1 <= g <= 5) of x, each one the OR of the
 * 2^g bits from it up, packed into the low 64 >> g bits.
 */
static uint64_t pack(uint64_t x, unsigned int g)
{
	for (unsigned int j = 0; j < g; j++)
		x |= x >> (1u << j);
	x &= ~0ull / ((1ull << (1u << g)) - 1);
	/* Fields of 2^k bits, each holding a value of 2^(k - g) bits. */
	for (unsigned int k = g; k < 6; k++) {
		unsigned int v = 1u << (k - g), fw = 2u << k;
		uint64_t rep = fw == 64 ? 1 : ~0ull / ((1ull << fw) - 1);
		uint64_t low = 2 * v == 64 ? ~0ull : (1ull << 2 * v) - 1;

		x = (x | x >> ((1u << k) - v)) & (low * rep);
	}
	return x;
}

/* ORs p into out from bit k on. */
static void deposit(uint64_t *out, uint64_t k, uint64_t p)
{
	unsigned int sh = k % 64;

	out[k / 64] |= p << sh;
	if (sh && p >> (64 - sh))
		out[k / 64 + 1] |= p >> (64 - sh);
}

/* got: the dirty log pages of the word starting at page wp. */
static void emit(const struct sink *k, uint64_t wp, uint64_t got)
{
	if (k->rs >= k->s) {
		unsigned int g = k->rs - k->s;

		/* A report page covers whole words: wp >= pa then. */
		if (g >= 6) {
			uint64_t i = (wp - k->pa) >> g;

			k->out[i / 64] |= 1ull << (i % 64);
			return;
		}
		if (g)
			got = pack(got, g);
		if (wp >= k->pa)
			deposit(k->out, (wp - k->pa) >> g, got);
		else
			deposit(k->out, 0, got >> ((k->pa - wp) >> g));
		return;
	}
	/* Smaller report pages: each log page sets all it overlaps. */
	while (got) {
		uint64_t p = wp + (uint64_t)__builtin_ctzll(got);
		uint64_t lo = p << k->s;
		uint64_t hi = lo + ((1ull << k->s) - 1);

		got &= got - 1;
		if (lo < k->iova)
			lo = k->iova;
		if (hi > k->last)
			hi = k->last;
		out_set(k->out, (lo - k->iova) >> k->rs,
			(hi - k->iova) >> k->rs);
	}
}

#define SWAP_BATCH 64

/*
 * Leaves a REPORT unhooked whole (at[i]: their first page): once the
 * marks that may have found them are over, nobody else sees them, and
 * they are read with plain loads, then freed.  Marks after the unhook
 * allocate a fresh leaf.  This spares an atomic exchange per word.
 */
static void drain(struct dirty_leaf **batch, const uint64_t *at,
		  unsigned int nb, const struct sink *k)
{
	synchronize();
	for (unsigned int i = 0; i < nb; i++) {
		const uint64_t *sum = (const uint64_t *)(void *)batch[i]->sum;
		const uint64_t *w = (const uint64_t *)(void *)batch[i]->w;

		/* Same pages, on word boundaries: the words as they are. */
		if (k->rs == k->s && !((at[i] - k->pa) % 64)) {
			memcpy(k->out + (at[i] - k->pa) / 64, w,
			       LEAF_WORDS * 8);
			free(batch[i]);
			continue;
		}
		for (uint64_t sw = 0; sw < LEAF_WORDS / 64; sw++) {
			for (uint64_t cur = sum[sw]; cur; cur &= cur - 1) {
				uint64_t j = sw * 64 +
					     (uint64_t)__builtin_ctzll(cur);

				if (w[j])
					emit(k, at[i] + j * 64, w[j]);
			}
		}
		free(batch[i]);
	}
}

/*
 * Takes the dirty log pages pa..pb into the sink, clearing them except
 * keep_a and keep_b (log pages the report covers only in part: reported
 * but kept).  Words are found through the leaf's summary bits; a word
 * left with bits gets its summary bit back.
 */
static void take_range(struct dirty_log *log, uint64_t pa, uint64_t pb,
		       uint64_t keep_a, uint64_t keep_b, const struct sink *k)
{
	uint64_t li = pa >> LEAF_SHIFT, limax = pb >> LEAF_SHIFT;
	struct dirty_leaf *leaf, *batch[SWAP_BATCH];
	uint64_t at[SWAP_BATCH];
	unsigned int nb = 0;

	while ((leaf = leaf_next(log, &li, limax))) {
		uint64_t lp = li << LEAF_SHIFT;
		uint64_t a = (pa > lp ? pa : lp) - lp;

		if (lp >= pa && lp + LEAF_BITS - 1 <= pb &&
		    keep_a - lp >= LEAF_BITS && keep_b - lp >= LEAF_BITS) {
			/* All of it goes: unhook it, read it once alone. */
			batch[nb] = atomic_exchange(leaf_slot(log, li), NULL);
			at[nb++] = lp;
			if (nb == SWAP_BATCH) {
				drain(batch, at, nb, k);
				nb = 0;
			}
			if (li++ == limax)
				break;
			continue;
		}
		uint64_t b = (pb < lp + LEAF_BITS - 1 ? pb :
						       lp + LEAF_BITS - 1) - lp;
		uint64_t wa = a / 64, wb = b / 64;

		for (uint64_t sw = wa / 64; sw <= wb / 64; sw++) {
			_Atomic uint64_t *sp = &leaf->sum[sw];
			uint64_t sm = bits(sw == wa / 64 ? wa % 64 : 0,
					   sw == wb / 64 ? wb % 64 : 63);
			uint64_t cur;

			if (!(atomic_load_explicit(sp, memory_order_relaxed) &
			      sm))
				continue;
			cur = atomic_fetch_and(sp, ~sm) & sm;
			while (cur) {
				uint64_t w = sw * 64 +
					     (uint64_t)__builtin_ctzll(cur);
				uint64_t wp = lp + w * 64, o = w * 64;
				uint64_t in = bits(a > o ? a - o : 0,
						   b < o + 63 ? b - o : 63);
				uint64_t clr = in, old;

				cur &= cur - 1;
				if (keep_a - wp < 64)
					clr &= ~(1ull << (keep_a - wp));
				if (keep_b - wp < 64)
					clr &= ~(1ull << (keep_b - wp));
				if (clr == ~0ull)
					old = atomic_exchange(&leaf->w[w], 0);
				else
					old = atomic_fetch_and(&leaf->w[w],
							       ~clr);
				if (old & ~clr)
					atomic_fetch_or(sp, 1ull << (w % 64));
				if (old & in)
					emit(k, wp, old & in);
			}
		}
		if (li++ == limax)
			break;
	}
	if (nb)
		drain(batch, at, nb, k);
}

/*
 * Log pages pa..pb cover the report.  Report pages at least as large
 * cover whole log pages: all are cleared.  Smaller ones may cover the
 * edge log pages in part: those are reported and kept.
 */
static void report_take(struct dirty_log *log, unsigned int rs,
			uint64_t iova, uint64_t len, uint64_t *out,
			size_t bytes)
{
	struct sink k = {
		.out = out,
		.iova = iova,
		.last = iova + len - 1,
		.pa = iova >> log->shift,
		.s = log->shift,
		.rs = rs,
	};
	uint64_t pmask = (1ull << k.s) - 1;
	uint64_t pb = k.last >> k.s;

	memset(out, 0, bytes);
	take_range(log, k.pa, pb, iova & pmask ? k.pa : UINT64_MAX,
		   (k.last + 1) & pmask ? pb : UINT64_MAX, &k);
}

/* Whether [iova, last] lies inside the logged ranges. */
static bool covered(const struct dirty_log *log, uint64_t iova, uint64_t last)
{
	uint32_t i;

	if (!log->nr)
		return true;
	i = range_find(log, iova);
	return i < log->nr && log->r[i].first <= iova && log->r[i].last >= last;
}

int dirty_report(struct uvfio_dev *dev,
		 const struct vfio_user_dma_logging_report *r,
		 uint64_t *bitmap, size_t bytes)
{
	struct dirty_log *log;
	unsigned int rs;
	uint64_t n;
	size_t need;
	int err;

	err = report_check(r, &rs, &n);
	if (err)
		return err;
	need = dirty_report_bytes(r);
	if (!need || bytes < need)
		return -EINVAL;
	/* Against START/STOP; whole leaves are swapped out (see above). */
	pthread_mutex_lock(&ctl_lock);
	log = log_get(dev);
	if (!log || !covered(log, r->iova, r->iova + r->length - 1)) {
		err = -EINVAL;
	} else if (atomic_load(&log->lost)) {
		/* A mark went unrecorded: the client must assume all dirty. */
		err = -ENOMEM;
	} else {
		report_take(log, rs, r->iova, r->length, bitmap, need);
	}
	pthread_mutex_unlock(&ctl_lock);
	if (!err && bytes > need)
		memset((uint8_t *)bitmap + need, 0, bytes - need);
	return err;
}
