// SPDX-License-Identifier: MIT
/*
 * The range B+tree of itree.h.
 *
 * Separators: key[i] (i > 0) of an inner node is a boundary: every range
 * under child i starts at or above it, every range under children before
 * i ends below it.  So a lookup goes down one child per level, never
 * back.  key[0] of an inner node is never read.  A range inserted just
 * below a boundary and reaching past it (possible once the range that
 * set the boundary is gone) raises the boundary above its end.
 *
 * Published nodes do not change, except for child pointers, which a
 * change that keeps a node's shape swaps in place with a release store.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "itree.h"
#include "proto/hot.h"

#define F ITREE_FANOUT
_Static_assert(F == 16, "slot() searches 16 keys");
/* Depth grows only by splits of full nodes: 8^15 inserts at least. */
#define MAX_DEPTH ITREE_MAX_DEPTH
/* Above dma.c's reclaim batch, so a steady map/unmap loop never allocates. */
#define POOL_MAX 320

/* Line-aligned: the keys span two lines, not three. */
struct itree_node {
	uint64_t key[F]; /* unused slots: UINT64_MAX */
	uint32_t n;
	bool leaf;
	union {
		struct {
			uint64_t last[F];
			void *val[F];
			uintptr_t data[F];
		};
		struct itree_node *child[F];
	};
	struct itree_node *next; /* retired list, spare pool */
} __attribute__((aligned(64)));

HOT static struct itree_node *child_load(const struct itree_node *nd,
					 unsigned int i)
{
	return __atomic_load_n(&nd->child[i], __ATOMIC_ACQUIRE);
}

/* The largest i < n with key[i] <= addr; 0 when there is none. */
static inline unsigned int slot(const struct itree_node *nd, uint64_t addr)
{
	unsigned int i = 0;

	/* The first compare reads the second line; this fetches the first. */
	__builtin_prefetch(&nd->key[0]);
	i += nd->key[i + 8] <= addr ? 8 : 0;
	i += nd->key[i + 4] <= addr ? 4 : 0;
	i += nd->key[i + 2] <= addr ? 2 : 0;
	i += nd->key[i + 1] <= addr ? 1 : 0;
	return i < nd->n ? i : nd->n - 1;
}

void itree_init(struct itree *t)
{
	memset(t, 0, sizeof(*t));
	atomic_init(&t->root, NULL);
}

HOT int itree_find(const struct itree *t, uint64_t addr, struct itree_hit *hit)
{
	const struct itree_node *nd =
		atomic_load_explicit(&t->root, memory_order_acquire);
	unsigned int i;

	if (!nd)
		return 0;
	while (!nd->leaf)
		nd = child_load(nd, slot(nd, addr));
	i = slot(nd, addr);
	if (nd->key[i] > addr || nd->last[i] < addr)
		return 0;
	hit->start = nd->key[i];
	hit->last = nd->last[i];
	hit->val = nd->val[i];
	hit->data = nd->data[i];
	return 1;
}

/* Nodes */

/*
 * A change takes its nodes from the spare pool, filled before it begins,
 * so it cannot fail half-way.
 */
HOT static int pool_fill(struct itree *t, size_t need)
{
	while (t->npool < need) {
		struct itree_node *nd = aligned_alloc(64, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		nd->next = t->pool;
		t->pool = nd;
		t->npool++;
	}
	return 0;
}

HOT static struct itree_node *node_take(struct itree *t)
{
	struct itree_node *nd = t->pool;

	t->pool = nd->next;
	t->npool--;
	return nd;
}

HOT static void node_retire(struct itree *t, struct itree_node *nd)
{
	nd->next = t->retired;
	t->retired = nd;
	t->nretired++;
}

/*
 * Only the keys need filling: slot() reads unused ones (UINT64_MAX sorts
 * past every address), everything else is read below n only.
 */
HOT static struct itree_node *node_new(struct itree *t, bool leaf)
{
	struct itree_node *nd = node_take(t);

	memset(nd->key, 0xff, sizeof(nd->key));
	nd->n = 0;
	nd->leaf = leaf;
	return nd;
}

/* Appends cnt entries of src from i to dst. */
HOT static void put_entries(struct itree_node *dst,
			    const struct itree_node *src, unsigned int i,
			    unsigned int cnt)
{
	unsigned int j = dst->n;

	if (!cnt)
		return;
	memcpy(&dst->key[j], &src->key[i], cnt * sizeof(dst->key[0]));
	if (dst->leaf) {
		memcpy(&dst->last[j], &src->last[i],
		       cnt * sizeof(dst->last[0]));
		memcpy(&dst->val[j], &src->val[i], cnt * sizeof(dst->val[0]));
		memcpy(&dst->data[j], &src->data[i],
		       cnt * sizeof(dst->data[0]));
	} else {
		memcpy(&dst->child[j], &src->child[i],
		       cnt * sizeof(dst->child[0]));
	}
	dst->n += cnt;
}

/*
 * An entry to add to a node: a range (leaves) or a child with its
 * separator (inner nodes).
 */
struct entry {
	uint64_t key;
	uint64_t last;
	void *val;
	uintptr_t data;
	struct itree_node *child;
};

HOT static void put_new(struct itree_node *dst, const struct entry *e)
{
	unsigned int j = dst->n++;

	dst->key[j] = e->key;
	if (dst->leaf) {
		dst->last[j] = e->last;
		dst->val[j] = e->val;
		dst->data[j] = e->data;
	} else {
		dst->child[j] = e->child;
	}
}

/*
 * Appends entries [from, to) of the sequence src with e inserted after
 * entry pos (pos -1: first, e NULL: none).
 */
HOT static void put_seq(struct itree_node *dst, const struct itree_node *src,
			int pos, const struct entry *e, unsigned int from,
			unsigned int to)
{
	unsigned int at = e ? (unsigned int)(pos + 1) : ~0u; /* e's index */

	if (from < at) {
		unsigned int end = to < at ? to : at;

		put_entries(dst, src, from, end - from);
		from = end;
	}
	if (from == at && from < to) {
		put_new(dst, e);
		from++;
	}
	if (from < to)
		put_entries(dst, src, from - (at <= from ? 1 : 0), to - from);
}

/*
 * src with entry at position pos replaced by rep (when rep) and e
 * inserted after it (when e), in one node or split in two: *right is the
 * second half or NULL.  pos == -1 with e: e goes first.
 */
HOT static struct itree_node *rebuild(struct itree *t,
				      const struct itree_node *src, int pos,
				      const struct itree_node *rep,
				      uint64_t rep_key, const struct entry *e,
				      struct itree_node **right)
{
	unsigned int n = src->n + (e ? 1 : 0), half;
	struct itree_node *a, *b;

	a = node_new(t, src->leaf);
	*right = NULL;
	if (n <= F) {
		put_seq(a, src, pos, e, 0, n);
	} else {
		b = node_new(t, src->leaf);
		half = n / 2;
		put_seq(a, src, pos, e, 0, half);
		put_seq(b, src, pos, e, half, n);
		*right = b;
	}
	/* Entry pos keeps its index: e comes after it. */
	if (rep) {
		struct itree_node *in = (unsigned int)pos < a->n ? a : *right;
		unsigned int k = in == a ? (unsigned int)pos : pos - a->n;

		in->child[k] = (struct itree_node *)rep;
		in->key[k] = rep_key;
	}
	return a;
}

/* Changes */

HOT static void descend(struct itree *t, uint64_t addr, struct itree_path *p)
{
	struct itree_path *f = &t->finger;
	struct itree_node *nd;
	uint64_t lo = 0, hi = UINT64_MAX;
	unsigned int d = f->depth;

	if (d && addr >= t->flo && addr <= t->fhi) {
		/* The inner nodes stand; the leaf may be new. */
		for (unsigned int l = 0; l < d - 1; l++) {
			p->nd[l] = f->nd[l];
			p->idx[l] = f->idx[l];
		}
		nd = p->nd[d - 2]->child[p->idx[d - 2]];
		p->nd[d - 1] = nd;
		p->idx[d - 1] = slot(nd, addr);
		p->depth = d;
		return;
	}
	nd = atomic_load_explicit(&t->root, memory_order_relaxed);
	p->depth = 0;
	while (nd) {
		unsigned int i = slot(nd, addr);

		p->nd[p->depth] = nd;
		p->idx[p->depth] = i;
		p->depth++;
		if (nd->leaf)
			break;
		/* Child i takes [key[i], key[i + 1]). */
		if (i && nd->key[i] > lo)
			lo = nd->key[i];
		if (i + 1 < nd->n && nd->key[i + 1] - 1 < hi)
			hi = nd->key[i + 1] - 1;
		nd = nd->child[i];
	}
	f->depth = 0;
	if (p->depth < 2)
		return;
	for (unsigned int l = 0; l < p->depth - 1; l++) {
		f->nd[l] = p->nd[l];
		f->idx[l] = p->idx[l];
	}
	f->depth = p->depth;
	t->flo = lo;
	t->fhi = hi;
}

HOT static uint64_t first_start(const struct itree_node *nd)
{
	while (!nd->leaf)
		nd = nd->child[0];
	return nd->key[0];
}

/* Puts nd where path node lvl was: in its parent, or as the root. */
HOT static void publish(struct itree *t, const struct itree_path *p,
			unsigned int lvl, struct itree_node *nd)
{
	if (!lvl)
		atomic_store_explicit(&t->root, nd, memory_order_release);
	else
		__atomic_store_n(&p->nd[lvl - 1]->child[p->idx[lvl - 1]], nd,
				 __ATOMIC_RELEASE);
}

/*
 * The level whose boundary after the path must rise above last for a
 * range ending at last placed last in the path's leaf: -1 when none
 * must, -2 when a range behind that boundary overlaps.
 */
HOT static int boundary_after(const struct itree_path *p, uint64_t last)
{
	for (int lvl = (int)p->depth - 2; lvl >= 0; lvl--) {
		const struct itree_node *a = p->nd[lvl];
		unsigned int j = p->idx[lvl];

		if (j + 1 == a->n)
			continue;
		if (a->key[j + 1] > last)
			return -1;
		return first_start(a->child[j + 1]) <= last ? -2 : lvl;
	}
	return -1;
}

/*
 * Whether [start, last] fits beside the ranges of the path p went down
 * for start: 0, or -EEXIST.  *raise: the level whose boundary after the
 * path must rise above last, or -1.
 */
HOT static int fits(const struct itree_path *p, uint64_t start, uint64_t last,
		    int *raise)
{
	const struct itree_node *leaf = p->nd[p->depth - 1];
	unsigned int i = p->idx[p->depth - 1];
	bool after = leaf->key[i] <= start;

	*raise = -1;
	/* By the boundaries, the range before start is in this leaf. */
	if (after && leaf->last[i] >= start)
		return -EEXIST;
	if (!after && leaf->key[i] <= last)
		return -EEXIST; /* i is 0: the range goes first */
	if (after && i + 1 < leaf->n && leaf->key[i + 1] <= last)
		return -EEXIST;
	if (after && i + 1 == leaf->n) {
		*raise = boundary_after(p, last);
		if (*raise == -2)
			return -EEXIST;
	}
	return 0;
}

HOT int itree_check(struct itree *t, uint64_t start, uint64_t last,
		    struct itree_path *p)
{
	struct itree_path own;

	if (last < start)
		return -EINVAL;
	if (!p)
		p = &own;
	descend(t, start, p);
	p->raise = -1;
	return p->depth ? fits(p, start, last, &p->raise) : 0;
}

HOT int itree_insert(struct itree *t, uint64_t start, uint64_t last, void *val,
		     uintptr_t data)
{
	struct itree_path p;
	int err = itree_check(t, start, last, &p);

	return err ? err : itree_insert_at(t, &p, start, last, val, data);
}

/* Two nodes a level and a root, with one left for a removal. */
HOT int itree_reserve(struct itree *t, const struct itree_path *p)
{
	return pool_fill(t, 2 * p->depth + 2);
}

HOT int itree_insert_at(struct itree *t, const struct itree_path *p,
			uint64_t start, uint64_t last, void *val,
			uintptr_t data)
{
	const struct entry e = { start, last, val, data, NULL };
	struct itree_node *leaf, *nd, *right;
	int raise = p->raise, lvl;
	unsigned int i;

	if (itree_reserve(t, p))
		return -ENOMEM;
	if (!p->depth) {
		nd = node_new(t, true);
		put_new(nd, &e);
		atomic_store_explicit(&t->root, nd, memory_order_release);
		t->finger.depth = 0;
		t->n++;
		return 0;
	}
	leaf = p->nd[p->depth - 1];
	i = p->idx[p->depth - 1];
	nd = rebuild(t, leaf, leaf->key[i] <= start ? (int)i : -1, NULL, 0, &e,
		     &right);
	for (lvl = (int)p->depth - 1; lvl > 0; lvl--) {
		struct itree_node *parent = p->nd[lvl - 1];
		unsigned int j = p->idx[lvl - 1];
		struct entry up = { 0 };
		struct itree_node *np, *nright;

		if (!right && raise < 0)
			break; /* the parent keeps its shape */
		if (right) {
			up.key = right->key[0];
			up.child = right;
		}
		np = rebuild(t, parent, (int)j, nd, parent->key[j],
			     right ? &up : NULL, &nright);
		if (raise == lvl - 1) {
			/* The boundary after the new range, wherever it is. */
			unsigned int k = j + 1 + (right ? 1 : 0);

			if (k < np->n)
				np->key[k] = last + 1;
			else
				nright->key[k - np->n] = last + 1;
			raise = -1;
		}
		node_retire(t, p->nd[lvl]);
		nd = np;
		right = nright;
	}
	if (right) {
		/* The root split: lvl is 0. */
		struct itree_node *root = node_new(t, false);
		const struct entry a = { .child = nd };
		const struct entry b = { .key = right->key[0], .child = right };

		put_new(root, &a);
		put_new(root, &b);
		nd = root;
	}
	/* Anything but a leaf swapped in its parent moves the finger. */
	if (lvl != (int)p->depth - 1 || !lvl || right)
		t->finger.depth = 0;
	publish(t, p, (unsigned int)lvl, nd);
	node_retire(t, p->nd[lvl]);
	t->n++;
	return 0;
}

HOT int itree_lookup(struct itree *t, uint64_t start, uint64_t last,
		     struct itree_path *p, struct itree_hit *hit)
{
	const struct itree_node *leaf;
	unsigned int i;

	descend(t, start, p);
	if (!p->depth)
		return -ENOENT;
	leaf = p->nd[p->depth - 1];
	i = p->idx[p->depth - 1];
	if (leaf->key[i] != start || leaf->last[i] != last)
		return -ENOENT;
	if (hit) {
		hit->start = start;
		hit->last = last;
		hit->val = leaf->val[i];
		hit->data = leaf->data[i];
	}
	return 0;
}

HOT int itree_remove(struct itree *t, uint64_t start, uint64_t last,
		     struct itree_hit *hit)
{
	struct itree_path p;
	int err = itree_lookup(t, start, last, &p, hit);

	return err ? err : itree_remove_at(t, &p);
}

HOT int itree_remove_at(struct itree *t, const struct itree_path *p)
{
	struct itree_node *nd = NULL, *root, *unused;
	int lvl;

	if (pool_fill(t, 1))
		return -ENOMEM;
	/* The lowest node on the path that keeps an entry loses one. */
	lvl = (int)p->depth - 1;
	while (lvl >= 0 && p->nd[lvl]->n == 1)
		lvl--;
	if (lvl >= 0) {
		const struct itree_node *src = p->nd[lvl];

		nd = node_new(t, src->leaf);
		put_entries(nd, src, 0, p->idx[lvl]);
		put_entries(nd, src, p->idx[lvl] + 1, src->n - p->idx[lvl] - 1);
	}
	if (lvl != (int)p->depth - 1 || lvl <= 0)
		t->finger.depth = 0;
	publish(t, p, lvl < 0 ? 0 : (unsigned int)lvl, nd);
	for (unsigned int k = lvl < 0 ? 0 : (unsigned int)lvl; k < p->depth;
	     k++)
		node_retire(t, p->nd[k]);
	/* A root with one child steps aside for it. */
	root = atomic_load_explicit(&t->root, memory_order_relaxed);
	while (root && !root->leaf && root->n == 1) {
		unused = root;
		root = root->child[0];
		atomic_store_explicit(&t->root, root, memory_order_release);
		node_retire(t, unused);
		t->finger.depth = 0;
	}
	t->n--;
	return 0;
}

static void retire_all(struct itree *t, struct itree_node *nd)
{
	if (!nd->leaf)
		for (unsigned int i = 0; i < nd->n; i++)
			retire_all(t, nd->child[i]);
	node_retire(t, nd);
}

void itree_clear(struct itree *t)
{
	struct itree_node *root =
		atomic_load_explicit(&t->root, memory_order_relaxed);

	atomic_store_explicit(&t->root, NULL, memory_order_release);
	if (root)
		retire_all(t, root);
	t->finger.depth = 0;
	t->n = 0;
}

static int walk(const struct itree_node *nd,
		int (*fn)(const struct itree_hit *hit, void *arg), void *arg)
{
	for (unsigned int i = 0; i < nd->n; i++) {
		int r;

		if (nd->leaf) {
			const struct itree_hit h = { nd->key[i], nd->last[i],
						     nd->val[i], nd->data[i] };

			r = fn(&h, arg);
		} else {
			r = walk(nd->child[i], fn, arg);
		}
		if (r)
			return r;
	}
	return 0;
}

int itree_walk(const struct itree *t,
	       int (*fn)(const struct itree_hit *hit, void *arg), void *arg)
{
	const struct itree_node *root =
		atomic_load_explicit(&t->root, memory_order_relaxed);

	return root ? walk(root, fn, arg) : 0;
}

HOT void itree_reclaim(struct itree *t)
{
	while (t->retired) {
		struct itree_node *nd = t->retired;

		t->retired = nd->next;
		if (t->npool < POOL_MAX) {
			nd->next = t->pool;
			t->pool = nd;
			t->npool++;
		} else {
			free(nd);
		}
	}
	t->nretired = 0;
}

static void free_tree(struct itree_node *nd,
		      void (*fn)(void *val, uintptr_t data))
{
	for (unsigned int i = 0; i < nd->n; i++) {
		if (!nd->leaf)
			free_tree(nd->child[i], fn);
		else if (fn)
			fn(nd->val[i], nd->data[i]);
	}
	free(nd);
}

void itree_destroy(struct itree *t, void (*fn)(void *val, uintptr_t data))
{
	struct itree_node *root =
		atomic_load_explicit(&t->root, memory_order_relaxed);

	if (root)
		free_tree(root, fn);
	atomic_store_explicit(&t->root, NULL, memory_order_relaxed);
	t->finger.depth = 0;
	t->n = 0;
	itree_reclaim(t);
	while (t->pool) {
		struct itree_node *nd = t->pool;

		t->pool = nd->next;
		free(nd);
	}
	t->npool = 0;
}
