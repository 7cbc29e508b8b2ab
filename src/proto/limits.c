// SPDX-License-Identifier: MIT
/*
 * The peers' limits, read from their sources: QEMU 10.1..10.2
 * (hw/vfio-user/proxy.c: check_max_fds, check_max_xfer, check_max_dma,
 * check_pgsizes) and libvfio-user 0.2 (lib/tran.c: recv_version and
 * tran_parse_version_json, which its sample client shares).
 */
#include "limits.h"

const struct uvfio_peer_limits uvfio_peer_limits[] = {
	{
		.peer = "QEMU 10.1 vfio-user-pci, reading a device's VERSION",
		.max_msg_fds = 16,
		.max_data_xfer_size = 64u << 20,
		.max_dma_maps = 65535,
		.pgsize_multiple = 4096,
	},
	{
		/* Parsed as an int; max_msg_fds above 1024 is refused. */
		.peer = "libvfio-user 0.2, reading a client's VERSION",
		.max_msg_fds = 1024,
		.max_data_xfer_size = INT32_MAX,
	},
	{
		.peer = "libvfio-user samples/client, reading a device's VERSION",
		.max_msg_fds = INT32_MAX,
		.max_data_xfer_size = INT32_MAX,
	},
};

const unsigned int uvfio_nr_peer_limits =
	sizeof(uvfio_peer_limits) / sizeof(uvfio_peer_limits[0]);
