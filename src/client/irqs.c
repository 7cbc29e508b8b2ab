// SPDX-License-Identifier: MIT
/* SET_IRQS, DEVICE_RESET and DEVICE_FEATURE. */
#include "priv.h"

#include <errno.h>
#include <string.h>

#define DATA_MASK VFIO_IRQ_SET_DATA_TYPE_MASK
#define ACTION_MASK VFIO_IRQ_SET_ACTION_TYPE_MASK
#define FEAT sizeof(struct vfio_device_feature)

/* A request whose reply has no payload. */
static int call_empty(struct uvfio_client *c, const struct cl_req *rq)
{
	struct uvfio_msg rep;
	int r = cl_call(c, rq, &rep);

	if (r < 0)
		return r;
	if (rep.size)
		r = -EPROTO;
	uvfio_msg_release(&rep);
	return r;
}

static int send_set(struct uvfio_client *c, const struct vfio_irq_set *s,
		    uint32_t start, uint32_t count, const void *data,
		    size_t dlen, const int *fds, unsigned int nfds)
{
	struct vfio_irq_set h = *s;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, dlen } };
	struct cl_req rq = { .cmd = VFIO_USER_DEVICE_SET_IRQS,
			     .iov = iov,
			     .iovcnt = 2,
			     .fds = fds,
			     .nfds = nfds };

	h.argsz = (uint32_t)(sizeof(h) + dlen);
	h.start = start;
	h.count = count;
	return call_empty(c, &rq);
}

/*
 * Runs of real fds assign, runs of -1 de-assign (a message without fds).
 * Runs go from the highest vectors down: the first message then enables
 * an index that is off with all start + count vectors, as one ioctl
 * would, where MSI could not grow later (the server's max_msg_fds, 16 for
 * QEMU's sake, cuts 32 MSI vectors in two).
 */
static int set_eventfds(struct uvfio_client *c, const struct vfio_irq_set *s,
			const int *fds)
{
	unsigned int max = c->caps.max_msg_fds;
	int r = 0;

	if (max > UVFIO_CHAN_MAX_FDS)
		max = UVFIO_CHAN_MAX_FDS;
	for (uint32_t i = 0; i < s->count; i++)
		if (fds[i] < -1)
			return -EBADF;
	if (!s->count)
		return send_set(c, s, s->start, 0, NULL, 0, NULL, 0);
	for (uint32_t end = s->count, i; end > 0 && !r; end = i) {
		bool assign = fds[end - 1] >= 0;

		for (i = end - 1; i > 0 && (fds[i - 1] >= 0) == assign; i--)
			if (assign && end - i == max)
				break;
		r = send_set(c, s, s->start + i, end - i, NULL, 0,
			     assign ? fds + i : NULL, assign ? end - i : 0);
	}
	return r;
}

int cl_set_eventfds(struct uvfio_client *c, uint32_t index, uint32_t start,
		    uint32_t count, const int *fds)
{
	struct vfio_irq_set s = {
		.flags = VFIO_IRQ_SET_DATA_EVENTFD |
			 VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = index,
		.start = start,
		.count = count,
	};

	return set_eventfds(c, &s, fds);
}

int cl_set_irqs_none(struct uvfio_client *c, uint32_t index, uint32_t action,
		     uint32_t start, uint32_t count)
{
	struct vfio_irq_set s = { .flags = VFIO_IRQ_SET_DATA_NONE | action,
				  .index = index };

	return send_set(c, &s, start, count, NULL, 0, NULL, 0);
}

int cl_set_unmask_fd(struct uvfio_client *c, uint32_t index, int fd)
{
	struct vfio_irq_set s = { .flags = VFIO_IRQ_SET_DATA_EVENTFD |
					   VFIO_IRQ_SET_ACTION_UNMASK,
				  .index = index };

	return send_set(c, &s, 0, 1, NULL, 0, &fd, 1);
}

int uvfio_client_set_irqs(struct uvfio_client *c, uint32_t index,
			  uint32_t flags, uint32_t start, uint32_t count,
			  const void *data)
{
	struct vfio_irq_set s = {
		.flags = flags, .index = index, .start = start, .count = count
	};
	uint32_t dt = flags & DATA_MASK, act = flags & ACTION_MASK;
	int r;

	if ((flags & ~(DATA_MASK | ACTION_MASK)) ||
	    __builtin_popcount(dt) != 1 || __builtin_popcount(act) != 1 ||
	    (count && start + (count - 1) < start) ||
	    (dt != VFIO_IRQ_SET_DATA_NONE && count && !data))
		return -EINVAL;
	if (dt == VFIO_IRQ_SET_DATA_BOOL &&
	    (!count || count > c->caps.max_data_xfer_size))
		return -EINVAL;
	cl_lock(c);
	if (dt == VFIO_IRQ_SET_DATA_EVENTFD)
		r = set_eventfds(c, &s, data);
	else
		r = send_set(c, &s, start, count, data,
			     dt == VFIO_IRQ_SET_DATA_BOOL ? count : 0, NULL, 0);
	/* What a reconnect must wire again: triggers, and their removal. */
	if (!r && act == VFIO_IRQ_SET_ACTION_TRIGGER &&
	    (dt == VFIO_IRQ_SET_DATA_EVENTFD ||
	     (dt == VFIO_IRQ_SET_DATA_NONE && !count)))
		cl_keep_irqs(c, index, start, count,
			     dt == VFIO_IRQ_SET_DATA_EVENTFD ? data : NULL);
	else if (!r && act != VFIO_IRQ_SET_ACTION_TRIGGER)
		cl_keep_irq_mask(c, index, flags, start, count, data);
	cl_unlock(c);
	return r;
}

int uvfio_client_reset(struct uvfio_client *c)
{
	struct cl_req rq = { .cmd = VFIO_USER_DEVICE_RESET };
	int r;

	cl_lock(c);
	r = call_empty(c, &rq);
	cl_unlock(c);
	return r;
}

/*
 * The reply echoes the request for SET and PROBE (data included), and
 * carries the feature's data for GET: argsz offers room for the larger.
 * Up to cap bytes of the reply's data are copied out.
 */
int uvfio_client_device_feature(struct uvfio_client *c, uint32_t flags,
				void *data, size_t *len, size_t cap)
{
	struct vfio_device_feature f = { .flags = flags };
	size_t in, room;
	struct uvfio_msg rep;
	int r;

	if (!len)
		return -EINVAL;
	in = *len;
	room = in > cap ? in : cap;
	if ((room && !data) || in > c->caps.max_data_xfer_size ||
	    room > c->ours.max_data_xfer_size)
		return -EINVAL;
	f.argsz = (uint32_t)(FEAT + room);
	struct iovec iov[2] = { { &f, FEAT }, { data, in } };
	struct cl_req rq = { .cmd = VFIO_USER_DEVICE_FEATURE,
			     .iov = iov,
			     .iovcnt = 2 };

	cl_lock(c);
	r = cl_call(c, &rq, &rep);
	if (r == 0) {
		struct vfio_device_feature g;
		size_t n = rep.size - FEAT;

		r = -EPROTO;
		if (rep.size >= FEAT) {
			memcpy(&g, rep.payload, FEAT);
			if (g.argsz >= FEAT && n <= room &&
			    (g.flags & VFIO_DEVICE_FEATURE_MASK) ==
				    (flags & VFIO_DEVICE_FEATURE_MASK)) {
				n = n < cap ? n : cap;
				if (n)
					memcpy(data,
					       (const uint8_t *)rep.payload +
						       FEAT,
					       n);
				*len = n;
				r = 0;
			}
		}
		uvfio_msg_release(&rep);
	}
	cl_unlock(c);
	return r;
}
