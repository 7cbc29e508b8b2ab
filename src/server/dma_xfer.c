// SPDX-License-Identifier: MIT
/*
 * Copies to and from client memory: through the mapping where the client
 * gave an fd, otherwise with DMA_READ/DMA_WRITE requests (s2c.c carries
 * them) in the layout the client speaks (proto/dma_rw.h).
 */
#include <errno.h>
#include <string.h>

#include "dirty.h"
#include "priv.h"
#include "proto/dma_rw.h"
#include "proto/limits.h"

int s2c_check_reply(struct uvfio_dev *dev, struct s2c_req *rq,
		    const struct uvfio_msg *rep)
{
	int off;

	if (rep->hdr.flags & VFIO_USER_F_ERROR)
		return rep->hdr.error_no && rep->hdr.error_no < 4096 ?
			       -(int)rep->hdr.error_no :
			       -EIO;
	if (rep->nfds || rep->fds_truncated || rep->oversize)
		return -EPROTO;
	if (rq->cmd == VFIO_USER_DMA_WRITE)
		return vfio_user_dma_write_reply(rep->payload, rep->size,
						 rq->iova, rq->count);
	off = vfio_user_dma_read_reply(rep->payload, rep->size, rq->iova,
				       rq->count, dev->count32);
	if (off < 0)
		return off;
	memcpy(rq->dst, (const uint8_t *)rep->payload + off, rq->count);
	return 0;
}

static size_t chunk_size(struct uvfio_dev *dev, bool wr)
{
	size_t n = dev->peer.max_data_xfer_size;

	if (n > dev->caps.max_data_xfer_size)
		n = dev->caps.max_data_xfer_size;
	if (!wr && dev->count32 && n > UVFIO_QEMU_DMA_READ_CHUNK)
		n = UVFIO_QEMU_DMA_READ_CHUNK;
	return n;
}

static int inband(struct uvfio_dev *dev, uint64_t iova, uint8_t *buf,
		  size_t len, bool wr)
{
	static const uint8_t pad[4];
	size_t max = chunk_size(dev, wr);

	while (len) {
		size_t n = len < max ? len : max;
		uint8_t head[VFIO_USER_DMA_RW_FRAME];
		size_t hl = vfio_user_dma_rw_head(head, iova, n, dev->count32);
		struct s2c_req rq = {
			.cmd = wr ? VFIO_USER_DMA_WRITE : VFIO_USER_DMA_READ,
			.iova = iova,
			.count = (uint32_t)n,
			.dst = buf,
		};
		/* A read asks with the whole frame; a write frames its data. */
		struct iovec iov[3] = {
			{ head, wr ? hl : sizeof(head) },
			{ buf, n },
			{ (void *)pad, sizeof(head) - hl },
		};
		int err = s2c_call(dev, &rq, iov, wr ? 3 : 1);

		if (err)
			return err;
		iova += n;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * One pass through the migration DMA gate for the whole copy; writes are
 * marked dirty, in-band ones too (the client tracks those itself, but
 * over-reporting is harmless), even when they fail part way.
 */
static int xfer(struct uvfio_dev *dev, uint64_t iova, void *buf, size_t len,
		bool wr)
{
	int err;

	if (!len)
		return 0;
	if (mig_dma_enter(dev))
		return -EBUSY;
	err = dma_copy(dev, iova, buf, len, wr);
	/* -EFAULT: the window exists, with the rights, but has no fd. */
	if (err == -EFAULT) {
		err = inband(dev, iova, buf, len, wr);
		if (wr)
			dirty_mark(dev, iova, len);
	}
	mig_dma_exit(dev);
	return err;
}

int uvfio_dma_read(struct uvfio_dev *dev, uint64_t iova, void *buf,
		   size_t len)
{
	return xfer(dev, iova, buf, len, false);
}

int uvfio_dma_write(struct uvfio_dev *dev, uint64_t iova, const void *buf,
		    size_t len)
{
	return xfer(dev, iova, (void *)buf, len, true);
}
