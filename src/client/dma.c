// SPDX-License-Identifier: MIT
/*
 * DMA windows: DMA_MAP/DMA_UNMAP, and answering the server's DMA_READ and
 * DMA_WRITE from the windows the client has shared.
 */
#include "priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/hot.h"

#define PROT_ALL (UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE)

/*
 * The window table is an itree keyed by [iova, iova + size - 1]: data is
 * the window's vaddr, val points at its prot in prots[], so a lookup
 * reads tree nodes only.  Every lookup holds dma_lock (or, in
 * uvfio_client_dma_unmap(), c->lock, which every change holds too).  A
 * removal holds dma_lock for writing, so no lookup still uses the window
 * once it is out, and reclaims.  An insert needs no lock against lookups
 * (the tree publishes whole nodes); the nodes it retires are reclaimed by
 * the next removal, or under dma_lock once CL_RETIRED_MAX wait.
 */
#define CL_RETIRED_MAX 64
static const uint32_t prots[PROT_ALL + 1] = {
	0, UVFIO_DMA_PROT_READ, UVFIO_DMA_PROT_WRITE, PROT_ALL,
};

_Static_assert(UVFIO_DMA_PROT_READ == 1 && UVFIO_DMA_PROT_WRITE == 2,
	       "prots[] is indexed by prot");

/* The window holding all of [addr, addr + count), count > 0: *w, or 0. */
HOT static bool find(const struct uvfio_client *c, uint64_t addr,
		     uint64_t count, struct cl_window *w)
{
	struct itree_hit h;

	if (!itree_find(&c->win, addr, &h) || count - 1 > h.last - addr)
		return false;
	w->iova = h.start;
	w->size = h.last - h.start + 1;
	w->vaddr = (uint8_t *)h.data;
	w->prot = *(const uint32_t *)h.val;
	return true;
}

HOT static int insert(struct uvfio_client *c, const struct cl_window *nw,
		      void *val)
{
	uint64_t last = nw->iova + nw->size - 1;
	struct itree_path at;
	int r;

	r = itree_check(&c->win, nw->iova, last, &at);
	if (r < 0)
		return r;
	if (c->win.n >= c->caps.max_dma_maps)
		return -ENOSPC;
	/* -ENOMEM changes nothing. */
	r = itree_insert_at(&c->win, &at, nw->iova, last,
			    val ? val : (void *)&prots[nw->prot],
			    (uintptr_t)nw->vaddr);
	if (c->win.nretired >= CL_RETIRED_MAX) {
		pthread_rwlock_wrlock(&c->dma_lock);
		itree_reclaim(&c->win);
		pthread_rwlock_unlock(&c->dma_lock);
	}
	return r;
}

/*
 * Takes out the window at (itree_lookup()).  This cannot fail for
 * memory: every insert leaves the tree the spare node a removal takes.
 */
HOT static void withdraw_at(struct uvfio_client *c, const struct itree_path *at,
			    void *val)
{
	if (!itree_remove_at(&c->win, at) && c->keep)
		cl_drop_window(c, val);
	itree_reclaim(&c->win);
}

/* Takes out the window [iova, iova + size), if it is there. */
static void withdraw(struct uvfio_client *c, uint64_t iova, uint64_t size)
{
	struct itree_path at;
	struct itree_hit h;

	if (!itree_lookup(&c->win, iova, iova + size - 1, &at, &h))
		withdraw_at(c, &at, h.val);
}

static int drop_kept(const struct itree_hit *h, void *arg)
{
	cl_drop_window(arg, h->val);
	return 0;
}

static void destroy_kept(void *val, uintptr_t data)
{
	(void)data;
	free(val);
}

void cl_dma_fini(struct uvfio_client *c)
{
	itree_destroy(&c->win, c->keep ? destroy_kept : NULL);
}

/* Sends one DMA_MAP and checks its reply; the caller holds c->lock. */
HOT int cl_dma_map_send(struct uvfio_client *c, uint64_t iova, uint64_t size,
			uint32_t prot, int fd, uint64_t offset)
{
	struct vfio_user_dma_map m = {
		.argsz = sizeof(m),
		.flags = ((prot & UVFIO_DMA_PROT_READ) ?
				  VFIO_USER_F_DMA_REGION_READ :
				  0) |
			 ((prot & UVFIO_DMA_PROT_WRITE) ?
				  VFIO_USER_F_DMA_REGION_WRITE :
				  0),
		.offset = fd >= 0 ? offset : 0,
		.addr = iova,
		.size = size,
	};
	struct iovec iov = { &m, sizeof(m) };
	struct cl_req rq = { .cmd = VFIO_USER_DMA_MAP,
			     .iov = &iov,
			     .iovcnt = 1,
			     .fds = &fd,
			     .nfds = fd >= 0 };
	struct uvfio_msg rep;
	int r;

	r = cl_call(c, &rq, &rep);
	if (r == 0) {
		if (rep.size)
			r = -EPROTO;
		uvfio_msg_release(&rep);
	}
	return r;
}

HOT int uvfio_client_dma_map(struct uvfio_client *c, uint64_t iova,
			     uint64_t size, uint32_t prot, void *vaddr, int fd,
			     uint64_t offset)
{
	struct cl_window w = { iova, size, vaddr, prot };
	struct cl_kept_win *k = NULL;
	int r;

	if (!size || iova + size - 1 < iova || (iova | size) % CL_PAGE ||
	    (prot & ~PROT_ALL) || !vaddr ||
	    size - 1 > (uint64_t)(UINTPTR_MAX - (uintptr_t)vaddr))
		return -EINVAL;
	cl_lock(c);
	r = cl_keep_window(c, fd, offset, prot, &k);
	if (r < 0)
		goto out;
	r = insert(c, &w, k);
	if (r < 0) {
		cl_drop_window(c, k);
		goto out;
	}
	r = cl_dma_map_send(c, iova, size, prot, fd, offset);
	if (r < 0) {
		pthread_rwlock_wrlock(&c->dma_lock);
		withdraw(c, iova, size);
		pthread_rwlock_unlock(&c->dma_lock);
	}
out:
	cl_unlock(c);
	return r;
}

/* The reply may be empty or echo the request (the spec says it echoes). */
HOT static int check_unmap_reply(const struct uvfio_msg *rep,
				 const struct vfio_user_dma_unmap *req)
{
	struct vfio_user_dma_unmap u;

	if (rep->size == 0)
		return 0;
	if (rep->size != sizeof(u))
		return -EPROTO;
	memcpy(&u, rep->payload, sizeof(u));
	if (u.addr != req->addr || u.size != req->size)
		return -EPROTO;
	return 0;
}

/* Unmaps the window at (found by itree_lookup()), or all (at NULL). */
HOT static int unmap(struct uvfio_client *c, uint64_t iova, uint64_t size,
		     uint32_t flags, const struct itree_path *at,
		     const struct itree_hit *hit)
{
	struct vfio_user_dma_unmap u = {
		.argsz = sizeof(u),
		.flags = flags,
		.addr = iova,
		.size = size,
	};
	struct uvfio_msg rep;
	int r;

	r = cl_simple(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), &rep, 0);
	if (r == 0) {
		r = check_unmap_reply(&rep, &u);
		uvfio_msg_release(&rep);
	}
	/* Once the link is gone no DMA may use the window either. */
	if (r < 0 && !c->broken)
		return r;
	pthread_rwlock_wrlock(&c->dma_lock);
	if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (c->keep)
			itree_walk(&c->win, drop_kept, c);
		itree_clear(&c->win);
		itree_reclaim(&c->win);
	} else {
		withdraw_at(c, at, hit->val);
	}
	pthread_rwlock_unlock(&c->dma_lock);
	/*
	 * A write already on its way into the window lands first.  Its
	 * writer set direct_busy before it let go of dma_lock, which the
	 * removal above then took: when it reads false here, no write is.
	 */
	if (!atomic_load_explicit(&c->direct_busy, memory_order_relaxed))
		return r;
	pthread_mutex_lock(&c->direct_lock);
	while (c->direct_busy &&
	       ((flags & VFIO_DMA_UNMAP_FLAG_ALL) ||
		(c->direct_iova < iova + size &&
		 iova < c->direct_iova + c->direct_len)))
		pthread_cond_wait(&c->direct_done, &c->direct_lock);
	pthread_mutex_unlock(&c->direct_lock);
	return r;
}

HOT int uvfio_client_dma_unmap(struct uvfio_client *c, uint64_t iova,
			       uint64_t size)
{
	struct itree_path at;
	struct itree_hit h;
	int r = -ENOENT;

	cl_lock(c);
	/* Only this thread (holding c->lock) changes the table: at stays. */
	if (size && iova + size - 1 >= iova &&
	    !itree_lookup(&c->win, iova, iova + size - 1, &at, &h))
		r = unmap(c, iova, size, 0, &at, &h);
	cl_unlock(c);
	return r;
}

int uvfio_client_dma_unmap_all(struct uvfio_client *c)
{
	int r;

	cl_lock(c);
	r = unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, NULL, NULL);
	cl_unlock(c);
	return r;
}

static int dma_read(struct uvfio_client *c, struct uvfio_chan *ch,
		    const struct uvfio_msg *m, bool reply)
{
	struct vfio_user_dma_region_access a;
	struct cl_window w;
	int r;

	if (m->size != sizeof(a))
		return -EINVAL;
	memcpy(&a, m->payload, sizeof(a));
	if (!a.count || a.count > c->ours.max_data_xfer_size)
		return -EINVAL;
	pthread_rwlock_rdlock(&c->dma_lock);
	r = !find(c, a.addr, a.count, &w) ? -EFAULT :
	    !(w.prot & UVFIO_DMA_PROT_READ) ? -EACCES : 0;
	if (r == 0 && reply) {
		struct vfio_user_header h = {
			.msg_id = m->hdr.msg_id,
			.cmd = m->hdr.cmd,
			.msg_size = (uint32_t)(CL_HDR + sizeof(a) + a.count),
			.flags = VFIO_USER_F_TYPE_REPLY,
		};
		struct iovec iov[2] = {
			{ &a, sizeof(a) },
			{ w.vaddr + (a.addr - w.iova), (size_t)a.count },
		};

		/* A failed send is a lost link, not an answer to give. */
		r = uvfio_chan_sendv(ch, &h, iov, 2, NULL, 0);
		r = r < 0 ? 1 : 0;
	}
	pthread_rwlock_unlock(&c->dma_lock);
	if (r == 0) {
		cl_stat_add(&c->stats.dma_reads, 1);
		cl_stat_add(&c->stats.dma_bytes, a.count);
	}
	return r;
}

static int dma_write(struct uvfio_client *c, struct uvfio_chan *ch,
		     const struct uvfio_msg *m, bool reply)
{
	struct vfio_user_dma_region_access a;
	struct cl_window w;
	int r;

	if (m->size < sizeof(a))
		return -EINVAL;
	memcpy(&a, m->payload, sizeof(a));
	if (!a.count || a.count > c->ours.max_data_xfer_size ||
	    a.count != m->size - sizeof(a))
		return -EINVAL;
	pthread_rwlock_rdlock(&c->dma_lock);
	r = !find(c, a.addr, a.count, &w) ? -EFAULT :
	    !(w.prot & UVFIO_DMA_PROT_WRITE) ? -EACCES : 0;
	if (r == 0)
		memcpy(w.vaddr + (a.addr - w.iova),
		       (const uint8_t *)m->payload + sizeof(a), a.count);
	pthread_rwlock_unlock(&c->dma_lock);
	if (r < 0)
		return r;
	cl_stat_add(&c->stats.dma_writes, 1);
	cl_stat_add(&c->stats.dma_bytes, a.count);
	/*
	 * The reply echoes address and count as 16 bytes: libvfio-user
	 * drops a device's connection on anything shorter, and the
	 * specification's 12 (a u32 count) are its prefix.
	 */
	if (reply && uvfio_chan_send_reply(ch, &m->hdr, &a, sizeof(a), NULL,
					   0) < 0)
		return 1;
	return 0;
}

/*
 * Helpers return 0 when answered, a negative errno to answer with, or 1
 * when the answer could not be sent.
 */
int cl_serve(struct uvfio_client *c, struct uvfio_chan *ch,
	     const struct uvfio_msg *m)
{
	bool reply = !(m->hdr.flags & VFIO_USER_F_NO_REPLY);
	int r;

	/* We send no requests on the twin socket: a reply there is stray. */
	if ((m->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND)
		return 0;
	if (m->oversize)
		r = -E2BIG;
	else if (m->nfds || m->fds_truncated)
		r = -EINVAL;
	else if (m->hdr.cmd == VFIO_USER_DMA_READ)
		r = dma_read(c, ch, m, reply);
	else if (m->hdr.cmd == VFIO_USER_DMA_WRITE)
		r = dma_write(c, ch, m, reply);
	else
		r = -ENOSYS;
	if (r > 0)
		return -ECONNRESET;
	if (r < 0 && reply && uvfio_chan_send_error(ch, &m->hdr, r) < 0)
		return -ECONNRESET;
	return 0;
}

/*
 * A DMA_WRITE whose window takes it: the data goes from the socket
 * straight into guest memory.  1 when answered, 0 to take the ordinary
 * path (which answers anything odd with its errno), or a lost link.
 */
static int dma_write_direct(struct uvfio_client *c, struct uvfio_chan *ch,
			    const struct vfio_user_header *h,
			    const struct vfio_user_dma_region_access *a,
			    bool block)
{
	bool reply = !(h->flags & VFIO_USER_F_NO_REPLY);
	struct cl_window w;
	int r;

	if (!a->count || a->count > c->ours.max_data_xfer_size ||
	    h->msg_size != CL_HDR + sizeof(*a) + a->count)
		return 0;
	uint8_t *dst;

	/* Not blocking: only when all of it is here already. */
	if (!block && !uvfio_chan_ready(ch, h->msg_size))
		return 0;
	pthread_rwlock_rdlock(&c->dma_lock);
	if (!find(c, a->addr, a->count, &w) ||
	    !(w.prot & UVFIO_DMA_PROT_WRITE)) {
		pthread_rwlock_unlock(&c->dma_lock);
		return 0;
	}
	dst = w.vaddr + (a->addr - w.iova);
	/* Pinned before the table may change: see direct_busy. */
	pthread_mutex_lock(&c->direct_lock);
	c->direct_busy = true;
	c->direct_iova = a->addr;
	c->direct_len = a->count;
	pthread_mutex_unlock(&c->direct_lock);
	pthread_rwlock_unlock(&c->dma_lock);
	r = uvfio_chan_take(ch, sizeof(*a), dst, (size_t)a->count);
	pthread_mutex_lock(&c->direct_lock);
	c->direct_busy = false;
	pthread_cond_broadcast(&c->direct_done);
	pthread_mutex_unlock(&c->direct_lock);
	if (r == -EBADMSG)
		r = reply ? uvfio_chan_send_error(ch, h, EINVAL) : 0;
	else if (r == 0) {
		cl_stat_add(&c->stats.dma_writes, 1);
		cl_stat_add(&c->stats.dma_bytes, a->count);
		/* The 16-byte echo, as in dma_write(). */
		if (reply)
			r = uvfio_chan_send_reply(ch, h, a, sizeof(*a), NULL, 0);
	}
	return r < 0 ? -ECONNRESET : 1;
}

int cl_serve_next(struct uvfio_client *c, struct uvfio_chan *ch, bool block)
{
	struct vfio_user_dma_region_access a;
	struct vfio_user_header h;
	struct uvfio_msg m;
	int r;

	r = uvfio_chan_peek(ch, &h, &a, sizeof(a), block);
	if (r <= 0)
		return r;
	if (h.cmd == VFIO_USER_DMA_WRITE &&
	    (h.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_COMMAND &&
	    h.msg_size >= CL_HDR + sizeof(a)) {
		r = dma_write_direct(c, ch, &h, &a, block);
		if (r)
			return r;
	}
	r = uvfio_chan_recv(ch, &m, block);
	if (r <= 0)
		return r;
	if ((m.hdr.flags & VFIO_USER_F_TYPE_MASK) !=
	    VFIO_USER_F_TYPE_COMMAND) {
		uvfio_msg_release(&m);
		return 2;
	}
	r = cl_serve(c, ch, &m);
	uvfio_msg_release(&m);
	return r < 0 ? r : 1;
}
