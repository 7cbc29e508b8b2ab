// SPDX-License-Identifier: MIT
/*
 * GET_REGION_IO_FDS: the device's doorbells, each an eventfd it wants
 * signalled in place of a REGION_WRITE (a VMM binds them with
 * KVM_IOEVENTFD).  The reply is the device's to get right and ours to
 * check: every entry inside the region, every fd index among the fds
 * that came.  Entries of a kind we cannot use (ioregionfd, flags we do
 * not know) are left out, not refused.
 *
 * The entry size comes from the reply ((argsz - 16) / count), as the
 * spec says not to rely on its 40 bytes: libvfio-user sends 48, with a
 * shadow-memory fd index and offset where the spec has padding, and the
 * datamatch after them.
 */
#include "priv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#define HDR sizeof(struct vfio_user_region_io_fds_request)
#define ENT sizeof(struct vfio_user_sub_region_ioeventfd) /* the spec's */
#define LVU_ENT 48u /* libvfio-user's, datamatch at 40 */
#define MAX_ENT 256u
/* Room asked for at first; a device that needs more says so. */
#define FIRST_ARGSZ (HDR + 8 * LVU_ENT)
#define MOST (UVFIO_CHAN_MAX_FDS * 4u)

static int ask(struct uvfio_client *c, uint32_t index, uint32_t argsz,
	       struct uvfio_msg *rep)
{
	struct vfio_user_region_io_fds_request q = {
		.argsz = argsz,
		.index = index,
	};
	struct iovec iov = { &q, sizeof(q) };
	struct cl_req rq = { .cmd = VFIO_USER_DEVICE_GET_REGION_IO_FDS,
			     .iov = &iov,
			     .iovcnt = 1,
			     .max_fds = c->ours.max_msg_fds };

	return cl_call(c, &rq, rep);
}

static bool usable_size(uint64_t size)
{
	return size == 0 || size == 1 || size == 2 || size == 4 || size == 8;
}

/*
 * One entry: 1 when it goes into out, 0 when it is of a kind we leave
 * out, -EPROTO when it is wrong.
 */
static int take(const struct vfio_user_sub_region_ioeventfd *e,
		const struct uvfio_msg *rep, uint64_t region_size,
		struct uvfio_doorbell *out)
{
	if (e->fd_index >= rep->nfds || rep->fds[e->fd_index] < 0)
		return -EPROTO;
	if (e->offset > region_size || e->size > region_size - e->offset)
		return -EPROTO;
	if (e->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD ||
	    (e->flags & ~KVM_IOEVENTFD_FLAG_DATAMATCH) ||
	    !usable_size(e->size) ||
	    ((e->flags & KVM_IOEVENTFD_FLAG_DATAMATCH) && !e->size))
		return 0;
	if (out) {
		*out = (struct uvfio_doorbell){
			.offset = e->offset,
			.size = e->size,
			.flags = e->flags,
			.datamatch = e->datamatch,
			.fd = -1,
		};
	}
	return 1;
}

static int parse(uint32_t index, uint64_t region_size,
		 const struct uvfio_msg *rep, uint32_t offered,
		 struct uvfio_doorbell *out, unsigned int max)
{
	struct vfio_user_region_io_fds_request h;
	unsigned int n = 0;
	uint32_t stride;
	int r;

	if (rep->size < HDR)
		return -EPROTO;
	memcpy(&h, rep->payload, HDR);
	if (h.index != index || h.argsz < HDR || h.count > MOST)
		return -EPROTO;
	if (h.argsz > offered) /* room for none: it says how much it needs */
		return rep->nfds ? -EPROTO : -ENOBUFS;
	if (!h.count)
		return rep->nfds ? -EPROTO : 0;
	stride = (h.argsz - HDR) / h.count;
	if (stride < ENT || stride > MAX_ENT ||
	    h.count > (rep->size - HDR) / stride)
		return -EPROTO;
	for (uint32_t i = 0; i < h.count; i++) {
		const uint8_t *p = (const uint8_t *)rep->payload + HDR +
				   (size_t)i * stride;
		struct vfio_user_sub_region_ioeventfd e;
		bool fill = n < max;

		memcpy(&e, p, ENT);
		if (stride >= LVU_ENT)
			memcpy(&e.datamatch, p + 40, sizeof(e.datamatch));
		r = take(&e, rep, region_size, fill ? &out[n] : NULL);
		if (r > 0 && fill) {
			out[n].fd = fcntl(rep->fds[e.fd_index],
					  F_DUPFD_CLOEXEC, 0);
			if (out[n].fd < 0)
				r = -errno;
		}
		if (r < 0) {
			/* Nothing half done: the fds given so far go back. */
			for (unsigned int k = 0; k < n && k < max; k++)
				close(out[k].fd);
			return r;
		}
		n += (unsigned int)r;
	}
	return (int)n;
}

int uvfio_client_region_doorbells(struct uvfio_client *c, uint32_t index,
				  struct uvfio_doorbell *out, unsigned int max)
{
	uint32_t argsz = FIRST_ARGSZ;
	const struct uvfio_region *reg;
	struct uvfio_msg rep;
	int r;

	if (!c || (max && !out))
		return -EINVAL;
	cl_lock(c);
	/* First: a call would reuse the buffer a reply's payload is in. */
	r = cl_region_locked(c, index, &reg);
	for (int tries = 0; r >= 0 && tries < 2; tries++) {
		struct vfio_user_region_io_fds_request h;

		r = ask(c, index, argsz, &rep);
		if (r < 0)
			break;
		r = parse(index, reg->size, &rep, argsz, out, max);
		if (r == -ENOBUFS) {
			memcpy(&h, rep.payload, HDR);
			argsz = h.argsz;
			/* More than any count we would take: malformed. */
			if (argsz > HDR + MOST * MAX_ENT)
				r = -EPROTO;
		}
		uvfio_msg_release(&rep);
		if (r != -ENOBUFS)
			break;
	}
	cl_unlock(c);
	/* Still short of room: it wanted more than it said it needed. */
	return r == -ENOBUFS ? -EPROTO : r;
}

int uvfio_client_region_io_fds(struct uvfio_client *c, uint32_t index)
{
	return uvfio_client_region_doorbells(c, index, NULL, 0);
}
