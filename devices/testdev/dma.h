/* SPDX-License-Identifier: MIT */
/*
 * The device's DMA engine: streams host memory through the DMA-window
 * API one chunk at a time, zero-copy where the window is mapped with an
 * fd and through a scratch buffer (TD_CHUNK bytes) otherwise.  Callable
 * from the dispatch thread or a worker; the caller owns the scratch.
 * Each returns 0 or a negative errno from the first failing chunk.
 */
#ifndef TESTDEV_DMA_H
#define TESTDEV_DMA_H

#include <stdbool.h>
#include <stdint.h>

#include <uvfio/server.h>

#define TD_CHUNK (64u << 10)

/* CRC-32 (crc32_le, seed ~0) of size bytes at iova. */
int td_dma_crc(struct uvfio_dev *dev, uint64_t iova, uint64_t size,
	       void *scratch, uint32_t *crc);

/* Writes size pseudo-random bytes from seed at iova; *crc is theirs. */
int td_dma_fill(struct uvfio_dev *dev, uint64_t iova, uint64_t size,
		uint64_t seed, void *scratch, uint32_t *crc);

/*
 * Copies size bytes from src to dst (overlap is undefined, as with
 * memcpy); on failure *dst_failed tells which side it was.
 */
int td_dma_copy(struct uvfio_dev *dev, uint64_t src, uint64_t dst,
		uint64_t size, void *scratch, bool *dst_failed);

/* Whether err blames the address range rather than the transport. */
bool td_dma_bad_addr(int err);

#endif
