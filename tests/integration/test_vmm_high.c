// SPDX-License-Identifier: MIT
/*
 * The PCI space above 4 GiB in uvfio-vmm, without KVM (vm_init_bare()):
 * a VM with 3 GiB + 8 MiB of RAM (the last 8 MiB at 4 GiB) and
 * uvfio-testdev --bar64 (BAR4 a 64-bit prefetchable BAR).  BAR4 lands in
 * the 64-bit window past high RAM and decodes there, also after the
 * guest moves it; the device DMAs into and out of the RAM above 4 GiB;
 * and the VM migrates with its high RAM (DMA written there after round
 * 0 included).  The page tables a guest gets for all this are checked
 * in unit_vmm_elf; guest_bar64 checks them from inside a KVM guest.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/crc32.h"
#include "regs.h"
#include "bare_vm.h"
#include "guest_access.h"

#define WAIT_MS 5000
#define XFER 8192u
#define HIGH (8ull << 20)
#define RAM_SIZE (RAM_LOW_MAX + HIGH)
#define HIGH_GPA (GPA_HIGH_RAM + 0x3000)

static const char *const args[] = { "--bar64", NULL };

struct fx {
	struct bare_vm s, d; /* source, and a destination for the move */
	uint64_t bar0_s, bar0_d;
	uint32_t dma_crc;
	int dst_ret;
	int sv[2];
};

static uint32_t cfg_rd(struct bare_vm *b, uint32_t off)
{
	return ga_cfg_rd(b->vd, off, 4);
}

static void cfg_wr(struct bare_vm *b, uint32_t off, uint32_t v, uint32_t len)
{
	ga_cfg_wr(b->vd, off, v, len);
}

static uint32_t rd(struct bare_vm *b, uint64_t gpa)
{
	return ga_rd(&b->vm, gpa);
}

static void wr(struct bare_vm *b, uint64_t gpa, uint32_t v)
{
	ga_wr(&b->vm, gpa, v);
}

/* The device writes XFER bytes at gpa (or reads them, crc given). */
static uint32_t xfer(struct bare_vm *b, uint64_t bar0, uint32_t cmd,
		     uint64_t gpa, uint32_t crc)
{
	uint32_t done = TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_WRITE_FAIL |
			TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	bool w = cmd == TESTDEV_CMD_WRITE;
	int64_t end = ga_now_ms() + WAIT_MS;
	uint32_t st;

	wr(b, bar0 + TESTDEV_REG_STATUS, 0);
	wr(b, bar0 + (w ? TESTDEV_REG_DST_LO : TESTDEV_REG_SRC_LO),
	   (uint32_t)gpa);
	wr(b, bar0 + (w ? TESTDEV_REG_DST_HI : TESTDEV_REG_SRC_HI),
	   (uint32_t)(gpa >> 32));
	wr(b, bar0 + TESTDEV_REG_SIZE, XFER);
	wr(b, bar0 + TESTDEV_REG_CHECKSUM, crc);
	wr(b, bar0 + TESTDEV_REG_IRQ_NUMBER, 0);
	wr(b, bar0 + TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(b, bar0 + TESTDEV_REG_COMMAND, cmd);
	while (!((st = rd(b, bar0 + TESTDEV_REG_STATUS)) & done) &&
	       ga_now_ms() < end)
		usleep(200);
	return st;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	f->sv[0] = f->sv[1] = -1;
	f->s.cfg.ram_size = RAM_SIZE;
	f->d.cfg.ram_size = RAM_SIZE;
	if (bare_vm_up(&f->s, args, 0, ga_no_msi, NULL) ||
	    bare_vm_up(&f->d, args, 0, ga_no_msi, NULL) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv))
		return -1;
	f->bar0_s = f->s.vd->bars[0].addr;
	f->bar0_d = f->d.vd->bars[0].addr;
	cfg_wr(&f->s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	cfg_wr(&f->d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 2; i++)
		if (f->sv[i] >= 0)
			close(f->sv[i]);
	bare_vm_down(&f->s);
	bare_vm_down(&f->d);
	free(f);
	return 0;
}

static uint64_t bar4(struct bare_vm *b)
{
	return (cfg_rd(b, PCI_BASE_ADDRESS_4) & ~0xfull) |
	       (uint64_t)cfg_rd(b, PCI_BASE_ADDRESS_5) << 32;
}

static void test_bar64(void **state)
{
	struct fx *f = *state;
	struct bare_vm *b = &f->s;
	uint64_t w64 = ram_mmio64_base(&b->vm.ram), moved;
	uint32_t reg = cfg_rd(b, PCI_BASE_ADDRESS_4), v = 0;

	assert_int_equal(b->vm.ram.low, RAM_LOW_MAX);
	assert_int_equal(w64, 5ull << 30);
	assert_int_equal(reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK,
			 PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_true(reg & PCI_BASE_ADDRESS_MEM_PREFETCH);
	/* Firmware's choice: the first address of the 64-bit window. */
	assert_int_equal(bar4(b), w64);
	/* The 32-bit BARs stay below 4 GiB. */
	assert_true(f->bar0_s >= PCI_MMIO_BASE && f->bar0_s < PCI_MMIO_END);

	/* BAR4 decodes up there: a guest store reaches the device. */
	wr(b, w64 + 0x100, 0x64646464);
	assert_int_equal(rd(b, w64 + 0x100), 0x64646464);
	assert_int_equal(uvfio_client_region_read(b->vd->c, 4, 0x100, &v, 4),
			 0);
	assert_int_equal(v, 0x64646464);

	/* The guest moves it, both halves. */
	moved = w64 + (1ull << 30);
	cfg_wr(b, PCI_BASE_ADDRESS_4, (uint32_t)moved, 4);
	cfg_wr(b, PCI_BASE_ADDRESS_5, (uint32_t)(moved >> 32), 4);
	assert_int_equal(bar4(b), moved);
	assert_int_equal(rd(b, moved + 0x100), 0x64646464);
	assert_int_equal(mmio_dispatch(&b->vm.mmio, w64 + 0x100, &v, 4, false),
			 0);
}

static void test_high_ram_dma(void **state)
{
	struct fx *f = *state;
	struct bare_vm *b = &f->s;
	uint8_t *host = ram_ptr(&b->vm.ram, HIGH_GPA, XFER);
	uint32_t st;

	assert_non_null(host);
	/* Not RAM: the hole between 3 and 4 GiB. */
	assert_null(ram_ptr(&b->vm.ram, RAM_LOW_MAX, 4096));
	st = xfer(b, f->bar0_s, TESTDEV_CMD_WRITE, HIGH_GPA, 0);
	assert_true(st & TESTDEV_STATUS_WRITE_OK);
	assert_int_equal(crc32_le(~0u, host, XFER),
			 rd(b, f->bar0_s + TESTDEV_REG_CHECKSUM));
	for (uint32_t i = 0; i < XFER; i++)
		host[i] = (uint8_t)(i * 7);
	st = xfer(b, f->bar0_s, TESTDEV_CMD_READ, HIGH_GPA,
		  crc32_le(~0u, host, XFER));
	assert_true(st & TESTDEV_STATUS_READ_OK);
	/* The hole is no DMA window. */
	st = xfer(b, f->bar0_s, TESTDEV_CMD_WRITE, RAM_LOW_MAX - 4096, 0);
	assert_true(st & TESTDEV_STATUS_DST_INVALID);
}

static void *dst_main(void *arg)
{
	struct fx *f = arg;

	f->dst_ret = vm_migrate_in(&f->d.vm, f->sv[1]);
	return NULL;
}

static struct fx *round_fx;

static void dma_in_round(void *arg, unsigned int round)
{
	struct fx *f = round_fx;
	uint8_t *host = ram_ptr(&f->s.vm.ram, HIGH_GPA, XFER);

	(void)arg;
	if (round)
		return;
	assert_true(xfer(&f->s, f->bar0_s, TESTDEV_CMD_WRITE, HIGH_GPA, 0) &
		    TESTDEV_STATUS_WRITE_OK);
	f->dma_crc = crc32_le(~0u, host, XFER);
}

static void test_high_migrate(void **state)
{
	struct fx *f = *state;
	struct vm_mig_stats st = { 0 };
	struct vm_mig_opts o = { dma_in_round, NULL, &st };
	const struct guest_ram *sr = &f->s.vm.ram, *dr = &f->d.vm.ram;
	uint8_t *hs = sr->hva + sr->low, *hd = dr->hva + dr->low;
	pthread_t t;

	round_fx = f;
	/* The guest's data: low RAM's first pages, all of high RAM. */
	memset(sr->hva + 0x200000, 0x5a, 0x10000);
	for (uint64_t i = 0; i < HIGH; i += 4096)
		memset(hs + i, (int)(i >> 12) | 1, 4096);
	assert_int_equal(pthread_create(&t, NULL, dst_main, f), 0);
	assert_int_equal(vm_migrate_out(&f->s.vm, f->sv[0], &o), 0);
	pthread_join(t, NULL);
	assert_int_equal(f->dst_ret, 0);
	printf("high migrate: %u rounds, %llu pages\n", st.rounds,
	       (unsigned long long)st.pages);
	/* What was written, and no more: the untouched 3 GiB stay holes. */
	assert_true(st.pages >= 16 + HIGH / 4096 && st.pages < 8192);
	assert_memory_equal(dr->hva + 0x200000, sr->hva + 0x200000, 0x10000);
	assert_memory_equal(hd, hs, HIGH);
	assert_int_equal(crc32_le(~0u, hd + (HIGH_GPA - GPA_HIGH_RAM), XFER),
			 f->dma_crc);
	/* BAR4 where it was, above 4 GiB, decoding on the destination. */
	assert_int_equal(bar4(&f->d), bar4(&f->s));
	wr(&f->d, bar4(&f->d) + 0x200, 0x77);
	assert_int_equal(rd(&f->d, bar4(&f->d) + 0x200), 0x77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bar64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_ram_dma, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_high_migrate, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
