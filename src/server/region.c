// SPDX-License-Identifier: MIT
/* REGION_READ, REGION_WRITE, REGION_WRITE_MULTI. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "priv.h"

void region_free(struct region *r)
{
	if (r->mem) {
		long pg = sysconf(_SC_PAGESIZE);

		munmap(r->mem, (r->size + (uint64_t)pg - 1) &
				       ~((uint64_t)pg - 1));
	}
	if (r->memfd >= 0)
		close(r->memfd);
	free(r->areas);
	*r = (struct region){ .memfd = -1 };
}

/* Whether [off, off + len) lies inside one mappable area. */
static bool in_area(const struct region *r, uint64_t off, uint64_t len)
{
	if (!r->nr_areas)
		return true;
	for (unsigned int i = 0; i < r->nr_areas; i++)
		if (off >= r->areas[i].offset &&
		    off + len <= r->areas[i].offset + r->areas[i].size)
			return true;
	return false;
}

/*
 * Looks up a region and checks an access against it.  Returns the region
 * or NULL with *err set.
 */
static struct region *access_check(struct uvfio_dev *dev, uint32_t index,
				   uint64_t off, uint32_t count, uint32_t need,
				   int *err)
{
	struct region *r;

	*err = -EINVAL;
	if (index >= dev->nregions || !count ||
	    count > dev->caps.max_data_xfer_size)
		return NULL;
	r = &dev->regions[index];
	if (!r->present || off > r->size || count > r->size - off)
		return NULL;
	if (!(r->flags & need)) {
		*err = -EACCES;
		return NULL;
	}
	*err = 0;
	return r;
}

/* One access to a region, through the config model, memory or callback. */
static ssize_t region_rw(struct uvfio_dev *dev, uint32_t index,
			 struct region *r, uint64_t off, void *buf,
			 uint32_t count, bool wr)
{
	ssize_t n;

	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		n = wr ? uvfio_pci_cfg_write(&dev->cfg, (uint32_t)off, buf,
					     count)
		       : uvfio_pci_cfg_read(&dev->cfg, (uint32_t)off, buf,
					    count);
		if (n)
			return n;
		if (wr && dev->ops.cfg_written)
			dev->ops.cfg_written(dev, dev->priv, (uint32_t)off,
					     count);
		return count;
	}
	if (r->mem && (!r->access || in_area(r, off, count))) {
		if (wr)
			memcpy((uint8_t *)r->mem + off, buf, count);
		else
			memcpy(buf, (uint8_t *)r->mem + off, count);
		return count;
	}
	n = r->access(dev, r->priv, off, buf, count, wr);
	if (n >= 0 && n != (ssize_t)count)
		return -EIO;
	return n;
}

int handle_region_read(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_user_region_access req;
	struct region *r;
	struct iovec iov[2];
	ssize_t n;
	int err;

	if (msg->size != sizeof(req))
		return -EINVAL;
	memcpy(&req, msg->payload, sizeof(req));
	r = access_check(dev, req.region, req.offset, req.count,
			 UVFIO_REGION_READ, &err);
	if (!r)
		return err;
	n = region_rw(dev, req.region, r, req.offset, dev->xfer, req.count,
		      false);
	if (n < 0)
		return (int)n;
	iov[0] = (struct iovec){ &req, sizeof(req) };
	iov[1] = (struct iovec){ dev->xfer, req.count };
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 1;
	struct vfio_user_header h = {
		.msg_id = msg->hdr.msg_id,
		.cmd = msg->hdr.cmd,
		.msg_size = (uint32_t)(sizeof(h) + sizeof(req) + req.count),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};

	return dev_send(dev, &h, iov, 2, NULL, 0) ?: 1;
}

int handle_region_write(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_user_region_access req;
	struct region *r;
	ssize_t n;
	int err;

	if (msg->size < sizeof(req))
		return -EINVAL;
	memcpy(&req, msg->payload, sizeof(req));
	if (msg->size - sizeof(req) != req.count)
		return -EINVAL;
	r = access_check(dev, req.region, req.offset, req.count,
			 UVFIO_REGION_WRITE, &err);
	if (!r)
		return err;
	n = region_rw(dev, req.region, r, req.offset,
		      (uint8_t *)msg->payload + sizeof(req), req.count, true);
	if (n < 0)
		return (int)n;
	return reply(dev, &msg->hdr, &req, sizeof(req), NULL, 0) ?: 1;
}

int handle_write_multi(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_user_write_multi hdr;
	const struct vfio_user_write_multi_data *w;
	uint64_t done = 0;
	int err;

	if (!dev->caps.write_multiple)
		return -ENOTSUP;
	if (msg->size < sizeof(hdr))
		return -EINVAL;
	memcpy(&hdr, msg->payload, sizeof(hdr));
	if (!hdr.wr_cnt || hdr.wr_cnt > VFIO_USER_MULTI_MAX ||
	    msg->size != sizeof(hdr) + hdr.wr_cnt * sizeof(*w))
		return -EINVAL;
	w = (const void *)((uint8_t *)msg->payload + sizeof(hdr));
	/* All or nothing for checks; writes then happen in order. */
	for (uint64_t i = 0; i < hdr.wr_cnt; i++) {
		if (w[i].count > VFIO_USER_MULTI_DATA)
			return -EINVAL;
		if (!access_check(dev, w[i].region, w[i].offset, w[i].count,
				  UVFIO_REGION_WRITE, &err))
			return err;
	}
	for (; done < hdr.wr_cnt; done++) {
		uint8_t data[VFIO_USER_MULTI_DATA];
		uint32_t idx = w[done].region;
		ssize_t n;

		memcpy(data, w[done].data, sizeof(data));
		n = region_rw(dev, idx, &dev->regions[idx], w[done].offset,
			      data, w[done].count, true);
		if (n < 0)
			return (int)n;
	}
	return reply(dev, &msg->hdr, &done, sizeof(done), NULL, 0) ?: 1;
}
