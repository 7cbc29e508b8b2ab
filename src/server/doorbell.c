// SPDX-License-Identifier: MIT
/*
 * Doorbells: sub-ranges of trapped regions that a client may have signal
 * an eventfd instead of sending REGION_WRITE (GET_REGION_IO_FDS; a VMM
 * binds them with KVM_IOEVENTFD, so a guest's write costs one exit and
 * no socket round trip).  The device declares them before it serves;
 * the eventfds are the device's for its whole life, handed to each
 * client that asks.  One thread, started with the first doorbell, waits
 * on all of them and turns each signal into the write the REGION_WRITE
 * would have made.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "priv.h"

struct doorbell {
	uint32_t index;
	uint64_t offset;
	uint32_t size;
	uint32_t flags; /* UVFIO_DOORBELL_* */
	uint64_t data;
	int fd;
};

struct doorbells {
	struct doorbell db[UVFIO_DOORBELL_MAX];
	unsigned int n;
	/* Held while a signal is run: a drain waits for the one running. */
	pthread_mutex_t lock;
	pthread_t thread;
	bool started;
	int epfd;
	int wake; /* ours: tells the thread to stop */
};

/* KVM's rule: one address, unless both match different values. */
static bool collides(const struct doorbell *a, const struct doorbell *b)
{
	if (a->index != b->index || a->offset != b->offset ||
	    a->size != b->size)
		return false;
	return !(a->flags & b->flags & UVFIO_DOORBELL_DATAMATCH) ||
	       a->data == b->data;
}

static bool in_mappable(const struct region *r, uint64_t off, uint64_t len)
{
	if (!r->mem)
		return false;
	if (!r->nr_areas)
		return true;
	for (unsigned int i = 0; i < r->nr_areas; i++)
		if (off < r->areas[i].offset + r->areas[i].size &&
		    r->areas[i].offset < off + len)
			return true;
	return false;
}

static int check(struct uvfio_dev *dev, const struct doorbell *d)
{
	const struct region *r;
	unsigned int same = 0;

	if (d->index >= dev->nregions ||
	    d->index == VFIO_PCI_CONFIG_REGION_INDEX)
		return -EINVAL;
	r = &dev->regions[d->index];
	if (!r->present || !r->access || !(r->flags & UVFIO_REGION_WRITE) ||
	    (d->flags & ~UVFIO_DOORBELL_DATAMATCH) ||
	    (d->size != 1 && d->size != 2 && d->size != 4 && d->size != 8) ||
	    d->offset > r->size || d->size > r->size - d->offset ||
	    in_mappable(r, d->offset, d->size))
		return -EINVAL;
	if ((d->flags & UVFIO_DOORBELL_DATAMATCH) && d->size < 8 &&
	    d->data >> (d->size * 8))
		return -EINVAL;
	if (dev->doorbells) {
		const struct doorbells *b = dev->doorbells;

		if (b->n == UVFIO_DOORBELL_MAX)
			return -ENOSPC;
		for (unsigned int i = 0; i < b->n; i++) {
			if (collides(&b->db[i], d))
				return -EEXIST;
			same += b->db[i].index == d->index;
		}
	}
	return same == UVFIO_DOORBELL_REGION_MAX ? -ENOSPC : 0;
}

/* A signal is the write it stands for; several may have coalesced. */
static void ring(struct uvfio_dev *dev, const struct doorbell *d)
{
	struct region *r = &dev->regions[d->index];
	uint8_t buf[8];
	uint64_t n;
	ssize_t w;

	if (read(d->fd, &n, sizeof(n)) != sizeof(n))
		return;
	/* Without a value to match, the value written is not known. */
	memset(buf, 0, sizeof(buf));
	if (d->flags & UVFIO_DOORBELL_DATAMATCH)
		for (uint32_t i = 0; i < d->size; i++)
			buf[i] = (uint8_t)(d->data >> (8 * i));
	w = r->access(dev, r->priv, d->offset, buf, d->size, true);
	if (w != (ssize_t)d->size)
		dev_log(dev, w < 0 ? (int)w : EIO,
			"doorbell at region %u offset %#llx: the write failed",
			d->index, (unsigned long long)d->offset);
}

static void *doorbell_main(void *arg)
{
	struct uvfio_dev *dev = arg;
	struct doorbells *b = dev->doorbells;
	struct epoll_event ev[UVFIO_DOORBELL_MAX];

	for (;;) {
		int n = epoll_wait(b->epfd, ev, UVFIO_DOORBELL_MAX, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == UVFIO_DOORBELL_MAX)
				return NULL;
			pthread_mutex_lock(&b->lock);
			ring(dev, &b->db[ev[i].data.u32]);
			pthread_mutex_unlock(&b->lock);
		}
	}
	return NULL;
}

/* Signals go to the device's own threads, never to this one. */
static int start(struct uvfio_dev *dev)
{
	struct doorbells *b = dev->doorbells;
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t all, old;
	int r;

	r = 0;
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	b->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->epfd < 0 || b->wake < 0)
		r = -errno;
	ev.data.u32 = UVFIO_DOORBELL_MAX;
	if (!r && epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wake, &ev))
		r = -errno;
	if (!r) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = -pthread_create(&b->thread, NULL, doorbell_main, dev);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	b->started = !r;
	if (r) {
		if (b->epfd >= 0)
			close(b->epfd);
		if (b->wake >= 0)
			close(b->wake);
		b->epfd = b->wake = -1;
	}
	return r;
}

int uvfio_dev_add_doorbell(struct uvfio_dev *dev, unsigned int index,
			   uint64_t offset, uint32_t size, uint32_t flags,
			   uint64_t data)
{
	struct doorbell d = { .index = index,
			      .offset = offset,
			      .size = size,
			      .flags = flags,
			      .data = data };
	struct epoll_event ev = { .events = EPOLLIN };
	struct doorbells *b;
	int r;

	if (!dev)
		return -EINVAL;
	/* The list is the dispatcher's once clients may ask for it. */
	if (dev->listen_fd >= 0 || dev->connected)
		return -EBUSY;
	r = check(dev, &d);
	if (r)
		return r;
	/*
	 * The thread starts with the first doorbell, so that serving adds
	 * no fd: a device's fd count is the same before and after a client.
	 */
	if (!dev->doorbells) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->epfd = b->wake = -1;
		pthread_mutex_init(&b->lock, NULL);
		dev->doorbells = b;
		r = start(dev);
		if (r) {
			pthread_mutex_destroy(&b->lock);
			free(b);
			dev->doorbells = NULL;
			return r;
		}
	}
	b = dev->doorbells;
	d.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d.fd < 0)
		return -errno;
	b->db[b->n] = d;
	ev.data.u32 = b->n;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, d.fd, &ev)) {
		r = -errno;
		close(d.fd);
		return r;
	}
	b->n++;
	return 0;
}

int doorbell_reply(struct uvfio_dev *dev, struct uvfio_msg *msg,
		   const struct vfio_user_region_io_fds_request *in)
{
	struct {
		struct vfio_user_region_io_fds_request h;
		struct vfio_user_sub_region_ioeventfd
			e[UVFIO_DOORBELL_REGION_MAX];
	} out;
	int fds[UVFIO_DOORBELL_REGION_MAX];
	struct doorbells *b = dev->doorbells;
	uint32_t n = 0;
	size_t need;

	memset(&out, 0, sizeof(out));
	for (unsigned int i = 0; b && i < b->n; i++) {
		const struct doorbell *d = &b->db[i];

		if (d->index != in->index)
			continue;
		out.e[n] = (struct vfio_user_sub_region_ioeventfd){
			.offset = d->offset,
			.size = d->size,
			.fd_index = n,
			.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			.flags = d->flags & UVFIO_DOORBELL_DATAMATCH ?
					 KVM_IOEVENTFD_FLAG_DATAMATCH :
					 0,
			.datamatch = d->data,
		};
		fds[n++] = d->fd;
	}
	need = sizeof(out.h) + n * sizeof(out.e[0]);
	out.h.argsz = (uint32_t)need;
	out.h.index = in->index;
	out.h.count = n;
	/*
	 * Too little room: the size it takes and no entries, as vfio does.
	 * A client that cannot take the fds in one message gets none.
	 */
	if (in->argsz < need || n > dev->peer.max_msg_fds) {
		if (n > dev->peer.max_msg_fds)
			out.h.count = 0;
		return reply(dev, &msg->hdr, &out.h, sizeof(out.h), NULL, 0) ?:
			       1;
	}
	return reply(dev, &msg->hdr, &out, need, fds, n) ?: 1;
}

/*
 * A doorbell is a posted write: one rung before the device stops for
 * migration is done before it stops, as a trapped write made then would
 * be, not after its state was saved.  Waits for the one running, then
 * runs what is still in the eventfds.
 */
void doorbell_drain(struct uvfio_dev *dev)
{
	struct doorbells *b = dev->doorbells;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	for (unsigned int i = 0; i < b->n; i++)
		ring(dev, &b->db[i]); /* non-blocking: nothing there, no call */
	pthread_mutex_unlock(&b->lock);
}

void doorbell_free(struct uvfio_dev *dev)
{
	struct doorbells *b = dev->doorbells;
	uint64_t one = 1;

	if (!b)
		return;
	if (b->started) {
		while (write(b->wake, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(b->thread, NULL);
	}
	for (unsigned int i = 0; i < b->n; i++)
		close(b->db[i].fd);
	if (b->epfd >= 0)
		close(b->epfd);
	if (b->wake >= 0)
		close(b->wake);
	pthread_mutex_destroy(&b->lock);
	free(b);
	dev->doorbells = NULL;
}
