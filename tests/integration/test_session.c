// SPDX-License-Identifier: MIT
/*
 * A client (this process) and uvfio-testdev (another process) over a real
 * socket: every client->server message, and the device's DMA requests in
 * both transports (mapped windows and DMA_READ/DMA_WRITE messages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "proto/crc32.h"
#include "regs.h"
#include "testdev_proc.h"

struct fixture {
	struct testdev_proc dev;
	struct uvfio_client *c;
};

static int start(void **state, const char *const *args, uint32_t cflags)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct uvfio_client_opts o = { .flags = cflags };

	assert_non_null(f);
	assert_int_equal(testdev_start(&f->dev, args), 0);
	f->c = uvfio_client_connect(f->dev.sock, &o);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start(state, NULL, 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uvfio_client_close(f->c);
	assert_true(testdev_alive(&f->dev));
	assert_int_equal(testdev_stop(&f->dev), 0);
	free(f);
	return 0;
}

static uint32_t cfg_read32(struct uvfio_client *c, uint32_t off)
{
	uint32_t v = 0;

	assert_int_equal(uvfio_client_region_read(c,
						  VFIO_PCI_CONFIG_REGION_INDEX,
						  off, &v, sizeof(v)),
			 0);
	return v;
}

static uint32_t reg_read(struct uvfio_client *c, uint32_t off)
{
	uint32_t v = 0;

	assert_int_equal(uvfio_client_region_read(c, 0, off, &v, 4), 0);
	return v;
}

static void reg_write(struct uvfio_client *c, uint32_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, 4, 0), 0);
}

static void test_negotiated(void **state)
{
	struct fixture *f = *state;
	const struct uvfio_caps *caps = uvfio_client_caps(f->c);

	assert_int_equal(caps->major, 0);
	assert_true(caps->minor <= 1);
	assert_true(caps->twin_socket);
	assert_true(caps->write_multiple);
	assert_int_equal(caps->max_data_xfer_size, 1u << 20);
	assert_true(caps->max_msg_fds >= 1);
	assert_int_equal(caps->max_dma_maps, 65535);
}

static void test_device_info(void **state)
{
	struct fixture *f = *state;
	struct uvfio_device_info di;

	assert_int_equal(uvfio_client_device_info(f->c, &di), 0);
	assert_true(di.flags & VFIO_DEVICE_FLAGS_PCI);
	assert_true(di.flags & VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(di.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(di.num_irqs, VFIO_PCI_NUM_IRQS);
}

static void test_region_info(void **state)
{
	static const uint64_t sizes[] = TESTDEV_BAR_SIZES;
	struct fixture *f = *state;
	const struct uvfio_region *r;

	assert_int_equal(uvfio_client_region_info(f->c, 0, &r), 0);
	assert_int_equal(r->size, TESTDEV_BAR0_SIZE);
	assert_int_equal(r->flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_READ);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_WRITE);
	for (uint32_t i = 1; i <= 5; i++) {
		assert_int_equal(uvfio_client_region_info(f->c, i, &r), 0);
		assert_int_equal(r->index, i);
		assert_int_equal(r->size, sizes[i]);
		assert_true(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
		assert_true(r->fd >= 0);
	}
	assert_int_equal(uvfio_client_region_info(f->c, 6, &r), 0);
	assert_int_equal(r->size, 0);
	assert_int_equal(r->flags, 0);
	assert_int_equal(uvfio_client_region_info(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX, &r),
			 0);
	assert_int_equal(r->size, UVFIO_PCIE_CFG_SIZE);
	assert_int_equal(uvfio_client_region_info(f->c, 9, &r), -EINVAL);
}

static void test_irq_info(void **state)
{
	static const uint32_t counts[] = { 1, TESTDEV_MSI_VECTORS,
					   TESTDEV_MSIX_VECTORS, 1, 1 };
	struct fixture *f = *state;
	struct vfio_irq_info ii;

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		assert_int_equal(uvfio_client_irq_info(f->c, i, &ii), 0);
		assert_int_equal(ii.index, i);
		assert_int_equal(ii.count, counts[i]);
		assert_true(ii.flags & VFIO_IRQ_INFO_EVENTFD);
	}
	assert_int_equal(uvfio_client_irq_info(f->c, 5, &ii), -EINVAL);
	/* Doorbells only with --doorbells (test_doorbell.c). */
	assert_int_equal(uvfio_client_region_io_fds(f->c, 0), 0);
}

static void test_config_space(void **state)
{
	struct fixture *f = *state;
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	uint8_t raw[UVFIO_PCIE_CFG_SIZE];
	uint16_t cmd;

	assert_int_equal(cfg_read32(f->c, 0),
			 TESTDEV_VENDOR_ID | TESTDEV_DEVICE_ID << 16);
	assert_int_equal(uvfio_client_region_read(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX, 0, raw,
				 sizeof(raw)),
			 0);
	assert_non_null(cfg);
	uvfio_pci_load(cfg, raw, sizeof(raw));
	assert_int_equal(uvfio_pci_cfg_size(cfg), UVFIO_PCIE_CFG_SIZE);
	assert_true(uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSI));
	assert_true(uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX));
	assert_true(uvfio_pci_find_cap(cfg, PCI_CAP_ID_EXP));
	assert_true(uvfio_pci_find_cap(cfg, PCI_CAP_ID_PM));
	assert_true(uvfio_pci_find_ecap(cfg, PCI_EXT_CAP_ID_DSN));
	uvfio_pci_cfg_free(cfg);

	/* The vendor ID is read-only; the command register is not. */
	uint16_t junk = 0x1234;

	assert_int_equal(uvfio_client_region_write(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX, 0, &junk,
				 2, 0),
			 0);
	assert_int_equal(cfg_read32(f->c, 0) & 0xffff, TESTDEV_VENDOR_ID);
	cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_client_region_write(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX,
				 PCI_COMMAND, &cmd, 2, 0),
			 0);
	assert_int_equal(cfg_read32(f->c, PCI_COMMAND) & 0xffff, cmd);

	/* BAR sizing through the wire, as firmware does it. */
	uint32_t ones = 0xffffffff;

	assert_int_equal(uvfio_client_region_write(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX,
				 PCI_BASE_ADDRESS_0 + 4 * 3, &ones, 4, 0),
			 0);
	assert_int_equal(cfg_read32(f->c, PCI_BASE_ADDRESS_0 + 4 * 3) &
				 PCI_BASE_ADDRESS_MEM_MASK,
			 (uint32_t)~(TESTDEV_BAR3_SIZE - 1));
}

static void test_bar_rw_and_mmap(void **state)
{
	struct fixture *f = *state;
	size_t sz = 0;
	uint32_t *map = uvfio_client_region_mmap(f->c, 4, -1, &sz);
	uint32_t v;

	assert_non_null(map);
	assert_int_equal(sz, TESTDEV_BAR4_SIZE);
	/* A store through the mapping is what a message read sees. */
	map[100] = 0xfeedf00d;
	assert_int_equal(uvfio_client_region_read(f->c, 4, 400, &v, 4), 0);
	assert_int_equal(v, 0xfeedf00d);
	v = 0x0badcafe;
	assert_int_equal(uvfio_client_region_write(f->c, 4, 404, &v, 4, 0),
			 0);
	assert_int_equal(map[101], 0x0badcafe);
	/* The register BAR is trapped and keeps what it is given. */
	reg_write(f->c, TESTDEV_REG_MAGIC, 0x600dc0de);
	assert_int_equal(reg_read(f->c, TESTDEV_REG_MAGIC), 0x600dc0de);
	assert_null(uvfio_client_region_mmap(f->c, 0, -1, &sz));
	/* Out of bounds is refused by the server. */
	assert_int_equal(uvfio_client_region_read(f->c, 1, TESTDEV_BAR1_SIZE -
							    2, &v, 4),
			 -EINVAL);
}

static void test_big_transfer(void **state)
{
	struct fixture *f = *state;
	size_t n = TESTDEV_BAR5_SIZE;
	uint8_t *a = malloc(n), *b = malloc(n);

	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		a[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(uvfio_client_region_write(f->c, 5, 0, a, n, 0), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 5, 0, b, n), 0);
	assert_memory_equal(a, b, n);
	free(a);
	free(b);
}

static void test_posted_and_multi(void **state)
{
	struct fixture *f = *state;
	struct uvfio_write w[3] = {
		{ .index = 1, .count = 4, .offset = 0, .data = 0x11111111 },
		{ .index = 1, .count = 8, .offset = 8, .data = 0x2222222233333333 },
		{ .index = 0, .count = 4, .offset = TESTDEV_REG_MAGIC,
		  .data = 0x44444444 },
	};
	uint64_t v = 0;

	for (uint32_t i = 0; i < 100; i++) {
		uint32_t x = i;

		assert_int_equal(uvfio_client_region_write(f->c, 2, 4 * i, &x,
							   4,
							   UVFIO_WRITE_POSTED),
				 0);
	}
	/* Processed in order: a later read sees every posted write. */
	for (uint32_t i = 0; i < 100; i += 33) {
		uint32_t x;

		assert_int_equal(uvfio_client_region_read(f->c, 2, 4 * i, &x, 4),
				 0);
		assert_int_equal(x, i);
	}
	assert_int_equal(uvfio_client_region_write_multi(f->c, w, 3), 0);
	assert_int_equal(uvfio_client_region_read(f->c, 1, 8, &v, 8), 0);
	assert_int_equal(v, 0x2222222233333333);
	assert_int_equal(reg_read(f->c, TESTDEV_REG_MAGIC), 0x44444444);
}

static uint64_t wait_efd(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, ms) != 1)
		return 0;
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	return v;
}

static void set_trigger(struct uvfio_client *c, uint32_t index, uint32_t start,
			uint32_t count, const int *fds)
{
	assert_int_equal(uvfio_client_set_irqs(c, index,
					       VFIO_IRQ_SET_DATA_EVENTFD |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       start, count, fds),
			 0);
}

static void disable(struct uvfio_client *c, uint32_t index)
{
	assert_int_equal(uvfio_client_set_irqs(c, index,
					       VFIO_IRQ_SET_DATA_NONE |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 0, NULL),
			 0);
}

static void test_set_irqs_loopback(void **state)
{
	struct fixture *f = *state;
	int efd[4];
	uint8_t bools[4] = { 0, 1, 0, 1 };

	for (int i = 0; i < 4; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	set_trigger(f->c, VFIO_PCI_MSIX_IRQ_INDEX, 8, 4, efd);
	/* DATA_NONE triggers the whole range, DATA_BOOL the chosen ones. */
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       8, 4, NULL),
			 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(wait_efd(efd[i], 1000), 1);
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_BOOL |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       8, 4, bools),
			 0);
	/*
	 * The device writes a loopback trigger before it answers SET_IRQS:
	 * one that did not fire by now never will; no wait for those.
	 */
	for (int i = 0; i < 4; i++)
		assert_int_equal(wait_efd(efd[i], i & 1 ? 1000 : 0), bools[i]);
	/* Unassign one vector (fd -1): the others still fire. */
	int un[1] = { -1 };

	set_trigger(f->c, VFIO_PCI_MSIX_IRQ_INDEX, 9, 1, un);
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       8, 4, NULL),
			 0);
	assert_int_equal(wait_efd(efd[0], 1000), 1);
	assert_int_equal(wait_efd(efd[1], 0), 0);
	disable(f->c, VFIO_PCI_MSIX_IRQ_INDEX);
	for (int i = 0; i < 4; i++)
		close(efd[i]);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	assert_int_equal(uvfio_client_region_write(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX,
				 PCI_COMMAND, &cmd, 2, 0),
			 0);
	reg_write(f->c, TESTDEV_REG_SIZE, 1234);
	assert_int_equal(uvfio_client_reset(f->c), 0);
	assert_int_equal(reg_read(f->c, TESTDEV_REG_SIZE), 0);
	assert_int_equal(cfg_read32(f->c, PCI_COMMAND) &
				 (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
			 0);
}

/* testdev offers migration; integration_migration tests all of it. */
static void test_feature_migration(void **state)
{
	struct fixture *f = *state;
	uint64_t flags = 0;
	size_t len = 0;

	assert_int_equal(uvfio_client_device_feature(
				 f->c,
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIGRATION,
				 &flags, &len, sizeof(flags)),
			 0);
	assert_int_equal(len, sizeof(flags));
	assert_int_equal(flags, VFIO_MIGRATION_STOP_COPY |
					VFIO_MIGRATION_P2P |
					VFIO_MIGRATION_PRE_COPY);
}

/* DMA: one memfd window the device maps, one it reaches by messages. */
#define MAPPED_IOVA 0x100000000ull
#define INBAND_IOVA 0x200000000ull
#define WIN (4u << 20)

struct dma_env {
	uint8_t *mapped;
	uint8_t *inband;
	int memfd;
	int efd;
};

static void dma_setup(struct uvfio_client *c, struct dma_env *e)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	e->memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(e->memfd >= 0);
	assert_int_equal(ftruncate(e->memfd, WIN), 0);
	e->mapped = mmap(NULL, WIN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 e->memfd, 0);
	assert_true(e->mapped != MAP_FAILED);
	e->inband = mmap(NULL, WIN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(e->inband != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(c, MAPPED_IOVA, WIN,
					      UVFIO_DMA_PROT_READ |
						      UVFIO_DMA_PROT_WRITE,
					      e->mapped, e->memfd, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(c, INBAND_IOVA, WIN,
					      UVFIO_DMA_PROT_READ |
						      UVFIO_DMA_PROT_WRITE,
					      e->inband, -1, 0),
			 0);
	assert_int_equal(uvfio_client_region_write(
				 c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
				 &cmd, 2, 0),
			 0);
	e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	set_trigger(c, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &e->efd);
}

static void dma_teardown(struct uvfio_client *c, struct dma_env *e)
{
	disable(c, VFIO_PCI_MSIX_IRQ_INDEX);
	assert_int_equal(uvfio_client_dma_unmap(c, MAPPED_IOVA, WIN), 0);
	assert_int_equal(uvfio_client_dma_unmap(c, INBAND_IOVA, WIN), 0);
	munmap(e->mapped, WIN);
	munmap(e->inband, WIN);
	close(e->memfd);
	close(e->efd);
}

/* Runs one command and returns the status after its interrupt. */
static uint32_t run_cmd(struct uvfio_client *c, struct dma_env *e,
			uint32_t cmd, uint64_t src, uint64_t dst, uint32_t size,
			uint32_t csum)
{
	reg_write(c, TESTDEV_REG_SRC_LO, (uint32_t)src);
	reg_write(c, TESTDEV_REG_SRC_HI, (uint32_t)(src >> 32));
	reg_write(c, TESTDEV_REG_DST_LO, (uint32_t)dst);
	reg_write(c, TESTDEV_REG_DST_HI, (uint32_t)(dst >> 32));
	reg_write(c, TESTDEV_REG_SIZE, size);
	reg_write(c, TESTDEV_REG_CHECKSUM, csum);
	reg_write(c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	reg_write(c, TESTDEV_REG_IRQ_NUMBER, 1);
	reg_write(c, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	reg_write(c, TESTDEV_REG_COMMAND, cmd);
	assert_int_equal(wait_efd(e->efd, 10000), 1);
	uint32_t st = reg_read(c, TESTDEV_REG_STATUS);

	assert_true(st & TESTDEV_STATUS_IRQ_RAISED);
	reg_write(c, TESTDEV_REG_STATUS, 0);
	return st;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void dma_commands(struct uvfio_client *c, struct dma_env *e)
{
	static const uint32_t sizes[] = { 1, 3, 1024, 4097, 1u << 20,
					  (1u << 20) + 5 };
	struct uvfio_client_stats before, after;

	uvfio_client_stats(c, &before);
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i], st;
		struct {
			uint8_t *p;
			uint64_t iova;
		} w[2] = { { e->mapped, MAPPED_IOVA },
			   { e->inband, INBAND_IOVA } };

		for (int k = 0; k < 2; k++) {
			uint8_t *src = w[k].p + 64, *dst = w[!k].p + 8192 + 1;

			/* READ: the device checks the CRC of host memory. */
			fill(src, n, n + (uint32_t)k);
			st = run_cmd(c, e, TESTDEV_CMD_READ, w[k].iova + 64, 0,
				     n, crc32_le(~0u, src, n));
			assert_true(st & TESTDEV_STATUS_READ_OK);
			st = run_cmd(c, e, TESTDEV_CMD_READ, w[k].iova + 64, 0,
				     n, crc32_le(~0u, src, n) ^ 1);
			assert_true(st & TESTDEV_STATUS_READ_FAIL);
			/* WRITE: the device fills and reports the CRC. */
			st = run_cmd(c, e, TESTDEV_CMD_WRITE, 0,
				     w[!k].iova + 8192 + 1, n, 0);
			assert_true(st & TESTDEV_STATUS_WRITE_OK);
			assert_int_equal(reg_read(c, TESTDEV_REG_CHECKSUM),
					 crc32_le(~0u, dst, n));
			/* COPY across the two kinds of window. */
			memset(dst, 0, n);
			st = run_cmd(c, e, TESTDEV_CMD_COPY, w[k].iova + 64,
				     w[!k].iova + 8192 + 1, n, 0);
			assert_true(st & TESTDEV_STATUS_COPY_OK);
			assert_memory_equal(src, dst, n);
		}
	}
	uvfio_client_stats(c, &after);
	/* The fd-less window really went through DMA_READ/DMA_WRITE. */
	assert_true(after.dma_reads > before.dma_reads);
	assert_true(after.dma_writes > before.dma_writes);
}

static void test_dma_commands(void **state)
{
	struct fixture *f = *state;
	struct dma_env e;

	dma_setup(f->c, &e);
	dma_commands(f->c, &e);
	dma_teardown(f->c, &e);
}

static void test_dma_bad_addresses(void **state)
{
	struct fixture *f = *state;
	struct dma_env e;
	uint32_t st;

	dma_setup(f->c, &e);
	st = run_cmd(f->c, &e, TESTDEV_CMD_READ, 0x5000, 0, 64, 0);
	assert_true(st & TESTDEV_STATUS_SRC_INVALID);
	assert_true(st & TESTDEV_STATUS_READ_FAIL);
	st = run_cmd(f->c, &e, TESTDEV_CMD_WRITE, 0, MAPPED_IOVA + WIN - 8,
		     64, 0);
	assert_true(st & TESTDEV_STATUS_DST_INVALID);
	assert_true(st & TESTDEV_STATUS_WRITE_FAIL);
	st = run_cmd(f->c, &e, TESTDEV_CMD_COPY, MAPPED_IOVA, 0x7000, 64, 0);
	assert_true(st & TESTDEV_STATUS_DST_INVALID);
	assert_true(st & TESTDEV_STATUS_COPY_FAIL);
	/* An unmapped window is gone for the device at once. */
	assert_int_equal(uvfio_client_dma_unmap(f->c, INBAND_IOVA, WIN), 0);
	st = run_cmd(f->c, &e, TESTDEV_CMD_READ, INBAND_IOVA, 0, 64, 0);
	assert_true(st & TESTDEV_STATUS_SRC_INVALID);
	assert_int_equal(uvfio_client_dma_map(f->c, INBAND_IOVA, WIN,
					      UVFIO_DMA_PROT_READ,
					      e.inband, -1, 0),
			 0);
	/* Read-only window: the device may read it but not write it. */
	st = run_cmd(f->c, &e, TESTDEV_CMD_WRITE, 0, INBAND_IOVA, 64, 0);
	assert_true(st & TESTDEV_STATUS_WRITE_FAIL);
	/* Still serving after all that. */
	st = run_cmd(f->c, &e, TESTDEV_CMD_WRITE, 0, MAPPED_IOVA, 64, 0);
	assert_true(st & TESTDEV_STATUS_WRITE_OK);
	dma_teardown(f->c, &e);
}

static void test_irq_commands(void **state)
{
	struct fixture *f = *state;
	int msix[3], msi, intx;

	for (int i = 0; i < 3; i++)
		msix[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	msi = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	intx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	set_trigger(f->c, VFIO_PCI_MSIX_IRQ_INDEX, 100, 3, msix);
	for (int i = 0; i < 3; i++) {
		reg_write(f->c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
		reg_write(f->c, TESTDEV_REG_IRQ_NUMBER, 101 + (uint32_t)i);
		reg_write(f->c, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSIX);
		for (int k = 0; k < 3; k++)
			assert_int_equal(wait_efd(msix[k], k == i ? 2000 : 20),
					 k == i);
	}
	disable(f->c, VFIO_PCI_MSIX_IRQ_INDEX);
	set_trigger(f->c, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &msi);
	reg_write(f->c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSI);
	reg_write(f->c, TESTDEV_REG_IRQ_NUMBER, 1);
	reg_write(f->c, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSI);
	assert_int_equal(wait_efd(msi, 2000), 1);
	disable(f->c, VFIO_PCI_MSI_IRQ_INDEX);
	set_trigger(f->c, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &intx);
	reg_write(f->c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_INTX);
	reg_write(f->c, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_INTX);
	assert_int_equal(wait_efd(intx, 2000), 1);
	disable(f->c, VFIO_PCI_INTX_IRQ_INDEX);
	for (int i = 0; i < 3; i++)
		close(msix[i]);
	close(msi);
	close(intx);
}

/* A client leaves; the next one finds the device as it was left. */
static void test_reconnect_keeps_state(void **state)
{
	struct fixture *f = *state;
	struct dma_env e;
	int base;

	dma_setup(f->c, &e);
	reg_write(f->c, TESTDEV_REG_MAGIC, 0xabad1dea);
	base = proc_fd_count(f->dev.pid);
	assert_true(base > 0);
	uvfio_client_close(f->c);
	munmap(e.mapped, WIN);
	munmap(e.inband, WIN);
	close(e.memfd);
	close(e.efd);
	f->c = uvfio_client_connect(f->dev.sock, NULL);
	assert_non_null(f->c);
	assert_int_equal(reg_read(f->c, TESTDEV_REG_MAGIC), 0xabad1dea);
	/* The old window fd and eventfd are gone; sockets were replaced. */
	assert_int_equal(proc_fd_count(f->dev.pid), base - 2);
}

static void test_no_twin(void **state)
{
	struct fixture *f = *state;
	struct dma_env e;

	assert_false(uvfio_client_caps(f->c)->twin_socket);
	dma_setup(f->c, &e);
	dma_commands(f->c, &e);
	dma_teardown(f->c, &e);
}

static int setup_no_twin(void **state)
{
	static const char *const args[] = { "--no-twin", NULL };

	return start(state, args, 0);
}

static int setup_client_no_twin(void **state)
{
	return start(state, NULL, UVFIO_CLIENT_NO_TWIN);
}

static int setup_worker(void **state)
{
	static const char *const args[] = { "--worker", NULL };

	return start(state, args, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_info, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_region_info, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_irq_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_space, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_rw_and_mmap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_big_transfer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_posted_and_multi, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_loopback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feature_migration, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dma_commands, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dma_bad_addresses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_irq_commands, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_keeps_state,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_twin, setup_no_twin,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_twin,
						setup_client_no_twin, teardown),
		cmocka_unit_test_setup_teardown(test_dma_commands, setup_worker,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
