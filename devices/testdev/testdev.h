/* SPDX-License-Identifier: MIT */
/*
 * uvfio-testdev: a pci-epf-test compatible device on the libuvfio device
 * side.  Lifecycle: testdev_create(), uvfio_dev_create() with
 * testdev_ops() and the testdev as priv, testdev_setup(), serve, then
 * testdev_stop() before uvfio_dev_destroy() and testdev_destroy().
 */
#ifndef TESTDEV_H
#define TESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#include <uvfio/server.h>

struct testdev;

struct testdev_opts {
	/* Run commands on a thread of our own instead of library work. */
	bool worker;
	/* Largest transfer accepted; 0 takes TESTDEV_MAX_XFER. */
	uint64_t max_xfer;
	/* BAR4 a 64-bit prefetchable BAR (with BAR5 its upper half). */
	bool bar64;
};

struct testdev *testdev_create(const struct testdev_opts *opts);
void testdev_destroy(struct testdev *td);

const struct uvfio_dev_ops *testdev_ops(void);

/* Describes the device on dev and starts the worker or library work. */
int testdev_setup(struct testdev *td, struct uvfio_dev *dev);
/*
 * Stops and joins the worker (or waits out library work); the device no
 * longer touches dev.
 */
void testdev_stop(struct testdev *td);

/* config.c: IDs, capabilities, BARs and irq counts. */
void testdev_ids(struct uvfio_pci_ids *ids);
/* A doorbell per command on BAR0's COMMAND register (--doorbells). */
int testdev_add_doorbells(struct uvfio_dev *dev);
int testdev_describe(struct uvfio_dev *dev, uvfio_region_access_fn bar0,
		     void *priv, bool bar64);

#endif
