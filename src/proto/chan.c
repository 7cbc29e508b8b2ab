// SPDX-License-Identifier: MIT
#include "chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "proto/hot.h"
#include "proto/sys.h"

struct pending_fd {
	uint64_t at;    /* stream offset of the byte the fd arrived with */
	int fd;         /* -1: fds were truncated by the kernel here */
};

#define HDR sizeof(struct vfio_user_header)

/* The socket calls of the hot path (sys.h): the result, or -errno. */
HOT static ssize_t sys_recv(int fd, void *buf, size_t len, int flags)
{
	return sys_call6(SYS_recvfrom, fd, (long)buf, (long)len, flags, 0, 0);
}

HOT static ssize_t sys_recvmsg(int fd, struct msghdr *mh, int flags)
{
	return sys_call3(SYS_recvmsg, fd, (long)mh, flags);
}

HOT static ssize_t sys_send(int fd, const void *buf, size_t len, int flags)
{
	return sys_call6(SYS_sendto, fd, (long)buf, (long)len, flags, 0, 0);
}

HOT static ssize_t sys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	return sys_call3(SYS_sendmsg, fd, (long)mh, flags);
}

int uvfio_chan_init(struct uvfio_chan *ch, int fd, uint32_t max_msg)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	ch->max_msg = max_msg;
	ch->want_fds = true;
	/*
	 * Room for a whole message plus one nested reply behind it: a
	 * message is handed out with at least max_msg free after it (see
	 * uvfio_chan_next_buffered), unless the peer pipelined more.
	 */
	ch->cap = 2 * (size_t)max_msg + 4096;
	ch->buf = malloc(ch->cap);
	if (!ch->buf)
		return -ENOMEM;
	return 0;
}

void uvfio_chan_fini(struct uvfio_chan *ch)
{
	for (unsigned int i = 0; i < ch->npfd; i++)
		if (ch->pfd[i].fd >= 0)
			close(ch->pfd[i].fd);
	free(ch->pfd);
	free(ch->buf);
	if (ch->fd >= 0)
		close(ch->fd);
	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
}

HOT void uvfio_msg_release(struct uvfio_msg *msg)
{
	if (!msg->nfds && !msg->heap)
		return;
	for (unsigned int i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
	if (msg->heap) {
		free(msg->heap);
		msg->heap = NULL;
		msg->payload = NULL;
	}
}

int uvfio_msg_detach(struct uvfio_msg *msg)
{
	if (msg->heap || !msg->size)
		return 0;
	msg->heap = malloc(msg->size);
	if (!msg->heap)
		return -ENOMEM;
	memcpy(msg->heap, msg->payload, msg->size);
	msg->payload = msg->heap;
	return 0;
}

HOT static int push_fd(struct uvfio_chan *ch, uint64_t at, int fd)
{
	if (ch->npfd == ch->cap_pfd) {
		unsigned int n = ch->cap_pfd ? ch->cap_pfd * 2 : 8;
		struct pending_fd *p = realloc(ch->pfd, n * sizeof(*p));

		if (!p) {
			if (fd >= 0)
				close(fd);
			return -ENOMEM;
		}
		ch->pfd = p;
		ch->cap_pfd = n;
	}
	ch->pfd[ch->npfd++] = (struct pending_fd){ at, fd };
	return 0;
}

/* Hands the fds that arrived inside [start, end) to msg. */
HOT static void claim_fds(struct uvfio_chan *ch, uint64_t start, uint64_t end,
			  struct uvfio_msg *msg)
{
	unsigned int keep = 0;

	if (!ch->npfd)
		return;
	for (unsigned int i = 0; i < ch->npfd; i++) {
		struct pending_fd p = ch->pfd[i];

		if (p.at >= end) {
			ch->pfd[keep++] = p;
			continue;
		}
		/* An fd before start belongs to a dropped message. */
		if (p.at < start) {
			if (p.fd >= 0)
				close(p.fd);
			continue;
		}
		if (p.fd < 0)
			msg->fds_truncated = true;
		else if (msg->nfds < UVFIO_CHAN_MAX_FDS)
			msg->fds[msg->nfds++] = p.fd;
		else
			close(p.fd);
	}
	ch->npfd = keep;
}

static void compact(struct uvfio_chan *ch)
{
	if (ch->nest || ch->head == 0)
		return;
	memmove(ch->buf, ch->buf + ch->head, ch->tail - ch->head);
	ch->base += ch->head;
	ch->tail -= ch->head;
	ch->head = 0;
}

/*
 * recvmsg() into iov, the fds that come kept for their message: the
 * bytes read (ch->tail moved past them), 0 at the end of the stream, or
 * -errno.  Apart from fill() so that its control buffer is on the stack
 * of the sockets that take fds only.
 */
HOT static __attribute__((noinline)) ssize_t
recv_fds(struct uvfio_chan *ch, struct iovec *iov, bool block)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * UVFIO_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = { .msg_iov = iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf.b,
			     .msg_controllen = sizeof(cbuf.b) };
	ssize_t n = sys_recvmsg(ch->fd, &mh,
				MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));

	if (n <= 0)
		return n;
	ch->tail += (size_t)n;
	if (!mh.msg_controllen && !(mh.msg_flags & MSG_CTRUNC))
		return n; /* no fds came */
	uint64_t at = ch->base + ch->tail - 1;
	bool lost = false;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(c);

		for (size_t i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, &fds[i], sizeof(fd));
			if (push_fd(ch, at, fd))
				lost = true;
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		lost = true;
	/* The message these belong to must not pass for whole. */
	if (lost && push_fd(ch, at, -1))
		return -ENOMEM;
	return n;
}

HOT static int fill(struct uvfio_chan *ch, bool block)
{
	struct iovec iov;
	ssize_t n;

	if (ch->cap - ch->tail < ch->cap / 2)
		compact(ch);
	if (ch->tail == ch->cap)
		return -ENOBUFS;
	iov.iov_base = ch->buf + ch->tail;
	iov.iov_len = ch->cap - ch->tail;
	if (ch->want_fds) {
		n = recv_fds(ch, &iov, block);
		if (n > 0)
			return 1;
	} else {
		n = sys_recv(ch->fd, iov.iov_base, iov.iov_len,
			     block ? 0 : MSG_DONTWAIT);
		if (n > 0) {
			ch->tail += (size_t)n;
			return 1;
		}
	}
	if (n < 0)
		return (int)n;
	ch->eof = true;
	return -ECONNRESET;
}

/* Drops the buffered part of an oversize message. */
static void drop_skip(struct uvfio_chan *ch)
{
	size_t avail = ch->tail - ch->head;
	size_t n = ch->skip < avail ? (size_t)ch->skip : avail;

	ch->head += n;
	ch->skip -= n;
	if (ch->head == ch->tail && !ch->nest) {
		ch->base += ch->head;
		ch->head = ch->tail = 0;
	}
}

HOT int uvfio_chan_next_buffered(struct uvfio_chan *ch, struct uvfio_msg *msg)
{
	struct vfio_user_header h;

	if (ch->skip)
		drop_skip(ch);
	if (ch->skip || ch->tail - ch->head < HDR)
		return 0;
	memcpy(&h, ch->buf + ch->head, HDR);
	if (h.msg_size < HDR)
		return -EPROTO; /* no way to find the next message */
	if (h.msg_size > ch->max_msg) {
		/*
		 * Too large to buffer: report the header alone so the peer
		 * gets an error reply, and drop the rest as it arrives.
		 */
		uint64_t start = ch->base + ch->head;

		msg->hdr = h;
		msg->payload = NULL;
		msg->size = 0;
		msg->nfds = 0;
		msg->fds_truncated = false;
		msg->oversize = true;
		msg->heap = NULL;
		ch->skip = h.msg_size;
		drop_skip(ch);
		claim_fds(ch, start, start + h.msg_size, msg);
		return 1;
	}
	if (ch->tail - ch->head < h.msg_size)
		return 0;
	/* Keep room behind the message for a reply nested under it. */
	if (!ch->nest && ch->cap - ch->head - h.msg_size < ch->max_msg)
		compact(ch);
	uint64_t start = ch->base + ch->head;

	msg->hdr = h;
	msg->size = h.msg_size - HDR;
	msg->payload = msg->size ? ch->buf + ch->head + HDR : NULL;
	msg->nfds = 0;
	msg->fds_truncated = false;
	msg->oversize = false;
	msg->heap = NULL;
	ch->head += h.msg_size;
	claim_fds(ch, start, start + h.msg_size, msg);
	return 1;
}

HOT int uvfio_chan_recv(struct uvfio_chan *ch, struct uvfio_msg *msg,
			bool block)
{
	for (;;) {
		int r;

		/* Most often nothing is buffered: straight to the socket. */
		if (ch->skip || ch->tail - ch->head >= HDR) {
			r = uvfio_chan_next_buffered(ch, msg);
			if (r)
				return r;
		}
		if (ch->eof)
			return -ECONNRESET;
		/* Make room at the front once nothing points into it. */
		if (ch->head == ch->tail && !ch->nest) {
			ch->base += ch->head;
			ch->head = ch->tail = 0;
		}
		r = fill(ch, block);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
	}
}

int uvfio_chan_peek(struct uvfio_chan *ch, struct vfio_user_header *h,
		    void *p, size_t n, bool block)
{
	for (;;) {
		size_t avail;

		if (ch->skip)
			drop_skip(ch);
		avail = ch->tail - ch->head;
		if (!ch->skip && avail >= HDR) {
			memcpy(h, ch->buf + ch->head, HDR);
			if (h->msg_size < HDR)
				return -EPROTO;
			if (n > h->msg_size - HDR)
				n = h->msg_size - HDR;
			if (avail >= HDR + n) {
				memcpy(p, ch->buf + ch->head + HDR, n);
				return 1;
			}
		}
		if (ch->eof)
			return -ECONNRESET;
		if (ch->head == ch->tail && !ch->nest) {
			ch->base += ch->head;
			ch->head = ch->tail = 0;
		}
		int r = fill(ch, block);

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
	}
}

bool uvfio_chan_ready(struct uvfio_chan *ch, size_t size)
{
	size_t have = ch->tail - ch->head;
	int queued = 0;

	if (have >= size)
		return true;
	return !ioctl(ch->fd, FIONREAD, &queued) && queued >= 0 &&
	       (size_t)queued >= size - have;
}

/* n bytes of the stream straight into dst; fds that come are closed. */
static int read_direct(struct uvfio_chan *ch, uint8_t *dst, size_t n,
		       bool *fds)
{
	while (n) {
		union {
			char b[CMSG_SPACE(sizeof(int) * UVFIO_CHAN_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { dst, n };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.b,
				     .msg_controllen = sizeof(cbuf.b) };
		ssize_t r = sys_recvmsg(ch->fd, &mh,
					MSG_CMSG_CLOEXEC | MSG_WAITALL);

		if (r < 0) {
			if (r == -EINTR)
				continue;
			return (int)r;
		}
		if (r == 0) {
			ch->eof = true;
			return -ECONNRESET;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(fd));
				close(fd);
			}
			*fds = true;
		}
		if (mh.msg_flags & MSG_CTRUNC)
			*fds = true;
		dst += r;
		n -= (size_t)r;
	}
	return 0;
}

int uvfio_chan_take(struct uvfio_chan *ch, size_t at, void *dst, size_t len)
{
	struct vfio_user_header h;
	uint8_t drop[64];
	struct uvfio_msg tmp = { 0 };
	bool fds = false;
	uint64_t start, end;
	size_t off, inbuf, rest;
	int err;

	if (ch->nest || ch->tail - ch->head < HDR)
		return -EINVAL;
	memcpy(&h, ch->buf + ch->head, HDR);
	if (h.msg_size < HDR || at > h.msg_size - HDR ||
	    len > h.msg_size - HDR - at)
		return -EINVAL;
	rest = h.msg_size - HDR - at - len;
	if (rest > sizeof(drop))
		return -EINVAL;
	start = ch->base + ch->head;
	end = start + h.msg_size;
	off = ch->head + HDR + at;
	/* The bytes before at must have been peeked: they are buffered. */
	if (ch->tail < off)
		return -EINVAL;
	inbuf = ch->tail > off ? ch->tail - off : 0;
	if (inbuf >= len + rest) {
		/* All here already: an ordinary copy. */
		memcpy(dst, ch->buf + off, len);
		ch->head += h.msg_size;
	} else {
		size_t got = inbuf < len ? inbuf : len;

		memcpy(dst, ch->buf + off, got);
		err = read_direct(ch, (uint8_t *)dst + got, len - got, &fds);
		/* What follows the data: the part not yet buffered. */
		if (!err && inbuf > len)
			rest -= inbuf - len;
		if (!err)
			err = read_direct(ch, drop, rest, &fds);
		if (err)
			return err;
		/* Nothing of a later message was read: the buffer is empty. */
		ch->base = end;
		ch->head = ch->tail = 0;
	}
	claim_fds(ch, start, end, &tmp);
	if (tmp.nfds || tmp.fds_truncated)
		fds = true;
	uvfio_msg_release(&tmp);
	return fds ? -EBADMSG : 0;
}

/*
 * A small message without fds is gathered and sent with send(), which
 * costs less than sendmsg() on the request/reply hot path.
 */
#define SMALL_MSG 256

HOT static int send_small(struct uvfio_chan *ch,
			  const struct vfio_user_header *h,
			  const struct iovec *iov, int iovcnt)
{
	uint8_t b[SMALL_MSG];
	size_t n = HDR;

	memcpy(b, h, HDR);
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		memcpy(b + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	for (size_t done = 0; done < n;) {
		ssize_t r = sys_send(ch->fd, b + done, n - done,
				     MSG_NOSIGNAL);

		if (r < 0) {
			if (r == -EINTR)
				continue;
			return (int)r;
		}
		done += (size_t)r;
	}
	return 0;
}

/* A message with fds, or too large to gather: sendmsg(). */
HOT static __attribute__((noinline)) int
send_msg(struct uvfio_chan *ch, const struct vfio_user_header *h,
	 const struct iovec *iov, int iovcnt, const int *fds, unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * UVFIO_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec v[8];
	struct msghdr mh = { 0 };
	int nv = 0;

	v[nv++] = (struct iovec){ (void *)h, HDR };
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			v[nv++] = iov[i];
	mh.msg_iov = v;
	mh.msg_iovlen = (size_t)nv;
	if (nfds) {
		/* No uninitialised padding goes to the kernel. */
		memset(cbuf.b, 0, CMSG_SPACE(sizeof(int) * nfds));
		mh.msg_control = cbuf.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sys_sendmsg(ch->fd, &mh, MSG_NOSIGNAL);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			return (int)n;
		}
		/* fds went with the first byte; never send them twice. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			if ((size_t)n >= mh.msg_iov[0].iov_len) {
				n -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base =
					(char *)mh.msg_iov[0].iov_base + n;
				mh.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
		if (!mh.msg_iovlen)
			return 0;
	}
}

HOT int uvfio_chan_sendv(struct uvfio_chan *ch,
			 const struct vfio_user_header *h,
			 const struct iovec *iov, int iovcnt, const int *fds,
			 unsigned int nfds)
{
	size_t total = HDR;

	if (iovcnt > 7 || nfds > UVFIO_CHAN_MAX_FDS)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (!nfds && total <= SMALL_MSG)
		return send_small(ch, h, iov, iovcnt);
	return send_msg(ch, h, iov, iovcnt, fds, nfds);
}

int uvfio_chan_send_reply(struct uvfio_chan *ch,
			  const struct vfio_user_header *req, const void *p,
			  size_t n, const int *fds, unsigned int nfds)
{
	if (n > UINT32_MAX - HDR)
		return -EINVAL;
	struct vfio_user_header h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.msg_size = (uint32_t)(HDR + n),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	struct iovec iov = { (void *)p, n };

	return uvfio_chan_sendv(ch, &h, &iov, 1, fds, nfds);
}

int uvfio_chan_send_error(struct uvfio_chan *ch,
			  const struct vfio_user_header *req, int err)
{
	struct vfio_user_header h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.msg_size = HDR,
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error_no = (uint32_t)(err < 0 ? -err : err),
	};

	return uvfio_chan_sendv(ch, &h, NULL, 0, NULL, 0);
}
