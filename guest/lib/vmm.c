// SPDX-License-Identifier: MIT
/* The VMM's statistics port: select a counter, read its halves. */
#include "guest.h"

uint64_t vmm_stat(uint32_t sel)
{
	uint32_t lo, hi;

	outl(PORT_STATS_SEL, sel);
	lo = inl(PORT_STATS_SEL);
	hi = inl(PORT_STATS_HI);
	return (uint64_t)hi << 32 | lo;
}
