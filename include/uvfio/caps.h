/* SPDX-License-Identifier: MIT */
/* vfio-user capabilities, as exchanged in VERSION negotiation. */
#ifndef UVFIO_CAPS_H
#define UVFIO_CAPS_H

#include <stdbool.h>
#include <stdint.h>

struct uvfio_caps {
	uint16_t major;
	uint16_t minor;
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
