// SPDX-License-Identifier: MIT
/*
 * GSI allocator: a bitmap of [0, limit) where [0, base) is reserved (the
 * pin GSIs).  Allocation takes the lowest free number so that freed
 * numbers are reused first and the table stays dense.
 */
#include <errno.h>
#include <stdlib.h>

#include "irq/priv.h"

#define WORD_BITS 64u

int irqr_gsi_init(struct irqr_gsi_map *m, unsigned int base, unsigned int limit)
{
	size_t words = (limit + WORD_BITS - 1) / WORD_BITS;

	if (base > limit)
		return -EINVAL;
	m->bits = calloc(words ? words : 1, sizeof(*m->bits));
	if (!m->bits)
		return -ENOMEM;
	m->base = base;
	m->limit = limit;
	m->hint = base;
	return 0;
}

void irqr_gsi_fini(struct irqr_gsi_map *m)
{
	free(m->bits);
	m->bits = NULL;
}

static bool gsi_test(const struct irqr_gsi_map *m, unsigned int n)
{
	return m->bits[n / WORD_BITS] & (1ull << (n % WORD_BITS));
}

int irqr_gsi_alloc(struct irqr_gsi_map *m)
{
	unsigned int n = m->hint;

	while (n < m->limit) {
		/* Bits below n count as taken. */
		uint64_t w = m->bits[n / WORD_BITS] |
			     ((1ull << (n % WORD_BITS)) - 1);

		if (~w) {
			n = n / WORD_BITS * WORD_BITS + __builtin_ctzll(~w);
			break;
		}
		n = (n / WORD_BITS + 1) * WORD_BITS;
	}
	if (n >= m->limit) {
		m->hint = m->limit;
		return -ENOSPC;
	}
	m->bits[n / WORD_BITS] |= 1ull << (n % WORD_BITS);
	m->hint = n + 1;
	return (int)n;
}

/* Takes a given number (the direct policy). */
int irqr_gsi_claim(struct irqr_gsi_map *m, unsigned int gsi)
{
	if (gsi >= m->limit)
		return -ERANGE;
	if (gsi < m->base || gsi_test(m, gsi))
		return -EEXIST;
	m->bits[gsi / WORD_BITS] |= 1ull << (gsi % WORD_BITS);
	return 0;
}

void irqr_gsi_free(struct irqr_gsi_map *m, unsigned int gsi)
{
	if (gsi < m->base || gsi >= m->limit)
		return;
	m->bits[gsi / WORD_BITS] &= ~(1ull << (gsi % WORD_BITS));
	if (gsi < m->hint)
		m->hint = gsi;
}
