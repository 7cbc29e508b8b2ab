// SPDX-License-Identifier: MIT
/*
 * The device model: BAR0 register file and command execution.  A command
 * that moves data never runs inside the doorbell write that starts it, as
 * on hardware: by default it is library work, which starts once the write
 * has been answered; with the worker option every command runs on a
 * thread of our own.  The
 * lock covers the register file and gen only; DMA runs unlocked so BAR0
 * stays readable during a long transfer.  A reset
 * never waits for a running command (that command may be waiting on the
 * client): it bumps gen instead, and results of an older gen are dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "dma.h"
#include "regfile.h"
#include "testdev.h"
#include "testdev_priv.h"

struct testdev *testdev_create(const struct testdev_opts *opts)
{
	struct testdev *td = calloc(1, sizeof(*td));

	if (!td)
		return NULL;
	td->scratch = malloc(TD_CHUNK);
	if (!td->scratch) {
		free(td);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&td->lock, NULL);
	pthread_cond_init(&td->cond, NULL);
	regfile_reset(&td->rf);
	td->use_worker = opts && opts->worker;
	td->bar64 = opts && opts->bar64;
	td->max_xfer =
		opts && opts->max_xfer ? opts->max_xfer : TESTDEV_MAX_XFER;
	return td;
}

void testdev_destroy(struct testdev *td)
{
	if (!td)
		return;
	testdev_stop(td);
	pthread_cond_destroy(&td->cond);
	pthread_mutex_destroy(&td->lock);
	testdev_mig_free(td);
	free(td->scratch);
	free(td);
}

static uint64_t fresh_seed(struct testdev *td)
{
	struct timespec ts;
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
		return seed;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec << 30 ^ (uint64_t)ts.tv_nsec) ^
	       ++td->seq * 0x9e3779b97f4a7c15ull;
}

/* Status bits for a failed transfer. */
static uint32_t fail_bits(int err, uint32_t fail, uint32_t invalid)
{
	return fail | (td_dma_bad_addr(err) ? invalid : 0);
}

/* COMMAND_READ: the host wrote a buffer and its CRC; check it. */
static uint32_t do_read(struct testdev *td, const struct testdev_cmd *cmd)
{
	uint32_t crc;
	int err;

	err = testdev_xfer_check(cmd->src, cmd->size, td->max_xfer);
	if (!err)
		err = td_dma_crc(td->dev, cmd->src, cmd->size, td->scratch,
				 &crc);
	if (err)
		return fail_bits(err, TESTDEV_STATUS_READ_FAIL,
				 TESTDEV_STATUS_SRC_INVALID);
	return crc == cmd->checksum ? TESTDEV_STATUS_READ_OK :
				      TESTDEV_STATUS_READ_FAIL;
}

/* COMMAND_WRITE: fill the host buffer, publish the CRC. */
static uint32_t do_write(struct testdev *td, const struct testdev_cmd *cmd,
			 uint32_t *crc)
{
	int err;

	err = testdev_xfer_check(cmd->dst, cmd->size, td->max_xfer);
	if (!err)
		err = td_dma_fill(td->dev, cmd->dst, cmd->size, fresh_seed(td),
				  td->scratch, crc);
	if (err)
		return fail_bits(err, TESTDEV_STATUS_WRITE_FAIL,
				 TESTDEV_STATUS_DST_INVALID);
	return TESTDEV_STATUS_WRITE_OK;
}

static uint32_t do_copy(struct testdev *td, const struct testdev_cmd *cmd)
{
	uint32_t status = 0;
	bool dst_failed;
	int err;

	if (testdev_xfer_check(cmd->src, cmd->size, td->max_xfer))
		status |= TESTDEV_STATUS_COPY_FAIL | TESTDEV_STATUS_SRC_INVALID;
	if (testdev_xfer_check(cmd->dst, cmd->size, td->max_xfer))
		status |= TESTDEV_STATUS_COPY_FAIL | TESTDEV_STATUS_DST_INVALID;
	if (status)
		return status;

	err = td_dma_copy(td->dev, cmd->src, cmd->dst, cmd->size, td->scratch,
			  &dst_failed);
	if (err)
		return fail_bits(err, TESTDEV_STATUS_COPY_FAIL,
				 dst_failed ? TESTDEV_STATUS_DST_INVALID :
					      TESTDEV_STATUS_SRC_INVALID);
	return TESTDEV_STATUS_COPY_OK;
}

/*
 * Publishes a command's result and raises its interrupt.  IRQ_RAISED goes
 * up before the signal so the host's handler sees it; an irq register
 * pair that names no vector raises nothing and leaves the bit clear.
 */
static void finish(struct testdev *td, uint64_t gen, uint32_t status,
		   const uint32_t *crc, uint32_t irq_type, uint32_t irq_number)
{
	unsigned int index;
	uint32_t vector;
	bool raise;

	raise = !testdev_irq_target(irq_type, irq_number, &index, &vector);
	pthread_mutex_lock(&td->lock);
	if (gen != td->gen) {
		pthread_mutex_unlock(&td->lock);
		return;
	}
	if (crc)
		regfile_set(&td->rf, TESTDEV_REG_CHECKSUM, *crc);
	if (raise)
		status |= TESTDEV_STATUS_IRQ_RAISED;
	/* The host may have written STATUS meanwhile; keep its bits. */
	status |= regfile_get(&td->rf, TESTDEV_REG_STATUS);
	regfile_set(&td->rf, TESTDEV_REG_STATUS, status);
	pthread_mutex_unlock(&td->lock);

	/* Errors (irq not enabled by the client) are the host's to see. */
	if (raise)
		uvfio_dev_irq_trigger(td->dev, index, vector);
}

static void execute(struct testdev *td, const struct testdev_cmd *cmd,
		    uint64_t gen)
{
	uint32_t irq_type = cmd->irq_type;
	const uint32_t *new_crc = NULL;
	uint32_t status = 0;
	uint32_t crc;

	switch (cmd->command) {
	case TESTDEV_CMD_RAISE_INTX:
		irq_type = TESTDEV_IRQ_INTX;
		break;
	case TESTDEV_CMD_RAISE_MSI:
		irq_type = TESTDEV_IRQ_MSI;
		break;
	case TESTDEV_CMD_RAISE_MSIX:
		irq_type = TESTDEV_IRQ_MSIX;
		break;
	case TESTDEV_CMD_READ:
		status = do_read(td, cmd);
		break;
	case TESTDEV_CMD_WRITE:
		status = do_write(td, cmd, &crc);
		if (status == TESTDEV_STATUS_WRITE_OK)
			new_crc = &crc;
		break;
	case TESTDEV_CMD_COPY:
		status = do_copy(td, cmd);
		break;
	default:
		/* Unknown or several bits at once: pci-epf-test ignores it. */
		return;
	}
	finish(td, gen, status, new_crc, irq_type, cmd->irq_number);
}

/* Whether the pending command (if any) moves data.  Under td->lock. */
static bool pending_moves_data(struct testdev *td)
{
	return regfile_get(&td->rf, TESTDEV_REG_COMMAND) &
	       ~TESTDEV_CMD_RAISE_ALL;
}

/*
 * Takes and runs the pending command, its DMA as one transaction so a
 * migration sees it whole or not at all.  Under td->lock, which it
 * drops while the command runs; false when there was nothing to run or
 * the device is stopped for migration (the command stays pending, and
 * migrates with the registers).
 */
static bool run_one(struct testdev *td)
{
	struct testdev_cmd cmd;
	bool dma = pending_moves_data(td);
	uint64_t gen;

	if (dma) {
		unsigned int kicks = td->kicks;

		pthread_mutex_unlock(&td->lock);
		if (uvfio_dma_begin(td->dev)) {
			pthread_mutex_lock(&td->lock);
			/* Unless DMA came back meanwhile: then try again. */
			td->held = td->kicks == kicks;
			return false;
		}
		pthread_mutex_lock(&td->lock);
	}
	if (!regfile_take(&td->rf, &cmd)) {
		if (dma)
			uvfio_dma_end(td->dev);
		return false;
	}
	gen = td->gen;
	pthread_mutex_unlock(&td->lock);
	execute(td, &cmd, gen);
	if (dma)
		uvfio_dma_end(td->dev);
	pthread_mutex_lock(&td->lock);
	return true;
}

/* Library work: run what the last BAR0 write asked for, if anything. */
static void run_pending(struct uvfio_dev *dev, void *arg)
{
	struct testdev *td = arg;

	pthread_mutex_lock(&td->lock);
	run_one(td);
	pthread_mutex_unlock(&td->lock);
}

static void *worker_main(void *arg)
{
	struct testdev *td = arg;

	pthread_mutex_lock(&td->lock);
	for (;;) {
		while (!td->quit && (td->held ||
				     !regfile_get(&td->rf,
						  TESTDEV_REG_COMMAND)))
			pthread_cond_wait(&td->cond, &td->lock);
		if (td->quit)
			break;
		run_one(td);
	}
	pthread_mutex_unlock(&td->lock);
	return NULL;
}

void testdev_kick(struct testdev *td)
{
	pthread_mutex_lock(&td->lock);
	td->held = false;
	td->kicks++;
	if (td->use_worker)
		pthread_cond_signal(&td->cond);
	pthread_mutex_unlock(&td->lock);
	if (td->work)
		uvfio_work_queue(td->work);
}

static ssize_t bar0_access(struct uvfio_dev *dev, void *priv, uint64_t off,
			   void *buf, size_t count, bool is_write)
{
	struct testdev *td = priv;
	bool cmd_hit, moves_data = false;
	ssize_t ret;

	pthread_mutex_lock(&td->lock);
	ret = regfile_access(&td->rf, off, buf, count, is_write, &cmd_hit);
	if (cmd_hit && td->use_worker)
		pthread_cond_signal(&td->cond);
	if (cmd_hit)
		moves_data = pending_moves_data(td);
	pthread_mutex_unlock(&td->lock);
	if (!cmd_hit || td->use_worker)
		return ret;
	/*
	 * DMA waits for the client, which waits for this write: run it
	 * after the reply.  A raise needs nothing from the client and runs
	 * now, which keeps the interrupt path one hop long.
	 */
	if (moves_data)
		uvfio_work_queue(td->work);
	else
		run_pending(dev, td);
	return ret;
}

/*
 * A function reset: registers and MSI-X bytes to power-on values, and
 * the BAR1..5 storage cleared too, so every client starts from the same
 * device whatever the previous one left behind.
 */
static int testdev_reset(struct uvfio_dev *dev, void *priv)
{
	static const uint64_t sizes[] = TESTDEV_BAR_SIZES;
	struct testdev *td = priv;
	unsigned int i;

	pthread_mutex_lock(&td->lock);
	td->gen++;
	regfile_reset(&td->rf);
	pthread_mutex_unlock(&td->lock);

	for (i = 1; i < UVFIO_PCI_NUM_BARS; i++) {
		void *mem = uvfio_dev_region_mem(
			dev, VFIO_PCI_BAR0_REGION_INDEX + i);

		if (mem)
			memset(mem, 0, sizes[i]);
	}
	return 0;
}

static void testdev_log(struct uvfio_dev *dev, void *priv, int err,
			const char *msg)
{
	fprintf(stderr, "uvfio-testdev: %s\n", msg);
	if (err == EPERM)
		fprintf(stderr, "uvfio-testdev: to accept such files, start "
				"it with --allow-unsealed-dma\n");
}

const struct uvfio_dev_ops *testdev_ops(void)
{
	static const struct uvfio_dev_ops ops = {
		.reset = testdev_reset,
		.log = testdev_log,
	};

	return &ops;
}

int testdev_setup(struct testdev *td, struct uvfio_dev *dev)
{
	int ret;

	td->dev = dev;
	ret = testdev_describe(dev, bar0_access, td, td->bar64);
	if (ret < 0)
		return ret;
	ret = testdev_mig_setup(td);
	if (ret < 0)
		return ret;
	if (!td->use_worker) {
		td->work = uvfio_work_new(dev, run_pending, td);
		return td->work ? 0 : -errno;
	}
	ret = -pthread_create(&td->worker, NULL, worker_main, td);
	if (!ret)
		td->worker_running = true;
	return ret;
}

void testdev_stop(struct testdev *td)
{
	uvfio_work_free(td->work);
	td->work = NULL;
	if (!td->worker_running)
		return;
	pthread_mutex_lock(&td->lock);
	td->quit = true;
	pthread_cond_broadcast(&td->cond);
	pthread_mutex_unlock(&td->lock);
	pthread_join(td->worker, NULL);
	td->worker_running = false;
}
