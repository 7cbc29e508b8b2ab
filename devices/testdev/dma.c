// SPDX-License-Identifier: MIT
/*
 * Each chunk first tries uvfio_dma_get(): a mapped window gives a pointer
 * and costs no copy.  Anything else (an fd-less window, or a chunk that
 * straddles two windows) goes through uvfio_dma_read/write, whose answer
 * then decides, except that a clear "not mapped"/"no rights" from the
 * lookup wins over a transport error from the fallback.
 */
#include <errno.h>
#include <string.h>

#include "proto/crc32.h"
#include "dma.h"

struct chunk {
	struct uvfio_dma_ref ref;
	bool held;
};

bool td_dma_bad_addr(int err)
{
	return err == -ENOENT || err == -EACCES || err == -EFAULT ||
	       err == -EINVAL || err == -EOVERFLOW;
}

static int pick_err(int get_err, int io_err)
{
	if ((get_err == -ENOENT || get_err == -EACCES) &&
	    !td_dma_bad_addr(io_err))
		return get_err;
	return io_err;
}

/* The source bytes of one chunk: in the window, or copied to scratch. */
static int src_get(struct uvfio_dev *dev, uint64_t iova, size_t len,
		   void *scratch, struct chunk *c, const void **data)
{
	int err, io_err;

	c->held = false;
	err = uvfio_dma_get(dev, iova, len, UVFIO_DMA_READ, &c->ref);
	if (!err) {
		c->held = true;
		*data = c->ref.ptr;
		return 0;
	}
	io_err = uvfio_dma_read(dev, iova, scratch, len);
	if (io_err)
		return pick_err(err, io_err);
	*data = scratch;
	return 0;
}

static void src_put(struct uvfio_dev *dev, struct chunk *c)
{
	if (c->held)
		uvfio_dma_put(dev, &c->ref);
	c->held = false;
}

static int dst_write(struct uvfio_dev *dev, uint64_t iova, const void *data,
		     size_t len)
{
	struct uvfio_dma_ref ref;
	int err, io_err;

	err = uvfio_dma_get(dev, iova, len, UVFIO_DMA_WRITE, &ref);
	if (!err) {
		/* data may be the source window itself (COPY). */
		memmove(ref.ptr, data, len);
		uvfio_dma_put(dev, &ref);
		return 0;
	}
	io_err = uvfio_dma_write(dev, iova, data, len);
	return io_err ? pick_err(err, io_err) : 0;
}

static size_t chunk_len(uint64_t left)
{
	return left < TD_CHUNK ? (size_t)left : TD_CHUNK;
}

int td_dma_crc(struct uvfio_dev *dev, uint64_t iova, uint64_t size,
	       void *scratch, uint32_t *crc)
{
	uint32_t c = ~0u;
	uint64_t done = 0;

	while (done < size) {
		size_t n = chunk_len(size - done);
		const void *data;
		struct chunk ch;
		int err = src_get(dev, iova + done, n, scratch, &ch, &data);

		if (err)
			return err;
		c = crc32_le(c, data, n);
		src_put(dev, &ch);
		done += n;
	}
	*crc = c;
	return 0;
}

/* xorshift64*: fast, and plenty for "data the host cannot predict". */
static uint64_t prng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void prng_fill(uint64_t *s, uint8_t *p, size_t len)
{
	uint64_t v;

	for (; len >= sizeof(v); p += sizeof(v), len -= sizeof(v)) {
		v = prng_next(s);
		memcpy(p, &v, sizeof(v));
	}
	if (len) {
		v = prng_next(s);
		memcpy(p, &v, len);
	}
}

int td_dma_fill(struct uvfio_dev *dev, uint64_t iova, uint64_t size,
		uint64_t seed, void *scratch, uint32_t *crc)
{
	/* xorshift must not start from 0; any other seed is fine. */
	uint64_t s = seed ? seed : 0x9e3779b97f4a7c15ull;
	uint32_t c = ~0u;
	uint64_t done = 0;

	while (done < size) {
		size_t n = chunk_len(size - done);
		int err;

		/* Generated locally so the CRC is of what we sent. */
		prng_fill(&s, scratch, n);
		c = crc32_le(c, scratch, n);
		err = dst_write(dev, iova + done, scratch, n);
		if (err)
			return err;
		done += n;
	}
	*crc = c;
	return 0;
}

int td_dma_copy(struct uvfio_dev *dev, uint64_t src, uint64_t dst,
		uint64_t size, void *scratch, bool *dst_failed)
{
	uint64_t done = 0;

	*dst_failed = false;
	while (done < size) {
		size_t n = chunk_len(size - done);
		const void *data;
		struct chunk ch;
		int err = src_get(dev, src + done, n, scratch, &ch, &data);

		if (err)
			return err;
		err = dst_write(dev, dst + done, data, n);
		src_put(dev, &ch);
		if (err) {
			*dst_failed = true;
			return err;
		}
		done += n;
	}
	return 0;
}
