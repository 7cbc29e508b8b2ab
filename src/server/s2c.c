// SPDX-License-Identifier: MIT
/*
 * Device-to-client requests (DMA_READ/DMA_WRITE) and the send side of the
 * main socket.
 *
 * One request is outstanding at a time (the slot, s2c_cur).  A client may
 * answer requests only from its own event loop, while it also waits for
 * replies to its own commands (QEMU does both), so the device must keep
 * serving the client while a request is out:
 *
 * - over the twin socket, the requesting thread sends and reads the reply
 *   itself; the dispatch thread is not involved;
 * - over the main socket, the requesting thread sends under send_lock (so
 *   its message never interleaves with a reply of the dispatcher) and
 *   sleeps; the dispatch thread, reading the socket as always, finds the
 *   reply, checks it into the request and wakes the requester.  The
 *   dispatch thread itself cannot wait there (it is the one that reads),
 *   so it gets -EDEADLK.
 *
 * One at a time keeps QEMU safe: it drops what does not fit its socket
 * buffer, so two DMA_READ replies in flight could tear the stream.
 */
#include <errno.h>
#include <sys/socket.h>

#include "priv.h"
#include "proto/dma_rw.h"
#include "proto/hot.h"

void s2c_init(struct uvfio_dev *dev)
{
	uvfio_lock_init(&dev->send_lock);
	pthread_mutex_init(&dev->s2c_lock, NULL);
	pthread_cond_init(&dev->s2c_cond, NULL);
}

void s2c_fini(struct uvfio_dev *dev)
{
	pthread_cond_destroy(&dev->s2c_cond);
	pthread_mutex_destroy(&dev->s2c_lock);
}

HOT int dev_send(struct uvfio_dev *dev, const struct vfio_user_header *h,
		 const struct iovec *iov, int iovcnt, const int *fds,
		 unsigned int nfds)
{
	int err;

	uvfio_lock(&dev->send_lock);
	err = uvfio_chan_sendv(&dev->chan, h, iov, iovcnt, fds, nfds);
	uvfio_unlock(&dev->send_lock);
	return err;
}

void s2c_open(struct uvfio_dev *dev, bool twin)
{
	pthread_mutex_lock(&dev->s2c_lock);
	dev->has_twin = twin;
	dev->s2c_open = true;
	pthread_mutex_unlock(&dev->s2c_lock);
}

void s2c_close(struct uvfio_dev *dev)
{
	pthread_mutex_lock(&dev->s2c_lock);
	dev->s2c_open = false;
	if (dev->s2c_cur && !dev->has_twin && !dev->s2c_cur->done) {
		dev->s2c_cur->err = -ECONNRESET;
		dev->s2c_cur->done = true;
	}
	/* A twin reader fails on its own once its socket is shut down. */
	if (dev->has_twin)
		shutdown(dev->twin.fd, SHUT_RDWR);
	pthread_cond_broadcast(&dev->s2c_cond);
	while (dev->s2c_cur)
		pthread_cond_wait(&dev->s2c_cond, &dev->s2c_lock);
	if (dev->has_twin)
		uvfio_chan_fini(&dev->twin);
	dev->has_twin = false;
	pthread_mutex_unlock(&dev->s2c_lock);
}

static void s2c_complete(struct uvfio_dev *dev, struct s2c_req *rq, int err)
{
	pthread_mutex_lock(&dev->s2c_lock);
	rq->err = err;
	rq->done = true;
	pthread_cond_broadcast(&dev->s2c_cond);
	pthread_mutex_unlock(&dev->s2c_lock);
}

void s2c_route(struct uvfio_dev *dev, const struct uvfio_msg *msg)
{
	struct s2c_req *rq;
	int err;

	pthread_mutex_lock(&dev->s2c_lock);
	rq = dev->s2c_cur;
	/* Late, or the client's mistake: nobody waits for it. */
	if (!rq || rq->done || dev->has_twin ||
	    rq->id != msg->hdr.msg_id || rq->cmd != msg->hdr.cmd) {
		pthread_mutex_unlock(&dev->s2c_lock);
		return;
	}
	/* Its owner now waits for done, even if its send failed. */
	rq->claimed = true;
	pthread_mutex_unlock(&dev->s2c_lock);
	/* rq stays until done: its owner waits for that. */
	err = s2c_check_reply(dev, rq, msg);
	s2c_complete(dev, rq, err);
}

int s2c_take_read(struct uvfio_dev *dev, bool block)
{
	uint8_t head[VFIO_USER_DMA_RW_FRAME];
	struct vfio_user_header h;
	struct s2c_req *rq;
	bool match;
	int r, off;

	r = uvfio_chan_peek(&dev->chan, &h, head, sizeof(head), block);
	if (r <= 0)
		return r == 0 || r == -EINTR ? -EAGAIN : r;
	pthread_mutex_lock(&dev->s2c_lock);
	rq = dev->s2c_cur;
	match = rq && !rq->done && !dev->has_twin &&
		rq->cmd == VFIO_USER_DMA_READ &&
		(h.flags & (VFIO_USER_F_TYPE_MASK | VFIO_USER_F_ERROR)) ==
			VFIO_USER_F_TYPE_REPLY &&
		h.msg_id == rq->id && h.cmd == rq->cmd;
	/* Anything odd goes the ordinary way, which refuses it. */
	off = match ? vfio_user_dma_read_reply(head, h.msg_size - sizeof(h),
					       rq->iova, rq->count,
					       dev->count32) :
		      -EPROTO;
	/*
	 * Not blocking: only when all of it is here, so that a client that
	 * stalls mid-reply cannot hold the caller's loop.
	 */
	if (off >= 0 && !block &&
	    !uvfio_chan_ready(&dev->chan, h.msg_size))
		off = -EAGAIN;
	if (off >= 0)
		rq->claimed = true;
	pthread_mutex_unlock(&dev->s2c_lock);
	if (off < 0)
		return 0;
	r = uvfio_chan_take(&dev->chan, (size_t)off, rq->dst, rq->count);
	if (r && r != -EBADMSG) {
		s2c_complete(dev, rq, -ECONNRESET);
		/* Bytes may be gone: the stream cannot go on. */
		return r == -EAGAIN || r == -EINTR ? -EIO : r;
	}
	s2c_complete(dev, rq, r ? -EPROTO : 0);
	return 1;
}

/* Reads the twin socket until rq's reply; other traffic there is stray. */
static int twin_wait(struct uvfio_dev *dev, struct s2c_req *rq)
{
	struct uvfio_msg rep;

	for (;;) {
		int r = uvfio_chan_recv(&dev->twin, &rep, true);

		if (r == -EINTR || r == 0)
			continue;
		if (r < 0)
			return r;
		if ((rep.hdr.flags & VFIO_USER_F_TYPE_MASK) ==
			    VFIO_USER_F_TYPE_REPLY &&
		    rep.hdr.msg_id == rq->id && rep.hdr.cmd == rq->cmd) {
			r = s2c_check_reply(dev, rq, &rep);
			uvfio_msg_release(&rep);
			return r;
		}
		uvfio_msg_release(&rep);
	}
}

int s2c_call(struct uvfio_dev *dev, struct s2c_req *rq,
	     const struct iovec *iov, int iovcnt)
{
	struct vfio_user_header h = { .cmd = rq->cmd };
	bool twin;
	int err;

	for (int i = 0; i < iovcnt; i++)
		h.msg_size += (uint32_t)iov[i].iov_len;
	h.msg_size += sizeof(h);
	pthread_mutex_lock(&dev->s2c_lock);
	if (dev->s2c_open && !dev->has_twin &&
	    dev_on_dispatcher(dev)) {
		pthread_mutex_unlock(&dev->s2c_lock);
		dev_log(dev, EDEADLK,
			"in-band DMA from the dispatch thread without a twin "
			"socket: the client would wait for our reply and we "
			"for its; do it from uvfio_work_queue() or a thread");
		return -EDEADLK;
	}
	while (dev->s2c_open && dev->s2c_cur)
		pthread_cond_wait(&dev->s2c_cond, &dev->s2c_lock);
	if (!dev->s2c_open) {
		pthread_mutex_unlock(&dev->s2c_lock);
		return -ENOTCONN;
	}
	twin = dev->has_twin;
	rq->id = h.msg_id = dev->s2c_id++;
	rq->done = false;
	rq->claimed = false;
	rq->err = 0;
	dev->s2c_cur = rq;
	pthread_mutex_unlock(&dev->s2c_lock);

	if (twin) {
		/* The slot makes this thread the twin socket's only user. */
		err = uvfio_chan_sendv(&dev->twin, &h, iov, iovcnt, NULL, 0);
		if (!err)
			err = twin_wait(dev, rq);
		pthread_mutex_lock(&dev->s2c_lock);
	} else {
		/* A read's data may go straight to its buffer (s2c_take_read). */
		if (rq->cmd == VFIO_USER_DMA_READ)
			atomic_store(&dev->s2c_direct, true);
		err = dev_send(dev, &h, iov, iovcnt, NULL, 0);
		pthread_mutex_lock(&dev->s2c_lock);
		/* A reply being taken still writes to rq and its buffer. */
		while ((!err || rq->claimed) && !rq->done)
			pthread_cond_wait(&dev->s2c_cond, &dev->s2c_lock);
		if (!err)
			err = rq->err;
		atomic_store(&dev->s2c_direct, false);
	}
	if (err == -EPIPE)
		err = -ECONNRESET;
	dev->s2c_cur = NULL;
	pthread_cond_broadcast(&dev->s2c_cond);
	pthread_mutex_unlock(&dev->s2c_lock);
	return err;
}
