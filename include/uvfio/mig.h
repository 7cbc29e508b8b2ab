/* SPDX-License-Identifier: MIT */
/*
 * Migration states, shared by the device side (server.h) and the VMM side
 * (client.h).  Numbered as enum vfio_device_mig_state of <linux/vfio.h>;
 * the PRE_COPY ones are missing from older headers.
 */
#ifndef UVFIO_MIG_H
#define UVFIO_MIG_H

enum uvfio_mig_state {
	UVFIO_MIG_ERROR = 0,
	UVFIO_MIG_STOP = 1,
	UVFIO_MIG_RUNNING = 2,
	UVFIO_MIG_STOP_COPY = 3,
	UVFIO_MIG_RESUMING = 4,
	UVFIO_MIG_RUNNING_P2P = 5,
	UVFIO_MIG_PRE_COPY = 6,
	UVFIO_MIG_PRE_COPY_P2P = 7,
};

#endif
