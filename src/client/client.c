// SPDX-License-Identifier: MIT
/*
 * libuvfio client: connection, negotiation, the request/reply engine.
 *
 * API decisions (the why):
 *
 * - One request is outstanding at a time (c->lock).  The protocol allows
 *   pipelining, but a VMM's accesses to one device are ordered anyway and
 *   a single outstanding request lets the reply parse straight out of the
 *   channel buffer: a small region access is one sendmsg() and one
 *   recvmsg(), with no allocation and no poll().
 * - A reply whose msg_id or command is not the request's means the two
 *   ends no longer agree on the stream: the request fails with -EPROTO and
 *   the connection is marked broken (both sockets shut down), so later
 *   calls fail fast with that errno instead of reading someone else's
 *   reply.  Losing the connection does the same with -ECONNRESET.  A reply
 *   that is well framed but wrong inside (size, echo, fds) fails its own
 *   request with -EPROTO and the connection stays usable.
 * - Server requests (DMA_READ/DMA_WRITE) on the main socket (a server
 *   without twin socket sends them there) are answered inline while a
 *   request waits, then before c->lock is released (those that arrived
 *   behind the reply), and otherwise by the client's own thread, which
 *   polls the main socket and takes c->lock to read it; with
 *   UVFIO_CLIENT_NO_THREAD the caller polls uvfio_client_get_poll_fd()
 *   instead.  With a twin socket they are answered by the client's own
 *   thread (or uvfio_client_process()), which never takes c->lock: a
 *   request may wait on the server while the server waits on a DMA
 *   answer.
 * - DMA windows are published before DMA_MAP is sent (and withdrawn if it
 *   fails), since a server may start DMA before its reply reaches us; they
 *   are withdrawn only after DMA_UNMAP succeeds (or the link is broken),
 *   under the write lock, so no DMA answer uses a window once
 *   uvfio_client_dma_unmap() returns.  A DMA request must lie inside one
 *   window with the right (READ: the server reads our memory), else it is
 *   answered EFAULT/EACCES; anything else from the server gets ENOSYS.
 * - SET_IRQS with DATA_EVENTFD: SCM_RIGHTS cannot carry -1, and the spec
 *   de-assigns a range when the message has no fds.  So the caller's array
 *   is cut into runs: each run of real fds is an assigning message (cut
 *   again at the server's max_msg_fds), each run of -1 a de-assigning
 *   message without fds.  Runs are sent from the highest vectors down, so
 *   the first enables an index with the whole range (MSI cannot grow once
 *   on); the first error stops (runs sent stay applied, as with several
 *   ioctls).
 * - uvfio_client_region_mmap(): the client owns every mapping it returns
 *   and munmaps it in uvfio_client_close(); the caller must not munmap it.
 *   Mapping the same area twice gives two mappings.
 * - Region info is cached per index with its mmap fd (closed at close);
 *   num_regions above 1024 is taken as a hostile reply.  MMAP without an
 *   fd is cleared, so callers fall back to messages.
 * - DEVICE_FEATURE offers argsz for the larger of the data sent and cap,
 *   as SET/PROBE replies echo the request; at most cap bytes come back.
 * - uvfio_client_process() drains what is ready and returns 0; it gives
 *   -EBUSY when the client's own thread serves the server's requests.
 * - uvfio_client_raw() is for tests: it accepts and closes any fds in the
 *   reply and returns the payload size.
 * - uvfio_client_close() must not race other calls on the same client.
 */
#include "priv.h"
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/negotiate.h"
#include "proto/hot.h"

#define DEF_XFER VFIO_USER_DEFAULT_MAX_DATA_XFER
#define DEF_FDS 16u
/* Room for any non-data reply (region info with caps, VERSION). */
#define MIN_MSG (CL_MAX_REGION_INFO + 64)

HOT void cl_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static void mark_broken(struct uvfio_client *c, int err)
{
	if (!c->broken)
		c->broken = err;
	shutdown(c->main.fd, SHUT_RDWR);
	if (c->has_twin)
		shutdown(c->twin.fd, SHUT_RDWR);
}

/* Answers the server's requests buffered or ready on the main socket. */
static void serve_main(struct uvfio_client *c, bool read_socket)
{
	struct uvfio_msg m;

	while (!c->broken) {
		int r;

		if (read_socket) {
			r = cl_serve_next(c, &c->main, false);
			if (r == 0)
				return;
			/* No request of ours is out: a reply is no one's. */
			if (r == 2 || r == -EPROTO)
				mark_broken(c, EPROTO);
			else if (r < 0)
				mark_broken(c, ECONNRESET);
			continue;
		}
		r = uvfio_chan_next_buffered(&c->main, &m);
		if (r == 0)
			return;
		if (r < 0 || (m.hdr.flags & VFIO_USER_F_TYPE_MASK) !=
				     VFIO_USER_F_TYPE_COMMAND) {
			if (r > 0)
				uvfio_msg_release(&m);
			mark_broken(c, EPROTO);
			return;
		}
		r = cl_serve(c, &c->main, &m);
		uvfio_msg_release(&m);
		if (r < 0)
			mark_broken(c, ECONNRESET);
	}
}

HOT void cl_lock(struct uvfio_client *c)
{
	uvfio_lock(&c->lock);
}

HOT void cl_unlock(struct uvfio_client *c)
{
	if (!c->has_twin && c->main.head != c->main.tail)
		serve_main(c, false);
	uvfio_unlock(&c->lock);
}

HOT static int wait_reply(struct uvfio_client *c,
			  const struct vfio_user_header *h,
			  unsigned int max_fds, struct uvfio_msg *rep)
{
	for (;;) {
		int r = uvfio_chan_recv(&c->main, rep, true);

		if (r == 0 || r == -EINTR)
			continue;
		if (r < 0) {
			mark_broken(c, -r);
			return r;
		}
		uint32_t type = rep->hdr.flags & VFIO_USER_F_TYPE_MASK;

		if (type == VFIO_USER_F_TYPE_COMMAND) {
			r = cl_serve(c, &c->main, rep);
			uvfio_msg_release(rep);
			if (r < 0) {
				mark_broken(c, ECONNRESET);
				return -ECONNRESET;
			}
			continue;
		}
		if (type != VFIO_USER_F_TYPE_REPLY ||
		    rep->hdr.msg_id != h->msg_id || rep->hdr.cmd != h->cmd) {
			uvfio_msg_release(rep);
			mark_broken(c, EPROTO);
			return -EPROTO;
		}
		if (rep->oversize || rep->fds_truncated ||
		    rep->nfds > max_fds) {
			uvfio_msg_release(rep);
			return -EPROTO;
		}
		if (rep->hdr.flags & VFIO_USER_F_ERROR) {
			uint32_t e = rep->hdr.error_no;

			uvfio_msg_release(rep);
			return (e == 0 || e > 4095) ? -EIO : -(int)e;
		}
		return 0;
	}
}

/* Sends rq; *h is its header, for matching the reply. */
HOT static int cl_send(struct uvfio_client *c, const struct cl_req *rq,
		       struct vfio_user_header *h)
{
	size_t len = CL_HDR;
	uint64_t n;
	int r;

	if (c->broken)
		return -c->broken;
	for (int i = 0; i < rq->iovcnt; i++) {
		if (rq->iov[i].iov_len > UINT32_MAX - len)
			return -E2BIG;
		len += rq->iov[i].iov_len;
	}
	*h = (struct vfio_user_header){
		.msg_id = c->next_id++,
		.cmd = rq->cmd,
		.msg_size = (uint32_t)len,
		.flags = VFIO_USER_F_TYPE_COMMAND |
			 (rq->posted ? VFIO_USER_F_NO_REPLY : 0),
	};
	r = uvfio_chan_sendv(&c->main, h, rq->iov, rq->iovcnt, rq->fds,
			     rq->nfds);
	if (r < 0) {
		if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
			mark_broken(c, ECONNRESET);
			return -ECONNRESET;
		}
		return r;
	}
	/* Only holders of c->lock count requests: no locked add. */
	n = __atomic_load_n(&c->stats.requests, __ATOMIC_RELAXED);
	__atomic_store_n(&c->stats.requests, n + 1, __ATOMIC_RELAXED);
	/* Most replies carry no fds: let the channel read the cheap way. */
	c->main.want_fds = rq->max_fds > 0;
	return 0;
}

HOT int cl_call(struct uvfio_client *c, const struct cl_req *rq,
		struct uvfio_msg *rep)
{
	struct vfio_user_header h;
	int r = cl_send(c, rq, &h);

	if (r < 0 || rq->posted)
		return r;
	return wait_reply(c, &h, rq->max_fds, rep);
}

int cl_call_into(struct uvfio_client *c, const struct cl_req *rq,
		 void *head, size_t hlen, void *dst, size_t cap, size_t *got,
		 struct uvfio_msg *rep)
{
	struct vfio_user_header h, g;
	uint8_t p[32];
	size_t n;
	int r;

	if (hlen > sizeof(p) || rq->posted || rq->max_fds)
		return -EINVAL;
	r = cl_send(c, rq, &h);
	if (r < 0)
		return r;
	do {
		r = uvfio_chan_peek(&c->main, &g, p, hlen, true);
	} while (r == 0 || r == -EINTR);
	if (r < 0) {
		mark_broken(c, -r);
		return r;
	}
	/* Anything else (a device's request first, an error) the usual way. */
	if ((g.flags & (VFIO_USER_F_TYPE_MASK | VFIO_USER_F_ERROR)) !=
		    VFIO_USER_F_TYPE_REPLY ||
	    g.msg_id != h.msg_id || g.cmd != h.cmd ||
	    g.msg_size < CL_HDR + hlen || g.msg_size - CL_HDR - hlen > cap) {
		r = wait_reply(c, &h, 0, rep);
		return r < 0 ? r : 0;
	}
	n = g.msg_size - CL_HDR - hlen;
	memcpy(head, p, hlen);
	r = uvfio_chan_take(&c->main, hlen, dst, n);
	if (r) {
		/* Bytes may be gone (fds came along: closed). */
		mark_broken(c, r == -EBADMSG ? EPROTO : -r);
		return r == -EBADMSG ? -EPROTO : r;
	}
	*got = n;
	return 1;
}

HOT int cl_simple(struct uvfio_client *c, uint16_t cmd, const void *req,
		  size_t len, struct uvfio_msg *rep, uint32_t min_reply)
{
	struct iovec iov = { (void *)req, len };
	struct cl_req rq = { .cmd = cmd, .iov = &iov, .iovcnt = 1 };
	int r = cl_call(c, &rq, rep);

	if (r < 0)
		return r;
	if (rep->size < min_reply) {
		uvfio_msg_release(rep);
		return -EPROTO;
	}
	return 0;
}

static void init_ours(struct uvfio_caps *o, const struct uvfio_client_opts *opt)
{
	uvfio_caps_default(o);
	o->major = VFIO_USER_MAJOR;
	o->minor = VFIO_USER_MINOR;
	o->max_msg_fds = opt && opt->max_msg_fds ? opt->max_msg_fds : DEF_FDS;
	o->max_data_xfer_size = opt && opt->max_data_xfer_size ?
					opt->max_data_xfer_size :
					DEF_XFER;
	o->pgsizes = CL_PAGE;
	o->twin_socket = !(opt && (opt->flags & UVFIO_CLIENT_NO_TWIN));
	o->twin_fd_index = -1;
	o->write_multiple = true;
	/* What QEMU proposes, and the twin socket when we want one. */
	o->present = UVFIO_CAP_MAX_MSG_FDS | UVFIO_CAP_MAX_DATA_XFER |
		     UVFIO_CAP_MAX_DMA_MAPS | UVFIO_CAP_PGSIZES |
		     UVFIO_CAP_WRITE_MULTIPLE |
		     (o->twin_socket ? UVFIO_CAP_TWIN_SOCKET : 0);
}

/* The socket loops block; a peer's O_NONBLOCK fd would make them spin. */
static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_NONBLOCK && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)))
		return -errno;
	return 0;
}

/* Takes the twin socket out of the VERSION reply; closes the other fds. */
static int take_twin(struct uvfio_client *c, struct uvfio_msg *rep)
{
	struct stat st;
	int fd, r;

	/* The twin socket is the only fd a VERSION reply may carry. */
	if (rep->nfds != (c->caps.twin_socket ? 1u : 0u))
		return -EPROTO;
	if (!c->caps.twin_socket)
		return 0;
	if (c->caps.twin_fd_index < 0 ||
	    (unsigned int)c->caps.twin_fd_index >= rep->nfds)
		return -EPROTO;
	fd = rep->fds[c->caps.twin_fd_index];
	rep->fds[c->caps.twin_fd_index] = -1;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || set_blocking(fd)) {
		close(fd);
		return -EPROTO;
	}
	r = uvfio_chan_init(&c->twin, fd,
			    c->ours.max_data_xfer_size + 2 * CL_HDR);
	if (r < 0) {
		close(fd);
		return r;
	}
	c->has_twin = true;
	return 0;
}

static int negotiate(struct uvfio_client *c)
{
	char buf[1024];
	struct uvfio_msg rep;
	int len = uvfio_caps_format(&c->ours, buf, sizeof(buf));
	int r;

	if (len < 0)
		return len;
	struct iovec iov = { buf, (size_t)len };
	struct cl_req rq = { .cmd = VFIO_USER_VERSION,
			     .iov = &iov,
			     .iovcnt = 1,
			     .max_fds = UVFIO_CHAN_MAX_FDS };

	r = cl_call(c, &rq, &rep);
	if (r < 0)
		return r;
	r = uvfio_caps_parse(rep.payload, rep.size, &c->caps);
	if (r < 0)
		r = -EPROTO;
	if (!r)
		r = uvfio_caps_check_reply(&c->ours, &c->caps);
	if (!r)
		r = take_twin(c, &rep);
	uvfio_msg_release(&rep);
	if (r < 0)
		return r;
	c->xfer = c->caps.max_data_xfer_size;
	if (c->xfer > c->ours.max_data_xfer_size)
		c->xfer = c->ours.max_data_xfer_size;
	return 0;
}

/* We send no requests on the twin socket: a reply there is stray. */
static void *twin_main(void *arg)
{
	struct uvfio_client *c = arg;
	int r;

	do
		r = cl_serve_next(c, &c->twin, true);
	while (r >= 0 || r == -EINTR);
	return NULL;
}

/*
 * Without a twin socket: wait for the main socket to be readable while
 * no request reads it, then read it under c->lock.  A request's own reply
 * wakes this thread too; it then finds nothing once it gets the lock.
 */
static void *main_serve(void *arg)
{
	struct uvfio_client *c = arg;
	struct pollfd p = { .fd = c->main.fd, .events = POLLIN };

	for (;;) {
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			cl_lock(c);
			mark_broken(c, errno);
			cl_unlock(c);
			break;
		}
		cl_lock(c);
		if (!c->broken)
			serve_main(c, true);
		bool done = c->broken;

		cl_unlock(c);
		if (done)
			break;
	}
	return NULL;
}

static void stop_thread(struct uvfio_client *c)
{
	if (c->thread_started) {
		shutdown(c->has_twin ? c->twin.fd : c->main.fd, SHUT_RDWR);
		pthread_join(c->thread, NULL);
		c->thread_started = false;
	}
}

static int start_thread(struct uvfio_client *c)
{
	int r;

	if (c->no_thread)
		return 0;
	r = -pthread_create(&c->thread, NULL,
			    c->has_twin ? twin_main : main_serve, c);
	if (!r)
		c->thread_started = true;
	return r;
}

static void destroy(struct uvfio_client *c)
{
	stop_thread(c);
	cl_unmap_all(c);
	cl_free_regions(c);
	cl_dma_fini(c);
	cl_keep_fini(c);
	if (c->has_twin)
		uvfio_chan_fini(&c->twin);
	uvfio_chan_fini(&c->main);
	pthread_mutex_destroy(&c->twin_lock);
	pthread_rwlock_destroy(&c->dma_lock);
	pthread_cond_destroy(&c->direct_done);
	pthread_mutex_destroy(&c->direct_lock);
	free(c);
}

struct uvfio_client *uvfio_client_attach_fd(int fd,
					    const struct uvfio_client_opts *o)
{
	struct uvfio_client *c = calloc(1, sizeof(*c));
	uint32_t max_msg;
	int r;

	if (!c) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	init_ours(&c->ours, o);
	if (set_blocking(fd)) {
		close(fd);
		free(c);
		errno = EINVAL;
		return NULL;
	}
	max_msg = c->ours.max_data_xfer_size + 64;
	if (c->ours.max_data_xfer_size > UINT32_MAX / 4 ||
	    c->ours.max_msg_fds > UVFIO_CHAN_MAX_FDS) {
		close(fd);
		free(c);
		errno = EINVAL;
		return NULL;
	}
	uvfio_lock_init(&c->lock);
	pthread_mutex_init(&c->twin_lock, NULL);
	pthread_rwlock_init(&c->dma_lock, NULL);
	pthread_mutex_init(&c->direct_lock, NULL);
	pthread_cond_init(&c->direct_done, NULL);
	itree_init(&c->win);
	c->twin.fd = -1;
	for (unsigned int i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		c->irq_unmask_fd[i] = -1;
	r = uvfio_chan_init(&c->main, fd,
			    max_msg < MIN_MSG ? MIN_MSG : max_msg);
	if (r < 0) {
		c->main.fd = fd;
		goto fail;
	}
	c->no_thread = o && (o->flags & UVFIO_CLIENT_NO_THREAD);
	c->keep = o && (o->flags & UVFIO_CLIENT_RECONNECT);
	c->max_msg = max_msg < MIN_MSG ? MIN_MSG : max_msg;
	r = negotiate(c);
	/* The device a reconnect must find again. */
	if (!r && c->keep)
		r = cl_device_info_locked(c, &c->info0);
	if (r < 0)
		goto fail;
	r = start_thread(c);
	if (r < 0)
		goto fail;
	return c;
fail:
	destroy(c);
	errno = -r;
	return NULL;
}

struct uvfio_client *uvfio_client_connect(const char *path,
					  const struct uvfio_client_opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		errno = path ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	struct uvfio_client *c = uvfio_client_attach_fd(fd, o);

	if (c && c->keep) {
		c->path = strdup(path);
		if (!c->path) {
			uvfio_client_close(c);
			errno = ENOMEM;
			return NULL;
		}
	}
	return c;
}

/* A connection to path, retried until the deadline (ms), or -errno. */
static int connect_until(const char *path, unsigned int ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec t0, t, pause = { 0, 2000000 };
	int fd, e;

	strcpy(sa.sun_path, path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		e = errno;
		close(fd);
		if (e != ENOENT && e != ECONNREFUSED && e != EINTR &&
		    e != EAGAIN)
			return -e;
		clock_gettime(CLOCK_MONOTONIC, &t);
		/* In ns: ms rounded from a negative ns part ends it early. */
		if ((t.tv_sec - t0.tv_sec) * 1000000000LL + t.tv_nsec -
			    t0.tv_nsec >=
		    (long long)ms * 1000000)
			return -ETIMEDOUT;
		/* The device is not back yet: its socket will come. */
		nanosleep(&pause, NULL);
	}
}

static int reattach(struct uvfio_client *c, int fd)
{
	struct uvfio_device_info info;
	int r;

	if (set_blocking(fd)) {
		close(fd);
		return -EINVAL;
	}
	r = uvfio_chan_init(&c->main, fd, c->max_msg);
	if (r < 0) {
		close(fd);
		c->main.fd = -1;
		return r;
	}
	c->broken = 0;
	r = negotiate(c);
	if (r < 0)
		return r;
	cl_free_regions(c);
	c->have_info = false;
	r = cl_device_info_locked(c, &info);
	if (r < 0)
		return r;
	if (info.flags != c->info0.flags ||
	    info.num_regions != c->info0.num_regions ||
	    info.num_irqs != c->info0.num_irqs)
		return -ENODEV;
	return cl_replay(c);
}

int uvfio_client_reconnect(struct uvfio_client *c, int fd,
			   unsigned int timeout_ms)
{
	int r;

	if (!c || (fd < 0 && !c->path) || !c->keep) {
		if (fd >= 0)
			close(fd);
		return !c ? -EINVAL : !c->keep ? -ENOTSUP : -EINVAL;
	}
	stop_thread(c);
	cl_lock(c);
	mark_broken(c, ECONNRESET);
	if (c->has_twin)
		uvfio_chan_fini(&c->twin);
	c->has_twin = false;
	uvfio_chan_fini(&c->main);
	c->main.fd = -1;
	if (fd < 0)
		fd = connect_until(c->path, timeout_ms);
	r = fd < 0 ? fd : reattach(c, fd);
	if (r < 0 && r != -ENODEV)
		mark_broken(c, -r);
	else if (r == -ENODEV && !c->broken)
		/* Anonymous memory where an area was, or another device. */
		mark_broken(c, ENODEV);
	if (r == 0)
		r = start_thread(c);
	cl_unlock(c);
	return r;
}

void uvfio_client_close(struct uvfio_client *c)
{
	if (!c)
		return;
	/* A VMM that forgot to detach leaks no eventfds or routes. */
	uvfio_client_irq_detach(c);
	shutdown(c->main.fd, SHUT_RDWR);
	destroy(c);
}

const struct uvfio_caps *uvfio_client_caps(const struct uvfio_client *c)
{
	return &c->caps;
}

void uvfio_client_stats(struct uvfio_client *c, struct uvfio_client_stats *s)
{
	s->requests = __atomic_load_n(&c->stats.requests, __ATOMIC_RELAXED);
	s->dma_reads = __atomic_load_n(&c->stats.dma_reads, __ATOMIC_RELAXED);
	s->dma_writes = __atomic_load_n(&c->stats.dma_writes, __ATOMIC_RELAXED);
	s->dma_bytes = __atomic_load_n(&c->stats.dma_bytes, __ATOMIC_RELAXED);
}

int uvfio_client_get_poll_fd(struct uvfio_client *c)
{
	return c->has_twin ? c->twin.fd : c->main.fd;
}

int uvfio_client_process(struct uvfio_client *c)
{
	int r;

	if (c->thread_started)
		return -EBUSY;
	if (!c->has_twin) {
		cl_lock(c);
		serve_main(c, true);
		r = -c->broken;
		cl_unlock(c);
		return r;
	}
	pthread_mutex_lock(&c->twin_lock);
	do
		r = cl_serve_next(c, &c->twin, false);
	while (r > 0);
	pthread_mutex_unlock(&c->twin_lock);
	return r;
}

int uvfio_client_raw(struct uvfio_client *c, uint16_t cmd, const void *req,
		     size_t len, const int *fds, unsigned int nfds, void *reply,
		     size_t cap)
{
	struct iovec iov = { (void *)req, len };
	struct cl_req rq = { .cmd = cmd,
			     .iov = &iov,
			     .iovcnt = 1,
			     .fds = fds,
			     .nfds = nfds,
			     .max_fds = UVFIO_CHAN_MAX_FDS };
	struct uvfio_msg rep;
	int r;

	if ((len && !req) || (cap && !reply) || (nfds && !fds))
		return -EINVAL;
	cl_lock(c);
	r = cl_call(c, &rq, &rep);
	if (r == 0) {
		if (rep.size && cap)
			memcpy(reply, rep.payload,
			       rep.size < cap ? rep.size : cap);
		r = (int)rep.size;
		uvfio_msg_release(&rep);
	}
	cl_unlock(c);
	return r;
}
