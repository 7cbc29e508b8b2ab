// SPDX-License-Identifier: MIT
/*
 * uvfio-testdev from inside a guest: find it, reach its BAR0 registers,
 * make it raise interrupts and run DMA commands.  Every register access
 * traps to the VMM and becomes a message to the device, which raises a
 * command's interrupt before that write returns.
 */
#include <linux/pci_regs.h>

#include "guest.h"
#include "regs.h"

bool tdev_open(struct tdev *t)
{
	return tdev_open_at(t, pci_find(TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID));
}

bool tdev_open_at(struct tdev *t, int dev)
{
	uint32_t id = dev > 0 ? pci_read32((unsigned int)dev, 0) : 0;

	memset(t, 0, sizeof(*t));
	if (dev <= 0 || id != (TESTDEV_VENDOR_ID | TESTDEV_DEVICE_ID << 16))
		return false;
	t->dev = dev;
	t->regs = pci_bar_addr((unsigned int)dev, TESTDEV_REG_BAR);
	/* A device raises MSIs and does DMA only as a bus master. */
	pci_write16((unsigned int)dev, PCI_COMMAND,
		    pci_read16((unsigned int)dev, PCI_COMMAND) |
			    PCI_COMMAND_MASTER);
	return true;
}

uint32_t tdev_read(const struct tdev *t, uint32_t reg)
{
	return mmio_read32(t->regs + reg);
}

void tdev_write(const struct tdev *t, uint32_t reg, uint32_t v)
{
	mmio_write32(t->regs + reg, v);
}

uint64_t tdev_raise(const struct tdev *t, uint32_t type, uint32_t number)
{
	uint32_t cmd = type == TESTDEV_IRQ_INTX ? TESTDEV_CMD_RAISE_INTX :
		       type == TESTDEV_IRQ_MSI	? TESTDEV_CMD_RAISE_MSI :
						  TESTDEV_CMD_RAISE_MSIX;
	uint64_t t0;

	tdev_write(t, TESTDEV_REG_IRQ_NUMBER, number);
	t0 = rdtsc();
	tdev_write(t, TESTDEV_REG_COMMAND, cmd);
	return t0;
}

void tdev_xfer_start(const struct tdev *t, const struct tdev_xfer *x)
{
	tdev_write(t, TESTDEV_REG_STATUS, 0);
	tdev_write(t, TESTDEV_REG_SRC_LO, (uint32_t)x->src);
	tdev_write(t, TESTDEV_REG_SRC_HI, (uint32_t)(x->src >> 32));
	tdev_write(t, TESTDEV_REG_DST_LO, (uint32_t)x->dst);
	tdev_write(t, TESTDEV_REG_DST_HI, (uint32_t)(x->dst >> 32));
	tdev_write(t, TESTDEV_REG_SIZE, x->size);
	tdev_write(t, TESTDEV_REG_CHECKSUM, x->checksum);
	tdev_write(t, TESTDEV_REG_IRQ_TYPE, x->irq_type);
	tdev_write(t, TESTDEV_REG_IRQ_NUMBER, x->irq_number);
	tdev_write(t, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	tdev_write(t, TESTDEV_REG_COMMAND, x->command);
}

static const struct tdev *acked;
static volatile uint32_t acked_status;

static void ack(struct irq_frame *f)
{
	(void)f;
	acked_status = tdev_read(acked, TESTDEV_REG_STATUS);
	tdev_write(acked, TESTDEV_REG_STATUS, 0);
}

uint32_t tdev_xfer_irq(const struct tdev *t, const struct tdev_xfer *x,
		       uint8_t v, uint32_t timeout_us)
{
	uint32_t n = irqc_count(v);

	acked = t;
	acked_status = 0;
	irqc_set_hook(v, ack);
	tdev_xfer_start(t, x);
	return irqc_wait(v, n + 1, timeout_us) ? acked_status : 0;
}
