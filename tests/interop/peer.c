// SPDX-License-Identifier: MIT
#include "peer.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR sizeof(struct vfio_user_header)

int peer_send(int fd, const struct vfio_user_header *h, const void *p,
	      size_t n, const int *fds, unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * PEER_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov[2] = { { (void *)h, HDR }, { (void *)p, n } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n ? 2 : 1 };
	size_t total = HDR + n, done = 0;

	if (nfds > PEER_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(cb.b, 0, sizeof(cb.b));
		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (done < total) {
		ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (r > 0) {
			if ((size_t)r >= mh.msg_iov[0].iov_len) {
				r -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base =
					(char *)mh.msg_iov[0].iov_base + r;
				mh.msg_iov[0].iov_len -= (size_t)r;
				r = 0;
			}
		}
	}
	return 0;
}

static int wait_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

/* Exactly n bytes; fds that come along are kept in m. */
static int read_all(int fd, void *buf, size_t n, struct peer_msg *m,
		    int timeout_ms)
{
	size_t done = 0;

	while (done < n) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 253)];
			struct cmsghdr align;
		} cb;
		struct iovec iov = { (char *)buf + done, n - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cb.b,
				     .msg_controllen = sizeof(cb.b) };
		/*
		 * The timeout is for a message to start: once part of it is
		 * here, give up only on a peer that stalls inside it, or the
		 * bytes read so far would be lost to the stream.
		 */
		int err = wait_in(fd, done ? 10000 : timeout_ms);
		ssize_t r;

		if (err)
			return err;
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(f));
				if (m->nfds < PEER_MAX_FDS)
					m->fds[m->nfds++] = f;
				else
					close(f);
			}
		}
		done += (size_t)r;
	}
	return 0;
}

int peer_reply(int fd, const struct peer_msg *req, const void *p, size_t n,
	       const int *fds, unsigned int nfds, uint32_t err)
{
	struct vfio_user_header h = {
		.msg_id = req->hdr.msg_id,
		.cmd = req->hdr.cmd,
		.msg_size = (uint32_t)(HDR + (err ? 0 : n)),
		.flags = VFIO_USER_F_TYPE_REPLY | (err ? VFIO_USER_F_ERROR : 0),
		.error_no = err,
	};

	return peer_send(fd, &h, p, err ? 0 : n, fds, err ? 0 : nfds);
}

int peer_recv(int fd, struct peer_msg *m, int timeout_ms)
{
	int err;

	memset(m, 0, sizeof(*m));
	err = read_all(fd, &m->hdr, HDR, m, timeout_ms);
	if (err)
		goto fail;
	if (m->hdr.msg_size < HDR || m->hdr.msg_size > (64u << 20)) {
		err = -EPROTO;
		goto fail;
	}
	m->size = m->hdr.msg_size - (uint32_t)HDR;
	m->data = malloc(m->size + 1);
	if (!m->data) {
		err = -ENOMEM;
		goto fail;
	}
	err = read_all(fd, m->data, m->size, m, 10000);
	if (!err)
		return 0;
fail:
	peer_msg_free(m);
	return err;
}

void peer_msg_free(struct peer_msg *m)
{
	for (unsigned int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
	free(m->data);
	m->data = NULL;
}

static int send_err(int fd, const struct peer_msg *req, int err)
{
	struct vfio_user_header h = {
		.msg_id = req->hdr.msg_id,
		.cmd = req->hdr.cmd,
		.msg_size = HDR,
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error_no = (uint32_t)err,
	};

	if (req->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	return peer_send(fd, &h, NULL, 0, NULL, 0);
}

int peer_answer_dma(int fd, const struct peer_msg *req, struct peer_mem *mem)
{
	bool rd = req->hdr.cmd == VFIO_USER_DMA_READ;
	struct vfio_user_header h = {
		.msg_id = req->hdr.msg_id,
		.cmd = req->hdr.cmd,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	uint64_t addr, count = 0;
	size_t off = mem->qemu ? 12 : 16;
	uint8_t *out;
	int err;

	if (!rd && req->hdr.cmd != VFIO_USER_DMA_WRITE)
		return send_err(fd, req, ENOSYS);
	/* QEMU's own checks (qemu-standin-dma: T7, T12, T13, T14). */
	if (req->size < 16 || req->nfds)
		return send_err(fd, req, EINVAL);
	memcpy(&addr, req->data, 8);
	memcpy(&count, req->data + 8, mem->qemu ? 4 : 8);
	/*
	 * Both layouts size every message 16 + 16 + count; a request sized
	 * otherwise, or with the other layout's count, is the test's failure.
	 */
	if (req->size != 16 + (rd ? 0 : count) ||
	    (mem->qemu && !rd && count >= 4 &&
	     memcmp(req->data + 12 + count, "\0\0\0\0", 4)))
		mem->bad_layout = true;
	if (count > VFIO_USER_DEFAULT_MAX_DATA_XFER ||
	    (!rd && req->size < off + count))
		return send_err(fd, req, E2BIG);
	if (addr < mem->iova || count > mem->len ||
	    addr - mem->iova > mem->len - count)
		return send_err(fd, req, ENODEV);
	if (!rd) {
		memcpy(mem->p + (addr - mem->iova), req->data + off, count);
		mem->writes++;
		if (count > mem->max_write)
			mem->max_write = count;
		if (req->hdr.flags & VFIO_USER_F_NO_REPLY)
			return 0;
		h.msg_size = HDR + (mem->qemu ? 0 : 16);
		return peer_send(fd, &h, req->data, mem->qemu ? 0 : 16, NULL,
				 0);
	}
	mem->reads++;
	if (count > mem->max_read)
		mem->max_read = count;
	if (req->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	out = calloc(1, 16 + count);
	if (!out)
		return -ENOMEM;
	memcpy(out, req->data, off);
	memcpy(out + off, mem->p + (addr - mem->iova), count);
	h.msg_size = (uint32_t)(HDR + 16 + count);
	err = peer_send(fd, &h, out, 16 + count, NULL, 0);
	free(out);
	return err;
}
