// SPDX-License-Identifier: MIT
/*
 * BAR0 as a byte array with holes.  Registers are treated as 0x30 plain
 * bytes so that 1-, 2-, 4- and 8-byte accesses at any alignment behave
 * like memory; only the command register has a side effect, and only
 * after the whole write has landed.
 */
#include <errno.h>
#include <string.h>
#include <linux/vfio.h>

#include "regfile.h"

#define MSIX_ENTRY_SIZE 16
#define MSIX_VECTOR_CTRL 12
#define MSIX_CTRL_MASKBIT 0x1

void regfile_reset(struct testdev_regfile *rf)
{
	unsigned int i;

	memset(rf, 0, sizeof(*rf));
	for (i = 0; i < TESTDEV_MSIX_VECTORS; i++)
		rf->msix_table[i * MSIX_ENTRY_SIZE + MSIX_VECTOR_CTRL] =
			MSIX_CTRL_MASKBIT;
}

/*
 * Where the bytes at off live: sets *mem (NULL for a hole) and *ro, and
 * returns how many bytes from off stay in that same area.
 */
static size_t area_at(struct testdev_regfile *rf, uint32_t off,
		      const uint8_t *caps, uint8_t **mem, bool *ro)
{
	*mem = NULL;
	*ro = false;
	if (off < TESTDEV_REGS_LEN) {
		*mem = rf->regs + off;
		return TESTDEV_REGS_LEN - off;
	}
	if (off < TESTDEV_REGS_END) {
		*mem = (uint8_t *)caps + (off - TESTDEV_REG_CAPS);
		*ro = true;
		return TESTDEV_REGS_END - off;
	}
	if (off < TESTDEV_MSIX_TABLE_OFF)
		return TESTDEV_MSIX_TABLE_OFF - off;
	if (off < TESTDEV_MSIX_TABLE_OFF + TESTDEV_MSIX_TABLE_LEN) {
		*mem = rf->msix_table + (off - TESTDEV_MSIX_TABLE_OFF);
		return TESTDEV_MSIX_TABLE_OFF + TESTDEV_MSIX_TABLE_LEN - off;
	}
	if (off < TESTDEV_MSIX_PBA_OFF)
		return TESTDEV_MSIX_PBA_OFF - off;
	if (off < TESTDEV_MSIX_PBA_OFF + TESTDEV_MSIX_PBA_LEN) {
		*mem = rf->msix_pba + (off - TESTDEV_MSIX_PBA_OFF);
		return TESTDEV_MSIX_PBA_OFF + TESTDEV_MSIX_PBA_LEN - off;
	}
	return TESTDEV_BAR0_SIZE - off;
}

ssize_t regfile_access(struct testdev_regfile *rf, uint64_t off, void *buf,
		       size_t count, bool is_write, bool *cmd_hit)
{
	const uint8_t caps[4] = {
		TESTDEV_CAPS & 0xff,
		(TESTDEV_CAPS >> 8) & 0xff,
		(TESTDEV_CAPS >> 16) & 0xff,
		TESTDEV_CAPS >> 24,
	};
	uint8_t *p = buf;
	size_t done = 0;

	*cmd_hit = false;
	if (off > TESTDEV_BAR0_SIZE || count > TESTDEV_BAR0_SIZE - off)
		return -EINVAL;

	while (done < count) {
		uint8_t *mem;
		bool ro;
		size_t n = area_at(rf, (uint32_t)(off + done), caps, &mem, &ro);

		if (n > count - done)
			n = count - done;
		if (is_write) {
			if (mem && !ro)
				memcpy(mem, p + done, n);
		} else if (mem) {
			memcpy(p + done, mem, n);
		} else {
			memset(p + done, 0, n);
		}
		done += n;
	}

	*cmd_hit = is_write && count && off < TESTDEV_REG_COMMAND + 4 &&
		   off + count > TESTDEV_REG_COMMAND;
	return (ssize_t)count;
}

uint32_t regfile_get(const struct testdev_regfile *rf, unsigned int reg)
{
	const uint8_t *b = rf->regs + reg;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

void regfile_set(struct testdev_regfile *rf, unsigned int reg, uint32_t val)
{
	uint8_t *b = rf->regs + reg;

	b[0] = val & 0xff;
	b[1] = (val >> 8) & 0xff;
	b[2] = (val >> 16) & 0xff;
	b[3] = val >> 24;
}

bool regfile_take(struct testdev_regfile *rf, struct testdev_cmd *cmd)
{
	cmd->command = regfile_get(rf, TESTDEV_REG_COMMAND);
	if (!cmd->command)
		return false;
	cmd->src = (uint64_t)regfile_get(rf, TESTDEV_REG_SRC_HI) << 32 |
		   regfile_get(rf, TESTDEV_REG_SRC_LO);
	cmd->dst = (uint64_t)regfile_get(rf, TESTDEV_REG_DST_HI) << 32 |
		   regfile_get(rf, TESTDEV_REG_DST_LO);
	cmd->size = regfile_get(rf, TESTDEV_REG_SIZE);
	cmd->checksum = regfile_get(rf, TESTDEV_REG_CHECKSUM);
	cmd->irq_type = regfile_get(rf, TESTDEV_REG_IRQ_TYPE);
	cmd->irq_number = regfile_get(rf, TESTDEV_REG_IRQ_NUMBER);
	cmd->flags = regfile_get(rf, TESTDEV_REG_FLAGS);
	regfile_set(rf, TESTDEV_REG_COMMAND, 0);
	regfile_set(rf, TESTDEV_REG_STATUS, 0);
	return true;
}

int testdev_irq_target(uint32_t type, uint32_t number, unsigned int *index,
		       uint32_t *vector)
{
	switch (type) {
	case TESTDEV_IRQ_INTX:
		*index = VFIO_PCI_INTX_IRQ_INDEX;
		*vector = 0;
		return 0;
	case TESTDEV_IRQ_MSI:
		if (number < 1 || number > TESTDEV_MSI_VECTORS)
			return -EINVAL;
		*index = VFIO_PCI_MSI_IRQ_INDEX;
		break;
	case TESTDEV_IRQ_MSIX:
		if (number < 1 || number > TESTDEV_MSIX_VECTORS)
			return -EINVAL;
		*index = VFIO_PCI_MSIX_IRQ_INDEX;
		break;
	default:
		return -EINVAL;
	}
	*vector = number - 1;
	return 0;
}

int testdev_xfer_check(uint64_t addr, uint64_t size, uint64_t max)
{
	if (!size || size > max)
		return -EINVAL;
	if (size - 1 > UINT64_MAX - addr)
		return -EOVERFLOW;
	return 0;
}
