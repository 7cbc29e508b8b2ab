/* SPDX-License-Identifier: MIT */
/*
 * HOT marks the functions of the message and DMA hot paths.  GCC places
 * them together (.text.hot), so a request runs through a few code pages
 * rather than through most of the library: where each system call
 * flushes the TLB (page-table isolation without PCID, as in many VMs),
 * every page a request touches again costs a page walk.
 */
#ifndef UVFIO_PROTO_HOT_H
#define UVFIO_PROTO_HOT_H

#define HOT __attribute__((hot))

#endif
