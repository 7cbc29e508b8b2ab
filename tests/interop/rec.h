/* SPDX-License-Identifier: MIT */
/*
 * Recorded vfio-user conversations (tests/interop/data, one JSON
 * object per message; RECORDINGS.md there gives the format).
 */
#ifndef UVFIO_TESTS_INTEROP_REC_H
#define UVFIO_TESTS_INTEROP_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

struct rec_msg {
	bool c2s;               /* client to server */
	char conn[8];           /* "src"/"dst" where recorded, else "" */
	struct vfio_user_header hdr;
	unsigned int nfds;
	uint8_t *payload;       /* hdr.msg_size - 16 bytes; zeros past cut */
	uint32_t size;
	uint32_t have;          /* bytes recorded (4096 at most) */
	bool partial;           /* the stream ended inside this message */
};

struct rec {
	struct rec_msg *m;
	size_t n;
};

/* Loads NAME from $UVFIO_INTEROP_DATA; exits the test (status 99) on error. */
void rec_load(struct rec *r, const char *name);
void rec_free(struct rec *r);

static inline bool rec_is_reply(const struct rec_msg *m)
{
	return (m->hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY;
}

/* The reply to command q recorded after it (same conn, id, command). */
const struct rec_msg *rec_reply_to(const struct rec *r, const struct rec_msg *q);

#endif
