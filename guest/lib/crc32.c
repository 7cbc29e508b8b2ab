// SPDX-License-Identifier: MIT
/*
 * CRC-32 as pci_endpoint_test computes it: reflected polynomial
 * 0xedb88320, the caller's initial value, no final xor.  Table driven:
 * ring-0 guest code is emulated here, so instructions are dear.
 */
#include "guest.h"

static uint32_t table[256];
static bool table_ready;

static void make_table(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
		table[i] = c;
	}
	table_ready = true;
}

uint32_t crc32_le(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!table_ready)
		make_table();
	while (len--)
		crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
	return crc;
}
