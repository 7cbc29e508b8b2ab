// SPDX-License-Identifier: MIT
/*
 * The client's parsing of everything a device sends: replies to each of
 * its requests, and requests of the device's own (DMA_READ/DMA_WRITE)
 * arriving unasked.  An input is a control byte, then the device's
 * messages: a thread plays the device and answers each request it reads
 * with the next message of the input (control bit 1: with the request's
 * id and command, so replies get past the matching; bit 0: VERSION is
 * answered properly first).  A message typed as a command is sent
 * unasked, and the next one answers.  The client runs a fixed session;
 * every call may fail, none may crash, and after uvfio_client_close()
 * no fd of the session is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "fuzz.h"
#include "proto/negotiate.h"
#include "proto/wire.h"

#define HDR sizeof(struct vfio_user_header)

struct dev_side {
	int sock;
	uint8_t ctl;
	const uint8_t *data;
	size_t size;
};

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		/* recvmsg: fds the client sends are dropped (MSG_CTRUNC). */
		struct iovec iov = { p, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool skip(int fd, size_t len)
{
	uint8_t buf[4096];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		if (!read_full(fd, buf, n))
			return false;
		len -= n;
	}
	return true;
}

static bool send_all(int fd, const void *p, size_t len)
{
	return send(fd, p, len, MSG_NOSIGNAL) == (ssize_t)len;
}

static bool version_reply(int fd, const struct vfio_user_header *rq)
{
	uint8_t buf[1024];
	struct vfio_user_header h = *rq;
	struct uvfio_caps c;
	int n;

	uvfio_caps_default(&c);
	c.present = 0;
	n = uvfio_caps_format(&c, buf + HDR, sizeof(buf) - HDR);
	if (n < 0)
		abort();
	h.flags = VFIO_USER_F_TYPE_REPLY;
	h.msg_size = (uint32_t)(HDR + (size_t)n);
	memcpy(buf, &h, HDR);
	return send_all(fd, buf, h.msg_size);
}

/* The next message of the input, at most what is left. */
static size_t next(struct dev_side *d, struct vfio_user_header *h)
{
	size_t n = d->size;

	memset(h, 0, sizeof(*h));
	if (n >= HDR) {
		memcpy(h, d->data, HDR);
		if (h->msg_size >= HDR && h->msg_size < n)
			n = h->msg_size;
	}
	return n;
}

static bool answer(struct dev_side *d, const struct vfio_user_header *rq)
{
	struct vfio_user_header h;
	uint8_t *msg;
	size_t n;
	bool ok;

	for (;;) {
		if (!d->size)
			return false;
		n = next(d, &h);
		msg = malloc(n);
		if (!msg)
			abort();
		memcpy(msg, d->data, n);
		d->data += n;
		d->size -= n;
		/*
		 * An unasked request of the device's: sent, then answer, so
		 * the client is never left waiting for a reply.
		 */
		if (n >= HDR && !(h.flags & VFIO_USER_F_TYPE_MASK)) {
			ok = send_all(d->sock, msg, n);
			free(msg);
			if (!ok)
				return false;
			continue;
		}
		if (n >= HDR && (d->ctl & 2)) {
			h.msg_id = rq->msg_id;
			h.cmd = rq->cmd;
			h.flags |= VFIO_USER_F_TYPE_REPLY;
			memcpy(msg, &h, HDR);
		}
		ok = send_all(d->sock, msg, n);
		free(msg);
		/* The last may be cut short: the client waits for no more. */
		return ok && d->size;
	}
}

static void *device(void *arg)
{
	struct dev_side *d = arg;
	struct vfio_user_header rq;

	while (read_full(d->sock, &rq, HDR)) {
		if (rq.msg_size > HDR && !skip(d->sock, rq.msg_size - HDR))
			break;
		/* The client's answers to our own requests need none. */
		if (rq.flags & VFIO_USER_F_TYPE_REPLY)
			continue;
		if (rq.cmd == VFIO_USER_VERSION && (d->ctl & 1)) {
			if (!version_reply(d->sock, &rq))
				break;
			continue;
		}
		if (!answer(d, &rq))
			break;
	}
	/* Out of input: the device goes away. */
	shutdown(d->sock, SHUT_RDWR);
	return NULL;
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

static void session(struct uvfio_client *c)
{
	struct uvfio_device_info info;
	const struct uvfio_region *r;
	struct vfio_irq_info irq;
	struct uvfio_write w[2] = { { 0, 4, 1 }, { 0, 8, 2 } };
	uint8_t buf[256] = { 0 }, *mem;
	int efd[2] = { -1, -1 };
	size_t size;
	void *map;

	(void)uvfio_client_device_info(c, &info);
	for (uint32_t i = 0; i < 10; i++)
		(void)uvfio_client_region_info(c, i, &r);
	for (uint32_t i = 0; i < 5; i++)
		(void)uvfio_client_irq_info(c, i, &irq);
	{
		struct uvfio_doorbell db[4];
		int n = uvfio_client_region_doorbells(c, 0, db, 4);

		for (int i = 0; i < n && i < 4; i++)
			close(db[i].fd);
	}
	(void)uvfio_client_region_read(c, 0, 0, buf, 4);
	(void)uvfio_client_region_read(c, 7, 0, buf, sizeof(buf));
	(void)uvfio_client_region_write(c, 0, 8, buf, 4, 0);
	(void)uvfio_client_region_write_multi(c, w, 2);
	map = uvfio_client_region_mmap(c, 2, -1, &size);
	(void)map;
	mem = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem != MAP_FAILED) {
		(void)uvfio_client_dma_map(c, 0x10000, 65536,
					   UVFIO_DMA_READ | UVFIO_DMA_WRITE,
					   mem, -1, 0);
		/* In-band requests of the device land here meanwhile. */
		(void)uvfio_client_region_read(c, 0, 16, buf, 8);
		(void)uvfio_client_dma_unmap(c, 0x10000, 65536);
	}
	(void)uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
					    VFIO_IRQ_SET_ACTION_TRIGGER,
				    0, 2, efd);
	(void)uvfio_client_reset(c);
	uvfio_client_close(c);
	if (mem != MAP_FAILED)
		munmap(mem, 65536);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct uvfio_client_opts o = { .flags = UVFIO_CLIENT_NO_TWIN };
	struct uvfio_client *c;
	struct dev_side d;
	int sv[2], free_fd;
	pthread_t t;

	if (!size)
		return 0;
	free_fd = lowest_free_fd();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	d = (struct dev_side){ sv[1], data[0], data + 1, size - 1 };
	if (pthread_create(&t, NULL, device, &d))
		abort();
	/* It owns sv[0] from here, failing or not. */
	c = uvfio_client_attach_fd(sv[0], &o);
	if (c)
		session(c);
	pthread_join(t, NULL);
	close(sv[1]);
	if (lowest_free_fd() != free_fd)
		fuzz_fail("an fd of the session was left open");
	return 0;
}
