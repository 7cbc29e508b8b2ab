/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration space model, shared by the device side (which serves
 * it) and the VMM side (which decodes it).  A config space is a byte array
 * with, per byte, a write mask (bits software may change) and a
 * write-1-to-clear mask; BAR registers follow the PCI sizing protocol;
 * capabilities are appended from descriptions and chained.
 */
#ifndef UVFIO_PCI_H
#define UVFIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/pci_regs.h>

/* What this header declares is libuvfio's ABI (src/libuvfio.map). */
#ifdef __GNUC__
#pragma GCC visibility push(default)
#endif

#define UVFIO_PCI_CFG_SIZE 256
#define UVFIO_PCIE_CFG_SIZE 4096
#define UVFIO_PCI_NUM_BARS 6

/* BAR flags for uvfio_pci_set_bar(). */
#define UVFIO_BAR_IO (1u << 0)
#define UVFIO_BAR_MEM64 (1u << 1)
#define UVFIO_BAR_PREFETCH (1u << 2)

/*
 * A config space model: the bytes, their masks, the BARs and the
 * capability allocator.  Opaque, so it can grow without breaking the ABI:
 * a device gets its own from uvfio_dev_pci(), a VMM or a tool makes one
 * with uvfio_pci_cfg_new().
 */
struct uvfio_pci_cfg;

struct uvfio_pci_ids {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsys_vendor_id;
	uint16_t subsys_id;
	uint8_t revision;
	uint32_t class_code;    /* base << 16 | sub << 8 | prog-if */
	uint8_t irq_pin;        /* 0 none, 1 INTA .. 4 INTD */
};

/* A zeroed model (size 0) to fill with uvfio_pci_init() or _load(). */
struct uvfio_pci_cfg *uvfio_pci_cfg_new(void);
void uvfio_pci_cfg_free(struct uvfio_pci_cfg *cfg);
/* 256 or 4096 once initialised or loaded. */
uint32_t uvfio_pci_cfg_size(const struct uvfio_pci_cfg *cfg);

/*
 * A type-0 header: IDs, command (I/O, memory, bus master, INTx disable
 * writable), status (error bits write-1-to-clear, capability list bit set
 * once a capability is added), interrupt line writable.  size is 256 or
 * 4096 (PCI Express extended space).
 */
void uvfio_pci_init(struct uvfio_pci_cfg *cfg, const struct uvfio_pci_ids *ids,
		    uint32_t size);

/*
 * Declares a BAR.  size must be a power of two (at least 16 for memory, 4
 * for I/O); a 64-bit BAR also takes bar + 1.  Returns 0 or -EINVAL.
 */
int uvfio_pci_set_bar(struct uvfio_pci_cfg *cfg, unsigned int bar,
		      uint64_t size, uint32_t flags);

/* The address the BAR holds now (with 64-bit halves combined). */
uint64_t uvfio_pci_bar_addr(const struct uvfio_pci_cfg *cfg, unsigned int bar);

/*
 * Config accesses of any size/alignment within the space; writes honour
 * wmask and w1cmask, and BARs answer size probes (all ones reads back the
 * size mask).  Return 0, or -EINVAL when off + len passes the end.
 */
int uvfio_pci_cfg_read(const struct uvfio_pci_cfg *cfg, uint32_t off,
		       void *buf, size_t len);
int uvfio_pci_cfg_write(struct uvfio_pci_cfg *cfg, uint32_t off,
			const void *buf, size_t len);

/* Helpers for the device: raw access that ignores the masks. */
uint8_t uvfio_pci_get8(const struct uvfio_pci_cfg *cfg, uint32_t off);
uint16_t uvfio_pci_get16(const struct uvfio_pci_cfg *cfg, uint32_t off);
uint32_t uvfio_pci_get32(const struct uvfio_pci_cfg *cfg, uint32_t off);
void uvfio_pci_set8(struct uvfio_pci_cfg *cfg, uint32_t off, uint8_t v);
void uvfio_pci_set16(struct uvfio_pci_cfg *cfg, uint32_t off, uint16_t v);
void uvfio_pci_set32(struct uvfio_pci_cfg *cfg, uint32_t off, uint32_t v);

/*
 * Capabilities.  Each returns the capability's offset in config space
 * (> 0) or a negative errno (-ENOSPC when the space is full, -EINVAL for
 * a bad description).  Capabilities chain in the order they are added.
 */
int uvfio_pci_add_cap_pm(struct uvfio_pci_cfg *cfg);

#define UVFIO_MSI_64BIT (1u << 0)
#define UVFIO_MSI_MASKABLE (1u << 1)
/* nvec: 1, 2, 4, 8, 16 or 32 (Multiple Message Capable). */
int uvfio_pci_add_cap_msi(struct uvfio_pci_cfg *cfg, unsigned int nvec,
			  uint32_t flags);

/* nvec: 1..2048; offsets 8-byte aligned, BIRs 0..5. */
int uvfio_pci_add_cap_msix(struct uvfio_pci_cfg *cfg, unsigned int nvec,
			   unsigned int table_bir, uint32_t table_off,
			   unsigned int pba_bir, uint32_t pba_off);

/* PCI Express capability (version 2) for an endpoint. */
int uvfio_pci_add_cap_exp(struct uvfio_pci_cfg *cfg);

/* Vendor-specific: len bytes of body after the 3-byte header. */
int uvfio_pci_add_cap_vendor(struct uvfio_pci_cfg *cfg, const void *body,
			     size_t len);

/* Extended capabilities (need a 4096-byte space). */
int uvfio_pci_add_ecap_dsn(struct uvfio_pci_cfg *cfg, uint64_t serial);
int uvfio_pci_add_ecap_vendor(struct uvfio_pci_cfg *cfg, uint16_t vsec_id,
			      uint8_t vsec_rev, const void *body, size_t len);

/*
 * Walking, for both sides and for config spaces read from a peer (which
 * may be hostile: the walkers stop on loops and out-of-range pointers).
 * Return the offset of the first capability with that ID, or 0.
 */
uint8_t uvfio_pci_find_cap(const struct uvfio_pci_cfg *cfg, uint8_t id);
uint16_t uvfio_pci_find_ecap(const struct uvfio_pci_cfg *cfg, uint16_t id);

/*
 * Iterates capabilities: start with *pos = 0; each call returns 1 and sets
 * *pos and *id to the next one, or 0 at the end of the chain.
 */
int uvfio_pci_next_cap(const struct uvfio_pci_cfg *cfg, uint8_t *pos,
		       uint8_t *id);
int uvfio_pci_next_ecap(const struct uvfio_pci_cfg *cfg, uint16_t *pos,
			uint16_t *id);

/* Loads raw bytes (e.g. read from a device) into a model for decoding. */
void uvfio_pci_load(struct uvfio_pci_cfg *cfg, const void *bytes,
		    uint32_t size);

#ifdef __GNUC__
#pragma GCC visibility pop
#endif

#endif
