/* SPDX-License-Identifier: MIT */
/* The device model's state, shared by testdev.c and migrate.c. */
#ifndef TESTDEV_PRIV_H
#define TESTDEV_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "regfile.h"
#include "testdev.h"

struct testdev {
	struct uvfio_dev *dev;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* worker: a command or quit */
	struct testdev_regfile rf;
	uint64_t gen;
	uint64_t max_xfer;
	bool use_worker;
	bool bar64; /* BAR4 64-bit prefetchable, BAR5 its upper half */
	bool worker_running;
	bool quit;
	pthread_t worker;
	struct uvfio_work *work;        /* without our own worker */
	/* Only ever used by the one thread that runs commands. */
	uint8_t *scratch;
	uint64_t seq;
	/* Migration: BAR1..5 as last saved, to send only what changed. */
	uint8_t *shadow[UVFIO_PCI_NUM_BARS];
	bool shadow_valid;
	/* A command waits for the device to run again (DMA refused). */
	bool held;
	unsigned int kicks;     /* testdev_kick() calls: held is stale */
};

/* migrate.c */
int testdev_mig_setup(struct testdev *td);
void testdev_mig_free(struct testdev *td);
/* Commands held while stopped may go: wakes whoever runs them. */
void testdev_kick(struct testdev *td);


#endif
