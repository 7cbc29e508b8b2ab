/* SPDX-License-Identifier: MIT */
/*
 * A B+tree of disjoint ranges [start, last] keyed by start, each with a
 * value pointer and one word of caller data stored inline, so a lookup
 * touches only tree nodes.  Both sides keep their DMA windows in one.
 *
 * Changes copy the nodes they touch and publish them with one pointer
 * store, so lookups may run without a lock, concurrently with one
 * writer: a node a change replaced is not freed but kept on the tree's
 * retired list until the caller knows no lookup can still be in it and
 * calls itree_reclaim().  A caller whose lookups hold the writer's lock
 * calls itree_reclaim() right after each change.
 *
 * Insert and remove are O(log n) (a leaf copy, plus its parents when a
 * node splits or empties); a lookup is a branch-free search of each level.
 */
#ifndef UVFIO_PROTO_ITREE_H
#define UVFIO_PROTO_ITREE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ITREE_FANOUT 16
#define ITREE_MAX_DEPTH 16

struct itree_node;

/* A path from the root: itree_check() finds one, itree_insert_at() uses it. */
struct itree_path {
	struct itree_node *nd[ITREE_MAX_DEPTH];
	unsigned int idx[ITREE_MAX_DEPTH]; /* entry taken at each level */
	unsigned int depth; /* nd[depth - 1] is the leaf */
	int raise; /* the level whose boundary must rise, or -1 */
};

struct itree {
	_Atomic(struct itree_node *) root; /* NULL: empty */
	size_t n; /* ranges */
	struct itree_node *retired; /* replaced, not yet freed */
	size_t nretired;
	struct itree_node *pool; /* spare nodes */
	size_t npool;
	/*
	 * The writer's finger: the inner nodes of the last path it went
	 * down (finger.depth 0: none) and the addresses [flo, fhi] that
	 * path takes.  A change that replaces only a leaf (most do, in its
	 * parent's child pointer) leaves it valid; one that replaces an
	 * inner node drops it.  A map and unmap per I/O at nearby IOVAs
	 * then go down one level instead of all of them.
	 */
	struct itree_path finger;
	uint64_t flo, fhi;
};

/* What a lookup finds: a copy, valid while the range is not removed. */
struct itree_hit {
	uint64_t start;
	uint64_t last;
	void *val;
	uintptr_t data;
};

void itree_init(struct itree *t);
/* Frees every node, retired ones too; calls fn on each value, if given. */
void itree_destroy(struct itree *t, void (*fn)(void *val, uintptr_t data));

/*
 * The range holding addr: 1 and *hit filled in, or 0.  Lock-free (see
 * above); the caller checks that a longer access ends by hit->last.
 */
int itree_find(const struct itree *t, uint64_t addr, struct itree_hit *hit);

/*
 * 0, -EEXIST when [start, last] overlaps a range already in the tree,
 * -EINVAL when last < start, or -ENOMEM; a failed insert changes nothing.
 */
int itree_insert(struct itree *t, uint64_t start, uint64_t last, void *val,
		 uintptr_t data);

/*
 * 0 when [start, last] would insert, else -EEXIST or -EINVAL.  On 0, *p
 * (if given) is where it goes, for an itree_insert_at() before any other
 * change of the tree.
 */
int itree_check(struct itree *t, uint64_t start, uint64_t last,
		struct itree_path *p);

/*
 * The nodes an itree_insert_at() at p takes: 0 or -ENOMEM.  After 0, that
 * insert cannot fail, so a caller can reserve before a change it cannot
 * take back.
 */
int itree_reserve(struct itree *t, const struct itree_path *p);

/*
 * itree_insert() at the place itree_check() found: 0, or -ENOMEM (never
 * after an itree_reserve() at p).
 */
int itree_insert_at(struct itree *t, const struct itree_path *p, uint64_t start,
		    uint64_t last, void *val, uintptr_t data);

/*
 * Removes the range starting at start and ending at last: 0 and *hit
 * filled in (if given), or -ENOENT when no range has exactly those
 * bounds.  A removal takes one spare node, which every insert and
 * itree_reclaim() leave in reserve: it allocates (and may fail with
 * -ENOMEM, changing nothing) only after removals without a reclaim.
 */
int itree_remove(struct itree *t, uint64_t start, uint64_t last,
		 struct itree_hit *hit);

/*
 * The range with exactly these bounds: 0, *hit filled in (if given) and
 * *p where it is, for an itree_remove_at() before any other change of
 * the tree; or -ENOENT.
 */
int itree_lookup(struct itree *t, uint64_t start, uint64_t last,
		 struct itree_path *p, struct itree_hit *hit);

/* itree_remove() of the range itree_lookup() found: 0 or -ENOMEM. */
int itree_remove_at(struct itree *t, const struct itree_path *p);

/* Empties the tree; its nodes are retired. Values are not looked at. */
void itree_clear(struct itree *t);

/*
 * Calls fn on each range in ascending order until fn returns non-zero,
 * which is then returned.  Under the writer's lock only.
 */
int itree_walk(const struct itree *t,
	       int (*fn)(const struct itree_hit *hit, void *arg), void *arg);

/* Frees the retired nodes: no lookup may be in one any longer. */
void itree_reclaim(struct itree *t);

#endif
