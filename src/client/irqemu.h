/* SPDX-License-Identifier: MIT */
/*
 * Interrupt emulation, VMM side: the guest-visible MSI and MSI-X state
 * (shadow capability registers, MSI-X table and PBA) and INTx, on top of
 * the interrupt router.  Shared by irqemu.c (guest accesses), irqcap.c
 * (pure decoding), irqvec.c (vector sets on the router), msi.c, msix.c
 * and intx.c.
 *
 * Lock order: cl_irqemu.lock, then the client's request lock (taken
 * inside uvfio_client_* calls), then the router's own.  The router's
 * delivery path never takes cl_irqemu.lock.
 */
#ifndef UVFIO_CLIENT_IRQEMU_H
#define UVFIO_CLIENT_IRQEMU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/pci_regs.h>

#include <uvfio/irq.h>
#include <uvfio/pci.h>

#include "pci/pci_internal.h"

struct uvfio_client;

#define CL_MSI_MAX_VEC 32u
#define CL_MSI_CAP_MAX 24u /* 64-bit address with per-vector masking */
#define CL_MSIX_MAX_VEC 2048u

/* Where the MSI registers sit, from Message Control. */
struct cl_msi_layout {
	uint8_t len; /* bytes of capability */
	uint8_t data; /* offset of Message Data */
	uint8_t mask; /* offset of Mask Bits, 0 without masking */
	uint8_t pending; /* offset of Pending Bits, 0 without */
	bool is64;
	uint32_t mmc; /* vectors the function is capable of */
};

/* The MSI-X structures, from the capability. */
struct cl_msix_geom {
	uint32_t nvec;
	unsigned int table_bar;
	unsigned int pba_bar;
	uint64_t table_off;
	uint64_t table_len;
	uint64_t pba_off;
	uint64_t pba_len;
};

/* One vector as the router sees it. */
struct cl_vec {
	struct uvfio_msi_msg msg; /* the message routed */
	int efd; /* -1: none */
	int route; /* -1: none */
	bool rmasked; /* masked at the router */
};

struct cl_msi {
	uint8_t pos; /* capability offset; 0: none */
	struct cl_msi_layout lay;
	uint32_t nirq; /* vectors the device takes */
	uint8_t cap[CL_MSI_CAP_MAX]; /* shadow registers */
	uint8_t wmask[CL_MSI_CAP_MAX];
	uint32_t on; /* vectors enabled; 0 when off */
	struct cl_vec vec[CL_MSI_MAX_VEC];
};

struct cl_msix {
	uint8_t pos; /* capability offset; 0: none */
	struct cl_msix_geom g;
	uint32_t nirq; /* vectors the device takes */
	uint8_t cap[PCI_CAP_MSIX_SIZEOF];
	uint8_t *table; /* g.nvec entries, shadow */
	uint64_t *pba; /* pending bits kept while off */
	struct cl_vec *vec; /* g.nvec */
	bool on;
};

struct cl_intx {
	bool wanted; /* uvfio_client_intx_enable() */
	bool active; /* live at the device and router */
	unsigned int pin;
	int route;
	int efd;
	int resample;
};

struct cl_irqemu {
	pthread_mutex_t lock;
	struct uvfio_client *c;
	struct uvfio_irq_router *r;
	uint32_t cfg_size;
	uint64_t bar_size[UVFIO_PCI_NUM_BARS];
	struct cl_msi msi;
	struct cl_msix msix;
	struct cl_intx intx;
};

/* irqemu.c: a config write as the guest's, under e->lock. */
int cl_cfg_write_locked(struct cl_irqemu *e, uint32_t off, const void *buf,
			size_t len);

/* irqcap.c: decoding, no side effects. */
int cl_msi_decode(uint16_t flags, struct cl_msi_layout *l);
void cl_msi_wmask(const struct cl_msi_layout *l, uint8_t *wmask);
uint32_t cl_msi_nvec(uint16_t flags, uint32_t max);
uint32_t cl_msi_vec_data(uint32_t base, uint32_t nvec, uint32_t i);
int cl_msix_decode(const uint8_t *cap, struct cl_msix_geom *g);
int cl_msix_check(const struct cl_msix_geom *g, const uint64_t *bar_size);
void cl_msix_wmask_entry(uint8_t *wmask);
void cl_msix_entry(const uint8_t *table, uint32_t v, struct uvfio_msi_msg *msg,
		   bool *masked);
bool cl_overlap(uint64_t off, uint64_t len, uint64_t base, uint64_t size,
		uint64_t *from, uint64_t *n);
void cl_merge(uint8_t *dst, const uint8_t *src, const uint8_t *wmask, size_t n);
uint16_t cl_le16(const uint8_t *p);
uint32_t cl_le32(const uint8_t *p);

/* irqvec.c: vectors on the router. */
typedef bool (*cl_vec_want_fn)(void *ctx, uint32_t i, struct uvfio_msi_msg *msg,
			       bool *masked);
typedef void (*cl_vec_pend_fn)(void *ctx, uint32_t i);
/*
 * Opens an eventfd for each of n vectors, routes those want() accepts
 * (one commit), masks the masked ones and binds, and gives the device
 * the eventfds as vectors [0, n) of index.  All or nothing.
 */
int cl_vecs_up(struct cl_irqemu *e, uint32_t index, struct cl_vec *v,
	       uint32_t n, cl_vec_want_fn want, void *ctx);
/*
 * Unbinds and releases (one commit) and closes.  An interrupt that was
 * still pending goes to pend() when the vector was masked and is
 * delivered now otherwise; pend may be NULL to drop them.
 */
void cl_vecs_down(struct cl_irqemu *e, struct cl_vec *v, uint32_t n,
		  cl_vec_pend_fn pend, void *ctx);
int cl_vec_add(struct cl_irqemu *e, struct cl_vec *v,
	       const struct uvfio_msi_msg *msg, bool masked);
int cl_vec_update(struct cl_irqemu *e, struct cl_vec *v,
		  const struct uvfio_msi_msg *msg);
int cl_vec_mask(struct cl_irqemu *e, struct cl_vec *v, bool masked);
int cl_vec_pending(struct cl_irqemu *e, const struct cl_vec *v);
/* An unrouted vector's eventfd: written since the last drain? */
bool cl_vec_fired(const struct cl_vec *v);
void cl_vec_drain(const struct cl_vec *v);
int cl_irq_disable_index(struct cl_irqemu *e, uint32_t index);

/* msi.c */
int cl_msi_init(struct cl_irqemu *e, const struct uvfio_pci_cfg *cfg);
int cl_msi_write(struct cl_irqemu *e, uint32_t off, const uint8_t *buf,
		 size_t len);
void cl_msi_read(struct cl_irqemu *e, uint32_t off, uint8_t *buf, size_t len);
void cl_msi_fini(struct cl_irqemu *e);

/* msix.c */
int cl_msix_init(struct cl_irqemu *e, const struct uvfio_pci_cfg *cfg);
int cl_msix_cap_write(struct cl_irqemu *e, uint32_t off, const uint8_t *buf,
		      size_t len);
void cl_msix_cap_read(struct cl_irqemu *e, uint32_t off, uint8_t *buf,
		      size_t len);
int cl_msix_table_write(struct cl_irqemu *e, uint64_t off, const uint8_t *buf,
			size_t len);
void cl_msix_table_read(struct cl_irqemu *e, uint64_t off, uint8_t *buf,
			size_t len);
void cl_msix_pba_read(struct cl_irqemu *e, uint64_t off, uint8_t *buf,
		      size_t len);
void cl_msix_fini(struct cl_irqemu *e);

/* intx.c: INTx steps aside while MSI or MSI-X is on, as in vfio-pci. */
int cl_intx_suspend(struct cl_irqemu *e);
int cl_intx_resume(struct cl_irqemu *e);
void cl_intx_fini(struct cl_irqemu *e);

#endif
