// SPDX-License-Identifier: MIT
/*
 * Copies to and from client memory: through the mapping where the client
 * gave an fd, otherwise with DMA_READ/DMA_WRITE requests.  Those go over
 * the twin socket when there is one (from any thread, one request at a
 * time); without it they share the main socket with the client's own
 * requests, so only the dispatch thread may send them, and commands that
 * arrive while it waits for the reply are kept for later.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "priv.h"

static int defer(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct deferred *d = malloc(sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->next = NULL;
	d->msg = *msg;
	err = uvfio_msg_detach(&d->msg);
	if (err) {
		free(d);
		return err;
	}
	*dev->deferred_tail = d;
	dev->deferred_tail = &d->next;
	return 0;
}

/* Waits on ch for the reply to id; keeps or drops whatever else comes. */
static int wait_reply(struct uvfio_dev *dev, struct uvfio_chan *ch,
		      uint16_t id, uint16_t cmd, struct uvfio_msg *rep)
{
	for (;;) {
		int r = uvfio_chan_recv(ch, rep, true);

		if (r == -EINTR || r == 0)
			continue;
		if (r < 0)
			return r;
		if ((rep->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
		    VFIO_USER_F_TYPE_REPLY) {
			if (rep->hdr.msg_id == id && rep->hdr.cmd == cmd)
				return 0;
			uvfio_msg_release(rep);
			continue;
		}
		/* A client command: the main socket only. */
		if (ch == &dev->chan) {
			r = defer(dev, rep);
			if (r) {
				uvfio_msg_release(rep);
				return r;
			}
		} else {
			uvfio_msg_release(rep);
		}
	}
}

/*
 * Sends a server-to-client request and waits for its reply, which the
 * caller must release.  A reply with the error flag gives -errno.
 */
int s2c_request(struct uvfio_dev *dev, uint16_t cmd, const struct iovec *iov,
		int iovcnt, struct uvfio_msg *rep)
{
	struct uvfio_chan *ch;
	struct vfio_user_header h = { .cmd = cmd };
	bool nested;
	int err;

	if (!dev->connected || !dev->negotiated)
		return -ENOTCONN;
	for (int i = 0; i < iovcnt; i++)
		h.msg_size += (uint32_t)iov[i].iov_len;
	h.msg_size += sizeof(h);
	/* has_twin changes only under this lock (see conn_drop). */
	pthread_mutex_lock(&dev->s2c_lock);
	nested = !dev->has_twin;
	if (nested && !pthread_equal(pthread_self(), dev->dispatcher)) {
		pthread_mutex_unlock(&dev->s2c_lock);
		return -EWOULDBLOCK;
	}
	ch = nested ? &dev->chan : &dev->twin;
	h.msg_id = dev->s2c_id++;
	err = uvfio_chan_sendv(ch, &h, iov, iovcnt, NULL, 0);
	if (!err) {
		/* On the main socket, keep the message being handled. */
		ch->nest += nested;
		err = wait_reply(dev, ch, h.msg_id, cmd, rep);
		ch->nest -= nested;
	}
	pthread_mutex_unlock(&dev->s2c_lock);
	if (err)
		return err;
	if (rep->hdr.flags & VFIO_USER_F_ERROR) {
		err = rep->hdr.error_no && rep->hdr.error_no < 4096
			      ? -(int)rep->hdr.error_no
			      : -EIO;
		uvfio_msg_release(rep);
		return err;
	}
	if (rep->nfds) {
		uvfio_msg_release(rep);
		return -EPROTO;
	}
	return 0;
}

static size_t chunk_size(struct uvfio_dev *dev)
{
	size_t n = dev->peer.max_data_xfer_size;

	return n < dev->caps.max_data_xfer_size ? n
						: dev->caps.max_data_xfer_size;
}

static int inband_read(struct uvfio_dev *dev, uint64_t iova, uint8_t *buf,
		       size_t len)
{
	while (len) {
		size_t n = len < chunk_size(dev) ? len : chunk_size(dev);
		struct vfio_user_dma_region_access req = { iova, n }, got;
		struct iovec iov = { &req, sizeof(req) };
		struct uvfio_msg rep;
		int err = s2c_request(dev, VFIO_USER_DMA_READ, &iov, 1, &rep);

		if (err)
			return err;
		if (rep.size != sizeof(got) + n)
			err = -EPROTO;
		if (!err) {
			memcpy(&got, rep.payload, sizeof(got));
			if (got.addr != iova || got.count != n)
				err = -EPROTO;
			else
				memcpy(buf, (uint8_t *)rep.payload + sizeof(got),
				       n);
		}
		uvfio_msg_release(&rep);
		if (err)
			return err;
		iova += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static int inband_write(struct uvfio_dev *dev, uint64_t iova,
			const uint8_t *buf, size_t len)
{
	while (len) {
		size_t n = len < chunk_size(dev) ? len : chunk_size(dev);
		struct vfio_user_dma_region_access req = { iova, n };
		struct vfio_user_dma_write_reply got;
		struct iovec iov[2] = { { &req, sizeof(req) },
					{ (void *)buf, n } };
		struct uvfio_msg rep;
		int err = s2c_request(dev, VFIO_USER_DMA_WRITE, iov, 2, &rep);

		if (err)
			return err;
		if (rep.size != sizeof(got))
			err = -EPROTO;
		if (!err) {
			memcpy(&got, rep.payload, sizeof(got));
			if (got.addr != iova || got.count != n)
				err = -EPROTO;
		}
		uvfio_msg_release(&rep);
		if (err)
			return err;
		iova += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static int xfer(struct uvfio_dev *dev, uint64_t iova, void *buf, size_t len,
		bool wr)
{
	uint32_t access = wr ? UVFIO_DMA_WRITE : UVFIO_DMA_READ;
	struct uvfio_dma_ref ref;
	int err;

	if (!len)
		return 0;
	err = uvfio_dma_get(dev, iova, len, access, &ref);
	if (!err) {
		if (wr)
			memcpy(ref.ptr, buf, len);
		else
			memcpy(buf, ref.ptr, len);
		uvfio_dma_put(dev, &ref);
		return 0;
	}
	/* -EFAULT: the window exists, with the rights, but has no fd. */
	if (err != -EFAULT)
		return err;
	return wr ? inband_write(dev, iova, buf, len)
		  : inband_read(dev, iova, buf, len);
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
