/* SPDX-License-Identifier: MIT */
/*
 * VERSION negotiation: the JSON capability object (json-c) and the rules
 * of the specification for majors, minors and subsets.
 */
#ifndef UVFIO_PROTO_NEGOTIATE_H
#define UVFIO_PROTO_NEGOTIATE_H

#include <stddef.h>
#include <stdint.h>

#include <uvfio/caps.h>

/* The defaults the specification gives for absent capabilities. */
void uvfio_caps_default(struct uvfio_caps *c);

/*
 * Parses a VERSION payload (major, minor, optional NUL-terminated JSON).
 * Absent capabilities take the defaults and present ones set their bit in
 * c->present; unknown names are ignored; a
 * known name of the wrong type, a value out of range, JSON that does not
 * parse or is not an object, or version data without its NUL give
 * -EINVAL.  Zero max_msg_fds/max_data_xfer_size/pgsizes are -EINVAL too.
 */
int uvfio_caps_parse(const void *payload, size_t len, struct uvfio_caps *c);

/*
 * Builds a VERSION payload into buf: the version, then the JSON with the
 * capabilities named in c->present (twin_socket.fd_index only when >= 0).
 * Returns its length (NUL included), -ENOSPC when cap is too small.
 */
int uvfio_caps_format(const struct uvfio_caps *c, void *buf, size_t cap);

/*
 * The server's side of negotiation: from the client's proposal and the
 * server's own capabilities, the reply.  -ENOTSUP when the majors differ.
 * Minor: the smaller.  The reply names what the client proposed (and the
 * server knows), and the server's limits that are tighter than the
 * defaults.  twin_socket is supported only if both support it (fd_index is
 * left to the caller); write_multiple is the server's own word.  The
 * values are the server's own (what it can receive, its limits).
 */
int uvfio_caps_negotiate(const struct uvfio_caps *client,
			 const struct uvfio_caps *server,
			 struct uvfio_caps *reply);

/*
 * The client's check of a reply against its proposal: same major, minor
 * not above the proposal, no capability the client did not offer
 * (twin_socket set without fd_index, or when not proposed, is -EPROTO).
 */
int uvfio_caps_check_reply(const struct uvfio_caps *proposed,
			   const struct uvfio_caps *reply);

#endif
