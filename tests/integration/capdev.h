/* SPDX-License-Identifier: MIT */
/*
 * capdev: a device built straight on the server API, to test what
 * uvfio-testdev does not use: sparse mmap areas, a device-specific region,
 * callback errors, DMA references held across an unmap, the DMA cap,
 * embedding in the caller's loop and stopping.  It runs in a child
 * process; the test is the client.
 */
#ifndef UVFIO_TESTS_CAPDEV_H
#define UVFIO_TESTS_CAPDEV_H

#include <stdint.h>
#include <linux/vfio.h>

/* BAR0: 64-bit registers, 8-byte aligned 8-byte accesses only. */
#define CAPDEV_BAR0_SIZE 0x1000u
#define CAPDEV_REG_SCRATCH 0x00     /* rw */
#define CAPDEV_REG_LAST_OFF 0x08    /* last trapped access (BAR2, region 9) */
#define CAPDEV_REG_LAST_LEN 0x10
#define CAPDEV_REG_LAST_WR 0x18
#define CAPDEV_REG_LAST_DATA 0x20   /* first 8 bytes of the last write */
#define CAPDEV_REG_TRAPS 0x28       /* trapped accesses so far */
#define CAPDEV_REG_AREA_HITS 0x30   /* ...of them inside a mappable area */
#define CAPDEV_REG_PEEK_SEL 0x38    /* region index << 32 | offset */
#define CAPDEV_REG_PEEK 0x40        /* 8 bytes of region memory at PEEK_SEL */
#define CAPDEV_REG_POKE 0x48        /* write: 8 bytes to region memory */
#define CAPDEV_REG_DMA_IOVA 0x50
#define CAPDEV_REG_DMA_LEN 0x58
#define CAPDEV_REG_DMA_ACCESS 0x60  /* UVFIO_DMA_READ/WRITE */
#define CAPDEV_REG_DMA_CMD 0x68     /* CAPDEV_CMD_* */
#define CAPDEV_REG_DMA_RESULT 0x70  /* int64: last uvfio_dma_get() result */
#define CAPDEV_REG_DMA_STATUS 0x78  /* CAPDEV_ST_* of the hold worker */
#define CAPDEV_REG_DMA_MARKER 0x80  /* what the worker writes */
#define CAPDEV_REG_HOLD_MS 0x88     /* the most the worker holds */
#define CAPDEV_REG_DMA_WINDOWS 0x90 /* uvfio_dma_stats() */
#define CAPDEV_REG_DMA_BYTES 0x98
#define CAPDEV_REG_IRQ 0xa0         /* write v: trigger MSI-X vector v */
#define CAPDEV_REG_HUGE_ADD 0xa8    /* int64: add_region() of region 3 */
#define CAPDEV_REG_ATTACHED 0xb0    /* clients attached so far */

/* DMA_CMD: get and put at once (result only); hold from a worker thread. */
#define CAPDEV_CMD_PROBE 1
#define CAPDEV_CMD_HOLD 2

#define CAPDEV_ST_HOLDING (1u << 0)
#define CAPDEV_ST_RELEASED (1u << 1)
#define CAPDEV_ST_DONE (1u << 2)
#define CAPDEV_ST_FAILED (1u << 3)

/* BAR2: memory with two mappable areas; the rest is trapped. */
#define CAPDEV_BAR2_SIZE 0x10000u
#define CAPDEV_AREA0_OFF 0x4000u
#define CAPDEV_AREA0_SIZE 0x2000u
#define CAPDEV_AREA1_OFF 0x8000u
#define CAPDEV_AREA1_SIZE 0x8000u
/* Trapped BAR2 offsets where the callback misbehaves. */
#define CAPDEV_OFF_EIO 0x100u       /* returns -EIO */
#define CAPDEV_OFF_EACCES 0x200u    /* returns -EACCES */
#define CAPDEV_OFF_SHORT 0x300u     /* returns count - 1 */
#define CAPDEV_OFF_ZERO 0x380u      /* returns 0 */
#define CAPDEV_OFF_LONG 0x400u      /* returns count + 1 */

/* Region 3 (only with huge_areas): 4 KiB of memory, many areas. */
#define CAPDEV_HUGE_INDEX 3u
/* BAR4: memory without a callback, mappable as a whole. */
#define CAPDEV_BAR4_SIZE 0x4000u
/* Region 9: device-specific, trapped, backed by a shadow array. */
#define CAPDEV_DEVREG_INDEX 9u
#define CAPDEV_DEVREG_SIZE 0x1000u
/* VFIO_REGION_TYPE_PCI_VENDOR_TYPE | vendor (the header's 1 << 31 is UB) */
#define CAPDEV_DEVREG_TYPE (0x80000000u | 0x1234u)
#define CAPDEV_DEVREG_SUBTYPE 7u

#define CAPDEV_MSIX_VECTORS 4u

/* Bytes the trapped part of BAR2 reads as. */
static inline uint8_t capdev_pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + 0x5a);
}

enum capdev_mode {
	CAPDEV_FD_ONCE,         /* attach_fd, uvfio_dev_run(once) */
	CAPDEV_LISTEN,          /* listen, uvfio_dev_run() until SIGTERM */
	CAPDEV_LISTEN_ONCE,     /* listen, uvfio_dev_run(once) */
	CAPDEV_EMBED,           /* listen, own poll loop until SIGTERM */
};

/* Bytes written to notify_fd. */
#define CAPDEV_NOTE_READY 'R'
#define CAPDEV_NOTE_DETACHED 'D'

struct capdev_params {
	enum capdev_mode mode;
	int fd;                 /* CAPDEV_FD_ONCE: the device's socket */
	const char *path;       /* listening modes */
	int notify_fd;
	/* Readable: the hold worker puts its reference; -1: none. */
	int release_fd;
	uint64_t dma_limit;
	uint32_t huge_areas;    /* areas of region 3; 0: no region 3 */
};

/* Builds the device and serves; returns an exit status (0: clean). */
int capdev_main(const struct capdev_params *p);

#endif
