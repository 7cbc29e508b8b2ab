/* SPDX-License-Identifier: MIT */
/*
 * CRC-32 in the Linux crc32_le() convention: reflected, polynomial
 * 0xedb88320, seed chosen by the caller (~0 for pci_endpoint_test), no
 * final inversion.  Streaming: feed the previous result back as the seed.
 */
#ifndef UVFIO_PROTO_CRC32_H
#define UVFIO_PROTO_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_le(uint32_t crc, const void *buf, size_t len);

#endif
