// SPDX-License-Identifier: MIT
/*
 * A few vendor and class names, enough for the devices this project
 * builds; everything else prints as numbers, as lspci does without
 * pci.ids.
 */
#include <stddef.h>
#include <stdio.h>

#include "lspci.h"

struct vendor_name {
	uint16_t id;
	const char *name;
};

static const struct vendor_name vendors[] = {
	{ 0x104c, "Texas Instruments" },
	{ 0x1022, "Advanced Micro Devices, Inc. [AMD]" },
	{ 0x10de, "NVIDIA Corporation" },
	{ 0x10ee, "Xilinx Corporation" },
	{ 0x15b3, "Mellanox Technologies" },
	{ 0x1af4, "Red Hat, Inc." },
	{ 0x1b36, "Red Hat, Inc." },
	{ 0x4e58, "Nutanix, Inc." },
	{ 0x8086, "Intel Corporation" },
};

/* Base class names from the PCI Code and ID Assignment spec. */
static const char *const classes[] = {
	[0x00] = "Non-VGA unclassified device",
	[0x01] = "Mass storage controller",
	[0x02] = "Network controller",
	[0x03] = "Display controller",
	[0x04] = "Multimedia controller",
	[0x05] = "Memory controller",
	[0x06] = "Bridge",
	[0x07] = "Communication controller",
	[0x08] = "Generic system peripheral",
	[0x09] = "Input device controller",
	[0x0a] = "Docking station",
	[0x0b] = "Processor",
	[0x0c] = "Serial bus controller",
	[0x0d] = "Wireless controller",
	[0x0e] = "Intelligent controller",
	[0x0f] = "Satellite communications controller",
	[0x10] = "Encryption controller",
	[0x11] = "Signal processing controller",
	[0x12] = "Processing accelerators",
	[0x13] = "Non-Essential Instrumentation",
};

const char *lspci_vendor_name(uint16_t vendor)
{
	size_t i;

	for (i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++)
		if (vendors[i].id == vendor)
			return vendors[i].name;
	return NULL;
}

const char *lspci_class_name(uint8_t base)
{
	if (base == 0xff)
		return "Unassigned class";
	if (base < sizeof(classes) / sizeof(classes[0]) && classes[base])
		return classes[base];
	return NULL;
}

void lspci_print_ids(uint16_t vendor, uint16_t device)
{
	const char *name = lspci_vendor_name(vendor);

	if (name)
		printf("%s Device %04x", name, device);
	else
		printf("Vendor %04x Device %04x", vendor, device);
}
