/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli), the checksum of migration stream records: the
 * SSE4.2 instruction where the CPU has it (several GB/s, so a large
 * state costs little downtime), a table otherwise.  Seed ~0, result
 * inverted, as iSCSI and ext4 use it.
 */
#ifndef UVFIO_PROTO_CRC32C_H
#define UVFIO_PROTO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(const void *buf, size_t len);

#endif
