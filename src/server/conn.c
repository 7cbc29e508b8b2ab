// SPDX-License-Identifier: MIT
/*
 * The connection to the client: listening, attaching, negotiation, the
 * loops that feed messages to dispatch, and cleanup when a client leaves.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dirty.h"
#include "priv.h"
#include "proto/negotiate.h"
#include "proto/hot.h"

static int epoll_set(struct uvfio_dev *dev, int op, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (dev->epfd < 0) {
		dev->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (dev->epfd < 0)
			return -errno;
	}
	if (epoll_ctl(dev->epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev))
		return -errno;
	return 0;
}

int uvfio_dev_listen(struct uvfio_dev *dev, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (dev->listen_fd >= 0 || dev->connected)
		return -EBUSY;
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
		err = -errno;
		close(fd);
		return err;
	}
	dev->path = strdup(path);
	dev->listen_fd = fd;
	err = epoll_set(dev, EPOLL_CTL_ADD, fd);
	if (err || !dev->path) {
		close(fd);
		unlink(path);
		dev->listen_fd = -1;
		free(dev->path);
		dev->path = NULL;
		return err ? err : -ENOMEM;
	}
	stop_fd_set(dev, &dev->stop_listen_fd, fd);
	return 0;
}

/* Every message fits: data plus headers, or a full WRITE_MULTI. */
static uint32_t max_msg(const struct uvfio_dev *dev)
{
	uint32_t multi = sizeof(struct vfio_user_header) +
			 sizeof(struct vfio_user_write_multi) +
			 VFIO_USER_MULTI_MAX *
				 sizeof(struct vfio_user_write_multi_data);
	uint32_t data = dev->caps.max_data_xfer_size + 64;

	return data > multi ? data : multi;
}

int uvfio_dev_attach_fd(struct uvfio_dev *dev, int fd)
{
	int err, fl;

	if (dev->connected)
		return -EBUSY;
	/* The loops block on the socket; a short write would tear a message. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)))
		return -errno;
	err = uvfio_chan_init(&dev->chan, fd, max_msg(dev));
	if (err)
		return err;
	err = epoll_set(dev, EPOLL_CTL_ADD, fd);
	if (err) {
		dev->chan.fd = -1; /* the caller keeps its fd */
		uvfio_chan_fini(&dev->chan);
		return err;
	}
	if (dev->listen_fd >= 0)
		epoll_set(dev, EPOLL_CTL_DEL, dev->listen_fd);
	stop_fd_set(dev, &dev->stop_conn_fd, fd);
	dev->connected = true;
	dev->negotiated = false;
	uvfio_caps_default(&dev->peer);
	if (dev->ops.attached)
		dev->ops.attached(dev, dev->priv);
	return 0;
}

bool uvfio_dev_connected(struct uvfio_dev *dev)
{
	return dev->connected;
}

/* Everything of the old client goes; the device's own state stays. */
void conn_drop(struct uvfio_dev *dev)
{
	if (!dev->connected)
		return;
	if (dev->epfd >= 0)
		epoll_set(dev, EPOLL_CTL_DEL, dev->chan.fd);
	/* Wakes a device thread blocked sending on the socket. */
	shutdown(dev->chan.fd, SHUT_RDWR);
	s2c_close(dev);
	stop_fd_set(dev, &dev->stop_conn_fd, -1);
	uvfio_lock(&dev->send_lock);
	uvfio_chan_fini(&dev->chan);
	uvfio_unlock(&dev->send_lock);
	dma_unmap_all(&dev->dma);
	irq_release_all(dev);
	/* Migration and dirty logging belong to the client that left. */
	dirty_fini(dev);
	mig_reset(dev, true);
	dev->connected = false;
	dev->negotiated = false;
	if (dev->listen_fd >= 0)
		epoll_set(dev, EPOLL_CTL_ADD, dev->listen_fd);
	if (dev->ops.detached)
		dev->ops.detached(dev, dev->priv);
}

static int accept_one(struct uvfio_dev *dev)
{
	int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int err;

	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	err = uvfio_dev_attach_fd(dev, fd);
	if (err)
		close(fd);
	return err;
}

static int make_twin(struct uvfio_dev *dev, int *client_end)
{
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	err = uvfio_chan_init(&dev->twin, sv[0], max_msg(dev));
	if (err) {
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	*client_end = sv[1];
	return 0;
}

/*
 * Which DMA_READ/WRITE layout the client speaks: QEMU 10.1 proposes version
 * 0.0 and uses a u32 count; libvfio-user and uvfio propose later minors
 * and use the specification's u64.
 */
static bool dma_count32(const struct uvfio_dev *dev,
			const struct uvfio_caps *offer)
{
	switch (dev->opts.dma_layout) {
	case UVFIO_DMA_LAYOUT_SPEC:
		return false;
	case UVFIO_DMA_LAYOUT_COUNT32:
		return true;
	default:
		return offer->major == 0 && offer->minor == 0;
	}
}

int handle_version(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct uvfio_caps offer, rep;
	char buf[1024];
	int n, err, twin_fd = -1;

	/* The reply carries the twin socket: it cannot be skipped. */
	if (dev->negotiated || msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		return -EINVAL;
	err = uvfio_caps_parse(msg->payload, msg->size, &offer);
	if (err)
		return err;
	err = uvfio_caps_negotiate(&offer, &dev->caps, &rep);
	if (err)
		return err;
	if (rep.twin_socket) {
		err = make_twin(dev, &twin_fd);
		if (err)
			return err;
		rep.twin_fd_index = 0;
	}
	n = uvfio_caps_format(&rep, buf, sizeof(buf));
	if (n < 0)
		err = n;
	else
		err = reply(dev, &msg->hdr, buf, (size_t)n, &twin_fd,
			    twin_fd >= 0);
	if (twin_fd >= 0)
		close(twin_fd);
	if (err) {
		if (rep.twin_socket)
			uvfio_chan_fini(&dev->twin);
		return err;
	}
	dev->peer = offer;
	dev->count32 = dma_count32(dev, &offer);
	s2c_open(dev, rep.twin_socket);
	dev->negotiated = true;
	/* The reply is sent: tell dispatch not to send another. */
	return 1;
}

/* Handles one message; on a broken stream the client is dropped. */
HOT static int serve_one(struct uvfio_dev *dev, bool block)
{
	struct uvfio_msg msg;
	int r;

	if (atomic_load_explicit(&dev->s2c_direct, memory_order_relaxed)) {
		r = s2c_take_read(dev, block);
		if (r == -EAGAIN)
			return 0;
		if (r < 0) {
			conn_drop(dev);
			return r;
		}
		if (r)
			return 1;
	}
	r = uvfio_chan_recv(&dev->chan, &msg, block);
	if (r == 0 || r == -EINTR)
		return 0;
	if (r < 0) {
		conn_drop(dev);
		return r;
	}
	r = dispatch(dev, &msg);
	uvfio_msg_release(&msg);
	if (r < 0) {
		conn_drop(dev);
		return r;
	}
	return 1;
}

int uvfio_dev_get_poll_fd(struct uvfio_dev *dev)
{
	int err = 0;

	if (dev->epfd < 0)
		err = epoll_set(dev, EPOLL_CTL_ADD, dev->listen_fd);
	return err ? err : dev->epfd;
}

int uvfio_dev_process(struct uvfio_dev *dev)
{
	int n = 0, r;

	dev_set_dispatcher(dev);
	if (!dev->connected) {
		if (dev->listen_fd < 0)
			return -ENOTCONN;
		return accept_one(dev);
	}
	/* One read from the socket, then whatever it brought. */
	r = serve_one(dev, false);
	while (r > 0 && dev->connected) {
		n++;
		if (dev->chan.tail - dev->chan.head <
		    sizeof(struct vfio_user_header))
			break;
		r = serve_one(dev, false);
	}
	return r < 0 && r != -ECONNRESET ? r : n;
}

static int wait_client(struct uvfio_dev *dev)
{
	struct pollfd p = { .fd = dev->listen_fd, .events = POLLIN };

	if (poll(&p, 1, -1) < 0 && errno != EINTR)
		return -errno;
	if (atomic_load(&dev->stop))
		return 0;
	if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
		return -ESHUTDOWN;
	return accept_one(dev);
}

HOT int uvfio_dev_run(struct uvfio_dev *dev, bool once)
{
	bool served = false;

	dev_set_dispatcher(dev);
	while (!atomic_load(&dev->stop)) {
		int r;

		if (!dev->connected) {
			if (dev->listen_fd < 0 || (once && served))
				return 0;
			r = wait_client(dev);
			if (r < 0)
				return r;
			continue;
		}
		served = true;
		r = serve_one(dev, true);
		if (r < 0 && r != -ECONNRESET && dev->connected)
			return r;
	}
	/* Stopped: device threads waiting on the client must wake. */
	conn_drop(dev);
	return 0;
}

/*
 * The fds uvfio_dev_stop() may shut down.  All accesses are sequentially
 * consistent, which is what makes the two pairs below work:
 *  - publish (store fd, load stop) against stop (store stop, load fd):
 *    at least one of them sees the other, so the new socket is shut
 *    down by one side or the other, never by neither;
 *  - withdraw (store -1, load users) against stop (add users, load fd):
 *    either stop sees -1, or we see it running and wait for it to leave
 *    before the caller closes the fd.
 * The wait is short (one shutdown()) and cannot be on ourselves: a stop()
 * in a signal handler on this thread has returned before we look again.
 */
void stop_fd_set(struct uvfio_dev *dev, atomic_int *slot, int fd)
{
	atomic_store(slot, fd);
	if (fd >= 0) {
		if (atomic_load(&dev->stop))
			shutdown(fd, SHUT_RDWR);
		return;
	}
	while (atomic_load(&dev->stop_users))
		sched_yield();
}

/*
 * Async-signal-safe: lock-free atomics and shutdown(2).  It never reads
 * what conn_drop() is closing: only the fds published for it.
 */
void uvfio_dev_stop(struct uvfio_dev *dev)
{
	int fd;

	atomic_store(&dev->stop, true);
	atomic_fetch_add(&dev->stop_users, 1);
	/* Both ways: a thread blocked sending to a stalled client wakes. */
	fd = atomic_load(&dev->stop_conn_fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	fd = atomic_load(&dev->stop_listen_fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	atomic_fetch_sub(&dev->stop_users, 1);
}
