// SPDX-License-Identifier: MIT
/*
 * DEVICE_GET_INFO, GET_REGION_INFO, GET_REGION_IO_FDS, GET_IRQ_INFO.  A
 * request may be longer than its fixed part: libvfio-user's client sends
 * its whole argsz buffer (80 bytes for a region info with caps).
 */
#include <errno.h>
#include <string.h>

#include "priv.h"

/*
 * Copies the fixed part of an info request.  The payload may run past it
 * up to argsz (the client's whole buffer), no further.
 */
static int take_req(const struct uvfio_msg *msg, void *in, size_t fixed)
{
	uint32_t argsz;

	if (msg->size < fixed)
		return -EINVAL;
	memcpy(in, msg->payload, fixed);
	memcpy(&argsz, in, sizeof(argsz));
	if (msg->size > fixed && msg->size > argsz)
		return -EINVAL;
	return 0;
}

int handle_device_info(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_user_device_info in, out = {
		.argsz = sizeof(out),
		.flags = VFIO_DEVICE_FLAGS_PCI,
		.num_regions = dev->nregions,
		.num_irqs = VFIO_PCI_NUM_IRQS,
	};

	if (take_req(msg, &in, sizeof(in)))
		return -EINVAL;
	if (in.argsz < sizeof(out))
		return -EINVAL;
	if (dev->ops.reset)
		out.flags |= VFIO_DEVICE_FLAGS_RESET;
	return reply(dev, &msg->hdr, &out, sizeof(out), NULL, 0) ?: 1;
}

static uint32_t region_flags(const struct region *r)
{
	uint32_t f = 0;

	if (!r->present)
		return 0;
	if (r->flags & UVFIO_REGION_READ)
		f |= VFIO_REGION_INFO_FLAG_READ;
	if (r->flags & UVFIO_REGION_WRITE)
		f |= VFIO_REGION_INFO_FLAG_WRITE;
	if (r->flags & UVFIO_REGION_MEM)
		f |= VFIO_REGION_INFO_FLAG_MMAP;
	return f;
}

/* Builds the capability chain after info; returns its size. */
static size_t region_caps(const struct region *r, uint32_t index,
			  uint8_t *buf)
{
	size_t len = 0, at = sizeof(struct vfio_region_info);
	struct vfio_info_cap_header *prev = NULL;

	if (!r->present)
		return 0;
	/*
	 * A region mappable as a whole says so with one area, as
	 * libvfio-user does: its sample client takes an fd only with a
	 * sparse capability.
	 */
	if (r->flags & UVFIO_REGION_MEM) {
		struct vfio_region_info_cap_sparse_mmap *sp = (void *)buf;
		unsigned int n = r->nr_areas ? r->nr_areas : 1;

		sp->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sp->header.version = 1;
		sp->header.next = 0;
		sp->nr_areas = n;
		sp->reserved = 0;
		for (unsigned int i = 0; i < n; i++) {
			sp->areas[i].offset = r->nr_areas ? r->areas[i].offset : 0;
			sp->areas[i].size = r->nr_areas ? r->areas[i].size :
							  r->size;
		}
		prev = &sp->header;
		len += sizeof(*sp) + n * sizeof(sp->areas[0]);
	}
	if (index >= VFIO_PCI_NUM_REGIONS) {
		struct vfio_region_info_cap_type *t = (void *)(buf + len);

		t->header.id = VFIO_REGION_INFO_CAP_TYPE;
		t->header.version = 1;
		t->header.next = 0;
		t->type = r->type;
		t->subtype = r->subtype;
		if (prev)
			prev->next = (uint32_t)(at + len);
		len += sizeof(*t);
	}
	return len;
}

_Static_assert(sizeof(struct vfio_region_info) +
			       sizeof(struct vfio_region_info_cap_sparse_mmap) +
			       UVFIO_MAX_AREAS *
				       sizeof(struct vfio_region_sparse_mmap_area) +
			       sizeof(struct vfio_region_info_cap_type) <=
		       4096,
	       "region info fits the smallest transfer buffer");

int handle_region_info(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_region_info in, *out;
	uint8_t *buf = dev->xfer;
	const struct region *r;
	size_t caps, need;
	int fd;

	if (take_req(msg, &in, sizeof(in)))
		return -EINVAL;
	if (in.argsz < sizeof(in) || in.index >= dev->nregions)
		return -EINVAL;
	r = &dev->regions[in.index];
	/* Small: at most UVFIO_MAX_AREAS areas, in a buffer of >= 4 KiB. */
	caps = region_caps(r, in.index, buf + sizeof(*out));
	need = sizeof(*out) + caps;
	out = (void *)buf;
	*out = (struct vfio_region_info){
		.argsz = (uint32_t)need,
		.flags = region_flags(r),
		.index = in.index,
		.size = r->present ? r->size : 0,
		.offset = 0,
	};
	if (caps) {
		out->flags |= VFIO_REGION_INFO_FLAG_CAPS;
		out->cap_offset = sizeof(*out);
	}
	/*
	 * Too small for the caps: like vfio-pci, say how much is needed
	 * and send the fixed part only; the fd comes with the areas it maps
	 * (as libvfio-user sends it), on the client's second query.
	 */
	fd = r->memfd;
	if (in.argsz < need) {
		/* QEMU refuses CAPS without a cap_offset it can follow. */
		out->flags &= ~VFIO_REGION_INFO_FLAG_CAPS;
		out->cap_offset = 0;
		need = sizeof(*out);
		fd = -1;
	}
	return reply(dev, &msg->hdr, buf, need, &fd, fd >= 0) ?: 1;
}

int handle_io_fds(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_user_region_io_fds_request in;

	if (take_req(msg, &in, sizeof(in)))
		return -EINVAL;
	if (in.argsz < sizeof(in) || in.flags || in.count ||
	    in.index >= dev->nregions)
		return -EINVAL;
	return doorbell_reply(dev, msg, &in);
}

int handle_irq_info(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_irq_info in, out;

	if (take_req(msg, &in, sizeof(in)))
		return -EINVAL;
	if (in.argsz < sizeof(in) || in.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	out = (struct vfio_irq_info){
		.argsz = sizeof(out),
		.flags = irq_info_flags(in.index),
		.index = in.index,
		.count = dev->irqs[in.index].count,
	};
	return reply(dev, &msg->hdr, &out, sizeof(out), NULL, 0) ?: 1;
}
