// SPDX-License-Identifier: MIT
/* Device, region and irq information. */
#include "priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RI sizeof(struct vfio_region_info)
#define CAP_HDR sizeof(struct vfio_info_cap_header)

int cl_device_info_locked(struct uvfio_client *c,
			  struct uvfio_device_info *info)
{
	struct vfio_user_device_info d = { .argsz = sizeof(d) };
	struct uvfio_msg rep;
	int r;

	r = cl_simple(c, VFIO_USER_DEVICE_GET_INFO, &d, sizeof(d), &rep,
		      sizeof(d));
	if (r < 0)
		return r;
	memcpy(&d, rep.payload, sizeof(d));
	uvfio_msg_release(&rep);
	if (d.argsz < sizeof(d) || d.num_regions > CL_MAX_REGIONS)
		return -EPROTO;
	info->flags = d.flags;
	info->num_regions = d.num_regions;
	info->num_irqs = d.num_irqs;
	if (!c->have_info) {
		c->num_regions = d.num_regions;
		c->have_info = true;
	}
	return 0;
}

int uvfio_client_device_info(struct uvfio_client *c,
			     struct uvfio_device_info *info)
{
	int r;

	cl_lock(c);
	r = cl_device_info_locked(c, info);
	cl_unlock(c);
	return r;
}

/* p: the capability, avail: its bytes up to the next one or the end. */
static int parse_sparse(const uint8_t *p, uint32_t avail,
			struct uvfio_region *reg)
{
	struct vfio_region_info_cap_sparse_mmap s;
	struct vfio_region_sparse_mmap_area a;

	if (avail < sizeof(s))
		return -EPROTO;
	memcpy(&s, p, sizeof(s));
	if (s.nr_areas > (avail - sizeof(s)) / sizeof(a))
		return -EPROTO;
	if (s.nr_areas > UVFIO_CLIENT_MAX_AREAS)
		return -E2BIG;
	for (uint32_t i = 0; i < s.nr_areas; i++) {
		memcpy(&a, p + sizeof(s) + i * sizeof(a), sizeof(a));
		if (!a.size || a.offset > reg->size ||
		    a.size > reg->size - a.offset)
			return -EPROTO;
		reg->areas[i].offset = a.offset;
		reg->areas[i].size = a.size;
	}
	reg->nr_areas = s.nr_areas;
	return 0;
}

static int parse_type(const uint8_t *p, uint32_t avail,
		      struct uvfio_region *reg)
{
	struct vfio_region_info_cap_type t;

	if (avail < sizeof(t))
		return -EPROTO;
	memcpy(&t, p, sizeof(t));
	reg->has_type = true;
	reg->type = t.type;
	reg->subtype = t.subtype;
	return 0;
}

/*
 * Walks the chain in p[0, len).  Each capability must start after the
 * previous one's header, so the walk ends; a capability's body may not
 * run into the next one.
 */
static int parse_caps(const uint8_t *p, uint32_t len, uint32_t off,
		      struct uvfio_region *reg)
{
	bool seen_sparse = false;
	struct vfio_info_cap_header h;
	int r = 0;

	while (off) {
		if (off < RI || off % 4 || off > len - CAP_HDR)
			return -EPROTO;
		memcpy(&h, p + off, sizeof(h));
		if (h.next && (h.next < off + CAP_HDR || h.next >= len))
			return -EPROTO;
		uint32_t avail = (h.next ? h.next : len) - off;

		if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			r = seen_sparse ? -EPROTO :
					  parse_sparse(p + off, avail, reg);
			seen_sparse = true;
		} else if (h.id == VFIO_REGION_INFO_CAP_TYPE) {
			r = reg->has_type ? -EPROTO :
					    parse_type(p + off, avail, reg);
		}
		if (r < 0)
			return r;
		off = h.next;
	}
	return 0;
}

static int parse_region(struct uvfio_msg *rep,
			const struct vfio_region_info *ri,
			struct uvfio_region *reg)
{
	int r;

	memset(reg, 0, sizeof(*reg));
	reg->index = ri->index;
	reg->flags = ri->flags;
	reg->size = ri->size;
	reg->offset = ri->offset;
	reg->fd = -1;
	if ((ri->flags & VFIO_REGION_INFO_FLAG_CAPS) && ri->cap_offset) {
		r = parse_caps(rep->payload, ri->argsz, ri->cap_offset, reg);
		if (r < 0)
			return r;
	}
	if (!(reg->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return rep->nfds ? -EPROTO : 0;
	if (rep->nfds == 0) {
		/* Nothing to map: the region is reached by messages. */
		reg->flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
		return 0;
	}
	reg->fd = rep->fds[0];
	rep->fds[0] = -1;
	return 0;
}

/* One GET_REGION_INFO; 1 (and argsz) when it needs a larger buffer. */
static int fetch_once(struct uvfio_client *c, uint32_t index, uint32_t *argsz,
		      struct uvfio_region *reg)
{
	struct vfio_region_info ri = { .argsz = *argsz, .index = index };
	struct iovec iov = { &ri, sizeof(ri) };
	struct cl_req rq = { .cmd = VFIO_USER_DEVICE_GET_REGION_INFO,
			     .iov = &iov,
			     .iovcnt = 1,
			     .max_fds = 1 };
	struct uvfio_msg rep;
	int r;

	r = cl_call(c, &rq, &rep);
	if (r < 0)
		return r;
	r = -EPROTO;
	if (rep.size < sizeof(ri))
		goto out;
	memcpy(&ri, rep.payload, sizeof(ri));
	if (ri.index != index || ri.argsz < sizeof(ri))
		goto out;
	if (ri.argsz > *argsz) {
		*argsz = ri.argsz;
		r = 1;
	} else if (rep.size >= ri.argsz) {
		r = parse_region(&rep, &ri, reg);
	}
out:
	uvfio_msg_release(&rep);
	return r;
}

static int fetch_region(struct uvfio_client *c, uint32_t index,
			struct uvfio_region *reg)
{
	uint32_t argsz = RI + 512;
	int r = fetch_once(c, index, &argsz, reg);

	/* Too small a buffer: ask once more with what it needs. */
	if (r == 1 && argsz <= CL_MAX_REGION_INFO)
		r = fetch_once(c, index, &argsz, reg);
	return r == 1 ? -EPROTO : r;
}

int cl_region_locked(struct uvfio_client *c, uint32_t index,
		     const struct uvfio_region **out)
{
	struct uvfio_device_info di;
	struct uvfio_region *reg;
	int r;

	if (!c->regions) {
		if (!c->have_info) {
			r = cl_device_info_locked(c, &di);
			if (r < 0)
				return r;
		}
		c->regions = calloc(c->num_regions ? c->num_regions : 1,
				    sizeof(*c->regions));
		if (!c->regions)
			return -ENOMEM;
	}
	if (index >= c->num_regions)
		return -EINVAL;
	if (!c->regions[index]) {
		reg = malloc(sizeof(*reg));
		if (!reg)
			return -ENOMEM;
		r = fetch_region(c, index, reg);
		if (r < 0) {
			free(reg);
			return r;
		}
		c->regions[index] = reg;
	}
	*out = c->regions[index];
	return 0;
}

int uvfio_client_region_info(struct uvfio_client *c, uint32_t index,
			     const struct uvfio_region **out)
{
	int r;

	cl_lock(c);
	r = cl_region_locked(c, index, out);
	cl_unlock(c);
	return r;
}

void cl_free_regions(struct uvfio_client *c)
{
	if (!c->regions)
		return;
	for (uint32_t i = 0; i < c->num_regions; i++) {
		if (c->regions[i] && c->regions[i]->fd >= 0)
			close(c->regions[i]->fd);
		free(c->regions[i]);
	}
	free(c->regions);
	c->regions = NULL;
}

int uvfio_client_irq_info(struct uvfio_client *c, uint32_t index,
			  struct vfio_irq_info *info)
{
	struct vfio_irq_info q = { .argsz = sizeof(q), .index = index };
	struct uvfio_msg rep;
	int r;

	cl_lock(c);
	r = cl_simple(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &q, sizeof(q), &rep,
		      sizeof(q));
	if (r == 0) {
		memcpy(&q, rep.payload, sizeof(q));
		uvfio_msg_release(&rep);
		r = (q.argsz < sizeof(q) || q.index != index) ? -EPROTO : 0;
	}
	cl_unlock(c);
	if (r == 0)
		*info = q;
	return r;
}

