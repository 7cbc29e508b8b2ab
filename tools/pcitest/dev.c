// SPDX-License-Identifier: MIT
/*
 * Device bring-up as a driver's probe does it: identify the function,
 * reset it, turn on memory decoding and bus mastering, and then talk to
 * the registers in BAR0.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/pci_regs.h>

#include "pcitest.h"

static int cfg_read16(struct pt *t, uint32_t off, uint16_t *v)
{
	uint16_t le;
	int ret;

	ret = uvfio_client_region_read(t->c, VFIO_PCI_CONFIG_REGION_INDEX, off,
				       &le, sizeof(le));
	*v = le16toh(le);
	return ret < 0 ? ret : 0;
}

static int cfg_write16(struct pt *t, uint32_t off, uint16_t v)
{
	uint16_t le = htole16(v);
	int ret;

	ret = uvfio_client_region_write(t->c, VFIO_PCI_CONFIG_REGION_INDEX,
					off, &le, sizeof(le), 0);
	return ret < 0 ? ret : 0;
}

static int check_ids(struct pt *t)
{
	uint16_t vendor, device;
	int ret;

	ret = cfg_read16(t, PCI_VENDOR_ID, &vendor);
	if (!ret)
		ret = cfg_read16(t, PCI_DEVICE_ID, &device);
	if (ret) {
		fprintf(stderr, "pcitest: reading IDs: %s\n", strerror(-ret));
		return ret;
	}
	if (vendor != TESTDEV_VENDOR_ID || device != TESTDEV_DEVICE_ID) {
		fprintf(stderr, "pcitest: device is %04x:%04x, not %04x:%04x\n",
			vendor, device, TESTDEV_VENDOR_ID, TESTDEV_DEVICE_ID);
		return -ENODEV;
	}
	return 0;
}

static int enable_device(struct pt *t)
{
	const uint16_t want = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint16_t cmd;
	int ret;

	ret = cfg_read16(t, PCI_COMMAND, &cmd);
	if (!ret)
		ret = cfg_write16(t, PCI_COMMAND, cmd | want);
	if (!ret)
		ret = cfg_read16(t, PCI_COMMAND, &cmd);
	if (ret) {
		fprintf(stderr, "pcitest: command register: %s\n",
			strerror(-ret));
		return ret;
	}
	if ((cmd & want) != want) {
		fprintf(stderr,
			"pcitest: command register reads %#06x after "
			"enabling memory and bus mastering\n",
			cmd);
		return -EIO;
	}
	return 0;
}

int pt_dev_open(struct pt *t, const char *path)
{
	struct uvfio_device_info info;
	int ret;

	t->c = uvfio_client_connect(path, NULL);
	if (!t->c) {
		ret = -errno;
		fprintf(stderr, "pcitest: cannot connect to %s: %s\n", path,
			strerror(errno));
		return ret;
	}
	ret = uvfio_client_device_info(t->c, &info);
	if (ret < 0) {
		fprintf(stderr, "pcitest: device info: %s\n", strerror(-ret));
		return ret;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
	    info.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX) {
		fprintf(stderr, "pcitest: not a PCI device with BARs, config "
				"space and MSI-X\n");
		return -ENODEV;
	}
	ret = check_ids(t);
	if (ret)
		return ret;
	/* Start from power-on state whatever an earlier client left. */
	if (info.flags & VFIO_DEVICE_FLAGS_RESET) {
		ret = uvfio_client_reset(t->c);
		if (ret < 0) {
			fprintf(stderr, "pcitest: reset: %s\n", strerror(-ret));
			return ret;
		}
	}
	return enable_device(t);
}

void pt_dev_close(struct pt *t)
{
	if (t->c)
		uvfio_client_close(t->c);
	t->c = NULL;
}

int pt_reg_read(struct pt *t, uint32_t reg, uint32_t *val)
{
	uint32_t le;
	int ret;

	ret = uvfio_client_region_read(t->c, TESTDEV_REG_BAR, reg, &le,
				       sizeof(le));
	*val = le32toh(le);
	return ret < 0 ? ret : 0;
}

int pt_reg_write(struct pt *t, uint32_t reg, uint32_t val)
{
	uint32_t le = htole32(val);
	int ret;

	ret = uvfio_client_region_write(t->c, TESTDEV_REG_BAR, reg, &le,
					sizeof(le), 0);
	return ret < 0 ? ret : 0;
}
