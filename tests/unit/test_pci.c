// SPDX-License-Identifier: MIT
/*
 * PCI config-space model: header, BAR sizing, capabilities and their
 * writable bits, extended capabilities, and the walkers on hostile bytes.
 * Registers are read and written through the masked accessors, as a
 * driver would see them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pci/pci_internal.h"

static const struct uvfio_pci_ids test_ids = {
	.vendor_id = 0x1af4,
	.device_id = 0x10f3,
	.subsys_vendor_id = 0x1b36,
	.subsys_id = 0x0042,
	.revision = 0x07,
	.class_code = 0x0780ab,
	.irq_pin = 1,
};

static uint32_t rd(const struct uvfio_pci_cfg *c, uint32_t off, size_t n)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;
	size_t i;

	assert_int_equal(uvfio_pci_cfg_read(c, off, b, n), 0);
	for (i = 0; i < n; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void wr(struct uvfio_pci_cfg *c, uint32_t off, uint32_t v, size_t n)
{
	uint8_t b[4];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(uvfio_pci_cfg_write(c, off, b, n), 0);
}

#define rd8(c, o) rd(c, o, 1)
#define rd16(c, o) rd(c, o, 2)
#define rd32(c, o) rd(c, o, 4)
#define wr8(c, o, v) wr(c, o, v, 1)
#define wr16(c, o, v) wr(c, o, v, 2)
#define wr32(c, o, v) wr(c, o, v, 4)

static void init(struct uvfio_pci_cfg *c, uint32_t size)
{
	uvfio_pci_init(c, &test_ids, size);
}

/* The sizing probe: writes all ones and returns what reads back. */
static uint32_t probe32(struct uvfio_pci_cfg *c, uint32_t off)
{
	uint32_t v;

	wr32(c, off, 0xffffffff);
	v = rd32(c, off);
	return v;
}

static void test_header_init(void **state)
{
	struct uvfio_pci_ids ids = test_ids;
	struct uvfio_pci_cfg c;
	uint16_t epos = 0, eid;
	uint32_t off;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(c.size, 256);
	assert_int_equal(rd16(&c, PCI_VENDOR_ID), 0x1af4);
	assert_int_equal(rd16(&c, PCI_DEVICE_ID), 0x10f3);
	assert_int_equal(rd16(&c, PCI_COMMAND), 0);
	assert_int_equal(rd16(&c, PCI_STATUS), 0);
	assert_int_equal(rd8(&c, PCI_REVISION_ID), 0x07);
	assert_int_equal(rd8(&c, PCI_CLASS_PROG), 0xab);
	assert_int_equal(rd16(&c, PCI_CLASS_DEVICE), 0x0780);
	assert_int_equal(rd8(&c, PCI_HEADER_TYPE), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(rd16(&c, PCI_SUBSYSTEM_VENDOR_ID), 0x1b36);
	assert_int_equal(rd16(&c, PCI_SUBSYSTEM_ID), 0x0042);
	assert_int_equal(rd8(&c, PCI_INTERRUPT_PIN), 1);
	assert_int_equal(rd8(&c, PCI_CAPABILITY_LIST), 0);
	assert_int_equal(rd32(&c, PCI_ROM_ADDRESS), 0);
	for (off = PCI_BASE_ADDRESS_0; off <= PCI_BASE_ADDRESS_5; off += 4)
		assert_int_equal(rd32(&c, off), 0);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_PM), 0);

	init(&c, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(c.size, 4096);
	assert_int_equal(rd32(&c, PCI_CFG_SPACE_SIZE), 0);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_DSN), 0);
	assert_int_equal(uvfio_pci_find_ecap(&c, 0), 0);
	assert_int_equal(uvfio_pci_next_ecap(&c, &epos, &eid), 0);

	/* Any other size is a plain PCI space; an impossible pin is none. */
	ids.irq_pin = 5;
	uvfio_pci_init(&c, &ids, 1000);
	assert_int_equal(c.size, 256);
	assert_int_equal(rd8(&c, PCI_INTERRUPT_PIN), 0);
	uvfio_pci_init(&c, NULL, 256);
	assert_int_equal(rd32(&c, PCI_VENDOR_ID), 0);
}

static void test_header_read_only(void **state)
{
	static const uint32_t ro[] = {
		PCI_VENDOR_ID,	 PCI_CLASS_REVISION, PCI_SUBSYSTEM_VENDOR_ID,
		PCI_ROM_ADDRESS, PCI_CARDBUS_CIS,
	};
	struct uvfio_pci_cfg c, ref;
	unsigned int i;
	uint32_t off;

	init(&c, UVFIO_PCI_CFG_SIZE);
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		uint32_t before = rd32(&c, ro[i]);

		wr32(&c, ro[i], 0xffffffff);
		assert_int_equal(rd32(&c, ro[i]), before);
		wr32(&c, ro[i], 0);
		assert_int_equal(rd32(&c, ro[i]), before);
	}
	wr8(&c, PCI_HEADER_TYPE, 0xff);
	assert_int_equal(rd8(&c, PCI_HEADER_TYPE), 0);
	wr8(&c, PCI_BIST, 0xff);
	assert_int_equal(rd8(&c, PCI_BIST), 0);
	wr8(&c, PCI_CAPABILITY_LIST, 0x40);
	assert_int_equal(rd8(&c, PCI_CAPABILITY_LIST), 0);
	wr8(&c, PCI_INTERRUPT_PIN, 3);
	assert_int_equal(rd8(&c, PCI_INTERRUPT_PIN), 1);
	wr16(&c, PCI_MIN_GNT, 0xffff);
	assert_int_equal(rd16(&c, PCI_MIN_GNT), 0);

	/* Without capabilities the device-specific area is inert. */
	init(&ref, UVFIO_PCI_CFG_SIZE);
	for (off = PCI_STD_HEADER_SIZEOF; off < PCI_CFG_SPACE_SIZE; off += 4)
		wr32(&c, off, 0xffffffff);
	assert_memory_equal(c.data + 0x40, ref.data + 0x40, 0xc0);
}

static void test_header_writable(void **state)
{
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	wr16(&c, PCI_COMMAND, 0xffff);
	assert_int_equal(rd16(&c, PCI_COMMAND),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
				 PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
				 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(rd16(&c, PCI_COMMAND), 0x0547);
	wr16(&c, PCI_COMMAND, PCI_COMMAND_MEMORY);
	assert_int_equal(rd16(&c, PCI_COMMAND), PCI_COMMAND_MEMORY);
	wr16(&c, PCI_COMMAND, 0);
	assert_int_equal(rd16(&c, PCI_COMMAND), 0);

	wr8(&c, PCI_CACHE_LINE_SIZE, 0x10);
	wr8(&c, PCI_LATENCY_TIMER, 0x40);
	wr8(&c, PCI_INTERRUPT_LINE, 0x0b);
	assert_int_equal(rd8(&c, PCI_CACHE_LINE_SIZE), 0x10);
	assert_int_equal(rd8(&c, PCI_LATENCY_TIMER), 0x40);
	assert_int_equal(rd8(&c, PCI_INTERRUPT_LINE), 0x0b);
	wr8(&c, PCI_INTERRUPT_LINE, 0xff);
	assert_int_equal(rd8(&c, PCI_INTERRUPT_LINE), 0xff);
}

static void test_status_w1c(void **state)
{
	const uint16_t errs =
		PCI_STATUS_DETECTED_PARITY | PCI_STATUS_SIG_SYSTEM_ERROR |
		PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_REC_TARGET_ABORT |
		PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_PARITY;
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_true(uvfio_pci_add_cap_pm(&c) > 0);
	uvfio_pci_set16(&c, PCI_STATUS,
			uvfio_pci_get16(&c, PCI_STATUS) | errs |
				PCI_STATUS_INTERRUPT);
	assert_int_equal(rd16(&c, PCI_STATUS),
			 errs | PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);

	/* Writing zeros changes nothing. */
	wr16(&c, PCI_STATUS, 0);
	assert_int_equal(rd16(&c, PCI_STATUS),
			 errs | PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
	/* A one clears just its own bit. */
	wr16(&c, PCI_STATUS, PCI_STATUS_PARITY);
	assert_int_equal(rd16(&c, PCI_STATUS), (errs & ~PCI_STATUS_PARITY) |
						       PCI_STATUS_INTERRUPT |
						       PCI_STATUS_CAP_LIST);
	/* A dword write to command/status: command set, one error gone. */
	wr32(&c, PCI_COMMAND,
	     (uint32_t)PCI_STATUS_SIG_SYSTEM_ERROR << 16 | PCI_COMMAND_MASTER);
	assert_int_equal(rd16(&c, PCI_COMMAND), PCI_COMMAND_MASTER);
	assert_int_equal(rd16(&c, PCI_STATUS) & PCI_STATUS_SIG_SYSTEM_ERROR, 0);
	assert_int_not_equal(rd16(&c, PCI_STATUS) & PCI_STATUS_DETECTED_PARITY,
			     0);
	/* All ones: every error cleared, the read-only bits stay. */
	wr16(&c, PCI_STATUS, 0xffff);
	assert_int_equal(rd16(&c, PCI_STATUS),
			 PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
}

static void test_bar_mem32(void **state)
{
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 4096, 0), 0);
	assert_int_equal(c.bar[0].size, 4096);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_0), 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_0), 0xfffff000);
	wr32(&c, PCI_BASE_ADDRESS_0, 0xfebc1234);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_0), 0xfebc1000);
	assert_int_equal(uvfio_pci_bar_addr(&c, 0), 0xfebc1000);
	/* The neighbour was never declared. */
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_1), 0);

	/* Smallest and largest 32-bit memory BARs, prefetchable flag. */
	assert_int_equal(uvfio_pci_set_bar(&c, 1, 16, UVFIO_BAR_PREFETCH), 0);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_1),
			 PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_1), 0xfffffff8);
	assert_int_equal(uvfio_pci_set_bar(&c, 2, 1ull << 31, 0), 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_2), 0x80000000);
	assert_int_equal(uvfio_pci_bar_addr(&c, 2), 0x80000000);
	/* Byte-wise sizing reaches the same answer. */
	wr8(&c, PCI_BASE_ADDRESS_0, 0);
	wr8(&c, PCI_BASE_ADDRESS_0 + 1, 0xff);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_0), 0xfebcf000);
}

static void test_bar_mem64(void **state)
{
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(
		uvfio_pci_set_bar(&c, 2, 1 << 20,
				  UVFIO_BAR_MEM64 | UVFIO_BAR_PREFETCH),
		0);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_2),
			 PCI_BASE_ADDRESS_MEM_TYPE_64 |
				 PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_3), 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_2), 0xfff0000c);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_3), 0xffffffff);
	wr32(&c, PCI_BASE_ADDRESS_2, 0x34500000);
	wr32(&c, PCI_BASE_ADDRESS_3, 0x12);
	assert_int_equal(uvfio_pci_bar_addr(&c, 2), 0x1234500000ull);

	/* Larger than 4 GiB: the low half has no address bits left. */
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 8ull << 30, UVFIO_BAR_MEM64),
			 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_0),
			 PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_1), 0xfffffffe);
	wr32(&c, PCI_BASE_ADDRESS_1, 0x3);
	assert_int_equal(uvfio_pci_bar_addr(&c, 0), 0x200000000ull);

	/* The largest 64-bit BAR. */
	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_set_bar(&c, 4, 1ull << 63, UVFIO_BAR_MEM64),
			 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_4), 4);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_5), 0x80000000);
	assert_int_equal(uvfio_pci_bar_addr(&c, 4), 1ull << 63);
}

static void test_bar_io(void **state)
{
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_set_bar(&c, 1, 32, UVFIO_BAR_IO), 0);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_1),
			 PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_1), 0xffffffe1);
	wr32(&c, PCI_BASE_ADDRESS_1, 0xc05e);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_1), 0xc041);
	assert_int_equal(uvfio_pci_bar_addr(&c, 1), 0xc040);

	assert_int_equal(uvfio_pci_set_bar(&c, 3, 4, UVFIO_BAR_IO), 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_3), 0xfffffffd);
	assert_int_equal(uvfio_pci_set_bar(&c, 4, 256, UVFIO_BAR_IO), 0);
	assert_int_equal(probe32(&c, PCI_BASE_ADDRESS_4), 0xffffff01);
}

static void test_bar_bad(void **state)
{
	struct uvfio_pci_cfg c, ref;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_set_bar(NULL, 0, 16, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 6, 16, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 0, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 3000, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 8, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 1ull << 32, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 8, UVFIO_BAR_MEM64), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 2, UVFIO_BAR_IO), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 512, UVFIO_BAR_IO), -EINVAL);
	assert_int_equal(
		uvfio_pci_set_bar(&c, 0, 16, UVFIO_BAR_IO | UVFIO_BAR_MEM64),
		-EINVAL);
	assert_int_equal(
		uvfio_pci_set_bar(&c, 0, 16, UVFIO_BAR_IO | UVFIO_BAR_PREFETCH),
		-EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 16, 1u << 3), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 5, 16, UVFIO_BAR_MEM64),
			 -EINVAL);

	/* Slots taken: the BAR itself, the upper half of a 64-bit one. */
	assert_int_equal(uvfio_pci_set_bar(&c, 5, 16, 0), 0);
	assert_int_equal(uvfio_pci_set_bar(&c, 4, 16, UVFIO_BAR_MEM64),
			 -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 5, 32, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 16, UVFIO_BAR_MEM64), 0);
	assert_int_equal(uvfio_pci_set_bar(&c, 1, 16, 0), -EINVAL);
	assert_int_equal(uvfio_pci_set_bar(&c, 1, 16, UVFIO_BAR_MEM64),
			 -EINVAL);

	/* None of the refusals touched the registers. */
	init(&ref, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_set_bar(&ref, 5, 16, 0), 0);
	assert_int_equal(uvfio_pci_set_bar(&ref, 0, 16, UVFIO_BAR_MEM64), 0);
	assert_memory_equal(c.data, ref.data, 256);
	assert_memory_equal(c.wmask, ref.wmask, 256);
	assert_memory_equal(c.bar, ref.bar, sizeof(c.bar));
	assert_int_equal(uvfio_pci_bar_addr(&c, 6), 0);
	assert_int_equal(uvfio_pci_bar_addr(NULL, 0), 0);
}

static void test_cap_msi32(void **state)
{
	struct uvfio_pci_cfg c;
	int pos;

	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_msi(&c, 1, 0);
	assert_int_equal(pos, 0x40);
	assert_int_equal(rd8(&c, PCI_CAPABILITY_LIST), 0x40);
	assert_true(rd16(&c, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	assert_int_equal(rd8(&c, pos), PCI_CAP_ID_MSI);
	assert_int_equal(rd8(&c, pos + PCI_CAP_LIST_NEXT), 0);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS), 0);

	/* Only enable is writable with a single vector. */
	wr16(&c, pos + PCI_MSI_FLAGS, 0xffff);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS), PCI_MSI_FLAGS_ENABLE);
	wr16(&c, pos + PCI_MSI_FLAGS, 0);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS), 0);
	assert_int_equal(probe32(&c, pos + PCI_MSI_ADDRESS_LO), 0xfffffffc);
	assert_int_equal(probe32(&c, pos + PCI_MSI_DATA_32), 0xffff);
	wr16(&c, pos + PCI_MSI_DATA_32, 0x4021);
	assert_int_equal(rd16(&c, pos + PCI_MSI_DATA_32), 0x4021);
	/* 10 bytes, rounded up: the next capability follows at +12. */
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + 12);
	assert_int_equal(rd8(&c, pos + PCI_CAP_LIST_NEXT), pos + 12);

	/* Maskable 32-bit with 32 vectors: all mask bits, MMC 5. */
	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_msi(&c, 32, UVFIO_MSI_MASKABLE);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS),
			 5 << 1 | PCI_MSI_FLAGS_MASKBIT);
	assert_int_equal(probe32(&c, pos + PCI_MSI_MASK_32), 0xffffffff);
	assert_int_equal(probe32(&c, pos + PCI_MSI_PENDING_32), 0);
	wr16(&c, pos + PCI_MSI_FLAGS, 5 << 4);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE,
			 5 << 4);
	wr16(&c, pos + PCI_MSI_FLAGS, 7 << 4);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE,
			 5 << 4);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + 20);
}

static void test_cap_msi64(void **state)
{
	struct uvfio_pci_cfg c;
	int pos;

	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_msi(&c, 8,
				    UVFIO_MSI_64BIT | UVFIO_MSI_MASKABLE);
	assert_true(pos >= 0x40);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS),
			 3 << 1 | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);

	/* Multiple Message Enable up to MMC, clamped above it. */
	wr16(&c, pos + PCI_MSI_FLAGS, 0xffff);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS),
			 3 << 4 | 3 << 1 | PCI_MSI_FLAGS_ENABLE |
				 PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
	wr16(&c, pos + PCI_MSI_FLAGS, 2 << 4);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS) & 0x71, 2 << 4);
	wr8(&c, pos + PCI_MSI_FLAGS, 4 << 4 | 1);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS) & 0x71, 3 << 4 | 1);

	assert_int_equal(probe32(&c, pos + PCI_MSI_ADDRESS_LO), 0xfffffffc);
	assert_int_equal(probe32(&c, pos + PCI_MSI_ADDRESS_HI), 0xffffffff);
	assert_int_equal(probe32(&c, pos + PCI_MSI_DATA_64), 0xffff);
	assert_int_equal(probe32(&c, pos + PCI_MSI_MASK_64), 0xff);
	wr32(&c, pos + PCI_MSI_MASK_64, 0x5a);
	assert_int_equal(rd32(&c, pos + PCI_MSI_MASK_64), 0x5a);
	/* Pending bits belong to the device. */
	assert_int_equal(probe32(&c, pos + PCI_MSI_PENDING_64), 0);
	uvfio_pci_set32(&c, pos + PCI_MSI_PENDING_64, 0x81);
	wr32(&c, pos + PCI_MSI_PENDING_64, 0);
	assert_int_equal(rd32(&c, pos + PCI_MSI_PENDING_64), 0x81);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + 24);

	/* 64-bit, not maskable: 14 bytes. */
	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_msi(&c, 4, UVFIO_MSI_64BIT);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS),
			 2 << 1 | PCI_MSI_FLAGS_64BIT);
	wr16(&c, pos + PCI_MSI_FLAGS, 3 << 4);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE,
			 2 << 4);
	/* Writing only the upper control byte leaves MME alone. */
	wr16(&c, pos + PCI_MSI_FLAGS, 1 << 4);
	wr8(&c, pos + PCI_MSI_FLAGS + 1, 0xff);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE,
			 1 << 4);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + 16);
}

static void test_cap_msi_bad(void **state)
{
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_add_cap_msi(&c, 0, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msi(&c, 3, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msi(&c, 64, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msi(&c, 1, 1u << 2), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msi(NULL, 1, 0), -EINVAL);
	assert_int_equal(rd8(&c, PCI_CAPABILITY_LIST), 0);
	assert_int_equal(rd16(&c, PCI_STATUS), 0);
}

static void test_cap_msix(void **state)
{
	struct uvfio_pci_cfg c;
	int pos;

	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_msix(&c, 64, 2, 0x2000, 2, 0x3000);
	assert_int_equal(pos, 0x40);
	assert_int_equal(rd8(&c, pos), PCI_CAP_ID_MSIX);
	assert_int_equal(rd16(&c, pos + PCI_MSIX_FLAGS), 63);
	assert_int_equal(rd32(&c, pos + PCI_MSIX_TABLE), 0x2002);
	assert_int_equal(rd32(&c, pos + PCI_MSIX_PBA), 0x3002);
	wr16(&c, pos + PCI_MSIX_FLAGS, 0xffff);
	assert_int_equal(rd16(&c, pos + PCI_MSIX_FLAGS),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 63);
	wr16(&c, pos + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(rd16(&c, pos + PCI_MSIX_FLAGS),
			 PCI_MSIX_FLAGS_ENABLE | 63);
	assert_int_equal(probe32(&c, pos + PCI_MSIX_TABLE), 0x2002);
	assert_int_equal(probe32(&c, pos + PCI_MSIX_PBA), 0x3002);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + PCI_CAP_MSIX_SIZEOF);

	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_msix(&c, 2048, 0, 0, 5, 0x8000);
	assert_int_equal(rd16(&c, pos + PCI_MSIX_FLAGS), 2047);
	assert_int_equal(rd32(&c, pos + PCI_MSIX_PBA), 0x8005);
	/* The PBA right after the table in the same BAR. */
	assert_true(uvfio_pci_add_cap_msix(&c, 4, 1, 0, 1, 64) > 0);
}

static void test_cap_msix_bad(void **state)
{
	struct uvfio_pci_cfg c;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 0, 0, 0, 1, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 2049, 0, 0, 1, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 1, 6, 0, 1, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 1, 0, 0, 6, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 1, 0, 4, 1, 0), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 1, 0, 0, 1, 0x1001),
			 -EINVAL);
	/* Overlapping table and PBA in one BAR. */
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 4, 0, 0, 0, 56), -EINVAL);
	/* A table running past the 4 GiB offset range. */
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 2, 0, 0xfffffff8, 1, 0),
			 -EINVAL);
	assert_int_equal(rd8(&c, PCI_CAPABILITY_LIST), 0);
}

static void test_cap_pm(void **state)
{
	struct uvfio_pci_cfg c;
	int pos;

	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_pm(&c);
	assert_int_equal(pos, 0x40);
	assert_int_equal(rd8(&c, pos), PCI_CAP_ID_PM);
	assert_int_equal(rd16(&c, pos + PCI_PM_PMC) & PCI_PM_CAP_VER_MASK, 3);
	assert_int_equal(rd16(&c, pos + PCI_PM_PMC) &
				 (PCI_PM_CAP_D1 | PCI_PM_CAP_D2),
			 0);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL),
			 PCI_PM_CTRL_NO_SOFT_RESET);

	wr16(&c, pos + PCI_PM_CTRL, 3);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL) & 3, 3);
	/* D1 and D2 are not supported: the state stays. */
	wr16(&c, pos + PCI_PM_CTRL, 1);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL) & 3, 3);
	wr8(&c, pos + PCI_PM_CTRL, 2);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL) & 3, 3);
	wr16(&c, pos + PCI_PM_CTRL, 0);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL),
			 PCI_PM_CTRL_NO_SOFT_RESET);

	/* PME status is write-1-to-clear; the rest resists. */
	uvfio_pci_set16(&c, pos + PCI_PM_CTRL,
			PCI_PM_CTRL_NO_SOFT_RESET | PCI_PM_CTRL_PME_STATUS);
	wr16(&c, pos + PCI_PM_CTRL, 0);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL),
			 PCI_PM_CTRL_NO_SOFT_RESET | PCI_PM_CTRL_PME_STATUS);
	wr16(&c, pos + PCI_PM_CTRL, 0xffff);
	assert_int_equal(rd16(&c, pos + PCI_PM_CTRL),
			 PCI_PM_CTRL_NO_SOFT_RESET | PCI_PM_CTRL_PME_ENABLE |
				 3);
	wr16(&c, pos + PCI_PM_PMC, 0);
	assert_int_equal(rd16(&c, pos + PCI_PM_PMC), 3);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + PCI_PM_SIZEOF);
}

static void test_cap_exp(void **state)
{
	struct uvfio_pci_cfg c;
	uint32_t p;
	int pos;

	init(&c, UVFIO_PCIE_CFG_SIZE);
	pos = uvfio_pci_add_cap_exp(&c);
	assert_int_equal(pos, 0x40);
	p = (uint32_t)pos;
	assert_int_equal(rd8(&c, p), PCI_CAP_ID_EXP);
	assert_int_equal(rd16(&c, p + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_VERS, 2);
	assert_int_equal((rd16(&c, p + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >>
				 4,
			 PCI_EXP_TYPE_ENDPOINT);
	assert_int_equal(rd32(&c, p + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLR, 0);
	assert_true(rd32(&c, p + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_RBER);

	assert_int_equal(rd16(&c, p + PCI_EXP_DEVCTL),
			 PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |
				 PCI_EXP_DEVCTL_READRQ_512B);
	wr16(&c, p + PCI_EXP_DEVCTL, 0xffff);
	assert_int_equal(rd16(&c, p + PCI_EXP_DEVCTL), 0x78ff);
	wr16(&c, p + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_PAYLOAD_256B);
	assert_int_equal(rd16(&c, p + PCI_EXP_DEVCTL),
			 PCI_EXP_DEVCTL_PAYLOAD_256B);

	uvfio_pci_set16(&c, p + PCI_EXP_DEVSTA, 0x3f);
	wr16(&c, p + PCI_EXP_DEVSTA, PCI_EXP_DEVSTA_URD);
	assert_int_equal(rd16(&c, p + PCI_EXP_DEVSTA), 0x37);
	wr16(&c, p + PCI_EXP_DEVSTA, 0xffff);
	assert_int_equal(rd16(&c, p + PCI_EXP_DEVSTA),
			 PCI_EXP_DEVSTA_AUXPD | PCI_EXP_DEVSTA_TRPND);

	assert_int_equal(rd32(&c, p + PCI_EXP_LNKCAP) &
				 (PCI_EXP_LNKCAP_SLS | PCI_EXP_LNKCAP_MLW),
			 PCI_EXP_LNKCAP_SLS_2_5GB | 1 << 4);
	assert_int_equal(rd16(&c, p + PCI_EXP_LNKSTA) &
				 (PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW),
			 PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
	wr16(&c, p + PCI_EXP_LNKSTA, 0);
	assert_int_not_equal(rd16(&c, p + PCI_EXP_LNKSTA), 0);
	wr16(&c, p + PCI_EXP_LNKCTL, 0xffff);
	assert_int_equal(rd16(&c, p + PCI_EXP_LNKCTL),
			 PCI_EXP_LNKCTL_ASPMC | PCI_EXP_LNKCTL_RCB |
				 PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES);

	assert_int_equal(rd32(&c, p + PCI_EXP_DEVCAP2),
			 PCI_EXP_DEVCAP2_COMP_TMOUT_DIS);
	wr16(&c, p + PCI_EXP_DEVCTL2, 0xffff);
	assert_int_equal(rd16(&c, p + PCI_EXP_DEVCTL2),
			 PCI_EXP_DEVCTL2_COMP_TMOUT_DIS);
	assert_int_equal(rd32(&c, p + PCI_EXP_LNKCAP2),
			 PCI_EXP_LNKCAP2_SLS_2_5GB);
	assert_int_equal(rd16(&c, p + PCI_EXP_LNKCTL2),
			 PCI_EXP_LNKCTL2_TLS_2_5GT);
	/* Slot and root registers do not exist on an endpoint. */
	assert_int_equal(probe32(&c, p + PCI_EXP_SLTCAP), 0);
	assert_int_equal(probe32(&c, p + PCI_EXP_SLTCTL), 0);
	assert_int_equal(probe32(&c, p + PCI_EXP_RTCTL), 0);
	assert_int_equal(probe32(&c, p + PCI_EXP_SLTCTL2), 0);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), pos + 0x3c);
}

static void test_cap_vendor(void **state)
{
	static const uint8_t body[] = { 1, 2, 3, 4, 5 };
	uint8_t big[256] = { 0 };
	struct uvfio_pci_cfg c;
	uint8_t out[8];
	int pos;

	init(&c, UVFIO_PCI_CFG_SIZE);
	pos = uvfio_pci_add_cap_vendor(&c, body, sizeof(body));
	assert_int_equal(pos, 0x40);
	assert_int_equal(rd8(&c, pos), PCI_CAP_ID_VNDR);
	assert_int_equal(rd8(&c, pos + 2), 3 + sizeof(body));
	assert_int_equal(uvfio_pci_cfg_read(&c, pos + 3, out, sizeof(body)), 0);
	assert_memory_equal(out, body, sizeof(body));
	memset(out, 0xee, sizeof(out));
	assert_int_equal(uvfio_pci_cfg_write(&c, pos, out, sizeof(out)), 0);
	assert_int_equal(rd8(&c, pos), PCI_CAP_ID_VNDR);
	assert_int_equal(rd8(&c, pos + 2), 8);
	assert_int_equal(uvfio_pci_cfg_read(&c, pos + 3, out, sizeof(body)), 0);
	assert_memory_equal(out, body, sizeof(body));
	assert_int_equal(uvfio_pci_add_cap_vendor(&c, NULL, 0), pos + 8);
	assert_int_equal(rd8(&c, pos + 10), 3);

	assert_int_equal(uvfio_pci_add_cap_vendor(&c, NULL, 1), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_vendor(&c, big, 253), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_vendor(&c, big, 0xc0), -ENOSPC);
}

static void test_cap_chain(void **state)
{
	static const uint8_t want[] = { PCI_CAP_ID_PM, PCI_CAP_ID_MSI,
					PCI_CAP_ID_MSIX, PCI_CAP_ID_EXP,
					PCI_CAP_ID_VNDR };
	uint8_t body[0xc0] = { 0 };
	int offs[sizeof(want)];
	struct uvfio_pci_cfg c;
	uint8_t pos = 0, id = 0;
	unsigned int n = 0;
	int left;

	init(&c, UVFIO_PCIE_CFG_SIZE);
	offs[0] = uvfio_pci_add_cap_pm(&c);
	offs[1] = uvfio_pci_add_cap_msi(&c, 2, UVFIO_MSI_64BIT);
	offs[2] = uvfio_pci_add_cap_msix(&c, 16, 4, 0, 4, 0x800);
	offs[3] = uvfio_pci_add_cap_exp(&c);
	offs[4] = uvfio_pci_add_cap_vendor(&c, body, 4);
	assert_int_equal(offs[0], 0x40);
	assert_int_equal(offs[1], 0x48);
	assert_int_equal(offs[2], 0x58);
	assert_int_equal(offs[3], 0x64);
	assert_int_equal(offs[4], 0xa0);
	while (uvfio_pci_next_cap(&c, &pos, &id)) {
		assert_true(n < sizeof(want));
		assert_int_equal(pos, offs[n]);
		assert_int_equal(id, want[n]);
		assert_int_equal(uvfio_pci_find_cap(&c, want[n]), offs[n]);
		n++;
	}
	assert_int_equal(n, sizeof(want));
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_AGP), 0);

	/* Fill the space to its last byte, then nothing more fits. */
	left = 0x100 - 0xa8;
	assert_int_equal(uvfio_pci_add_cap_vendor(&c, body, left - 2), -ENOSPC);
	assert_int_equal(uvfio_pci_add_cap_vendor(&c, body, left - 3), 0xa8);
	assert_int_equal(uvfio_pci_add_cap_vendor(&c, NULL, 0), -ENOSPC);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), -ENOSPC);
	assert_int_equal(uvfio_pci_add_cap_exp(&c), -ENOSPC);
	assert_int_equal(uvfio_pci_add_cap_msi(&c, 1, 0), -ENOSPC);
	assert_int_equal(uvfio_pci_add_cap_msix(&c, 1, 0, 0, 1, 0), -ENOSPC);
	assert_int_equal(rd8(&c, 0xa8 + PCI_CAP_LIST_NEXT), 0);
	/* Nothing spilled into extended space. */
	assert_int_equal(rd32(&c, PCI_CFG_SPACE_SIZE), 0);
	pos = 0;
	n = 0;
	while (uvfio_pci_next_cap(&c, &pos, &id))
		n++;
	assert_int_equal(n, sizeof(want) + 1);

	/* Iterating without an ID output, and from a non-capability. */
	pos = 0;
	assert_int_equal(uvfio_pci_next_cap(&c, &pos, NULL), 1);
	assert_int_equal(pos, 0x40);
	pos = 0x44;
	assert_int_equal(uvfio_pci_next_cap(&c, &pos, &id), 0);
	assert_int_equal(uvfio_pci_next_cap(&c, NULL, &id), 0);
	pos = 0;
	assert_int_equal(uvfio_pci_next_cap(NULL, &pos, &id), 0);
	assert_int_equal(uvfio_pci_find_cap(NULL, PCI_CAP_ID_PM), 0);
}

static void test_ecaps(void **state)
{
	static const uint8_t body[] = { 0xde, 0xad, 0xbe, 0xef, 0x42 };
	struct uvfio_pci_cfg c;
	uint16_t pos = 0, id = 0;
	uint8_t out[sizeof(body)];
	int dsn, vsec;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_add_ecap_dsn(&c, 1), -ENOSPC);
	assert_int_equal(uvfio_pci_add_ecap_vendor(&c, 1, 0, body, 1), -ENOSPC);
	assert_int_equal(uvfio_pci_add_ecap_dsn(NULL, 1), -EINVAL);

	init(&c, UVFIO_PCIE_CFG_SIZE);
	dsn = uvfio_pci_add_ecap_dsn(&c, 0x0011223344556677ull);
	assert_int_equal(dsn, 0x100);
	vsec = uvfio_pci_add_ecap_vendor(&c, 0x1234, 0x5, body, sizeof(body));
	assert_int_equal(vsec, 0x100 + PCI_EXT_CAP_DSN_SIZEOF);
	assert_int_equal(rd32(&c, 0x100),
			 PCI_EXT_CAP_ID_DSN | 1 << 16 | (uint32_t)vsec << 20);
	assert_int_equal(rd32(&c, dsn + 4), 0x44556677);
	assert_int_equal(rd32(&c, dsn + 8), 0x00112233);
	assert_int_equal(rd32(&c, vsec), PCI_EXT_CAP_ID_VNDR | 1 << 16);
	assert_int_equal(rd32(&c, vsec + PCI_VNDR_HEADER),
			 0x1234 | 5 << 16 | (8 + sizeof(body)) << 20);
	assert_int_equal(uvfio_pci_cfg_read(&c, vsec + 8, out, sizeof(out)), 0);
	assert_memory_equal(out, body, sizeof(body));

	/* Everything here is read-only. */
	assert_int_equal(probe32(&c, dsn),
			 PCI_EXT_CAP_ID_DSN | 1 << 16 | (uint32_t)vsec << 20);
	assert_int_equal(probe32(&c, dsn + 4), 0x44556677);
	assert_int_equal(probe32(&c, dsn + 8), 0x00112233);
	assert_int_equal(probe32(&c, vsec + 8), 0xefbeadde);

	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_DSN), dsn);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_VNDR), vsec);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_ERR), 0);
	assert_int_equal(uvfio_pci_next_ecap(&c, &pos, &id), 1);
	assert_int_equal(pos, dsn);
	assert_int_equal(id, PCI_EXT_CAP_ID_DSN);
	assert_int_equal(uvfio_pci_next_ecap(&c, &pos, &id), 1);
	assert_int_equal(pos, vsec);
	assert_int_equal(id, PCI_EXT_CAP_ID_VNDR);
	assert_int_equal(uvfio_pci_next_ecap(&c, &pos, &id), 0);
	assert_int_equal(uvfio_pci_next_ecap(&c, NULL, &id), 0);

	assert_int_equal(uvfio_pci_add_ecap_vendor(&c, 1, 16, NULL, 0),
			 -EINVAL);
	assert_int_equal(uvfio_pci_add_ecap_vendor(&c, 1, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_pci_add_ecap_vendor(&c, 1, 0, body, 0xff8),
			 -EINVAL);
}

static void test_ecaps_full(void **state)
{
	uint8_t *body = calloc(1, 0x1000);
	struct uvfio_pci_cfg c;
	uint16_t pos = 0, id;
	unsigned int n = 0, added = 0;
	int ret;

	assert_non_null(body);
	init(&c, UVFIO_PCIE_CFG_SIZE);
	/* 0x3f0 bytes a piece: three fit in 0xf00, a fourth does not. */
	while ((ret = uvfio_pci_add_ecap_vendor(&c, 7, 1, body, 0x3e8)) > 0) {
		assert_true(ret + 0x3f0 <= 0x1000);
		added++;
	}
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(added, 3);
	/* The rest is exactly 0xf00 - 3 * 0x3f0 = 0x330 bytes. */
	assert_int_equal(uvfio_pci_add_ecap_vendor(&c, 7, 1, body, 0x329),
			 -ENOSPC);
	assert_int_equal(uvfio_pci_add_ecap_vendor(&c, 7, 1, body, 0x328),
			 0x100 + 3 * 0x3f0);
	assert_int_equal(uvfio_pci_add_ecap_dsn(&c, 1), -ENOSPC);
	while (uvfio_pci_next_ecap(&c, &pos, &id))
		n++;
	assert_int_equal(n, 4);
	free(body);
}

/* A space with the capability list bit and a head pointer. */
static void hostile_base(uint8_t *b, size_t size, uint8_t head)
{
	memset(b, 0, size);
	b[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	b[PCI_CAPABILITY_LIST] = head;
}

static unsigned int count_caps(const struct uvfio_pci_cfg *c)
{
	unsigned int n = 0;
	uint8_t pos = 0, id;

	while (uvfio_pci_next_cap(c, &pos, &id)) {
		n++;
		assert_true(n <= 48);
		assert_true(pos >= 0x40 && pos % 4 == 0);
	}
	return n;
}

static unsigned int count_ecaps(const struct uvfio_pci_cfg *c)
{
	unsigned int n = 0;
	uint16_t pos = 0, id;

	while (uvfio_pci_next_ecap(c, &pos, &id)) {
		n++;
		assert_true(n <= 960);
		assert_true(pos >= 0x100 && pos <= 0xffc && pos % 4 == 0);
	}
	return n;
}

static void test_walk_hostile(void **state)
{
	uint8_t b[UVFIO_PCI_CFG_SIZE];
	struct uvfio_pci_cfg c;
	unsigned int i;

	/* a -> b -> a */
	hostile_base(b, sizeof(b), 0x40);
	b[0x40] = PCI_CAP_ID_PM;
	b[0x41] = 0x50;
	b[0x50] = PCI_CAP_ID_MSI;
	b[0x51] = 0x40;
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 2);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_MSI), 0x50);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_MSIX), 0);

	/* Self loop. */
	b[0x41] = 0x40;
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 1);

	/* A pointer into the header ends the chain. */
	b[0x41] = 0x3c;
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 1);
	assert_int_equal(uvfio_pci_find_cap(&c, 0), 0);

	/* Reserved low bits are masked: 0x53 means 0x50. */
	b[PCI_CAPABILITY_LIST] = 0x43;
	b[0x41] = 0x53;
	b[0x51] = 0x00;
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 2);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_PM), 0x40);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_MSI), 0x50);

	/* Without the status bit the pointer means nothing. */
	b[PCI_STATUS] = 0;
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 0);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_PM), 0);

	/* The longest possible chain, closed into a ring at the end. */
	hostile_base(b, sizeof(b), 0x40);
	for (i = 0x40; i < 0x100; i += 4) {
		b[i] = PCI_CAP_ID_VNDR;
		b[i + 1] = (uint8_t)(i + 4 < 0x100 ? i + 4 : 0x40);
	}
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 48);
	assert_int_equal(uvfio_pci_find_cap(&c, PCI_CAP_ID_PM), 0);

	/* All ones, as from a missing device. */
	memset(b, 0xff, sizeof(b));
	uvfio_pci_load(&c, b, sizeof(b));
	assert_int_equal(count_caps(&c), 1);
	assert_int_equal(count_ecaps(&c), 0);
}

static void test_walk_hostile_ext(void **state)
{
	uint8_t *b = calloc(1, UVFIO_PCIE_CFG_SIZE);
	struct uvfio_pci_cfg c;
	uint32_t i, h;

	assert_non_null(b);
	/* 0x100 -> 0x200 -> 0x100 */
	h = PCI_EXT_CAP_ID_DSN | 1 << 16 | 0x200u << 20;
	memcpy(b + 0x100, &h, 4);
	h = PCI_EXT_CAP_ID_VNDR | 1 << 16 | 0x100u << 20;
	memcpy(b + 0x200, &h, 4);
	uvfio_pci_load(&c, b, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(count_ecaps(&c), 2);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_VNDR), 0x200);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_ERR), 0);

	/* Into standard space: stop.  Reserved bits of next: masked. */
	h = PCI_EXT_CAP_ID_VNDR | 1 << 16 | 0x0c0u << 20;
	memcpy(b + 0x200, &h, 4);
	uvfio_pci_load(&c, b, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(count_ecaps(&c), 2);
	h = PCI_EXT_CAP_ID_VNDR | 1 << 16 | 0x303u << 20;
	memcpy(b + 0x200, &h, 4);
	h = PCI_EXT_CAP_ID_ERR | 1 << 16;
	memcpy(b + 0x300, &h, 4);
	uvfio_pci_load(&c, b, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(count_ecaps(&c), 3);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_ERR), 0x300);

	/* The same bytes in a 256-byte space have no extended chain. */
	uvfio_pci_load(&c, b, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(c.size, 256);
	assert_int_equal(count_ecaps(&c), 0);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_DSN), 0);

	/* The longest ring: every dword of extended space. */
	for (i = 0x100; i < 0x1000; i += 4) {
		h = PCI_EXT_CAP_ID_VNDR | (i + 4 < 0x1000 ? i + 4 : 0x100)
						  << 20;
		memcpy(b + i, &h, 4);
	}
	uvfio_pci_load(&c, b, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(count_ecaps(&c), 960);
	assert_int_equal(uvfio_pci_find_ecap(&c, PCI_EXT_CAP_ID_DSN), 0);

	/* A self loop on the last dword. */
	memset(b, 0, UVFIO_PCIE_CFG_SIZE);
	h = PCI_EXT_CAP_ID_DSN | 0xffcu << 20;
	memcpy(b + 0x100, &h, 4);
	h = PCI_EXT_CAP_ID_VNDR | 0xffcu << 20;
	memcpy(b + 0xffc, &h, 4);
	uvfio_pci_load(&c, b, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(count_ecaps(&c), 2);
	free(b);
}

/* Random bytes: every walk must end within its bound. */
static void test_walk_random(void **state)
{
	uint8_t *b = malloc(UVFIO_PCIE_CFG_SIZE);
	struct uvfio_pci_cfg c;
	unsigned int round, i;
	uint32_t seed = 12345;

	assert_non_null(b);
	for (round = 0; round < 300; round++) {
		for (i = 0; i < UVFIO_PCIE_CFG_SIZE; i++) {
			seed = seed * 1103515245u + 12345u;
			b[i] = (uint8_t)(seed >> 16);
		}
		/* Short hops make long chains and loops likely. */
		for (i = 0x40; i < 0x100; i += 4)
			b[i + 1] = (uint8_t)(0x40 + (b[i + 1] % 48) * 4);
		b[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
		uvfio_pci_load(&c, b, UVFIO_PCIE_CFG_SIZE);
		count_caps(&c);
		count_ecaps(&c);
		uvfio_pci_find_cap(&c, 0xee);
		uvfio_pci_find_ecap(&c, 0xeeee);
	}
	free(b);
}

static void test_load(void **state)
{
	uint8_t *b = malloc(8192);
	struct uvfio_pci_cfg c;
	uint8_t v = 0x55;

	assert_non_null(b);
	memset(b, 0xa5, 8192);
	uvfio_pci_load(&c, b, 8192);
	assert_int_equal(c.size, 4096);
	assert_int_equal(uvfio_pci_get32(&c, 0xffc), 0xa5a5a5a5);
	/* Loaded spaces are snapshots: nothing is writable or addable. */
	assert_int_equal(uvfio_pci_cfg_write(&c, PCI_COMMAND, &v, 1), 0);
	assert_int_equal(uvfio_pci_get8(&c, PCI_COMMAND), 0xa5);
	assert_int_equal(uvfio_pci_add_cap_pm(&c), -ENOSPC);
	assert_int_equal(uvfio_pci_add_ecap_dsn(&c, 1), -ENOSPC);

	/* Short input: the rest reads zero. */
	uvfio_pci_load(&c, b, 64);
	assert_int_equal(c.size, 256);
	assert_int_equal(uvfio_pci_get8(&c, 63), 0xa5);
	assert_int_equal(uvfio_pci_get8(&c, 64), 0);
	uvfio_pci_load(&c, NULL, 4096);
	assert_int_equal(c.size, 4096);
	assert_int_equal(uvfio_pci_get32(&c, 0), 0);

	/* A 64-bit type on the last BAR does not borrow past it. */
	memset(b, 0, 256);
	b[PCI_BASE_ADDRESS_5] = 0x04;
	b[PCI_BASE_ADDRESS_5 + 3] = 0x80;
	b[PCI_CARDBUS_CIS] = 0xff;
	uvfio_pci_load(&c, b, 256);
	assert_int_equal(uvfio_pci_bar_addr(&c, 5), 0x80000000);
	free(b);
}

static void test_access_bounds(void **state)
{
	struct uvfio_pci_cfg c, ref;
	uint8_t buf[4097];

	init(&c, UVFIO_PCI_CFG_SIZE);
	memcpy(&ref, &c, sizeof(c));
	assert_int_equal(uvfio_pci_cfg_read(&c, 0, buf, 256), 0);
	assert_memory_equal(buf, c.data, 256);
	assert_int_equal(uvfio_pci_cfg_read(&c, 255, buf, 1), 0);
	assert_int_equal(uvfio_pci_cfg_read(&c, 256, buf, 1), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 255, buf, 2), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0, buf, 257), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0, buf, 0), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, UINT32_MAX, buf, 2), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 2, buf, SIZE_MAX), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(NULL, 0, buf, 4), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0x100, buf, 4), -EINVAL);

	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(uvfio_pci_cfg_write(&c, 254, buf, 4), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_write(&c, 0, buf, 257), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_write(&c, UINT32_MAX - 1, buf, 4),
			 -EINVAL);
	assert_int_equal(uvfio_pci_cfg_write(&c, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_write(NULL, 0, buf, 4), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_write(&c, 4, buf, 0), -EINVAL);
	assert_memory_equal(&c, &ref, sizeof(c));

	init(&c, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0, buf, 4096), 0);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0xffc, buf, 4), 0);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0xffd, buf, 4), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_read(&c, 0, buf, 4097), -EINVAL);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(uvfio_pci_cfg_write(&c, 0, buf, 4096), 0);
	assert_int_equal(rd16(&c, PCI_COMMAND), 0x0547);

	/* Raw helpers outside the space read 0 and write nothing. */
	init(&c, UVFIO_PCI_CFG_SIZE);
	memcpy(&ref, &c, sizeof(c));
	assert_int_equal(uvfio_pci_get32(&c, 254), 0);
	assert_int_equal(uvfio_pci_get8(&c, 256), 0);
	assert_int_equal(uvfio_pci_get16(&c, UINT32_MAX), 0);
	assert_int_equal(uvfio_pci_get32(NULL, 0), 0);
	uvfio_pci_set32(&c, 254, 0xffffffff);
	uvfio_pci_set16(&c, 0x1000, 0xffff);
	uvfio_pci_set8(&c, UINT32_MAX, 0xff);
	assert_memory_equal(&c, &ref, sizeof(c));
	uvfio_pci_set16(&c, 254, 0xbeef);
	assert_int_equal(uvfio_pci_get16(&c, 254), 0xbeef);
}

static void test_unaligned(void **state)
{
	static const uint8_t pat[8] = { 0x11, 0x22, 0x33, 0x44,
					0xff, 0xff, 0xff, 0xff };
	struct uvfio_pci_cfg c;
	int pos;

	init(&c, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(uvfio_pci_set_bar(&c, 0, 256, 0), 0);
	/* Device ID high byte (RO) and command low byte (partly RW). */
	wr16(&c, PCI_DEVICE_ID + 1, 0xffff);
	assert_int_equal(rd16(&c, PCI_DEVICE_ID), 0x10f3);
	assert_int_equal(rd16(&c, PCI_COMMAND), 0x47);
	/* Three bytes straddling vendor and device IDs. */
	assert_int_equal(rd(&c, 1, 3), 0x10f31a);

	/* Cache line, latency, header type, BIST, then BAR 0. */
	assert_int_equal(
		uvfio_pci_cfg_write(&c, PCI_CACHE_LINE_SIZE, pat, sizeof(pat)),
		0);
	assert_int_equal(rd32(&c, PCI_CACHE_LINE_SIZE), 0x2211);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_0), 0xffffff00);

	/* A dword write straddling BAR 0 and BAR 1 (unimplemented). */
	wr32(&c, PCI_BASE_ADDRESS_0 + 2, 0x12345678);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_0), 0x5678ff00);
	assert_int_equal(rd32(&c, PCI_BASE_ADDRESS_1), 0);

	/* Next pointer and message control in one write. */
	pos = uvfio_pci_add_cap_msi(&c, 2, 0);
	wr(&c, pos + 1, 0xffffff, 3);
	assert_int_equal(rd8(&c, pos + PCI_CAP_LIST_NEXT), 0);
	assert_int_equal(rd16(&c, pos + PCI_MSI_FLAGS),
			 1 << 1 | 1 << 4 | PCI_MSI_FLAGS_ENABLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_init),
		cmocka_unit_test(test_header_read_only),
		cmocka_unit_test(test_header_writable),
		cmocka_unit_test(test_status_w1c),
		cmocka_unit_test(test_bar_mem32),
		cmocka_unit_test(test_bar_mem64),
		cmocka_unit_test(test_bar_io),
		cmocka_unit_test(test_bar_bad),
		cmocka_unit_test(test_cap_msi32),
		cmocka_unit_test(test_cap_msi64),
		cmocka_unit_test(test_cap_msi_bad),
		cmocka_unit_test(test_cap_msix),
		cmocka_unit_test(test_cap_msix_bad),
		cmocka_unit_test(test_cap_pm),
		cmocka_unit_test(test_cap_exp),
		cmocka_unit_test(test_cap_vendor),
		cmocka_unit_test(test_cap_chain),
		cmocka_unit_test(test_ecaps),
		cmocka_unit_test(test_ecaps_full),
		cmocka_unit_test(test_walk_hostile),
		cmocka_unit_test(test_walk_hostile_ext),
		cmocka_unit_test(test_walk_random),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_access_bounds),
		cmocka_unit_test(test_unaligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
