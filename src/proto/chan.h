/* SPDX-License-Identifier: MIT */
/*
 * A vfio-user channel: one end of a UNIX stream socket, framing messages
 * and the fds that travel with them.
 *
 * Receiving reads as much as the socket holds into one buffer, so a small
 * request costs a single recvmsg() and pipelined requests share one.  Linux
 * ends a stream recvmsg() right after the segment that carried SCM_RIGHTS
 * fds, and a sender attaches fds to the first segment of its message, so
 * the fds of one recvmsg() belong to the message holding its last byte.
 */
#ifndef UVFIO_PROTO_CHAN_H
#define UVFIO_PROTO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wire.h"

/* The kernel's SCM_MAX_FD: no message can carry more. */
#define UVFIO_CHAN_MAX_FDS 253

/* The scalars first: a message without fds fills one cache line. */
struct uvfio_msg {
	struct vfio_user_header hdr;
	void *payload;          /* hdr.msg_size - 16 bytes, or NULL */
	void *heap; /* payload copy owned by the message */
	uint32_t size;          /* payload bytes */
	unsigned int nfds;
	bool fds_truncated;     /* the kernel dropped fds (MSG_CTRUNC) */
	bool oversize;          /* msg_size over the limit: payload dropped */
	int fds[UVFIO_CHAN_MAX_FDS];
};

struct pending_fd;

struct uvfio_chan {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t head;            /* first unconsumed byte */
	size_t tail;            /* end of received bytes */
	uint64_t base;          /* stream offset of buf[0] */
	uint64_t skip;          /* bytes of an oversize message to drop */
	uint32_t max_msg;       /* largest msg_size accepted */
	unsigned int nest;      /* >0: earlier messages must stay in place */
	/*
	 * false: read with recv(), which costs less than recvmsg(); any fds
	 * a peer sends anyway are closed by the kernel, never seen.
	 */
	bool want_fds;
	struct pending_fd *pfd;
	unsigned int npfd, cap_pfd;
	bool eof;
};

int uvfio_chan_init(struct uvfio_chan *ch, int fd, uint32_t max_msg);
/* Closes the socket, the buffer and any fds not handed out. */
void uvfio_chan_fini(struct uvfio_chan *ch);

/*
 * Next whole message.  Returns 1 with *msg filled, 0 when a non-blocking
 * read found nothing more (or, blocking, never), -EINTR when a blocking
 * read was interrupted by a signal (so callers can look at a stop flag),
 * -ECONNRESET at end of stream, -EPROTO when the stream cannot be framed any more, or another
 * negative errno.  The payload stays valid until the next call (or, while
 * nested, until the nesting ends).  The caller owns msg->fds and must
 * close or take them; uvfio_msg_release() closes what is left.
 */
int uvfio_chan_recv(struct uvfio_chan *ch, struct uvfio_msg *msg, bool block);

/* Only messages already buffered; never touches the socket. */
int uvfio_chan_next_buffered(struct uvfio_chan *ch, struct uvfio_msg *msg);

/*
 * Large messages straight into their destination, without a pass through
 * the buffer.  uvfio_chan_peek() makes the header and the first n payload
 * bytes of the next message available (reading the socket as
 * uvfio_chan_recv() would) without taking it: 1 with *h and p filled, 0
 * when a non-blocking read found too little, or a negative errno.  After
 * it, uvfio_chan_take() takes that message: len payload bytes from byte
 * at go to dst, what is not buffered yet read straight from the socket;
 * up to 64 bytes after them are dropped.  Returns 0; -EBADMSG when fds
 * came with the message (closed); -EINVAL when at + len does not fit it;
 * or a negative errno after which the stream is unusable.
 */
int uvfio_chan_peek(struct uvfio_chan *ch, struct vfio_user_header *h,
		    void *p, size_t n, bool block);
int uvfio_chan_take(struct uvfio_chan *ch, size_t at, void *dst, size_t len);
/* Whether the next size bytes are all here: buffered or in the socket. */
bool uvfio_chan_ready(struct uvfio_chan *ch, size_t size);

void uvfio_msg_release(struct uvfio_msg *msg);
/* Moves a message's payload to the heap so it outlives the buffer. */
int uvfio_msg_detach(struct uvfio_msg *msg);

/* Sends header + iov as one sendmsg() (looping only on short writes). */
int uvfio_chan_sendv(struct uvfio_chan *ch, const struct vfio_user_header *h,
		     const struct iovec *iov, int iovcnt, const int *fds,
		     unsigned int nfds);

int uvfio_chan_send_reply(struct uvfio_chan *ch,
			  const struct vfio_user_header *req, const void *p,
			  size_t n, const int *fds, unsigned int nfds);
int uvfio_chan_send_error(struct uvfio_chan *ch,
			  const struct vfio_user_header *req, int err);

#endif
