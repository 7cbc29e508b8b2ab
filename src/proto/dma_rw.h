/* SPDX-License-Identifier: MIT */
/*
 * The payload of DMA_READ/DMA_WRITE, device to client, in the two layouts
 * clients speak.  The specification (and libvfio-user) puts a u64 count at
 * offset 8 and the data at 16.  QEMU 10.1's vfio-user client reads and
 * writes a u32 count at 8 and the data at 12, and sizes each message as
 * 32 + count (4 bytes of padding after the data).  Both layouts therefore
 * make messages of the same size: 16 + 16 + count.
 */
#ifndef UVFIO_PROTO_DMA_RW_H
#define UVFIO_PROTO_DMA_RW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes that frame the data in every DMA_READ/DMA_WRITE message. */
#define VFIO_USER_DMA_RW_FRAME 16u

/*
 * The bytes before the data: addr and count in the chosen layout.  Writes
 * 16 bytes to out (the QEMU layout's last 4 are zero: the padding of a
 * DMA_READ request); returns how many come before the data (16 or 12).
 */
size_t vfio_user_dma_rw_head(void *out, uint64_t addr, uint64_t count,
			     bool count32);

/*
 * Checks a DMA_READ reply of size payload bytes for [addr, addr + count):
 * the size is 16 + count, addr and count are echoed.  Returns the offset
 * of the data, or -EPROTO.
 */
int vfio_user_dma_read_reply(const void *p, size_t size, uint64_t addr,
			     uint64_t count, bool count32);

/*
 * Checks a DMA_WRITE reply: every peer's form is accepted: none (QEMU), 12
 * bytes (addr, u32 count: the specification) or 16 (addr, u64 count:
 * libvfio-user).  What is there must echo the request.  0 or -EPROTO.
 */
int vfio_user_dma_write_reply(const void *p, size_t size, uint64_t addr,
			      uint64_t count);

#endif
