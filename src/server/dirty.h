/* SPDX-License-Identifier: MIT */
/*
 * DMA dirty-page logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*): which pages
 * of client memory the device wrote through the library since the last
 * report.  The feature handler in mig.c has checked the feature header
 * (flags, argsz); these check the feature data.
 */
#ifndef UVFIO_SERVER_DIRTY_H
#define UVFIO_SERVER_DIRTY_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "priv.h"

/*
 * START: c is the request's data, len its size (16 + 16 * num_ranges
 * at least).  num_ranges 0 logs every IOVA.  On success *page_size is
 * the page size chosen (what the reply carries): the one asked for when
 * it is a power of two from 4 KiB to 1 GiB, else 4 KiB.  Ranges must be
 * aligned to the page size asked for (to 4 KiB when that is no power of
 * two), as in the kernel.  Errors: -EINVAL (unaligned, empty,
 * overlapping or truncated ranges), -E2BIG (more than 4096 ranges),
 * -EOVERFLOW (a range reaching 2^64), -EBUSY (already started), -ENOMEM.
 */
int dirty_start(struct uvfio_dev *dev,
		const struct vfio_user_dma_logging_control *c, size_t len,
		uint64_t *page_size);
/* STOP: 0, or -EINVAL when logging was not started. */
int dirty_stop(struct uvfio_dev *dev);
/*
 * REPORT: writes the bitmap of [r->iova, r->iova + r->length) at
 * r->page_size (any power of two >= 4096; iova and length multiples of
 * it) into bitmap, bytes long (dirty_report_bytes(r); more is zeroed),
 * and clears what it reported: a log page only partly inside the report
 * is reported but kept.  Bits past the length are zero.  May run while
 * the device marks: a racing mark is in this report or the next.
 * Errors: -EINVAL (not started, bad page size, empty or unaligned
 * range, not inside the logged ranges), -EOVERFLOW, -ENOMEM (a mark
 * could not be recorded: the log is lost, the client must assume every
 * page dirty).
 */
int dirty_report(struct uvfio_dev *dev,
		 const struct vfio_user_dma_logging_report *r,
		 uint64_t *bitmap, size_t bytes);
/* The bitmap size for a report request, or 0 when it is malformed. */
size_t dirty_report_bytes(const struct vfio_user_dma_logging_report *r);
/*
 * The device wrote [iova, iova + len): any thread, lock-free while no
 * START/STOP runs; one load when logging is off.
 */
void dirty_mark_slow(struct uvfio_dev *dev, uint64_t iova, uint64_t len);

static inline void dirty_mark(struct uvfio_dev *dev, uint64_t iova,
			      uint64_t len)
{
	if (atomic_load_explicit(&dev->dirty_on, memory_order_relaxed))
		dirty_mark_slow(dev, iova, len);
}
/*
 * The client left, or the device goes: logging stops, the log is freed.
 * Nothing to do when logging never started.
 */
void dirty_fini(struct uvfio_dev *dev);

/*
 * dma.c, for dma_xfer.c: copies to (wr) or from client memory through a
 * mapped window, marking what it writes; the caller has passed the DMA
 * gate (mig_dma_enter).  Errors as uvfio_dma_get(): -EFAULT when the
 * window has no fd (in-band access needed).
 */
int dma_copy(struct uvfio_dev *dev, uint64_t iova, void *buf, size_t len,
	     bool wr);

#endif
