/* SPDX-License-Identifier: MIT */
/* vfio-user capabilities, as exchanged in VERSION negotiation. */
#ifndef UVFIO_CAPS_H
#define UVFIO_CAPS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Mappable (sparse mmap) areas per region: what a device may declare and
 * what the client accepts, one limit for both sides.
 */
#define UVFIO_MAX_AREAS 64

/*
 * DMA rights: of a window (the client's uvfio_client_dma_map()) and of an
 * access to it (the device's uvfio_dma_get()).
 */
#define UVFIO_DMA_READ (1u << 0)
#define UVFIO_DMA_WRITE (1u << 1)

/*
 * Which names a VERSION message carried (uvfio_caps.present).  A name
 * that is absent takes the protocol's default; a server answers only the
 * names its client proposed, plus any limit of its own that is tighter
 * than the default the client would otherwise assume.
 */
#define UVFIO_CAP_MAX_MSG_FDS (1u << 0)
#define UVFIO_CAP_MAX_DATA_XFER (1u << 1)
#define UVFIO_CAP_MAX_DMA_MAPS (1u << 2)
#define UVFIO_CAP_PGSIZES (1u << 3)
#define UVFIO_CAP_MIGRATION (1u << 4)
#define UVFIO_CAP_TWIN_SOCKET (1u << 5)
#define UVFIO_CAP_WRITE_MULTIPLE (1u << 6)
#define UVFIO_CAP_ALL 0x7fu
/* Inside the migration object, as parsed (not used to format). */
#define UVFIO_CAP_MIG_PGSIZE (1u << 7)
#define UVFIO_CAP_MIG_BITMAP (1u << 8)

struct uvfio_caps {
	uint16_t major;
	uint16_t minor;
	uint32_t present;               /* UVFIO_CAP_* */
	uint32_t max_msg_fds;           /* fds the sender can receive */
	uint32_t max_data_xfer_size;    /* data bytes the sender can receive */
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool has_migration;
	uint64_t mig_pgsize;
	uint64_t mig_max_bitmap_size;
	bool twin_socket;               /* twin_socket.supported */
	int32_t twin_fd_index;          /* twin_socket.fd_index, -1: absent */
	bool write_multiple;
};

#endif
