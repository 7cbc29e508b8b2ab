// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm outlives its device: the VMM's device side (vdev.c, vbar.c,
 * the MMIO bus and the client's MSI-X emulation on a user-space router)
 * in a VM without KVM (vm_init_bare()), driven as a guest would drive it:
 * config space through vdev_cfg_access(), BAR0 through the MMIO bus.
 * uvfio-testdev is killed and started again; the next access reconnects,
 * and DMA into guest RAM and an MSI-X message work as before, with the
 * command register the guest wrote.  A device that does not come back
 * fails: it reads as all ones, its mapped BAR pages too, and the VM runs
 * on.  The device's doorbells are the VMM's to bind (KVM_IOEVENTFD):
 * here the test signals them as KVM would.  guest_restart and
 * guest_disconnect do the same from inside a KVM guest.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/crc32.h"
#include "regs.h"
#include "bare_vm.h"
#include "guest_access.h"

#define WAIT_MS 5000
#define DMA_GPA 0x100000ull
#define XFER 8192u
#define MSI_ADDR 0xfee00000u
#define MSI_DATA 0x41u

/* testdev's commands as doorbells, which the VMM holds. */
static const char *const db_args[] = { "--doorbells", NULL };

struct fx {
	struct bare_vm b;
	uint64_t bar0;
	unsigned int msis; /* deliveries of MSI_ADDR/MSI_DATA (atomic) */
	unsigned int others; /* any other message (atomic) */
	int base_fds;
};

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct fx *f = opaque;

	if (address == MSI_ADDR && data == MSI_DATA)
		__atomic_fetch_add(&f->msis, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_add(&f->others, 1, __ATOMIC_SEQ_CST);
}

/* The guest's side: config space and BAR0 registers. */
static uint32_t cfg_rd(struct fx *f, uint32_t off, uint32_t len)
{
	return ga_cfg_rd(f->b.vd, off, len);
}

static void cfg_wr(struct fx *f, uint32_t off, uint32_t v, uint32_t len)
{
	ga_cfg_wr(f->b.vd, off, v, len);
}

static uint32_t rd(struct fx *f, uint32_t off)
{
	return ga_rd(&f->b.vm, f->bar0 + off);
}

static void wr(struct fx *f, uint32_t off, uint32_t v)
{
	ga_wr(&f->b.vm, f->bar0 + off, v);
}

/* MSI-X on, vector 0 sends MSI_DATA to MSI_ADDR; bus master on. */
static void guest_setup(struct fx *f)
{
	unsigned int cap = ga_find_cap(f->b.vd, PCI_CAP_ID_MSIX);
	uint32_t e = TESTDEV_MSIX_TABLE_OFF;

	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	wr(f, e + PCI_MSIX_ENTRY_LOWER_ADDR, MSI_ADDR);
	wr(f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
	wr(f, e + PCI_MSIX_ENTRY_DATA, MSI_DATA);
	wr(f, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	cfg_wr(f, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
}

/* The next MSI within the deadline, and only it. */
static void wait_msi(struct fx *f, unsigned int want)
{
	int64_t end = ga_now_ms() + WAIT_MS;

	while (__atomic_load_n(&f->msis, __ATOMIC_SEQ_CST) < want &&
	       ga_now_ms() < end)
		usleep(200);
	assert_int_equal(__atomic_load_n(&f->msis, __ATOMIC_SEQ_CST), want);
	assert_int_equal(__atomic_load_n(&f->others, __ATOMIC_SEQ_CST), 0);
}

/* The device reads guest RAM by DMA, checks the CRC, raises MSI-X 0. */
static void device_reads(struct fx *f)
{
	uint8_t *host = f->b.vm.ram.hva + DMA_GPA;
	uint32_t done = TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	unsigned int before = __atomic_load_n(&f->msis, __ATOMIC_SEQ_CST);
	int64_t end = ga_now_ms() + WAIT_MS;
	uint32_t st;

	for (uint32_t i = 0; i < XFER; i++)
		host[i] = (uint8_t)(rand() & 0xff);
	wr(f, TESTDEV_REG_STATUS, 0);
	wr(f, TESTDEV_REG_SRC_LO, (uint32_t)DMA_GPA);
	wr(f, TESTDEV_REG_SRC_HI, 0);
	wr(f, TESTDEV_REG_SIZE, XFER);
	wr(f, TESTDEV_REG_CHECKSUM, crc32_le(~0u, host, XFER));
	wr(f, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	wr(f, TESTDEV_REG_IRQ_NUMBER, 1);
	wr(f, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(f, TESTDEV_REG_COMMAND, TESTDEV_CMD_READ);
	while (!((st = rd(f, TESTDEV_REG_STATUS)) & done) && ga_now_ms() < end)
		usleep(500);
	assert_true(st & TESTDEV_STATUS_READ_OK);
	wait_msi(f, before + 1);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	f->base_fds = proc_fd_count(getpid());
	if (bare_vm_up(&f->b, db_args, WAIT_MS, deliver, f))
		return -1;
	f->bar0 = f->b.vd->bars[TESTDEV_REG_BAR].addr;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	bare_vm_down(&f->b);
	free(f);
	return 0;
}

static void test_vmm_restart(void **state)
{
	struct fx *f = *state;
	uint32_t cmd;

	assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), TESTDEV_VENDOR_ID);
	guest_setup(f);
	device_reads(f);

	assert_int_equal(testdev_kill(&f->b.dev), 0);
	assert_int_equal(testdev_spawn(&f->b.dev, db_args), 0);
	/* The next guest access finds the device gone, and back. */
	wr(f, TESTDEV_REG_MAGIC, 0x600dcafe);
	assert_int_equal(rd(f, TESTDEV_REG_MAGIC), 0x600dcafe);
	assert_int_equal(f->b.vd->gen, 1);
	/* The restarted device has what the guest wrote before. */
	cmd = cfg_rd(f, PCI_COMMAND, 2);
	assert_true(cmd & PCI_COMMAND_MEMORY);
	assert_true(cmd & PCI_COMMAND_MASTER);
	/* No interrupt came while it was away; the next is the DMA's. */
	assert_int_equal(__atomic_load_n(&f->msis, __ATOMIC_SEQ_CST), 1);
	device_reads(f);
	/* Restarted while idle: a config access finds it back too. */
	assert_int_equal(testdev_kill(&f->b.dev), 0);
	assert_int_equal(testdev_spawn(&f->b.dev, db_args), 0);
	assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), TESTDEV_DEVICE_ID);
	assert_int_equal(f->b.vd->gen, 2);
	device_reads(f);
}

/* What KVM does on the guest's write of cmd to COMMAND. */
static void ring(struct fx *f, uint32_t cmd)
{
	const struct vbar *b = &f->b.vd->bars[TESTDEV_REG_BAR];
	uint64_t one = 1;

	for (unsigned int i = 0; i < b->nr_db; i++) {
		if (b->db[i].offset == TESTDEV_REG_COMMAND &&
		    b->db[i].datamatch == cmd) {
			assert_int_equal(write(b->db[i].fd, &one, sizeof(one)),
					 sizeof(one));
			return;
		}
	}
	fail_msg("no doorbell for command %#x", cmd);
}

/*
 * The VMM holds the device's doorbells (bound with KVM_IOEVENTFD when
 * there is KVM); after a restart it holds the new device's, and a
 * doorbell rung while the device was away rings the new one.
 */
static void test_vmm_doorbells(void **state)
{
	struct fx *f = *state;
	const struct vbar *b = &f->b.vd->bars[TESTDEV_REG_BAR];
	uint32_t done = TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	int64_t end;

	assert_int_equal(b->nr_db, 6);
	assert_true(b->db_live);
	guest_setup(f);
	wr(f, TESTDEV_REG_IRQ_NUMBER, 1);
	ring(f, TESTDEV_CMD_RAISE_MSIX);
	wait_msi(f, 1);

	assert_int_equal(testdev_kill(&f->b.dev), 0);
	ring(f, TESTDEV_CMD_READ);
	assert_int_equal(testdev_spawn(&f->b.dev, db_args), 0);
	/* A fresh device: STATUS 0 until the carried READ has run. */
	end = ga_now_ms() + WAIT_MS;
	while (!(rd(f, TESTDEV_REG_STATUS) & done) && ga_now_ms() < end)
		usleep(500);
	assert_true(rd(f, TESTDEV_REG_STATUS) & done);
	assert_int_equal(f->b.vd->gen, 1);
	assert_int_equal(b->nr_db, 6);
	/* The new device's doorbells work, with the MSI-X wiring kept. */
	wr(f, TESTDEV_REG_IRQ_NUMBER, 1);
	ring(f, TESTDEV_CMD_RAISE_MSIX);
	wait_msi(f, 2);
}

static void test_vmm_failed(void **state)
{
	struct fx *f = *state;
	const struct vbar *b5 = &f->b.vd->bars[5];
	uint32_t bar0_reg;
	int64_t t0;

	guest_setup(f);
	device_reads(f);
	bar0_reg = cfg_rd(f, PCI_BASE_ADDRESS_0, 4);
	assert_int_not_equal(bar0_reg, 0xffffffffu);
	f->b.cfg.reconnect_ms = 300;
	assert_int_equal(testdev_kill(&f->b.dev), 0);
	t0 = ga_now_ms();
	/* Not back in time: the access completes, with all ones. */
	assert_int_equal(rd(f, TESTDEV_REG_MAGIC), 0xffffffffu);
	assert_true(ga_now_ms() - t0 >= 300);
	assert_true(f->b.vd->failed);
	/* So does everything after it, at once and without retrying. */
	t0 = ga_now_ms();
	assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), 0xffff);
	assert_int_equal(cfg_rd(f, PCI_BASE_ADDRESS_0, 4), 0xffffffffu);
	wr(f, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSIX);
	assert_int_equal(rd(f, TESTDEV_REG_STATUS), 0xffffffffu);
	assert_true(ga_now_ms() - t0 < 300);
	/* Its mapped BAR pages read as ones too. */
	assert_true(b5->nr_maps > 0);
	for (unsigned int k = 0; k < b5->nr_maps; k++)
		for (uint64_t i = 0; i < b5->maps[k].size; i += 4096)
			assert_int_equal(b5->maps[k].hva[i], 0xff);
	/* Coming back later changes nothing: failed is for good. */
	assert_int_equal(testdev_spawn(&f->b.dev, db_args), 0);
	assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), 0xffff);
	assert_int_equal(__atomic_load_n(&f->msis, __ATOMIC_SEQ_CST), 1);
}

/* The VM and its device come and go: no fd of theirs stays. */
static void test_vmm_fds(void **state)
{
	struct fx *f = *state;

	guest_setup(f);
	assert_int_equal(testdev_kill(&f->b.dev), 0);
	assert_int_equal(testdev_spawn(&f->b.dev, db_args), 0);
	device_reads(f);
	vm_destroy(&f->b.vm);
	testdev_stop(&f->b.dev);
	assert_int_equal(proc_fd_count(getpid()), f->base_fds);
	/* teardown's turn: a VM with nothing in it, and no device. */
	assert_int_equal(vm_init_bare(&f->b.vm, &f->b.cfg, deliver, f), 0);
	assert_int_equal(testdev_start(&f->b.dev, db_args), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vmm_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vmm_doorbells, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vmm_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vmm_fds, setup, teardown),
	};

	srand(2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
