// SPDX-License-Identifier: MIT
/*
 * The VMM side's MSI and MSI-X decoding (src/client/irqcap.c): capability
 * layouts checked against capabilities the PCI model builds, which bits a
 * guest may write, MME and per-vector data, MSI-X geometry on hostile
 * capabilities, table entries and range arithmetic at the edges.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/irqemu.h"

static void model(struct uvfio_pci_cfg *cfg)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1234,
						  .device_id = 0x5678 };

	uvfio_pci_init(cfg, &ids, UVFIO_PCI_CFG_SIZE);
}

/* Every (nvec, flags) the model builds decodes to the model's layout. */
static void test_msi_layout_vs_model(void **state)
{
	static const uint32_t fl[] = { 0, UVFIO_MSI_64BIT, UVFIO_MSI_MASKABLE,
				       UVFIO_MSI_64BIT | UVFIO_MSI_MASKABLE };
	static struct uvfio_pci_cfg cfg;

	for (unsigned int f = 0; f < 4; f++) {
		for (unsigned int nvec = 1; nvec <= 32; nvec *= 2) {
			struct cl_msi_layout l;
			uint8_t wm[CL_MSI_CAP_MAX];
			int pos;

			model(&cfg);
			pos = uvfio_pci_add_cap_msi(&cfg, nvec, fl[f]);
			assert_true(pos > 0);
			assert_int_equal(
				cl_msi_decode(
					uvfio_pci_get16(&cfg,
							pos + PCI_MSI_FLAGS),
					&l),
				0);
			assert_int_equal(l.mmc, nvec);
			assert_int_equal(l.is64, !!(fl[f] & UVFIO_MSI_64BIT));
			assert_int_equal(l.data, l.is64 ? 12 : 8);
			if (fl[f] & UVFIO_MSI_MASKABLE) {
				assert_int_equal(l.mask, l.is64 ? 16 : 12);
				assert_int_equal(l.pending, l.mask + 4);
				assert_int_equal(l.len, l.mask + 8);
			} else {
				assert_int_equal(l.mask, 0);
				assert_int_equal(l.len, l.data + 2);
			}
			/* The data register is where the model put it. */
			assert_int_equal(cfg.wmask[pos + l.data], 0xff);
			assert_int_equal(cfg.wmask[pos + l.data + 1], 0xff);
			cl_msi_wmask(&l, wm);
			assert_int_equal(wm[PCI_MSI_FLAGS],
					 PCI_MSI_FLAGS_ENABLE |
						 PCI_MSI_FLAGS_QSIZE);
			assert_int_equal(wm[PCI_MSI_FLAGS + 1], 0);
			assert_int_equal(wm[PCI_MSI_ADDRESS_LO], 0xfc);
			/* Elsewhere the guest writes what the model lets. */
			for (unsigned int i = PCI_MSI_FLAGS + 1; i < l.len; i++)
				assert_int_equal(wm[i], cfg.wmask[pos + i]);
			if (l.mask) {
				uint32_t m = 0;

				for (unsigned int i = 0; i < 4; i++)
					m |= (uint32_t)wm[l.mask + i] << 8 * i;
				assert_int_equal(
					m, nvec == 32 ? ~0u : (1u << nvec) - 1);
				/* Pending bits are read-only. */
				for (unsigned int i = 0; i < 4; i++)
					assert_int_equal(wm[l.pending + i], 0);
			}
		}
	}
}

static void test_msi_reserved_mmc(void **state)
{
	struct cl_msi_layout l;

	assert_int_equal(cl_msi_decode(6 << 1, &l), -EPROTO);
	assert_int_equal(cl_msi_decode(7 << 1, &l), -EPROTO);
	assert_int_equal(cl_msi_decode(5 << 1, &l), 0);
	assert_int_equal(l.mmc, 32);
}

static void test_msi_mme(void **state)
{
	/* MME 2 = 4 vectors; beyond the capability it is clamped. */
	assert_int_equal(cl_msi_nvec(2 << 4, 32), 4);
	assert_int_equal(cl_msi_nvec(0, 32), 1);
	assert_int_equal(cl_msi_nvec(5 << 4, 32), 32);
	assert_int_equal(cl_msi_nvec(5 << 4, 8), 8);
	assert_int_equal(cl_msi_nvec(7 << 4, 32), 32);
	assert_int_equal(cl_msi_nvec(3 << 4 | PCI_MSI_FLAGS_ENABLE, 16), 8);
}

static void test_msi_vec_data(void **state)
{
	assert_int_equal(cl_msi_vec_data(0x40, 4, 0), 0x40);
	assert_int_equal(cl_msi_vec_data(0x40, 4, 3), 0x43);
	/* The function replaces the low bits; it does not add. */
	assert_int_equal(cl_msi_vec_data(0x43, 4, 1), 0x41);
	assert_int_equal(cl_msi_vec_data(0x1234, 1, 0), 0x1234);
	assert_int_equal(cl_msi_vec_data(0x1ffff, 32, 31), 0xffff);
	/* Data is 16 bits. */
	assert_int_equal(cl_msi_vec_data(0xabcd0040, 2, 1), 0x0041);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void test_msix_decode_model(void **state)
{
	static struct uvfio_pci_cfg cfg;
	uint64_t bars[UVFIO_PCI_NUM_BARS] = { 0x10000, 0, 0x4000 };
	struct cl_msix_geom g;
	int pos;

	model(&cfg);
	pos = uvfio_pci_add_cap_msix(&cfg, 2048, 0, 0x1000, 0, 0x9000);
	assert_true(pos > 0);
	assert_int_equal(cl_msix_decode(cfg.data + pos, &g), 0);
	assert_int_equal(g.nvec, 2048);
	assert_int_equal(g.table_bar, 0);
	assert_int_equal(g.table_off, 0x1000);
	assert_int_equal(g.table_len, 2048 * 16);
	assert_int_equal(g.pba_off, 0x9000);
	assert_int_equal(g.pba_len, 256);
	assert_int_equal(cl_msix_check(&g, bars), 0);
	/* The BAR shrinks under the PBA. */
	bars[0] = 0x9000 + 255;
	assert_int_equal(cl_msix_check(&g, bars), -EPROTO);

	model(&cfg);
	pos = uvfio_pci_add_cap_msix(&cfg, 3, 2, 0x100, 2, 0x200);
	assert_true(pos > 0);
	assert_int_equal(cl_msix_decode(cfg.data + pos, &g), 0);
	assert_int_equal(g.nvec, 3);
	assert_int_equal(g.pba_len, 8);
	assert_int_equal(g.table_bar, 2);
	assert_int_equal(cl_msix_check(&g, bars), 0);
}

static void test_msix_decode_hostile(void **state)
{
	uint64_t bars[UVFIO_PCI_NUM_BARS] = { 0x10000, 0x10000, 0,
					      0,       0,	UINT64_MAX };
	uint8_t cap[PCI_CAP_MSIX_SIZEOF] = { PCI_CAP_ID_MSIX, 0, 0xff, 0x07 };
	struct cl_msix_geom g;

	/* BIR 6 and 7 are reserved. */
	put32(cap + PCI_MSIX_TABLE, 6);
	put32(cap + PCI_MSIX_PBA, 0);
	assert_int_equal(cl_msix_decode(cap, &g), -EPROTO);
	put32(cap + PCI_MSIX_TABLE, 0);
	put32(cap + PCI_MSIX_PBA, 7);
	assert_int_equal(cl_msix_decode(cap, &g), -EPROTO);

	/* Table and PBA overlapping in one BAR. */
	put32(cap + PCI_MSIX_TABLE, 0x1000);
	put32(cap + PCI_MSIX_PBA, 0x1000 + 2048 * 16 - 8);
	assert_int_equal(cl_msix_decode(cap, &g), 0);
	assert_int_equal(cl_msix_check(&g, bars), -EPROTO);
	/* The same offsets in different BARs are fine. */
	put32(cap + PCI_MSIX_PBA, (0x1000 + 2048 * 16 - 8) | 1);
	assert_int_equal(cl_msix_decode(cap, &g), 0);
	assert_int_equal(cl_msix_check(&g, bars), 0);
	/* A BAR that is not there. */
	put32(cap + PCI_MSIX_TABLE, 0x0 | 2);
	assert_int_equal(cl_msix_decode(cap, &g), 0);
	assert_int_equal(cl_msix_check(&g, bars), -EPROTO);
	/* The largest offset cannot wrap. */
	put32(cap + PCI_MSIX_TABLE, 0xfffffff8 | 5);
	put32(cap + PCI_MSIX_PBA, 0xfffff000 | 5);
	assert_int_equal(cl_msix_decode(cap, &g), 0);
	assert_int_equal(g.table_off, 0xfffffff8);
	assert_int_equal(cl_msix_check(&g, bars), 0);
	bars[5] = 0x100000000ull;
	assert_int_equal(cl_msix_check(&g, bars), -EPROTO);
}

static void test_msix_entry(void **state)
{
	uint8_t table[3 * 16] = { 0 };
	uint8_t wm[16], cur[16], in[16];
	struct uvfio_msi_msg m;
	bool masked;

	put32(table + 16 + 0, 0xfee01000);
	put32(table + 16 + 4, 0x1);
	put32(table + 16 + 8, 0xabcd1234);
	put32(table + 16 + 12, 0xfffffffe);
	cl_msix_entry(table, 1, &m, &masked);
	assert_int_equal(m.address, 0x1fee01000ull);
	assert_int_equal(m.data, 0xabcd1234);
	assert_false(masked);
	put32(table + 16 + 12, 1);
	cl_msix_entry(table, 1, &m, &masked);
	assert_true(masked);

	/* Only address bits 31:2, upper address, data and the mask bit. */
	cl_msix_wmask_entry(wm);
	memset(cur, 0, sizeof(cur));
	memset(in, 0xff, sizeof(in));
	cl_merge(cur, in, wm, sizeof(cur));
	cl_msix_entry(cur, 0, &m, &masked);
	assert_int_equal(m.address, 0xfffffffffffffffcull);
	assert_int_equal(m.data, 0xffffffff);
	assert_true(masked);
	assert_int_equal(cl_le32(cur + 12), 1);
	memset(in, 0, sizeof(in));
	cl_merge(cur + 12, in, wm + 12, 4);
	assert_int_equal(cl_le32(cur + 12), 0);
	assert_int_equal(cl_le32(cur + 8), 0xffffffff);
}

static void test_overlap(void **state)
{
	uint64_t from, n;

	assert_true(cl_overlap(0x10, 0x10, 0x18, 0x100, &from, &n));
	assert_int_equal(from, 0x18);
	assert_int_equal(n, 8);
	assert_true(cl_overlap(0x20, 4, 0x18, 0x10, &from, &n));
	assert_int_equal(from, 0x20);
	assert_int_equal(n, 4);
	assert_false(cl_overlap(0x28, 4, 0x18, 0x10, &from, &n));
	assert_false(cl_overlap(0x10, 8, 0x18, 0x10, &from, &n));
	assert_false(cl_overlap(0x18, 0, 0x18, 0x10, &from, &n));
	assert_false(cl_overlap(0x18, 4, 0x18, 0, &from, &n));
	/* Near the top of the address space nothing wraps. */
	assert_true(
		cl_overlap(UINT64_MAX - 1, 16, UINT64_MAX - 4, 100, &from, &n));
	assert_int_equal(from, UINT64_MAX - 1);
	assert_int_equal(n, 1);
	assert_false(cl_overlap(UINT64_MAX, 16, 0, 16, &from, &n));
}

static void test_le(void **state)
{
	static const uint8_t b[4] = { 0x78, 0x56, 0x34, 0x92 };

	assert_int_equal(cl_le16(b), 0x5678);
	assert_int_equal(cl_le32(b), 0x92345678u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msi_layout_vs_model),
		cmocka_unit_test(test_msi_reserved_mmc),
		cmocka_unit_test(test_msi_mme),
		cmocka_unit_test(test_msi_vec_data),
		cmocka_unit_test(test_msix_decode_model),
		cmocka_unit_test(test_msix_decode_hostile),
		cmocka_unit_test(test_msix_entry),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_le),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
