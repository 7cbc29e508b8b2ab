// SPDX-License-Identifier: MIT
/*
 * What the device looks like from config space: the pci-epf-test IDs and
 * BAR sizes, plus the capabilities a modern PCIe endpoint carries so that
 * the VMM side and the tools have every kind of capability to walk.
 */
#include <errno.h>
#include <string.h>

#include "regs.h"
#include "testdev.h"

void testdev_ids(struct uvfio_pci_ids *ids)
{
	memset(ids, 0, sizeof(*ids));
	ids->vendor_id = TESTDEV_VENDOR_ID;
	ids->device_id = TESTDEV_DEVICE_ID;
	ids->subsys_vendor_id = TESTDEV_VENDOR_ID;
	ids->subsys_id = TESTDEV_DEVICE_ID;
	ids->class_code = TESTDEV_CLASS;
	ids->irq_pin = 1; /* INTA */
}

static int add_caps(struct uvfio_pci_cfg *cfg)
{
	static const uint8_t vendor[] = { 'u', 'v', 'f', 'i', 'o', 1 };
	static const uint8_t vsec[] = { 't', 'e', 's', 't', 'd', 'e', 'v', 0 };
	int ret;

	ret = uvfio_pci_add_cap_pm(cfg);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_cap_msi(cfg, TESTDEV_MSI_VECTORS,
				    UVFIO_MSI_64BIT | UVFIO_MSI_MASKABLE);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_cap_msix(cfg, TESTDEV_MSIX_VECTORS, TESTDEV_REG_BAR,
				     TESTDEV_MSIX_TABLE_OFF, TESTDEV_REG_BAR,
				     TESTDEV_MSIX_PBA_OFF);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_cap_exp(cfg);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_cap_vendor(cfg, vendor, sizeof(vendor));
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_ecap_dsn(cfg, TESTDEV_SERIAL);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_ecap_vendor(cfg, TESTDEV_VSEC_ID, TESTDEV_VSEC_REV,
					vsec, sizeof(vsec));
	return ret < 0 ? ret : 0;
}

static int add_bars(struct uvfio_dev *dev, uvfio_region_access_fn bar0,
		    void *priv, bool bar64)
{
	static const uint64_t sizes[] = TESTDEV_BAR_SIZES;
	struct uvfio_region_desc rd;
	unsigned int i;
	int ret;

	/* Registers trap; 32-bit non-prefetchable memory like the EP's. */
	memset(&rd, 0, sizeof(rd));
	rd.size = sizes[0];
	rd.flags = UVFIO_REGION_RW;
	rd.access = bar0;
	rd.priv = priv;
	ret = uvfio_dev_add_region(dev, VFIO_PCI_BAR0_REGION_INDEX, &rd);
	if (ret < 0)
		return ret;

	for (i = 1; i < UVFIO_PCI_NUM_BARS; i++) {
		/* BAR5 is BAR4's upper half when BAR4 is 64-bit. */
		if (bar64 && i == 5)
			break;
		memset(&rd, 0, sizeof(rd));
		rd.size = sizes[i];
		rd.flags = UVFIO_REGION_MEM | UVFIO_REGION_RW;
		if (bar64 && i == 4)
			rd.bar_flags = UVFIO_BAR_MEM64 | UVFIO_BAR_PREFETCH;
		ret = uvfio_dev_add_region(dev, VFIO_PCI_BAR0_REGION_INDEX + i,
					   &rd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int set_irqs(struct uvfio_dev *dev)
{
	static const uint32_t count[VFIO_PCI_NUM_IRQS] = {
		[VFIO_PCI_INTX_IRQ_INDEX] = 1,
		[VFIO_PCI_MSI_IRQ_INDEX] = TESTDEV_MSI_VECTORS,
		[VFIO_PCI_MSIX_IRQ_INDEX] = TESTDEV_MSIX_VECTORS,
		[VFIO_PCI_ERR_IRQ_INDEX] = 1,
		[VFIO_PCI_REQ_IRQ_INDEX] = 1,
	};
	unsigned int i;
	int ret;

	for (i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		ret = uvfio_dev_set_irq_count(dev, i, count[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Each command a doorbell: a VMM that binds them has a guest's command
 * write wake us through KVM, with no round trip through it.  Opt-in: a
 * doorbell is a posted write, with no order against the accesses that
 * follow it (a STATUS read may come first, and a raise lands after the
 * write returned), where the trapped write is done when it returns.
 */
int testdev_add_doorbells(struct uvfio_dev *dev)
{
	for (uint32_t cmd = TESTDEV_CMD_RAISE_INTX; cmd <= TESTDEV_CMD_COPY;
	     cmd <<= 1) {
		int ret = uvfio_dev_add_doorbell(dev,
						 VFIO_PCI_BAR0_REGION_INDEX,
						 TESTDEV_REG_COMMAND, 4,
						 UVFIO_DOORBELL_DATAMATCH, cmd);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int testdev_describe(struct uvfio_dev *dev, uvfio_region_access_fn bar0,
		     void *priv, bool bar64)
{
	struct uvfio_pci_cfg *cfg = uvfio_dev_pci(dev);
	int ret;

	if (!cfg)
		return -EINVAL;
	ret = add_caps(cfg);
	if (ret < 0)
		return ret;
	ret = add_bars(dev, bar0, priv, bar64);
	if (ret < 0)
		return ret;
	return set_irqs(dev);
}
