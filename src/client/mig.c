// SPDX-License-Identifier: MIT
/*
 * Live migration, VMM side: the migration features of DEVICE_FEATURE, the
 * MIG_DATA_READ/WRITE stream, DMA dirty-page logging, and a driver that
 * migrates a set of devices through an fd.
 */
#include "priv.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FEAT sizeof(struct vfio_device_feature)
#define MD sizeof(struct vfio_user_mig_data)
#define LOG_CTL sizeof(struct vfio_user_dma_logging_control)
#define LOG_RNG sizeof(struct vfio_user_dma_logging_range)
#define LOG_REP sizeof(struct vfio_user_dma_logging_report)
#define F_GET VFIO_DEVICE_FEATURE_GET
#define F_SET VFIO_DEVICE_FEATURE_SET

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/*
 * A feature call whose reply data must be exactly want bytes, or none
 * when empty_ok (a header-only reply to a SET).  Returns the data bytes.
 */
static int feat_call(struct uvfio_client *c, uint32_t flags, void *data,
		     size_t in, size_t want, bool empty_ok)
{
	size_t len = in;
	int r = uvfio_client_device_feature(c, flags, data, &len, want);

	if (r < 0)
		return r;
	if (len != want && !(empty_ok && len == 0))
		return -EPROTO;
	return (int)len;
}

int uvfio_client_mig_flags(struct uvfio_client *c, uint64_t *flags)
{
	struct vfio_user_feature_migration m = { 0 };
	int r;

	if (!c || !flags)
		return -EINVAL;
	r = feat_call(c, F_GET | VFIO_DEVICE_FEATURE_MIGRATION, &m, 0,
		      sizeof(m), false);
	if (r < 0)
		return r;
	/* The one saving state every device must offer. */
	if (!(m.flags & VFIO_MIGRATION_STOP_COPY))
		return -EPROTO;
	*flags = m.flags;
	return 0;
}

int uvfio_client_mig_probe(struct uvfio_client *c, uint32_t feature,
			   uint32_t getset)
{
	size_t len = 0;

	if (!c || feature > VFIO_DEVICE_FEATURE_MASK ||
	    (getset & ~(uint32_t)(F_GET | F_SET)))
		return -EINVAL;
	/* No data either way: a reply that carries some is -EPROTO. */
	feature |= VFIO_DEVICE_FEATURE_PROBE | getset;
	return uvfio_client_device_feature(c, feature, NULL, &len, 0);
}

int uvfio_client_mig_get_state(struct uvfio_client *c,
			       enum uvfio_mig_state *state)
{
	struct vfio_device_feature_mig_state s = { 0 };
	int r;

	if (!c || !state)
		return -EINVAL;
	r = feat_call(c, F_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &s, 0,
		      sizeof(s), false);
	if (r < 0)
		return r;
	if (s.device_state > UVFIO_MIG_PRE_COPY_P2P)
		return -EPROTO;
	*state = (enum uvfio_mig_state)s.device_state;
	return 0;
}

int uvfio_client_mig_set_state(struct uvfio_client *c,
			       enum uvfio_mig_state state)
{
	struct vfio_device_feature_mig_state s = { .device_state = state,
						   .data_fd = -1 };
	int r;

	/* ERROR is where a device falls, never a target. */
	if (!c || (uint32_t)state < UVFIO_MIG_STOP ||
	    (uint32_t)state > UVFIO_MIG_PRE_COPY_P2P)
		return -EINVAL;
	/* argsz 16, flags SET | MIG_DEVICE_STATE, as libvfio-user sends. */
	r = feat_call(c, F_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &s,
		      sizeof(s), sizeof(s), true);
	if (r < 0)
		return r;
	/* An echo must name the state asked for; data_fd is unused. */
	if (r && s.device_state != (uint32_t)state)
		return -EPROTO;
	return 0;
}

int uvfio_client_mig_data_size(struct uvfio_client *c, uint64_t *bytes)
{
	struct vfio_user_feature_mig_data_size d = { 0 };
	int r;

	if (!c || !bytes)
		return -EINVAL;
	r = feat_call(c, F_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &d, 0,
		      sizeof(d), false);
	if (r < 0)
		return r;
	*bytes = d.stop_copy_length;
	return 0;
}

/*
 * One MIG_DATA_READ of n bytes.  The reply's size is trusted when it fits
 * both what was asked and what the message carries; its argsz is not
 * (libvfio-user's last reply says 16 in a message of full size), nor are
 * bytes past size.
 */
static int read_chunk(struct uvfio_client *c, uint8_t *buf, uint32_t n,
		      uint32_t *got)
{
	struct vfio_user_mig_data q = { .argsz = (uint32_t)(MD + n),
					.size = n };
	struct iovec iov = { &q, MD };
	struct cl_req rq = { .cmd = VFIO_USER_MIG_DATA_READ,
			     .iov = &iov,
			     .iovcnt = 1 };
	struct vfio_user_mig_data a;
	struct uvfio_msg rep;
	size_t len;
	/* The reply's data lands in buf directly when it fits. */
	int r = cl_call_into(c, &rq, &a, MD, buf, n, &len, &rep);

	if (r < 0)
		return r;
	if (r == 1) {
		/* libvfio-user's last reply is full-size with fewer valid. */
		if (a.size > len)
			return -EPROTO;
		*got = a.size;
		return 0;
	}
	r = -EPROTO;
	if (rep.size >= MD) {
		memcpy(&a, rep.payload, MD);
		if (a.size <= n && a.size <= rep.size - MD) {
			if (a.size)
				memcpy(buf, (const uint8_t *)rep.payload + MD,
				       a.size);
			*got = a.size;
			r = 0;
		}
	}
	uvfio_msg_release(&rep);
	return r;
}

ssize_t uvfio_client_mig_read(struct uvfio_client *c, void *buf, size_t len)
{
	size_t done = 0;
	int r = 0;

	if (!c || (len && !buf))
		return -EINVAL;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	cl_lock(c);
	while (done < len) {
		uint32_t n = len - done < c->xfer ? (uint32_t)(len - done) :
						    c->xfer;
		uint32_t got = 0;

		r = read_chunk(c, (uint8_t *)buf + done, n, &got);
		if (r < 0)
			break;
		done += got;
		if (got < n)
			break;
	}
	cl_unlock(c);
	return r < 0 ? r : (ssize_t)done;
}

static int write_chunk(struct uvfio_client *c, const uint8_t *buf,
		       uint32_t n)
{
	struct vfio_user_mig_data q = { .argsz = (uint32_t)(MD + n),
					.size = n };
	struct iovec iov[2] = { { &q, MD }, { (void *)buf, n } };
	struct cl_req rq = { .cmd = VFIO_USER_MIG_DATA_WRITE,
			     .iov = iov,
			     .iovcnt = 2 };
	struct uvfio_msg rep;
	int r = cl_call(c, &rq, &rep);

	/* The reply has no payload; one that carries some is harmless. */
	if (r == 0)
		uvfio_msg_release(&rep);
	return r;
}

int uvfio_client_mig_write(struct uvfio_client *c, const void *buf,
			   size_t len)
{
	int r = 0;

	if (!c || (len && !buf))
		return -EINVAL;
	cl_lock(c);
	for (size_t done = 0; done < len && !r;) {
		uint32_t n = len - done < c->xfer ? (uint32_t)(len - done) :
						    c->xfer;

		r = write_chunk(c, (const uint8_t *)buf + done, n);
		done += n;
	}
	cl_unlock(c);
	return r;
}

int uvfio_client_dirty_start(struct uvfio_client *c, uint64_t *page_size,
			     const struct uvfio_iova_range *ranges,
			     uint32_t n)
{
	struct vfio_user_dma_logging_control ctl = { 0 };
	size_t in = LOG_CTL + (size_t)n * LOG_RNG;
	uint64_t chosen;
	uint8_t *buf;
	int r;

	if (!c || !page_size || !pow2(*page_size) || (n && !ranges))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!ranges[i].length ||
		    ranges[i].iova + (ranges[i].length - 1) < ranges[i].iova)
			return -EINVAL;
	if (in > c->caps.max_data_xfer_size || in > c->ours.max_data_xfer_size)
		return -E2BIG;
	/* The request, and a copy to check the echo against. */
	buf = malloc(2 * in);
	if (!buf)
		return -ENOMEM;
	ctl.page_size = *page_size;
	ctl.num_ranges = n;
	memcpy(buf, &ctl, LOG_CTL);
	for (uint32_t i = 0; i < n; i++) {
		struct vfio_user_dma_logging_range rg = { ranges[i].iova,
							  ranges[i].length };

		memcpy(buf + LOG_CTL + i * LOG_RNG, &rg, LOG_RNG);
	}
	memcpy(buf + in, buf, in);
	r = feat_call(c, F_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, buf, in,
		      in, true);
	chosen = *page_size;
	if (r > 0) {
		/* The echo; only the page size may differ. */
		memcpy(&ctl, buf, LOG_CTL);
		if (ctl.num_ranges != n || ctl.reserved ||
		    !pow2(ctl.page_size) ||
		    memcmp(buf + LOG_CTL, buf + in + LOG_CTL, in - LOG_CTL))
			r = -EPROTO;
		chosen = ctl.page_size;
	}
	free(buf);
	if (r < 0)
		return r;
	cl_lock(c);
	c->log_pgsize = chosen;
	cl_unlock(c);
	*page_size = chosen;
	return 0;
}

int uvfio_client_dirty_stop(struct uvfio_client *c)
{
	struct vfio_user_dma_logging_control ctl = { 0 };
	int r;

	if (!c)
		return -EINVAL;
	/* libvfio-user sends START's page size back, without ranges. */
	cl_lock(c);
	ctl.page_size = c->log_pgsize;
	cl_unlock(c);
	r = feat_call(c, F_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, &ctl,
		      LOG_CTL, LOG_CTL, true);
	if (r < 0)
		return r;
	if (r && (ctl.num_ranges || ctl.reserved))
		return -EPROTO;
	cl_lock(c);
	c->log_pgsize = 0;
	cl_unlock(c);
	return 0;
}

/*
 * One REPORT of npages pages into out (ORed in when merge): the request
 * carries the 24-byte header, its argsz counts the bitmap, and the reply
 * must be the echo plus exactly that bitmap.  Bits past npages dropped.
 */
static int report_chunk(struct uvfio_client *c, uint64_t iova,
			uint64_t length, uint64_t page_size, uint64_t npages,
			uint64_t *out, bool merge)
{
	size_t words = (size_t)((npages + 63) / 64), bm = words * 8;
	struct vfio_device_feature f = {
		.argsz = (uint32_t)(FEAT + LOG_REP + bm),
		.flags = F_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
	};
	struct vfio_user_dma_logging_report q = { iova, length, page_size };
	struct iovec iov[2] = { { &f, FEAT }, { &q, LOG_REP } };
	struct cl_req rq = { .cmd = VFIO_USER_DEVICE_FEATURE,
			     .iov = iov,
			     .iovcnt = 2 };
	struct vfio_user_dma_logging_report a;
	struct vfio_device_feature g;
	struct uvfio_msg rep;
	uint8_t head[FEAT + LOG_REP];
	size_t got;
	int r;

	/* Not merging: the bitmap goes straight into the caller's. */
	r = merge ? cl_call(c, &rq, &rep) :
		    cl_call_into(c, &rq, head, sizeof(head), out, bm, &got,
				 &rep);
	if (r < 0)
		return r;
	if (r == 1) {
		memcpy(&g, head, FEAT);
		memcpy(&a, head + FEAT, LOG_REP);
		if (got != bm || g.argsz < FEAT ||
		    (g.flags & VFIO_DEVICE_FEATURE_MASK) !=
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT ||
		    a.iova != iova || a.length != length ||
		    a.page_size != page_size)
			return -EPROTO;
		if (npages % 64)
			out[words - 1] &= (1ull << (npages % 64)) - 1;
		return 0;
	}
	r = -EPROTO;
	if (rep.size == FEAT + LOG_REP + bm) {
		const uint8_t *p = rep.payload;

		memcpy(&g, p, FEAT);
		memcpy(&a, p + FEAT, LOG_REP);
		if (g.argsz >= FEAT &&
		    (g.flags & VFIO_DEVICE_FEATURE_MASK) ==
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT &&
		    a.iova == iova && a.length == length &&
		    a.page_size == page_size) {
			p += FEAT + LOG_REP;
			for (size_t i = 0; i < words; i++) {
				uint64_t w;

				memcpy(&w, p + 8 * i, 8);
				if (i == words - 1 && npages % 64)
					w &= (1ull << (npages % 64)) - 1;
				out[i] = merge ? out[i] | w : w;
			}
			r = 0;
		}
	}
	uvfio_msg_release(&rep);
	return r;
}

static int report(struct uvfio_client *c, uint64_t iova, uint64_t length,
		  uint64_t page_size, uint64_t *bitmap, bool merge)
{
	uint64_t npages, per;
	size_t bm_max;
	int r = 0;

	if (!c || !bitmap || !length || !pow2(page_size) ||
	    iova + (length - 1) < iova)
		return -EINVAL;
	npages = (length - 1) / page_size + 1;
	/* Pieces whose bitmap fits a message, of whole words. */
	bm_max = c->xfer > FEAT + LOG_REP + 8 ?
			 (c->xfer - FEAT - LOG_REP) & ~(size_t)7 :
			 0;
	if (!bm_max)
		return -E2BIG;
	per = (uint64_t)bm_max * 8;
	cl_lock(c);
	for (uint64_t p = 0; p < npages && !r; p += per) {
		uint64_t np = npages - p < per ? npages - p : per;
		uint64_t off = p * page_size;
		/* off <= length - 1; a piece before the last one fits. */
		uint64_t len = np == npages - p ? length - off : np * page_size;

		r = report_chunk(c, iova + off, len, page_size, np,
				 bitmap + p / 64, merge);
	}
	cl_unlock(c);
	return r;
}

int uvfio_client_dirty_report(struct uvfio_client *c, uint64_t iova,
			      uint64_t length, uint64_t page_size,
			      uint64_t *bitmap)
{
	return report(c, iova, length, page_size, bitmap, false);
}

int uvfio_client_dirty_merge(struct uvfio_client *c, uint64_t iova,
			     uint64_t length, uint64_t page_size,
			     uint64_t *bitmap)
{
	return report(c, iova, length, page_size, bitmap, true);
}

/* The driver. */

#define DRV_BUF (1u << 20)
#define DRV_MAX_DEVS 4096u
#define DRV_ITERS 8u
#define DRV_ITER_BYTES (256ull << 20)

struct drv_dev {
	struct uvfio_client *c;
	uint64_t flags;                 /* VFIO_MIGRATION_* */
	enum uvfio_mig_state start;
	enum uvfio_mig_state cur;
	bool lost;                      /* a state change failed */
};

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		/* A socket whose peer left must not raise SIGPIPE. */
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Bytes read: fewer than n only at end of file. */
static ssize_t read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	size_t done = 0;

	while (done < n) {
		ssize_t got = read(fd, b + done, n - done);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

static int set_state(struct drv_dev *d, enum uvfio_mig_state s)
{
	int r = uvfio_client_mig_set_state(d->c, s);

	if (r < 0)
		d->lost = true;
	else
		d->cur = s;
	return r;
}

static int put_frame(int fd, uint32_t index, uint32_t flags,
		     const void *data, size_t len)
{
	struct uvfio_mig_frame f = { index, flags, len };
	int r = write_all(fd, &f, sizeof(f));

	return r ? r : write_all(fd, data, len);
}

/*
 * Streams what device i has now in frames of flags, at most limit bytes
 * (0: until a short read ends the stream).
 */
static int stream_dev(struct drv_dev *d, unsigned int i, int fd,
		      uint8_t *buf, uint32_t flags, uint64_t limit,
		      uint64_t *bytes)
{
	uint64_t total = 0;

	for (;;) {
		size_t want = DRV_BUF;
		ssize_t n;
		int r;

		if (limit && limit - total < want)
			want = (size_t)(limit - total);
		if (!want)
			break;
		n = uvfio_client_mig_read(d->c, buf, want);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			r = put_frame(fd, i, flags, buf, (size_t)n);
			if (r < 0)
				return r;
			total += (uint64_t)n;
			*bytes += (uint64_t)n;
		}
		if ((size_t)n < want)
			break;
	}
	return 0;
}

static bool no_estimate(int r)
{
	return r == -ENOTSUP || r == -EOPNOTSUPP || r == -EINVAL ||
	       r == -ENOSYS || r == -ENOTTY;
}

/* Every device back where it started, P2P peers first. */
static void restore(struct drv_dev *d, unsigned int ndev)
{
	for (unsigned int i = 0; i < ndev; i++)
		if ((d[i].flags & VFIO_MIGRATION_P2P) &&
		    d[i].start == UVFIO_MIG_RUNNING &&
		    (d[i].cur != UVFIO_MIG_RUNNING || d[i].lost))
			set_state(&d[i], UVFIO_MIG_RUNNING_P2P);
	for (unsigned int i = 0; i < ndev; i++)
		if (d[i].cur != d[i].start || d[i].lost)
			set_state(&d[i], d[i].start);
}

static int drv_init(struct uvfio_client *const *devs, unsigned int ndev, int fd,
		    const struct uvfio_mig_hooks *h, struct drv_dev **out,
		    uint8_t **buf)
{
	struct drv_dev *d;

	/* Without devices, only a VMM's own state travels. */
	if ((!ndev && !h) || (ndev && !devs) || ndev > DRV_MAX_DEVS || fd < 0)
		return -EINVAL;
	for (unsigned int i = 0; i < ndev; i++)
		if (!devs[i])
			return -EINVAL;
	d = calloc(ndev ? ndev : 1, sizeof(*d));
	*buf = malloc(DRV_BUF);
	if (!d || !*buf) {
		free(d);
		free(*buf);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < ndev; i++) {
		int r;

		d[i].c = devs[i];
		r = uvfio_client_mig_flags(devs[i], &d[i].flags);
		if (r == 0)
			r = uvfio_client_mig_get_state(devs[i], &d[i].start);
		if (r < 0) {
			free(d);
			free(*buf);
			return r;
		}
		d[i].cur = d[i].start;
	}
	*out = d;
	return 0;
}

static int precopy(struct drv_dev *d, unsigned int ndev, int fd, uint8_t *buf,
		   const struct uvfio_mig_driver_opts *o,
		   struct uvfio_mig_driver_stats *st)
{
	unsigned int max_iters = o && o->max_iters ? o->max_iters : DRV_ITERS;
	uint64_t limit = o && o->max_iter_bytes ? o->max_iter_bytes :
						  DRV_ITER_BYTES;
	uint64_t threshold = o ? o->precopy_threshold : 0;
	const struct uvfio_mig_hooks *h = o ? o->hooks : NULL;
	bool any = h && h->round;
	int r;

	if (o && o->no_precopy && !any)
		return 0;
	for (unsigned int i = 0; i < ndev && !(o && o->no_precopy); i++) {
		if (!(d[i].flags & VFIO_MIGRATION_PRE_COPY) ||
		    d[i].cur != UVFIO_MIG_RUNNING)
			continue;
		r = set_state(&d[i], UVFIO_MIG_PRE_COPY);
		if (r < 0)
			return r;
		any = true;
	}
	while (any) {
		bool done = true;

		for (unsigned int i = 0; i < ndev; i++) {
			if (d[i].cur != UVFIO_MIG_PRE_COPY)
				continue;
			r = stream_dev(&d[i], i, fd, buf,
				       UVFIO_MIG_FRAME_PRE_COPY, limit,
				       &st->precopy_bytes);
			if (r < 0)
				return r;
		}
		st->iters++;
		if (h && h->round) {
			bool more = false;

			r = h->round(h->arg, fd, st->iters - 1, &more);
			if (r < 0)
				return r;
			if (more)
				done = false;
		}
		for (unsigned int i = 0; i < ndev; i++) {
			uint64_t est;

			if (d[i].cur != UVFIO_MIG_PRE_COPY)
				continue;
			r = uvfio_client_mig_data_size(d[i].c, &est);
			if (r < 0 && !no_estimate(r))
				return r;
			if (r == 0 && est > threshold)
				done = false;
		}
		if (done || st->iters >= max_iters)
			break;
	}
	return 0;
}

static int stopcopy(struct drv_dev *d, unsigned int ndev, int fd, uint8_t *buf,
		    const struct uvfio_mig_hooks *h, bool *quiesced,
		    struct uvfio_mig_driver_stats *st)
{
	int r;

	/* No device stops before every P2P device stopped initiating. */
	for (unsigned int i = 0; i < ndev; i++) {
		enum uvfio_mig_state to;

		if (!(d[i].flags & VFIO_MIGRATION_P2P))
			continue;
		if (d[i].cur == UVFIO_MIG_PRE_COPY)
			to = UVFIO_MIG_PRE_COPY_P2P;
		else if (d[i].cur == UVFIO_MIG_RUNNING)
			to = UVFIO_MIG_RUNNING_P2P;
		else
			continue;
		r = set_state(&d[i], to);
		if (r < 0)
			return r;
	}
	if (h && h->quiesce) {
		*quiesced = true;
		r = h->quiesce(h->arg);
		if (r < 0)
			return r;
	}
	for (unsigned int i = 0; i < ndev; i++) {
		r = set_state(&d[i], UVFIO_MIG_STOP_COPY);
		if (r < 0)
			return r;
	}
	for (unsigned int i = 0; i < ndev; i++) {
		r = stream_dev(&d[i], i, fd, buf, UVFIO_MIG_FRAME_STOP_COPY, 0,
			       &st->stopcopy_bytes);
		if (r < 0)
			return r;
	}
	for (unsigned int i = 0; i < ndev; i++) {
		r = set_state(&d[i], UVFIO_MIG_STOP);
		if (r < 0)
			return r;
	}
	return h && h->stopped ? h->stopped(h->arg, fd) : 0;
}

int uvfio_client_migrate_out(struct uvfio_client *const *devs,
			     unsigned int ndev, int out_fd,
			     const struct uvfio_mig_driver_opts *opts)
{
	const struct uvfio_mig_hooks *h = opts ? opts->hooks : NULL;
	struct uvfio_mig_driver_stats st = { 0 };
	bool quiesced = false;
	struct drv_dev *d;
	uint8_t *buf;
	int r;

	r = drv_init(devs, ndev, out_fd, h, &d, &buf);
	if (r < 0)
		return r;
	for (unsigned int i = 0; i < ndev && !r; i++)
		if (d[i].start != UVFIO_MIG_RUNNING &&
		    d[i].start != UVFIO_MIG_STOP)
			r = -EBUSY;
	if (!r)
		r = precopy(d, ndev, out_fd, buf, opts, &st);
	if (!r)
		r = stopcopy(d, ndev, out_fd, buf, h, &quiesced, &st);
	if (!r)
		r = put_frame(out_fd, UVFIO_MIG_FRAME_END_INDEX,
			      UVFIO_MIG_FRAME_END, NULL, 0);
	if (r < 0 && r != -EBUSY)
		restore(d, ndev);
	if (r < 0 && quiesced && h->resume)
		h->resume(h->arg);
	if (opts && opts->stats)
		*opts->stats = st;
	free(buf);
	free(d);
	return r;
}

static int feed(struct drv_dev *d, unsigned int ndev, int fd, uint8_t *buf,
		const struct uvfio_mig_hooks *h)
{
	for (;;) {
		struct uvfio_mig_frame f;
		ssize_t n = read_all(fd, &f, sizeof(f));

		if (n < 0)
			return (int)n;
		if ((size_t)n < sizeof(f))
			return -ENODATA;
		if (f.index == UVFIO_MIG_FRAME_END_INDEX)
			return f.flags == UVFIO_MIG_FRAME_END && !f.length ?
				       0 :
				       -EBADMSG;
		if (f.index >= UVFIO_MIG_FRAME_USER_BASE) {
			int r = h && h->frame ? h->frame(h->arg, fd, &f) :
						-EBADMSG;

			if (r < 0)
				return r;
			continue;
		}
		if (f.index >= ndev || (f.flags != UVFIO_MIG_FRAME_PRE_COPY &&
					f.flags != UVFIO_MIG_FRAME_STOP_COPY))
			return -EBADMSG;
		while (f.length) {
			size_t want = f.length < DRV_BUF ? (size_t)f.length :
							   DRV_BUF;
			int r;

			n = read_all(fd, buf, want);
			if (n < 0)
				return (int)n;
			if ((size_t)n < want)
				return -ENODATA;
			r = uvfio_client_mig_write(d[f.index].c, buf, want);
			if (r < 0)
				return r;
			f.length -= want;
		}
	}
}

int uvfio_client_migrate_in_hooks(struct uvfio_client *const *devs,
				  unsigned int ndev, int in_fd,
				  const struct uvfio_mig_hooks *h)
{
	struct drv_dev *d;
	uint8_t *buf;
	int r;

	r = drv_init(devs, ndev, in_fd, h, &d, &buf);
	if (r < 0)
		return r;
	for (unsigned int i = 0; i < ndev && !r; i++)
		r = set_state(&d[i], UVFIO_MIG_RESUMING);
	if (!r)
		r = feed(d, ndev, in_fd, buf, h);
	/* Each loads its state, then none runs before all can take P2P. */
	for (unsigned int i = 0; i < ndev && !r; i++)
		r = set_state(&d[i], UVFIO_MIG_STOP);
	for (unsigned int i = 0; i < ndev && !r; i++)
		if (d[i].flags & VFIO_MIGRATION_P2P)
			r = set_state(&d[i], UVFIO_MIG_RUNNING_P2P);
	if (!r && h && h->loaded)
		r = h->loaded(h->arg);
	for (unsigned int i = 0; i < ndev && !r; i++)
		r = set_state(&d[i], UVFIO_MIG_RUNNING);
	free(buf);
	free(d);
	return r;
}

int uvfio_client_migrate_in(struct uvfio_client *const *devs, unsigned int ndev,
			    int in_fd)
{
	return uvfio_client_migrate_in_hooks(devs, ndev, in_fd, NULL);
}
