// SPDX-License-Identifier: MIT
/*
 * PCI host bridge, configuration mechanism #1: a dword at 0xcf8 selects
 * bus, device, function and register, and 0xcfc-0xcff move the data
 * (bytes, words or the dword); and ECAM, for all 4 KiB.  Bus 0 only:
 * device 0 is the host bridge itself, device N (1..) is the N-th
 * --device.  Every other function reads as absent (all ones).
 */
#include <string.h>
#include <linux/pci_regs.h>

#include "vmm.h"

#define CFG_ENABLE (1u << 31)
#define HOST_VENDOR 0x1b36 /* Red Hat, Inc. */
#define HOST_DEVICE 0x0008 /* PCIe host bridge */
#define HOST_CLASS 0x0600 /* bridge, host */

void pcihost_init(struct pci_host *h)
{
	pthread_mutex_init(&h->lock, NULL);
	h->addr = 0;
}

void pcihost_destroy(struct pci_host *h)
{
	pthread_mutex_destroy(&h->lock);
}

/* The bridge's own header: IDs and class, everything else reads 0. */
static void host_cfg_read(uint32_t reg, void *data, uint32_t len)
{
	uint8_t hdr[64];

	memset(hdr, 0, sizeof(hdr));
	hdr[PCI_VENDOR_ID] = HOST_VENDOR & 0xff;
	hdr[PCI_VENDOR_ID + 1] = HOST_VENDOR >> 8;
	hdr[PCI_DEVICE_ID] = HOST_DEVICE & 0xff;
	hdr[PCI_DEVICE_ID + 1] = HOST_DEVICE >> 8;
	hdr[PCI_CLASS_DEVICE] = HOST_CLASS & 0xff;
	hdr[PCI_CLASS_DEVICE + 1] = HOST_CLASS >> 8;
	if (reg + len <= sizeof(hdr))
		memcpy(data, hdr + reg, len);
	else
		memset(data, 0, len);
}

/* Function fn of device dev on bus 0, register reg (within a dword). */
static int fn_access(struct vm *vm, uint32_t dev, uint32_t fn, uint32_t reg,
		     void *data, uint32_t len, bool write)
{
	if (fn)
		goto absent;
	if (dev == 0) {
		if (!write)
			host_cfg_read(reg, data, len);
		return 0;
	}
	if (dev <= vm->nr_devs)
		return vdev_cfg_access(vm->devs[dev - 1], reg, data, len,
				       write);
absent:
	if (!write)
		memset(data, 0xff, len);
	return 0;
}

static int cfg_access(struct vm *vm, uint32_t addr, uint32_t byte, void *data,
		      uint32_t len, bool write)
{
	uint32_t bus = (addr >> 16) & 0xff, dev = (addr >> 11) & 0x1f;
	uint32_t fn = (addr >> 8) & 7, reg = (addr & 0xfc) + byte;

	if (!(addr & CFG_ENABLE) || bus || byte + len > 4) {
		if (!write)
			memset(data, 0xff, len);
		return 0;
	}
	return fn_access(vm, dev, fn, reg, data, len, write);
}

/*
 * ECAM (MMCONFIG): bus 0's 4 KiB configuration spaces, memory-mapped at
 * PCI_ECAM_BASE, device << 15 | function << 12 | register, so the
 * extended space (PCIe capabilities from 0x100) is reachable.  Accesses
 * of 1, 2 or 4 bytes within a dword, as PCIe allows; others read as all
 * ones and are dropped.
 */
static int ecam_mmio(void *opaque, uint64_t off, void *data, uint32_t len,
		     bool write)
{
	struct vm *vm = opaque;
	uint32_t reg = off & 0xfff;

	if ((len != 1 && len != 2 && len != 4) || (reg & 3) + len > 4) {
		if (!write)
			memset(data, 0xff, len);
		return 0;
	}
	return fn_access(vm, (uint32_t)(off >> 15) & 0x1f,
			 (uint32_t)(off >> 12) & 7, reg, data, len, write);
}

int pcihost_ecam_init(struct vm *vm)
{
	vm->host.ecam.fn = ecam_mmio;
	vm->host.ecam.opaque = vm;
	/* Its BAR writes move other ranges: it runs without the bus lock. */
	vm->host.ecam.fixed = true;
	return mmio_add(&vm->mmio, &vm->host.ecam, PCI_ECAM_BASE,
			PCI_ECAM_SIZE);
}

int pcihost_io(struct vm *vm, uint16_t port, void *data, uint32_t len,
	       bool write)
{
	struct pci_host *h = &vm->host;
	uint32_t addr;

	if (port == PORT_PCI_ADDR) {
		/* Only whole dwords reach the address register. */
		if (len != 4) {
			if (!write)
				memset(data, 0xff, len);
			return 0;
		}
		pthread_mutex_lock(&h->lock);
		if (write)
			memcpy(&h->addr, data, 4);
		else
			memcpy(data, &h->addr, 4);
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	if (port < PORT_PCI_DATA) {
		if (!write)
			memset(data, 0xff, len);
		return 0;
	}
	pthread_mutex_lock(&h->lock);
	addr = h->addr;
	pthread_mutex_unlock(&h->lock);
	return cfg_access(vm, addr, port - PORT_PCI_DATA, data, len, write);
}
