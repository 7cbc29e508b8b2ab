// SPDX-License-Identifier: MIT
/*
 * Vendor and device names from pciutils' pci.ids where it is installed
 * (or $UVFIO_PCI_IDS), as lspci does; without it, a few vendor names,
 * enough for the devices this project builds, and numbers.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static FILE *open_ids(void)
{
	static const char *const paths[] = {
		"/usr/share/misc/pci.ids",
		"/usr/share/hwdata/pci.ids",
		"/usr/share/pci.ids",
	};
	const char *env = getenv("UVFIO_PCI_IDS");
	FILE *f;

	if (env && *env)
		return fopen(env, "re");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		f = fopen(paths[i], "re");
		if (f)
			return f;
	}
	return NULL;
}

/* "xxxx  Name" at p: the name when the id matches, else NULL. */
static const char *id_line(char *p, uint16_t id)
{
	char *end;
	unsigned long v;

	if (!isxdigit((unsigned char)p[0]))
		return NULL;
	v = strtoul(p, &end, 16);
	if (end != p + 4 || v != id || end[0] != ' ' || end[1] != ' ')
		return NULL;
	end[strcspn(end, "\n")] = 0;
	return end + 2;
}

/*
 * Looks vendor (and device) up in pci.ids: true when the vendor is
 * there; dname stays empty when the device is not.
 */
static bool ids_lookup(uint16_t vendor, uint16_t device, char *vname,
		       char *dname, size_t cap)
{
	FILE *f = open_ids();
	char line[512];
	bool in_vendor = false, found = false;
	const char *n;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (line[0] == 'C' && line[1] == ' ')
			break; /* the class list: no vendors past here */
		if (line[0] != '\t') {
			if (in_vendor)
				break;
			n = id_line(line, vendor);
			if (n) {
				snprintf(vname, cap, "%s", n);
				in_vendor = found = true;
			}
		} else if (in_vendor && line[1] != '\t') {
			n = id_line(line + 1, device);
			if (n) {
				snprintf(dname, cap, "%s", n);
				break;
			}
		}
	}
	fclose(f);
	return found;
}

void lspci_print_ids(uint16_t vendor, uint16_t device)
{
	char vname[256] = "", dname[256] = "";
	const char *name;

	if (ids_lookup(vendor, device, vname, dname, sizeof(vname))) {
		if (dname[0])
			printf("%s %s", vname, dname);
		else
			printf("%s Device %04x", vname, device);
		return;
	}
	name = lspci_vendor_name(vendor);
	if (name)
		printf("%s Device %04x", name, device);
	else
		printf("Vendor %04x Device %04x", vendor, device);
}
