// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm's I/O BARs, in a VM without KVM (vm_init_bare()): a device
 * of this process (libuvfio, a thread serving a socket) with a 256-byte
 * I/O BAR2 and a memory BAR0.  The VMM gives BAR2 ports from 0xc000, and
 * port accesses there become the device's region accesses while I/O
 * decoding is on, at the offset and size the guest used; they follow
 * the BAR when the guest moves it.  The VMM turns I/O decoding on at
 * start, as firmware does.  Ports nothing decodes, accesses that
 * straddle the BAR's end and accesses with decoding off read all ones.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uvfio/server.h>

#include "vdev.h"
#include "vmm.h"

#define IO_SIZE 256
#define MEM_SIZE 4096

struct fx {
	char dir[32], sock[64];
	struct uvfio_dev *dev;
	pthread_t thread;
	uint8_t regs[IO_SIZE];
	unsigned int accesses;
	size_t last_count;
	struct vm_config cfg;
	struct vm vm;
	struct vcpu cpu; /* only its vm: io_dispatch() takes a vCPU */
	struct vdev *vd;
};

static ssize_t io_access(struct uvfio_dev *dev, void *priv, uint64_t off,
			 void *buf, size_t count, bool is_write)
{
	struct fx *f = priv;

	if (off > IO_SIZE || count > IO_SIZE - off)
		return -EINVAL;
	if (is_write)
		memcpy(f->regs + off, buf, count);
	else
		memcpy(buf, f->regs + off, count);
	__atomic_fetch_add(&f->accesses, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&f->last_count, count, __ATOMIC_RELAXED);
	return (ssize_t)count;
}

static ssize_t mem_access(struct uvfio_dev *dev, void *priv, uint64_t off,
			  void *buf, size_t count, bool is_write)
{
	if (!is_write)
		memset(buf, 0, count);
	return (ssize_t)count;
}

static void *serve(void *arg)
{
	uvfio_dev_run(arg, false);
	return NULL;
}

static void no_msi(void *opaque, uint64_t address, uint32_t data)
{
}

static int setup(void **state)
{
	const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
					   .device_id = 0x10fe,
					   .class_code = 0xff0000 };
	struct uvfio_region_desc io = { .size = IO_SIZE,
					.flags = UVFIO_REGION_RW,
					.bar_flags = UVFIO_BAR_IO,
					.access = io_access };
	struct uvfio_region_desc mem = { .size = MEM_SIZE,
					 .flags = UVFIO_REGION_RW,
					 .access = mem_access };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	*state = f;
	strcpy(f->dir, "/tmp/vmm_iobar.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/sock", f->dir);
	f->dev = uvfio_dev_create(&ids, 256, NULL, f, NULL);
	assert_non_null(f->dev);
	io.priv = f;
	assert_int_equal(uvfio_dev_add_region(f->dev,
					      VFIO_PCI_BAR2_REGION_INDEX, &io),
			 0);
	assert_int_equal(uvfio_dev_add_region(f->dev,
					      VFIO_PCI_BAR0_REGION_INDEX, &mem),
			 0);
	assert_int_equal(uvfio_dev_listen(f->dev, f->sock), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f->dev), 0);
	f->cfg.ram_size = RAM_MIN;
	f->cfg.nr_cpus = 1;
	assert_int_equal(vm_init_bare(&f->vm, &f->cfg, no_msi, NULL), 0);
	f->cpu.vm = &f->vm;
	f->vd = vdev_open(&f->vm, f->sock, 0);
	assert_non_null(f->vd);
	f->vm.devs[f->vm.nr_devs++] = f->vd;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vm_destroy(&f->vm);
	uvfio_dev_stop(f->dev);
	pthread_join(f->thread, NULL);
	uvfio_dev_destroy(f->dev);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Mechanism #1, slot 1 (the first device). */
static uint32_t cfg_rd(struct fx *f, uint32_t reg, uint32_t len)
{
	uint32_t a = 1u << 31 | 1u << 11 | (reg & 0xfc), v = 0;

	assert_int_equal(pcihost_io(&f->vm, PORT_PCI_ADDR, &a, 4, true), 0);
	assert_int_equal(pcihost_io(&f->vm, PORT_PCI_DATA + (reg & 3), &v, len,
				    false),
			 0);
	return v;
}

static void cfg_wr(struct fx *f, uint32_t reg, uint32_t v, uint32_t len)
{
	uint32_t a = 1u << 31 | 1u << 11 | (reg & 0xfc);

	assert_int_equal(pcihost_io(&f->vm, PORT_PCI_ADDR, &a, 4, true), 0);
	assert_int_equal(pcihost_io(&f->vm, PORT_PCI_DATA + (reg & 3), &v, len,
				    true),
			 0);
}

static uint32_t in(struct fx *f, uint16_t port, uint32_t len)
{
	uint32_t v = 0;

	assert_int_equal(io_dispatch(&f->cpu, port, &v, len, false), 0);
	return v;
}

static void out(struct fx *f, uint16_t port, uint32_t v, uint32_t len)
{
	assert_int_equal(io_dispatch(&f->cpu, port, &v, len, true), 0);
}

static uint16_t io_base(struct fx *f)
{
	uint32_t bar = cfg_rd(f, PCI_BASE_ADDRESS_2, 4);

	assert_true(bar & PCI_BASE_ADDRESS_SPACE_IO);
	return (uint16_t)(bar & PCI_BASE_ADDRESS_IO_MASK);
}

static void test_assigned(void **state)
{
	struct fx *f = *state;
	uint32_t bar = cfg_rd(f, PCI_BASE_ADDRESS_2, 4);

	assert_true(bar & PCI_BASE_ADDRESS_SPACE_IO);
	assert_true((bar & PCI_BASE_ADDRESS_IO_MASK) >= 0xc000);
	assert_int_equal(bar & (IO_SIZE - 1) & PCI_BASE_ADDRESS_IO_MASK, 0);
	/* Sizing as firmware does it. */
	cfg_wr(f, PCI_BASE_ADDRESS_2, 0xffffffffu, 4);
	assert_int_equal(cfg_rd(f, PCI_BASE_ADDRESS_2, 4) & 0xfffc,
			 0x10000 - IO_SIZE);
	cfg_wr(f, PCI_BASE_ADDRESS_2, bar, 4);
	assert_int_equal(cfg_rd(f, PCI_BASE_ADDRESS_2, 4), bar);
	/* Decoding on, as firmware leaves it. */
	assert_true(cfg_rd(f, PCI_COMMAND, 2) & PCI_COMMAND_IO);
	/* The memory BAR stays in the MMIO window. */
	assert_true(cfg_rd(f, PCI_BASE_ADDRESS_0, 4) >= PCI_MMIO_BASE);
}

static void test_access(void **state)
{
	struct fx *f = *state;
	uint16_t base = io_base(f);
	unsigned int n;

	cfg_wr(f, PCI_COMMAND,
	       cfg_rd(f, PCI_COMMAND, 2) | PCI_COMMAND_IO, 2);
	out(f, base, 0x5a, 1);
	assert_int_equal(f->regs[0], 0x5a);
	assert_int_equal(f->last_count, 1);
	out(f, (uint16_t)(base + 0x12), 0xbeef, 2);
	assert_int_equal(f->regs[0x12] | f->regs[0x13] << 8, 0xbeef);
	assert_int_equal(f->last_count, 2);
	out(f, (uint16_t)(base + IO_SIZE - 4), 0x01020304, 4);
	assert_int_equal(in(f, (uint16_t)(base + IO_SIZE - 4), 4), 0x01020304);
	assert_int_equal(f->last_count, 4);
	assert_int_equal(in(f, (uint16_t)(base + 0x13), 1), 0xbe);
	/* Across the end, and past it: nothing decodes, nothing reached. */
	n = f->accesses;
	assert_int_equal(in(f, (uint16_t)(base + IO_SIZE - 2), 4), 0xffffffffu);
	assert_int_equal(in(f, (uint16_t)(base + IO_SIZE), 1), 0xff);
	out(f, (uint16_t)(base + IO_SIZE - 1), 0x1234, 2);
	assert_int_equal(f->accesses, n);
}

static void test_decoding_and_move(void **state)
{
	struct fx *f = *state;
	uint16_t base = io_base(f), moved;
	uint16_t cmd = (uint16_t)cfg_rd(f, PCI_COMMAND, 2);
	unsigned int n;

	cfg_wr(f, PCI_COMMAND, cmd | PCI_COMMAND_IO, 2);
	f->regs[1] = 0x77;
	assert_int_equal(in(f, (uint16_t)(base + 1), 1), 0x77);
	/* I/O decoding off: all ones, the device not asked. */
	cfg_wr(f, PCI_COMMAND, cmd & ~PCI_COMMAND_IO, 2);
	n = f->accesses;
	assert_int_equal(in(f, (uint16_t)(base + 1), 1), 0xff);
	assert_int_equal(f->accesses, n);
	/* Moved while off, decoding where it went once on. */
	moved = (uint16_t)(base + 0x1000);
	cfg_wr(f, PCI_BASE_ADDRESS_2, moved | PCI_BASE_ADDRESS_SPACE_IO, 4);
	cfg_wr(f, PCI_COMMAND, cmd | PCI_COMMAND_IO, 2);
	assert_int_equal(in(f, (uint16_t)(moved + 1), 1), 0x77);
	assert_int_equal(in(f, (uint16_t)(base + 1), 1), 0xff);
	/* Moved while on. */
	cfg_wr(f, PCI_BASE_ADDRESS_2, base | PCI_BASE_ADDRESS_SPACE_IO, 4);
	assert_int_equal(in(f, (uint16_t)(base + 1), 1), 0x77);
	assert_int_equal(in(f, (uint16_t)(moved + 1), 1), 0xff);
	/* Memory decoding does not turn ports on or off. */
	cfg_wr(f, PCI_COMMAND, (cmd | PCI_COMMAND_IO) & ~PCI_COMMAND_MEMORY,
	       2);
	assert_int_equal(in(f, (uint16_t)(base + 1), 1), 0x77);
	cfg_wr(f, PCI_COMMAND, cmd, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_assigned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decoding_and_move, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
