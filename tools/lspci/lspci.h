/* SPDX-License-Identifier: MIT */
/*
 * uvfio-lspci: prints a vfio-user device as `lspci -vvv` prints a PCI
 * function, then what the server itself reports.  The config space is a
 * snapshot read once from the server; every decoder works on that
 * snapshot through the model's bounded accessors and walkers, since the
 * bytes come from a peer that may be hostile.
 */
#ifndef UVFIO_LSPCI_H
#define UVFIO_LSPCI_H

#include <stdint.h>

#include <uvfio/client.h>
#include <uvfio/pci.h>

struct lspci {
	struct uvfio_client *c;
	struct uvfio_pci_cfg *cfg;
	uint32_t num_regions;   /* from device info */
	uint32_t num_irqs;
};

/* FLAG(): the '+'/'-' lspci prints after a flag name. */
static inline char flag(uint32_t v, uint32_t mask)
{
	return (v & mask) ? '+' : '-';
}

/* names.c */
const char *lspci_vendor_name(uint16_t vendor);
const char *lspci_class_name(uint8_t base);
void lspci_print_ids(uint16_t vendor, uint16_t device);

/* header.c: the header registers, up to and including the BARs. */
void lspci_print_header(struct lspci *l);

/* bars.c */
void lspci_print_bars(struct lspci *l);

/* caps.c, exp.c, ecaps.c: the capability chains. */
void lspci_print_caps(const struct uvfio_pci_cfg *cfg);
void lspci_print_exp(const struct uvfio_pci_cfg *cfg, uint8_t pos);
void lspci_print_ecaps(const struct uvfio_pci_cfg *cfg);

/* server.c: regions, irqs and negotiated capabilities. */
void lspci_print_server(struct lspci *l);

/* Prints " [size=64K]" the way lspci does; nothing for 0. */
void lspci_print_size(uint64_t size);

#endif
