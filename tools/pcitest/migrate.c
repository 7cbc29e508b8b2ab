// SPDX-License-Identifier: MIT
/*
 * A live move in the middle of a transfer, as a VMM makes one: the
 * device is asked to fill 1 MB of the in-band window (every byte a
 * DMA_WRITE message) and, without waiting, migrated to a second testdev
 * process through libuvfio's migration driver: pre-copy while the
 * transfer runs, quiesce (the transfer ends first, whole, or waits as a
 * pending command), stop-copy into a stream, and the destination loads
 * it and runs.  The destination gets the same guest memory and
 * eventfds beforehand, as a VMM wires a device before starting it.  The
 * transfer then finishes once, wherever it ran: one interrupt, the
 * device's status and CRC, and the bytes in guest memory agree.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pcitest.h"
#include "proto/crc32.h"

#define XFER 1024000u

static int fail(char *why, size_t len, int err, const char *what)
{
	snprintf(why, len, "%s: %s", what, strerror(err < 0 ? -err : err));
	return -EIO;
}

int pt_migrate(struct pt *t, const char *path, char *why, size_t len)
{
	struct uvfio_mig_driver_opts opts = { .precopy_threshold = 1 << 20,
					      .max_iters = 8 };
	struct uvfio_client *dst;
	uint32_t status, csum;
	int fd, ret, stray;

	ret = pt_irq_use(t, TESTDEV_IRQ_MSIX);
	if (ret)
		return fail(why, len, ret, "MSI-X");
	pt_irq_drain(t);
	memset(t->inband.mem, 0, XFER);
	/* The transfer, left running. */
	ret = pt_reg_write(t, TESTDEV_REG_DST_LO, (uint32_t)t->inband.iova);
	ret = ret ?: pt_reg_write(t, TESTDEV_REG_DST_HI,
				  (uint32_t)(t->inband.iova >> 32));
	ret = ret ?: pt_reg_write(t, TESTDEV_REG_SIZE, XFER);
	ret = ret ?: pt_reg_write(t, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	ret = ret ?: pt_reg_write(t, TESTDEV_REG_IRQ_NUMBER, 1);
	ret = ret ?: pt_reg_write(t, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	ret = ret ?: pt_reg_write(t, TESTDEV_REG_COMMAND, TESTDEV_CMD_WRITE);
	if (ret)
		return fail(why, len, ret, "starting the transfer");

	/* The destination, wired as the source is. */
	dst = uvfio_client_connect(path, NULL);
	if (!dst)
		return fail(why, len, errno, "connecting to the destination");
	ret = pt_mem_attach(t, dst);
	ret = ret ?: pt_irq_attach(t, dst);
	if (ret) {
		uvfio_client_close(dst);
		return fail(why, len, ret, "wiring the destination");
	}

	fd = memfd_create("pcitest-migration", MFD_CLOEXEC);
	if (fd < 0) {
		uvfio_client_close(dst);
		return fail(why, len, errno, "memfd");
	}
	ret = uvfio_client_migrate_out(&t->c, 1, fd, &opts);
	if (!ret && lseek(fd, 0, SEEK_SET) != 0)
		ret = -errno;
	if (!ret)
		ret = uvfio_client_migrate_in(&dst, 1, fd);
	close(fd);
	if (ret) {
		uvfio_client_close(dst);
		return fail(why, len, ret, "migration");
	}
	pt_note(t, "moved to %s", path);
	uvfio_client_close(t->c);
	t->c = dst;

	/* One interrupt for the transfer, wherever it completed. */
	ret = pt_irq_wait(t, t->msix_fd[0], PT_WAIT_MS, &stray);
	if (ret)
		return fail(why, len, ret, "the transfer's interrupt");
	ret = pt_reg_read(t, TESTDEV_REG_STATUS, &status);
	ret = ret ?: pt_reg_read(t, TESTDEV_REG_CHECKSUM, &csum);
	if (ret)
		return fail(why, len, ret, "registers after the move");
	if (status != (TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_IRQ_RAISED)) {
		snprintf(why, len, "status %#x after the move", status);
		return -EIO;
	}
	if (csum != crc32_le(~0u, t->inband.mem, XFER)) {
		snprintf(why, len, "CRC %#x does not match the data", csum);
		return -EIO;
	}
	ret = pt_irq_quiet(t, PT_QUIET_MS, &stray);
	if (ret)
		return fail(why, len, ret, "a second interrupt");
	pt_reg_write(t, TESTDEV_REG_STATUS, 0);
	pt_note(t, "1 MB transfer finished once across the move");
	return 0;
}
