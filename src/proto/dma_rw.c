// SPDX-License-Identifier: MIT
#include "dma_rw.h"

#include <errno.h>
#include <string.h>

size_t vfio_user_dma_rw_head(void *out, uint64_t addr, uint64_t count,
			     bool count32)
{
	uint8_t *b = out;

	memset(b, 0, VFIO_USER_DMA_RW_FRAME);
	memcpy(b, &addr, sizeof(addr));
	if (count32) {
		uint32_t c = (uint32_t)count;

		memcpy(b + 8, &c, sizeof(c));
		return 12;
	}
	memcpy(b + 8, &count, sizeof(count));
	return 16;
}

int vfio_user_dma_read_reply(const void *p, size_t size, uint64_t addr,
			     uint64_t count, bool count32)
{
	const uint8_t *b = p;
	uint64_t a, c = 0;

	if (count > SIZE_MAX - VFIO_USER_DMA_RW_FRAME ||
	    size != VFIO_USER_DMA_RW_FRAME + count)
		return -EPROTO;
	memcpy(&a, b, sizeof(a));
	memcpy(&c, b + 8, count32 ? 4 : 8);
	if (a != addr || c != count)
		return -EPROTO;
	return count32 ? 12 : 16;
}

int vfio_user_dma_write_reply(const void *p, size_t size, uint64_t addr,
			      uint64_t count)
{
	const uint8_t *b = p;
	uint64_t a, c = 0;

	if (size == 0)
		return 0;
	if (size != 12 && size != 16)
		return -EPROTO;
	memcpy(&a, b, sizeof(a));
	memcpy(&c, b + 8, size - 8);
	return a == addr && c == count ? 0 : -EPROTO;
}
