/* SPDX-License-Identifier: MIT */
/*
 * A raw vfio-user peer for replaying what QEMU and libvfio-user send:
 * whole messages with their fds, and answers to a device's DMA requests
 * in QEMU 10.1's layout or in the specification's (libvfio-user's).
 */
#ifndef UVFIO_TESTS_INTEROP_PEER_H
#define UVFIO_TESTS_INTEROP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

#define PEER_MAX_FDS 16

struct peer_msg {
	struct vfio_user_header hdr;
	uint8_t *data;          /* hdr.msg_size - 16 bytes, malloc'd */
	uint32_t size;
	unsigned int nfds;
	int fds[PEER_MAX_FDS];
};

/* One sendmsg() of header, payload and fds; 0 or -errno. */
int peer_send(int fd, const struct vfio_user_header *h, const void *p,
	      size_t n, const int *fds, unsigned int nfds);
/* A reply to req: payload p (none when err is set) or errno err. */
int peer_reply(int fd, const struct peer_msg *req, const void *p, size_t n,
	       const int *fds, unsigned int nfds, uint32_t err);
/* One whole message: 0, -ETIMEDOUT or -ECONNRESET (or -errno). */
int peer_recv(int fd, struct peer_msg *m, int timeout_ms);
void peer_msg_free(struct peer_msg *m);

static inline bool peer_is_reply(const struct peer_msg *m)
{
	return (m->hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY;
}

/* Guest memory a fake client serves DMA requests from. */
struct peer_mem {
	uint8_t *p;
	uint64_t iova;
	uint64_t len;
	bool qemu;              /* answer as QEMU 10.1: u32 count, data at 12 */
	/* What was served, for the test to check. */
	unsigned int reads, writes;
	uint64_t max_read, max_write;   /* largest count seen */
	bool bad_layout;        /* a request not in the expected layout */
};

/*
 * Answers a device's DMA_READ/DMA_WRITE the way the client it plays does
 * (QEMU: DMA_WRITE header-only, DMA_READ addr, u32 count, data, 4 zero
 * bytes; libvfio-user's sample client: 16-byte echo, and for DMA_READ
 * the data after it), or with QEMU's errno where the request is outside
 * mem.  Returns 0, or -errno if the answer could not be sent.
 */
int peer_answer_dma(int fd, const struct peer_msg *req, struct peer_mem *mem);

#endif
