// SPDX-License-Identifier: MIT
/* The type-0 header lines: identity, Control, Status, latency, interrupt. */
#include <stdio.h>

#include "lspci.h"

static void print_title(const struct uvfio_pci_cfg *cfg)
{
	uint8_t base = uvfio_pci_get8(cfg, PCI_CLASS_DEVICE + 1);
	uint8_t sub = uvfio_pci_get8(cfg, PCI_CLASS_DEVICE);
	uint8_t progif = uvfio_pci_get8(cfg, PCI_CLASS_PROG);
	uint8_t rev = uvfio_pci_get8(cfg, PCI_REVISION_ID);
	const char *cname = lspci_class_name(base);

	/* A vfio-user device has no bus address of its own. */
	printf("00:00.0 ");
	if (cname)
		printf("%s [%02x%02x]: ", cname, base, sub);
	else
		printf("Class [%02x%02x]: ", base, sub);
	lspci_print_ids(uvfio_pci_get16(cfg, PCI_VENDOR_ID),
			uvfio_pci_get16(cfg, PCI_DEVICE_ID));
	if (rev)
		printf(" (rev %02x)", rev);
	if (progif)
		printf(" (prog-if %02x)", progif);
	printf("\n");
}

static void print_subsystem(const struct uvfio_pci_cfg *cfg)
{
	uint16_t sv = uvfio_pci_get16(cfg, PCI_SUBSYSTEM_VENDOR_ID);

	if (!sv || sv == 0xffff)
		return;
	printf("\tSubsystem: ");
	lspci_print_ids(sv, uvfio_pci_get16(cfg, PCI_SUBSYSTEM_ID));
	printf("\n");
}

static void print_control(uint16_t c)
{
	printf("\tControl: I/O%c Mem%c BusMaster%c SpecCycle%c MemWINV%c "
	       "VGASnoop%c ParErr%c Stepping%c SERR%c FastB2B%c DisINTx%c\n",
	       flag(c, PCI_COMMAND_IO), flag(c, PCI_COMMAND_MEMORY),
	       flag(c, PCI_COMMAND_MASTER), flag(c, PCI_COMMAND_SPECIAL),
	       flag(c, PCI_COMMAND_INVALIDATE),
	       flag(c, PCI_COMMAND_VGA_PALETTE), flag(c, PCI_COMMAND_PARITY),
	       flag(c, PCI_COMMAND_WAIT), flag(c, PCI_COMMAND_SERR),
	       flag(c, PCI_COMMAND_FAST_BACK),
	       flag(c, PCI_COMMAND_INTX_DISABLE));
}

static void print_status(uint16_t s)
{
	static const char *const devsel[] = { "fast", "medium", "slow", "??" };

	printf("\tStatus: Cap%c 66MHz%c UDF%c FastB2B%c ParErr%c DEVSEL=%s "
	       ">TAbort%c <TAbort%c <MAbort%c >SERR%c <PERR%c INTx%c\n",
	       flag(s, PCI_STATUS_CAP_LIST), flag(s, PCI_STATUS_66MHZ),
	       flag(s, PCI_STATUS_UDF), flag(s, PCI_STATUS_FAST_BACK),
	       flag(s, PCI_STATUS_PARITY),
	       devsel[(s & PCI_STATUS_DEVSEL_MASK) >> 9],
	       flag(s, PCI_STATUS_SIG_TARGET_ABORT),
	       flag(s, PCI_STATUS_REC_TARGET_ABORT),
	       flag(s, PCI_STATUS_REC_MASTER_ABORT),
	       flag(s, PCI_STATUS_SIG_SYSTEM_ERROR),
	       flag(s, PCI_STATUS_DETECTED_PARITY),
	       flag(s, PCI_STATUS_INTERRUPT));
}

static void print_latency_irq(const struct uvfio_pci_cfg *cfg, uint16_t cmd)
{
	uint8_t pin = uvfio_pci_get8(cfg, PCI_INTERRUPT_PIN);
	uint8_t line = uvfio_pci_get8(cfg, PCI_INTERRUPT_LINE);
	uint8_t cls = uvfio_pci_get8(cfg, PCI_CACHE_LINE_SIZE);

	if (cmd & PCI_COMMAND_MASTER) {
		printf("\tLatency: %u", uvfio_pci_get8(cfg, PCI_LATENCY_TIMER));
		if (cls)
			printf(", Cache Line Size: %u bytes", cls * 4u);
		printf("\n");
	}
	/* Without a host bridge, the line register is all there is. */
	if (pin || line)
		printf("\tInterrupt: pin %c routed to IRQ %u\n",
		       pin >= 1 && pin <= 4 ? 'A' + pin - 1 : '?', line);
}

void lspci_print_header(struct lspci *l)
{
	const struct uvfio_pci_cfg *cfg = l->cfg;
	uint8_t htype = uvfio_pci_get8(cfg, PCI_HEADER_TYPE) & 0x7f;
	uint16_t cmd = uvfio_pci_get16(cfg, PCI_COMMAND);

	print_title(cfg);
	if (htype != PCI_HEADER_TYPE_NORMAL) {
		printf("\t!!! Header type %02x not decoded\n", htype);
		return;
	}
	print_subsystem(cfg);
	print_control(cmd);
	print_status(uvfio_pci_get16(cfg, PCI_STATUS));
	print_latency_irq(cfg, cmd);
}
