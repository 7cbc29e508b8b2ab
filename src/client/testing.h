/* SPDX-License-Identifier: MIT */
/*
 * For the library's own tests: not exported from libuvfio.so.  Tests
 * that use it link the static archive (libuvfio_static).
 */
#ifndef UVFIO_CLIENT_TESTING_H
#define UVFIO_CLIENT_TESTING_H

#include <stddef.h>
#include <stdint.h>

struct uvfio_client;

/*
 * A raw request: sends cmd (a VFIO_USER_* number of proto/wire.h) with
 * payload and fds, waits for the reply and copies up to cap bytes of its
 * payload.  Returns the reply payload size or a negative errno (the
 * server's, for error replies).
 */
int uvfio_client_raw(struct uvfio_client *c, uint16_t cmd, const void *req,
		     size_t len, const int *fds, unsigned int nfds,
		     void *reply, size_t cap);

#endif
