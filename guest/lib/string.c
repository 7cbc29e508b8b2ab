// SPDX-License-Identifier: MIT
/* The few libc string functions that compilers emit calls to. */
#include "guest.h"

void *memset(void *s, int c, size_t n)
{
	void *dst = s;

	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
	return s;
}

/* One instruction, so that copies cost few emulated instructions. */
void *memcpy(void *d, const void *s, size_t n)
{
	void *dst = d;

	__asm__ volatile("rep movsb"
			 : "+D"(dst), "+S"(s), "+c"(n)
			 :
			 : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	if (dp <= sp || dp >= sp + n) {
		while (n--)
			*dp++ = *sp++;
	} else {
		while (n--)
			dp[n] = sp[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

void fill_random(uint64_t *state, uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t v;

		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		v = *state;
		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}
