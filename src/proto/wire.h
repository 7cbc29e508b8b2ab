/* SPDX-License-Identifier: MIT */
/*
 * vfio-user wire format: the 16-byte header and every message's payload,
 * laid out as in the vfio-user specification.  Where the specification
 * reuses a <linux/vfio.h> structure with the same layout, the kernel's
 * structure is used; the static asserts pin every size the spec gives.
 */
#ifndef UVFIO_PROTO_WIRE_H
#define UVFIO_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 1

enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
	VFIO_USER_MIG_DATA_READ = 17,
	VFIO_USER_MIG_DATA_WRITE = 18,
	VFIO_USER_MAX_COMMAND = 19,
};

#define VFIO_USER_F_TYPE_MASK 0xfu
#define VFIO_USER_F_TYPE_COMMAND 0x0u
#define VFIO_USER_F_TYPE_REPLY 0x1u
#define VFIO_USER_F_NO_REPLY (1u << 4)
#define VFIO_USER_F_ERROR (1u << 5)

struct vfio_user_header {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t msg_size;
	uint32_t flags;
	uint32_t error_no;
};

/* VERSION: followed by optional NUL-terminated JSON. */
struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
	char data[];
};

/* DMA_MAP and DMA_UNMAP. */
#define VFIO_USER_F_DMA_REGION_READ (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1u << 1)

struct vfio_user_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;
	uint64_t addr;
	uint64_t size;
};

struct vfio_user_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
};

/*
 * DEVICE_GET_INFO: the spec's 16-byte form; newer kernels append
 * cap_offset to struct vfio_device_info, which vfio-user does not carry.
 */
struct vfio_user_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
};

/* GET_REGION_INFO uses struct vfio_region_info (32 bytes) and caps. */

/* GET_REGION_IO_FDS */
#define VFIO_USER_IO_FD_TYPE_IOEVENTFD 0
#define VFIO_USER_IO_FD_TYPE_IOREGIONFD 1

struct vfio_user_region_io_fds_request {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
};

struct vfio_user_sub_region_ioeventfd {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch;
};

/* GET_IRQ_INFO uses struct vfio_irq_info; SET_IRQS struct vfio_irq_set. */

/* REGION_READ / REGION_WRITE */
struct vfio_user_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];
};

/* DMA_READ / DMA_WRITE request and DMA_READ reply. */
struct vfio_user_dma_region_access {
	uint64_t addr;
	uint64_t count;
	uint8_t data[];
};


/* REGION_WRITE_MULTI */
#define VFIO_USER_MULTI_DATA 8
#define VFIO_USER_MULTI_MAX 200

struct vfio_user_write_multi_data {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[VFIO_USER_MULTI_DATA];
};

struct vfio_user_write_multi {
	uint64_t wr_cnt;
	struct vfio_user_write_multi_data wrs[];
};

/*
 * DEVICE_FEATURE uses struct vfio_device_feature, its data inline.  The
 * PRE_COPY values are the kernel's; Debian 12's headers predate them.
 */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif
#define UVFIO_MIG_STATE_PRE_COPY 6
#define UVFIO_MIG_STATE_PRE_COPY_P2P 7
#define UVFIO_MIG_NUM_STATES 8
#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

/* MIGRATION: GET data.  MIG_DEVICE_STATE: struct vfio_device_feature_mig_state. */
struct vfio_user_feature_migration {
	uint64_t flags;
};

/* MIG_DATA_SIZE: GET data. */
struct vfio_user_feature_mig_data_size {
	uint64_t stop_copy_length;
};

/* DMA_LOGGING_START / STOP: SET data, ranges inline. */
struct vfio_user_dma_logging_range {
	uint64_t iova;
	uint64_t length;
};

struct vfio_user_dma_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	struct vfio_user_dma_logging_range ranges[];
};

/* DMA_LOGGING_REPORT: GET request; the reply appends the bitmap (u64s). */
struct vfio_user_dma_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	uint64_t bitmap[];
};

/* MIG_DATA_READ / MIG_DATA_WRITE */
struct vfio_user_mig_data {
	uint32_t argsz;
	uint32_t size;
	uint8_t data[];
};

_Static_assert(sizeof(struct vfio_user_header) == 16, "header");
_Static_assert(sizeof(struct vfio_user_version) == 4, "version");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "dma_map");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "dma_unmap");
_Static_assert(sizeof(struct vfio_user_device_info) == 16, "device_info");
_Static_assert(sizeof(struct vfio_region_info) == 32, "region_info");
_Static_assert(sizeof(struct vfio_user_region_io_fds_request) == 16, "iofds");
_Static_assert(sizeof(struct vfio_user_sub_region_ioeventfd) == 40, "iofd");
_Static_assert(sizeof(struct vfio_irq_info) == 16, "irq_info");
_Static_assert(sizeof(struct vfio_irq_set) == 20, "irq_set");
_Static_assert(sizeof(struct vfio_user_region_access) == 16, "region rw");
_Static_assert(sizeof(struct vfio_user_dma_region_access) == 16, "dma rw");
_Static_assert(sizeof(struct vfio_user_write_multi_data) == 24, "multi");
_Static_assert(sizeof(struct vfio_user_write_multi) == 8, "multi hdr");
_Static_assert(sizeof(struct vfio_device_feature) == 8, "feature");
_Static_assert(sizeof(struct vfio_user_mig_data) == 8, "mig data");
_Static_assert(sizeof(struct vfio_device_feature_mig_state) == 8, "mig state");
_Static_assert(sizeof(struct vfio_user_dma_logging_control) == 16, "log ctl");
_Static_assert(sizeof(struct vfio_user_dma_logging_range) == 16, "log rng");
_Static_assert(sizeof(struct vfio_user_dma_logging_report) == 24, "log rep");

/* Data-bearing messages carry at most this much data (1 MiB default). */
#define VFIO_USER_DEFAULT_MAX_DATA_XFER (1u << 20)
/* The largest message either side accepts: data plus two headers. */
#define VFIO_USER_MAX_MSG_SIZE (VFIO_USER_DEFAULT_MAX_DATA_XFER + 64)
#define VFIO_USER_DEFAULT_MAX_FDS 1
#define VFIO_USER_DEFAULT_MAX_DMA_MAPS 65535
#define VFIO_USER_DEFAULT_PGSIZES 4096
/* The older migration object's max_bitmap_size when absent (QEMU's). */
#define VFIO_USER_DEFAULT_MAX_BITMAP (256ull << 20)

const char *vfio_user_command_name(unsigned int cmd);

#endif
