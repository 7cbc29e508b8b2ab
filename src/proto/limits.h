/* SPDX-License-Identifier: MIT */
/*
 * What uvfio announces in negotiation, next to what the peers people run
 * accept, so a unit test (tests/unit/test_limits.c) can pin the one to the
 * other.  docs/interop.md carries the same table for readers.
 */
#ifndef UVFIO_PROTO_LIMITS_H
#define UVFIO_PROTO_LIMITS_H

#include <stdint.h>

#include "wire.h"

/* Device side defaults (struct uvfio_dev_opts fields left 0). */
#define UVFIO_DEV_DEFAULT_MAX_MSG_FDS 16u
#define UVFIO_DEV_DEFAULT_MAX_DATA_XFER VFIO_USER_DEFAULT_MAX_DATA_XFER
#define UVFIO_DEV_DEFAULT_MAX_DMA_MAPS VFIO_USER_DEFAULT_MAX_DMA_MAPS
#define UVFIO_DEV_DEFAULT_PGSIZES VFIO_USER_DEFAULT_PGSIZES

/* VMM side defaults (struct uvfio_client_opts fields left 0). */
#define UVFIO_CLIENT_DEFAULT_MAX_MSG_FDS 16u
#define UVFIO_CLIENT_DEFAULT_MAX_DATA_XFER VFIO_USER_DEFAULT_MAX_DATA_XFER

/*
 * QEMU 10.1's vfio-user client reads DMA_READ replies whole only while
 * they fit its socket buffer (it gives up on a short non-blocking write):
 * 64 KiB arrive whole, 1 MiB do not.
 */
#define UVFIO_QEMU_DMA_READ_CHUNK (64u * 1024)

/*
 * The largest value of each capability a peer accepts from the other
 * side (0: no limit of its own beyond the protocol's), and the multiple
 * page sizes must be.
 */
struct uvfio_peer_limits {
	const char *peer;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsize_multiple;
};

extern const struct uvfio_peer_limits uvfio_peer_limits[];
extern const unsigned int uvfio_nr_peer_limits;

#endif
