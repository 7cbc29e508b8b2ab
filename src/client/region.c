// SPDX-License-Identifier: MIT
/* Region access: REGION_READ/WRITE, WRITE_MULTI, and mmap of areas. */
#include "priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RA sizeof(struct vfio_user_region_access)

static bool echo_ok(const struct uvfio_msg *rep,
		    const struct vfio_user_region_access *q)
{
	struct vfio_user_region_access a;

	memcpy(&a, rep->payload, RA);
	return a.offset == q->offset && a.region == q->region &&
	       a.count == q->count;
}

static int read_chunk(struct uvfio_client *c, uint32_t index, uint64_t off,
		      uint8_t *buf, uint32_t n)
{
	struct vfio_user_region_access q = { off, index, n };
	struct iovec iov = { &q, RA };
	struct cl_req rq = { .cmd = VFIO_USER_REGION_READ,
			     .iov = &iov,
			     .iovcnt = 1 };
	struct uvfio_msg rep;
	int r = cl_call(c, &rq, &rep);

	if (r < 0)
		return r;
	if (rep.size != RA + n || !echo_ok(&rep, &q))
		r = -EPROTO;
	else
		memcpy(buf, (const uint8_t *)rep.payload + RA, n);
	uvfio_msg_release(&rep);
	return r;
}

static int write_chunk(struct uvfio_client *c, uint32_t index, uint64_t off,
		       const uint8_t *buf, uint32_t n, bool posted)
{
	struct vfio_user_region_access q = { off, index, n };
	struct iovec iov[2] = { { &q, RA }, { (void *)buf, n } };
	struct cl_req rq = { .cmd = VFIO_USER_REGION_WRITE,
			     .iov = iov,
			     .iovcnt = 2,
			     .posted = posted };
	struct uvfio_msg rep;
	int r = cl_call(c, &rq, &rep);

	if (r < 0 || posted)
		return r;
	if (rep.size != RA || !echo_ok(&rep, &q))
		r = -EPROTO;
	uvfio_msg_release(&rep);
	return r;
}

int uvfio_client_region_read(struct uvfio_client *c, uint32_t index,
			     uint64_t off, void *buf, size_t len)
{
	int r = 0;

	if (len && (!buf || off + (len - 1) < off))
		return -EINVAL;
	cl_lock(c);
	for (size_t done = 0; done < len && !r;) {
		uint32_t n =
			len - done < c->xfer ? (uint32_t)(len - done) : c->xfer;

		r = read_chunk(c, index, off + done, (uint8_t *)buf + done, n);
		done += n;
	}
	cl_unlock(c);
	return r;
}

int uvfio_client_region_write(struct uvfio_client *c, uint32_t index,
			      uint64_t off, const void *buf, size_t len,
			      uint32_t flags)
{
	bool posted = flags & UVFIO_WRITE_POSTED;
	int r = 0;

	if ((len && (!buf || off + (len - 1) < off)) ||
	    (flags & ~UVFIO_WRITE_POSTED))
		return -EINVAL;
	cl_lock(c);
	for (size_t done = 0; done < len && !r;) {
		uint32_t n =
			len - done < c->xfer ? (uint32_t)(len - done) : c->xfer;

		r = write_chunk(c, index, off + done,
				(const uint8_t *)buf + done, n, posted);
		done += n;
	}
	cl_unlock(c);
	return r;
}

int uvfio_client_region_write_multi(struct uvfio_client *c,
				    const struct uvfio_write *w, unsigned int n)
{
	struct {
		struct vfio_user_write_multi h;
		struct vfio_user_write_multi_data d[VFIO_USER_MULTI_MAX];
	} m;
	struct uvfio_msg rep;
	uint64_t done;
	int r;

	if (!c->caps.write_multiple)
		return -ENOTSUP;
	if (!w || n < 1 || n > VFIO_USER_MULTI_MAX)
		return -EINVAL;
	m.h.wr_cnt = n;
	for (unsigned int i = 0; i < n; i++) {
		if (w[i].count < 1 || w[i].count > VFIO_USER_MULTI_DATA)
			return -EINVAL;
		m.d[i].offset = w[i].offset;
		m.d[i].region = w[i].index;
		m.d[i].count = w[i].count;
		memcpy(m.d[i].data, &w[i].data, VFIO_USER_MULTI_DATA);
	}
	cl_lock(c);
	r = cl_simple(c, VFIO_USER_REGION_WRITE_MULTI, &m,
		      sizeof(m.h) + n * sizeof(m.d[0]), &rep, sizeof(done));
	if (r == 0) {
		memcpy(&done, rep.payload, sizeof(done));
		uvfio_msg_release(&rep);
		if (done != n)
			r = -EPROTO;
	}
	cl_unlock(c);
	return r;
}

static int track(struct uvfio_client *c, const struct cl_mapping *nm)
{
	if (c->nmaps == c->cap_maps) {
		unsigned int n = c->cap_maps ? c->cap_maps * 2 : 8;
		struct cl_mapping *m = realloc(c->maps, n * sizeof(*m));

		if (!m)
			return -ENOMEM;
		c->maps = m;
		c->cap_maps = n;
	}
	c->maps[c->nmaps++] = *nm;
	return 0;
}

void cl_unmap_all(struct uvfio_client *c)
{
	for (unsigned int i = 0; i < c->nmaps; i++)
		munmap(c->maps[i].addr, c->maps[i].size);
	free(c->maps);
	c->maps = NULL;
	c->nmaps = c->cap_maps = 0;
}

/*
 * Maps area of region index (-1: all of it), at a fresh address, or over
 * at (MAP_FIXED: a reconnect puts the new device's pages where the
 * caller's pointer already points; the old mapping stays tracked).
 */
void *cl_map_region(struct uvfio_client *c, uint32_t index, int area,
		    size_t *size, void *at)
{
	const struct uvfio_region *reg;
	uint64_t off, len;
	int prot = 0;
	void *p;
	int r;

	r = cl_region_locked(c, index, &reg);
	if (r < 0)
		goto fail;
	r = -EINVAL;
	if (!(reg->flags & VFIO_REGION_INFO_FLAG_MMAP) || reg->fd < 0)
		goto fail;
	/* Whole: no areas, or one covering it all (libvfio-user's way). */
	if (area == -1 &&
	    (reg->nr_areas == 0 ||
	     (reg->nr_areas == 1 && reg->areas[0].offset == 0 &&
	      reg->areas[0].size == reg->size))) {
		off = 0;
		len = reg->size;
	} else if (area >= 0 && (unsigned int)area < reg->nr_areas) {
		off = reg->areas[area].offset;
		len = reg->areas[area].size;
	} else {
		goto fail;
	}
	if (reg->flags & VFIO_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (reg->flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	if (!prot) {
		r = -EACCES;
		goto fail;
	}
	/* off_t is signed: the file offset must stay below 2^63. */
	if (!len || len > SIZE_MAX || reg->offset > INT64_MAX ||
	    off > INT64_MAX - reg->offset)
		goto fail;
	if (at && size && *size != len)
		goto fail;
	p = mmap(at, (size_t)len, prot, MAP_SHARED | (at ? MAP_FIXED : 0),
		 reg->fd, (off_t)(reg->offset + off));
	if (p == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	if (!at) {
		struct cl_mapping m = { p, (size_t)len, index, off, prot };

		r = track(c, &m);
		if (r < 0) {
			munmap(p, (size_t)len);
			goto fail;
		}
	}
	if (size)
		*size = (size_t)len;
	return p;
fail:
	errno = -r;
	return NULL;
}

void *uvfio_client_region_mmap(struct uvfio_client *c, uint32_t index, int area,
			       size_t *size)
{
	void *p;
	int e;

	cl_lock(c);
	p = cl_map_region(c, index, area, size, NULL);
	e = errno;
	cl_unlock(c);
	errno = e;
	return p;
}
