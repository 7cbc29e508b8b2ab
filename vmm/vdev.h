/* SPDX-License-Identifier: MIT */
/*
 * A vfio-user device on the VMM's PCI bus: state shared by vdev.c
 * (connection, configuration space) and vbar.c (BARs in guest memory).
 */
#ifndef UVFIO_VMM_VDEV_H
#define UVFIO_VMM_VDEV_H

#include <uvfio/client.h>
#include <uvfio/pci.h>

#include "vmm.h"

#define VBAR_MAX_MAPS (UVFIO_CLIENT_MAX_AREAS * 3)
#define VBAR_MAX_DOORBELLS 16

/* A piece of a BAR that the guest reaches through a KVM memory slot. */
struct vmap {
	uint64_t off; /* in the BAR, page aligned */
	uint64_t size; /* page multiple */
	uint8_t *hva;
	int slot; /* -1 while not in guest memory */
	uint32_t p2p; /* bit per peer device holding it as a DMA window */
};

struct vbar {
	struct vdev *vd;
	unsigned int index;
	uint64_t size; /* 0: not implemented (or upper half) */
	bool io;
	bool mem64;
	bool prefetch;
	bool upper; /* the high dword of the BAR below */
	uint64_t addr; /* what the guest programmed, size-masked */
	bool live; /* decoding at live_addr */
	uint64_t live_addr;
	struct mmio_range mmio;
	struct vmap maps[VBAR_MAX_MAPS];
	unsigned int nr_maps;
	uint64_t exits; /* trapped accesses (atomic) */
	/* Doorbells (doorbell.c), under vd->db_lock. */
	struct uvfio_doorbell db[VBAR_MAX_DOORBELLS];
	unsigned int nr_db;
	bool db_bound[VBAR_MAX_DOORBELLS]; /* KVM_IOEVENTFD took it */
	bool db_live; /* bound at db_addr */
	uint64_t db_addr;
};

/* Where the MSI-X table or PBA sits: kept out of memory slots. */
struct msix_area {
	bool present;
	unsigned int bar;
	uint64_t off;
	uint64_t len;
};

struct vdev {
	struct vm *vm;
	const char *socket;
	unsigned int index; /* PCI device number is index + 1 */
	struct uvfio_client *c;
	/*
	 * Device accesses hold it shared; a reconnect holds it alone.  gen
	 * counts reconnects; failed (atomic): the device is gone for good
	 * and reads as all ones, as a surprise-removed device.
	 */
	pthread_rwlock_t conn;
	pthread_mutex_t db_lock; /* the BARs' doorbells: doorbell.c */
	unsigned int gen;
	bool failed;
	bool opened; /* until then a lost device fails the open */
	bool p2p_stale; /* reconnected: peers' windows of it are old (atomic) */
	uint64_t cfg_size;
	/* Guest config writes and BAR moves; not held for BAR accesses. */
	pthread_mutex_t lock;
	uint16_t command; /* as the guest last wrote it */
	struct vbar bars[UVFIO_PCI_NUM_BARS];
	struct msix_area msix_table;
	struct msix_area msix_pba;
	uint16_t vendor;
	uint16_t device;
	bool irq_attached;
	uint8_t intx_pin; /* 1..4 for INTA..INTD; 0: INTx not wired */
	unsigned int intx_gsi;
};

/* vdev.c: the device-facing ends of guest accesses (see there). */
int vdev_dev_cfg(struct vdev *vd, uint32_t off, void *data, uint32_t len,
		 bool write);
int vdev_dev_bar(struct vdev *vd, unsigned int bar, uint64_t off, void *data,
		 uint32_t len, bool write);

/* vdev.c: the guest's command register, as a config write sets it. */
void vdev_set_command(struct vdev *vd, uint16_t cmd);

/*
 * vdev_mig.c: what the VMM holds of a device across a migration (the
 * BAR addresses it emulates, the command register, the client's MSI and
 * MSI-X emulation).  save: a malloc'd blob; load: onto a device opened
 * on the destination whose own state has been loaded.
 */
int vdev_mig_save(struct vdev *vd, void **blob, size_t *len);
int vdev_mig_load(struct vdev *vd, const void *blob, size_t len);

/* vbar.c */
int vbar_probe(struct vdev *vd);
/*
 * Firmware's job: addresses in the PCI windows, largest BAR first, the
 * 64-bit ones in the window above 4 GiB (*next64).
 */
void vbar_assign(struct vdev *vd, uint64_t *next, uint64_t *next64);
/* The guest's view of BAR register dword i (0..5). */
uint32_t vbar_reg_read(struct vdev *vd, unsigned int i);
void vbar_reg_write(struct vdev *vd, unsigned int i, uint32_t val);
/* Brings every BAR's mapping in line with the command register. */
void vbar_update_all(struct vdev *vd);
void vbar_release(struct vdev *vd);
void vbar_print(const struct vdev *vd);

/* p2p.c: live BARs' mappable areas as the other devices' DMA windows. */
void p2p_bar_map(struct vbar *b);
void p2p_bar_unmap(struct vbar *b);
/* A device joining: the other devices' live BARs into its DMA space. */
void p2p_add_device(struct vdev *vd);
/* A device leaving: the peers forget the windows they gave it. */
void p2p_remove_device(struct vdev *vd);
/*
 * After a reconnect (vd->p2p_stale): vd's areas again, from its new
 * region files.  Under vd->lock, which a reconnect cannot take (it may
 * run under it), hence the flag.
 */
void p2p_renew(struct vdev *vd);

/* doorbell.c: KVM_IOEVENTFD for the device's doorbells in a BAR. */
void vdoor_probe(struct vbar *b);
void vdoor_bind(struct vbar *b, uint64_t addr);
void vdoor_unbind(struct vbar *b);
/* After a reconnect: the new device's eventfds in place of the old. */
void vdoor_renew(struct vdev *vd);
void vdoor_release(struct vdev *vd);

#endif
