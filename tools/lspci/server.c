// SPDX-License-Identifier: MIT
/*
 * What the server says about itself, beside config space: its regions,
 * irq indexes and the capabilities it answered in negotiation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lspci.h"

/* A server may claim any count; listing more than this helps nobody. */
#define MAX_LISTED 64u

static const char *region_name(uint32_t index, char *buf, size_t len)
{
	switch (index) {
	case VFIO_PCI_ROM_REGION_INDEX:
		return "ROM";
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return "CONFIG";
	case VFIO_PCI_VGA_REGION_INDEX:
		return "VGA";
	default:
		break;
	}
	if (index <= VFIO_PCI_BAR5_REGION_INDEX)
		snprintf(buf, len, "BAR%u", index);
	else
		snprintf(buf, len, "dev-specific");
	return buf;
}

static void print_flags(uint32_t f, const uint32_t *bits,
			const char *const *names, size_t n)
{
	const char *sep = "";
	size_t i;

	for (i = 0; i < n; i++) {
		if (f & bits[i]) {
			printf("%s%s", sep, names[i]);
			sep = "/";
			f &= ~bits[i];
		}
	}
	if (f)
		printf("%s%#x", sep, f);
	else if (!*sep)
		printf("-");
}

static void print_region(struct lspci *l, uint32_t index)
{
	static const uint32_t bits[] = {
		VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
		VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_CAPS
	};
	static const char *const names[] = { "R", "W", "MMAP", "CAPS" };
	const struct uvfio_region *r;
	char buf[16];
	unsigned int i;
	int ret, nio;

	printf("\t[%u] %-12s ", index, region_name(index, buf, sizeof(buf)));
	ret = uvfio_client_region_info(l->c, index, &r);
	if (ret < 0) {
		printf("error: %s\n", strerror(-ret));
		return;
	}
	if (!r->size && !r->flags) {
		printf("(none)\n");
		return;
	}
	printf("size %#-10" PRIx64 " ", r->size);
	print_flags(r->flags, bits, names, sizeof(bits) / sizeof(bits[0]));
	if (r->fd >= 0)
		printf(" (fd, offset %#" PRIx64 ")", r->offset);
	printf("\n");
	for (i = 0; i < r->nr_areas && i < UVFIO_CLIENT_MAX_AREAS; i++)
		printf("\t\tsparse mmap area %u: %#" PRIx64 "+%#" PRIx64 "\n",
		       i, r->areas[i].offset, r->areas[i].size);
	if (r->has_type)
		printf("\t\ttype %#x subtype %#x\n", r->type, r->subtype);
	nio = uvfio_client_region_io_fds(l->c, index);
	if (nio > 0)
		printf("\t\t%d ioeventfd sub-regions\n", nio);
}

static const char *irq_name(uint32_t index)
{
	static const char *const names[] = {
		[VFIO_PCI_INTX_IRQ_INDEX] = "INTx",
		[VFIO_PCI_MSI_IRQ_INDEX] = "MSI",
		[VFIO_PCI_MSIX_IRQ_INDEX] = "MSI-X",
		[VFIO_PCI_ERR_IRQ_INDEX] = "ERR",
		[VFIO_PCI_REQ_IRQ_INDEX] = "REQ",
	};

	return index < VFIO_PCI_NUM_IRQS ? names[index] : "dev-specific";
}

static void print_irq(struct lspci *l, uint32_t index)
{
	static const uint32_t bits[] = {
		VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_INFO_MASKABLE,
		VFIO_IRQ_INFO_AUTOMASKED, VFIO_IRQ_INFO_NORESIZE
	};
	static const char *const names[] = { "EVENTFD", "MASKABLE",
					     "AUTOMASKED", "NORESIZE" };
	struct vfio_irq_info info;
	int ret;

	printf("\t[%u] %-12s ", index, irq_name(index));
	ret = uvfio_client_irq_info(l->c, index, &info);
	if (ret < 0) {
		printf("error: %s\n", strerror(-ret));
		return;
	}
	printf("count %-5u ", info.count);
	print_flags(info.flags, bits, names, sizeof(bits) / sizeof(bits[0]));
	printf("\n");
}

/* "(default)" after a value the server did not send. */
static const char *dflt(const struct uvfio_caps *k, uint32_t bit)
{
	return k->present & bit ? "" : " (default)";
}

static void print_caps(const struct uvfio_caps *k)
{
	printf("Negotiated:\n");
	printf("\tversion %u.%u\n", k->major, k->minor);
	printf("\tmax_data_xfer_size %u%s\n", k->max_data_xfer_size,
	       dflt(k, UVFIO_CAP_MAX_DATA_XFER));
	printf("\tmax_msg_fds %u%s\n", k->max_msg_fds,
	       dflt(k, UVFIO_CAP_MAX_MSG_FDS));
	printf("\tmax_dma_maps %u%s\n", k->max_dma_maps,
	       dflt(k, UVFIO_CAP_MAX_DMA_MAPS));
	printf("\tpgsizes %#" PRIx64 "%s\n", k->pgsizes,
	       dflt(k, UVFIO_CAP_PGSIZES));
	printf("\ttwin socket %s", k->twin_socket ? "yes" : "no");
	if (k->twin_fd_index >= 0)
		printf(" (fd_index %d)", k->twin_fd_index);
	printf("\n\twrite_multiple %s%s\n", k->write_multiple ? "yes" : "no",
	       dflt(k, UVFIO_CAP_WRITE_MULTIPLE));
	if (k->has_migration)
		printf("\tmigration: pgsize %#" PRIx64 "%s max_bitmap_size %#" PRIx64
		       "%s\n",
		       k->mig_pgsize, dflt(k, UVFIO_CAP_MIG_PGSIZE),
		       k->mig_max_bitmap_size, dflt(k, UVFIO_CAP_MIG_BITMAP));
	else
		printf("\tmigration no\n");
}

/* VFIO v2 migration, through DEVICE_FEATURE (not the VERSION object). */
static void print_migration(struct uvfio_client *c)
{
	static const char *const states[] = {
		"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING",
		"RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
	};
	enum uvfio_mig_state st;
	uint64_t f = 0;
	int ret = uvfio_client_mig_flags(c, &f);

	if (ret < 0) {
		printf("Migration: not offered (%s)\n", strerror(-ret));
		return;
	}
	printf("Migration:%s%s%s",
	       f & VFIO_MIGRATION_STOP_COPY ? " STOP_COPY" : "",
	       f & VFIO_MIGRATION_P2P ? " P2P" : "",
	       f & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
	if (uvfio_client_mig_get_state(c, &st) == 0 &&
	    (unsigned int)st < sizeof(states) / sizeof(states[0]))
		printf(", state %s", states[st]);
	printf("\n");
}

void lspci_print_server(struct lspci *l)
{
	const struct uvfio_caps *k = uvfio_client_caps(l->c);
	uint32_t i;

	printf("Regions (%u):\n", l->num_regions);
	for (i = 0; i < l->num_regions && i < MAX_LISTED; i++)
		print_region(l, i);
	if (l->num_regions > MAX_LISTED)
		printf("\t... %u more not listed\n",
		       l->num_regions - MAX_LISTED);

	printf("Interrupts (%u):\n", l->num_irqs);
	for (i = 0; i < l->num_irqs && i < MAX_LISTED; i++)
		print_irq(l, i);
	if (l->num_irqs > MAX_LISTED)
		printf("\t... %u more not listed\n", l->num_irqs - MAX_LISTED);

	if (k)
		print_caps(k);
	print_migration(l->c);
}
