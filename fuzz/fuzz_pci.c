// SPDX-License-Identifier: MIT
/*
 * Config space from a hostile peer, and config writes from a hostile
 * client.  The first half of the input is loaded as a peer's config space
 * and walked as the client and uvfio-lspci walk it (capability chains,
 * MSI and MSI-X decoders); the second half is a list of writes
 * (offset, length, bytes) into a device's model, which must keep its
 * read-only IDs whatever is written.
 */
#include <string.h>

#include <uvfio/pci.h>

#include "client/irqemu.h"
#include "fuzz.h"

static void walk(const struct uvfio_pci_cfg *cfg)
{
	uint16_t epos = 0, eid;
	uint8_t pos = 0, id;
	unsigned int n = 0;

	while (uvfio_pci_next_cap(cfg, &pos, &id) == 1) {
		if (++n > 64)
			fuzz_fail("capability walk does not end");
		if (id == PCI_CAP_ID_MSI) {
			struct cl_msi_layout l;

			(void)cl_msi_decode(uvfio_pci_get16(cfg, pos +
							      PCI_MSI_FLAGS),
					    &l);
		} else if (id == PCI_CAP_ID_MSIX && pos <= 256 - 12) {
			struct cl_msix_geom g;
			uint8_t cap[PCI_CAP_MSIX_SIZEOF];
			const uint64_t bars[6] = { 1u << 20, 1u << 12, 0,
						   1u << 16, 1u << 20, 0 };

			for (unsigned int i = 0; i < sizeof(cap); i++)
				cap[i] = uvfio_pci_get8(cfg, pos + i);
			if (!cl_msix_decode(cap, &g))
				(void)cl_msix_check(&g, bars);
		}
	}
	n = 0;
	while (uvfio_pci_next_ecap(cfg, &epos, &eid) == 1)
		if (++n > 1024)
			fuzz_fail("extended capability walk does not end");
	for (unsigned int i = 0; i < 0x20; i++)
		(void)uvfio_pci_find_cap(cfg, (uint8_t)i);
	(void)uvfio_pci_find_ecap(cfg, PCI_EXT_CAP_ID_DSN);
}

static void writes(const uint8_t *p, size_t n)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10f0,
						  .irq_pin = 1 };
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	uint8_t back[8];

	if (!cfg)
		return;
	uvfio_pci_init(cfg, &ids, UVFIO_PCIE_CFG_SIZE);
	uvfio_pci_set_bar(cfg, 0, 4096, 0);
	uvfio_pci_set_bar(cfg, 2, 1u << 20, UVFIO_BAR_MEM64);
	uvfio_pci_add_cap_pm(cfg);
	uvfio_pci_add_cap_msi(cfg, 32, UVFIO_MSI_64BIT | UVFIO_MSI_MASKABLE);
	uvfio_pci_add_cap_msix(cfg, 64, 0, 0x800, 0, 0xc00);
	uvfio_pci_add_cap_exp(cfg);
	uvfio_pci_add_ecap_dsn(cfg, 7);
	/* Each write: offset (2 bytes), length (1..8), then the bytes. */
	while (n >= 3) {
		uint32_t off = (uint32_t)(p[0] | p[1] << 8) & 0x1fff;
		size_t len = (p[2] & 7) + 1;

		p += 3;
		n -= 3;
		if (len > n)
			len = n;
		(void)uvfio_pci_cfg_write(cfg, off, p, len);
		(void)uvfio_pci_cfg_read(cfg, off, back, len);
		p += len;
		n -= len;
	}
	if (uvfio_pci_get16(cfg, PCI_VENDOR_ID) != 0x1af4 ||
	    uvfio_pci_get16(cfg, PCI_DEVICE_ID) != 0x10f0)
		fuzz_fail("a config write changed the read-only IDs");
	walk(cfg);
	uvfio_pci_cfg_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	size_t half = size / 2;

	if (!cfg)
		return 0;
	uvfio_pci_load(cfg, data, (uint32_t)(half > 4096 ? 4096 : half));
	walk(cfg);
	uvfio_pci_cfg_free(cfg);
	writes(data + half, size - half);
	return 0;
}
