// SPDX-License-Identifier: MIT
/*
 * One command, the way pci_endpoint_test issues it: parameters first,
 * the command register last (its write is what starts the device), then
 * the interrupt, then the status register, which is cleared for the next.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pcitest.h"

/* Registers SRC_LO..FLAGS, written with one REGION_WRITE. */
#define PARAM_FIRST TESTDEV_REG_SRC_LO
#define PARAM_COUNT ((TESTDEV_REG_FLAGS - TESTDEV_REG_SRC_LO) / 4 + 1)

static int write_params(struct pt *t, const struct pt_cmd *cmd)
{
	uint32_t v[PARAM_COUNT];
	int ret;

#define SET(reg, val) (v[((reg)-PARAM_FIRST) / 4] = htole32(val))
	SET(TESTDEV_REG_SRC_LO, (uint32_t)cmd->src);
	SET(TESTDEV_REG_SRC_HI, (uint32_t)(cmd->src >> 32));
	SET(TESTDEV_REG_DST_LO, (uint32_t)cmd->dst);
	SET(TESTDEV_REG_DST_HI, (uint32_t)(cmd->dst >> 32));
	SET(TESTDEV_REG_SIZE, cmd->size);
	SET(TESTDEV_REG_CHECKSUM, cmd->checksum);
	SET(TESTDEV_REG_IRQ_TYPE, cmd->irq_type);
	SET(TESTDEV_REG_IRQ_NUMBER, cmd->irq_number);
	SET(TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
#undef SET
	ret = uvfio_client_region_write(t->c, TESTDEV_REG_BAR, PARAM_FIRST, v,
					sizeof(v), 0);
	return ret < 0 ? ret : 0;
}

static int await(struct pt *t, const struct pt_cmd *cmd, char *why,
		 size_t len)
{
	int fd = pt_irq_fd(t, cmd->irq_type, cmd->irq_number);
	char b1[16], b2[16];
	int stray, ret;

	if (!cmd->expect_irq) {
		ret = pt_irq_quiet(t, PT_QUIET_MS, &stray);
		if (ret)
			snprintf(why, len, "unexpected %s interrupt",
				 pt_irq_fd_name(t, stray, b1, sizeof(b1)));
		return ret;
	}
	if (fd < 0) {
		snprintf(why, len, "no eventfd for irq type %u number %u",
			 cmd->irq_type, cmd->irq_number);
		return -EINVAL;
	}
	ret = pt_irq_wait(t, fd, PT_WAIT_MS, &stray);
	if (ret == -ETIMEDOUT)
		snprintf(why, len, "no %s interrupt within %d ms",
			 pt_irq_fd_name(t, fd, b1, sizeof(b1)), PT_WAIT_MS);
	else if (ret)
		snprintf(why, len, "interrupt on %s instead of %s",
			 pt_irq_fd_name(t, stray, b1, sizeof(b1)),
			 pt_irq_fd_name(t, fd, b2, sizeof(b2)));
	else if (cmd->irq_type == TESTDEV_IRQ_INTX)
		ret = pt_irq_intx_done(t);
	return ret;
}

int pt_run_cmd(struct pt *t, const struct pt_cmd *cmd, struct pt_result *res,
	       char *why, size_t len)
{
	int ret, wait_ret;

	memset(res, 0, sizeof(*res));
	ret = pt_irq_use(t, cmd->irq_type);
	if (ret < 0 && cmd->expect_irq) {
		snprintf(why, len, "SET_IRQS for irq type %u: %s",
			 cmd->irq_type, strerror(-ret));
		return ret;
	}
	pt_irq_drain(t);
	ret = pt_reg_write(t, TESTDEV_REG_STATUS, 0);
	if (!ret)
		ret = write_params(t, cmd);
	if (!ret)
		ret = pt_reg_write(t, TESTDEV_REG_COMMAND, cmd->command);
	if (ret) {
		snprintf(why, len, "programming BAR0: %s", strerror(-ret));
		return ret;
	}
	wait_ret = await(t, cmd, why, len);
	ret = pt_reg_read(t, TESTDEV_REG_STATUS, &res->status);
	if (!ret)
		ret = pt_reg_read(t, TESTDEV_REG_CHECKSUM, &res->checksum);
	if (!ret)
		ret = pt_reg_write(t, TESTDEV_REG_STATUS, 0);
	if (ret && !wait_ret)
		snprintf(why, len, "reading status: %s", strerror(-ret));
	if (wait_ret) {
		/* The status tells whether the device ran at all. */
		size_t n = strlen(why);

		snprintf(why + n, len - n, " (status %#x)", res->status);
		return wait_ret;
	}
	return ret;
}
