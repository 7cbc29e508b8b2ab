/* SPDX-License-Identifier: MIT */
/*
 * A full client session against uvfio-testdev, as a script of messages
 * that can be replayed and cut at any point: after a message, in the
 * middle of its header or payload, or in the middle of the sendmsg that
 * carries its fds.  The first run records what the server sent back;
 * replays must see the same.
 */
#ifndef UVFIO_TESTS_HOSTILE_CUT_SESSION_H
#define UVFIO_TESTS_HOSTILE_CUT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* Windows of the session; the checker's own is elsewhere. */
#define CS_IOVA_A 0x100000000ull /* memfd window */
#define CS_IOVA_B 0x200000000ull /* fd-less: in-band DMA */
#define CS_IOVA_C 0x300000000ull /* mapped, then unmapped */
#define CS_WIN 0x40000u

/* How a message is cut (the connection is closed right after). */
enum cs_cut {
	CS_BEFORE, /* nothing of it sent */
	CS_HALF_HEADER, /* 8 bytes (and its fds, if any) */
	CS_HALF_PAYLOAD, /* header and half the payload, fds too */
	CS_FD_SHORT, /* its fds with one byte of data */
	CS_WHOLE, /* all of it, reply not read */
	CS_NR_CUTS,
};

const char *cs_cut_name(enum cs_cut cut);

/* Device state a step writes: region bytes the next client must see. */
struct cs_fact {
	uint32_t region;
	uint32_t off;
	uint32_t len;
	uint8_t val[256];
};

struct cs_session;

/* twin: the session asks for a twin socket, and serves DMA there. */
struct cs_session *cs_build(bool twin);
void cs_free(struct cs_session *s);

/* Steps that send a message: the cut points (plus one after the end). */
unsigned int cs_msg_count(const struct cs_session *s);
/* Whether cut applies to message k (fds, payload). */
bool cs_cut_applies(const struct cs_session *s, unsigned int k,
		    enum cs_cut cut);
const char *cs_msg_name(const struct cs_session *s, unsigned int k);

/*
 * Connects and runs the session up to message k, cut as asked, then
 * closes; k == cs_msg_count() runs all of it.  The first full run
 * records the server's messages; later runs must match them.  Fails
 * the cmocka test on any protocol surprise before the cut.
 */
void cs_run(struct cs_session *s, struct hs_server *srv, unsigned int k,
	    enum cs_cut cut);

/*
 * The distinct locations the session writes, and what each must hold
 * after a cut at (k, cut): *must, or also *may when message k was sent
 * whole (it may or may not have been applied).  init is what the
 * location held before the run.
 */
unsigned int cs_loc_count(const struct cs_session *s);
const struct cs_fact *cs_loc(const struct cs_session *s, unsigned int i);
void cs_expect(const struct cs_session *s, unsigned int i, unsigned int k,
	       enum cs_cut cut, const uint8_t *init, const uint8_t **must,
	       const uint8_t **may);

#endif
