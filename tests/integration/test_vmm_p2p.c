// SPDX-License-Identifier: MIT
/*
 * Peer-to-peer DMA in uvfio-vmm, without KVM (vm_init_bare()): two
 * uvfio-testdev processes on one bus, each DMA-ing into the other's
 * BAR5 (mappable memory) at the guest address the VMM gave it.  The
 * windows follow the BAR when the guest moves it or turns decoding off.
 * Then the two-device VM migrates, with peer-to-peer writes before and
 * during the pre-copy, to two other devices: what the devices wrote
 * into each other is there, and P2P works between the new pair.
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
#include "procstat.h"
#include "regs.h"
#include "testdev_proc.h"
#include "guest_access.h"

#define WAIT_MS 5000
#define XFER 8192u
#define P2P_BAR 5
#define MOVED 0xd0000000ull

struct vm2 {
	struct testdev_proc dev[2];
	struct vm_config cfg;
	struct vm vm;
};

struct fx {
	struct vm2 a, b; /* b: the migration's destination */
	int base_fds;
};

static int vm2_up(struct vm2 *v)
{
	v->cfg.ram_size = RAM_MIN;
	v->cfg.nr_cpus = 1;
	if (vm_init_bare(&v->vm, &v->cfg, ga_no_msi, NULL))
		return -1;
	for (unsigned int i = 0; i < 2; i++) {
		struct vdev *vd;

		if (testdev_start(&v->dev[i], NULL))
			return -1;
		vd = vdev_open(&v->vm, v->dev[i].sock, i);
		if (!vd)
			return -1;
		v->vm.devs[v->vm.nr_devs++] = vd;
	}
	return 0;
}

static void vm2_down(struct vm2 *v)
{
	vm_destroy(&v->vm);
	for (unsigned int i = 0; i < 2; i++)
		testdev_stop(&v->dev[i]);
}

static struct vdev *dev(struct vm2 *v, unsigned int i)
{
	return v->vm.devs[i];
}

static uint64_t bar(struct vm2 *v, unsigned int i, unsigned int n)
{
	return dev(v, i)->bars[n].addr;
}

static void wr(struct vm2 *v, unsigned int i, uint32_t off, uint32_t val)
{
	ga_wr(&v->vm, bar(v, i, 0) + off, val);
}

static uint32_t rd(struct vm2 *v, unsigned int i, uint32_t off)
{
	return ga_rd(&v->vm, bar(v, i, 0) + off);
}

static void cfg_wr(struct vm2 *v, unsigned int i, uint32_t off, uint32_t val,
		   uint32_t len)
{
	ga_cfg_wr(dev(v, i), off, val, len);
}

/* Device i runs command cmd (a WRITE to dst, or a READ of src). */
static uint32_t run(struct vm2 *v, unsigned int i, uint32_t cmd, uint64_t gpa,
		    uint32_t crc)
{
	uint32_t done = TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_WRITE_FAIL |
			TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	int64_t end = ga_now_ms() + WAIT_MS;
	uint32_t st;

	wr(v, i, TESTDEV_REG_STATUS, 0);
	wr(v, i,
	   cmd == TESTDEV_CMD_WRITE ? TESTDEV_REG_DST_LO : TESTDEV_REG_SRC_LO,
	   (uint32_t)gpa);
	wr(v, i,
	   cmd == TESTDEV_CMD_WRITE ? TESTDEV_REG_DST_HI : TESTDEV_REG_SRC_HI,
	   (uint32_t)(gpa >> 32));
	wr(v, i, TESTDEV_REG_SIZE, XFER);
	wr(v, i, TESTDEV_REG_CHECKSUM, crc);
	wr(v, i, TESTDEV_REG_IRQ_NUMBER, 0);
	wr(v, i, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(v, i, TESTDEV_REG_COMMAND, cmd);
	while (!((st = rd(v, i, TESTDEV_REG_STATUS)) & done) &&
	       ga_now_ms() < end)
		usleep(200);
	return st;
}

/* Device i writes into device j's BAR5 at off: the bytes' CRC there. */
static void p2p_write(struct vm2 *v, unsigned int i, unsigned int j,
		      uint32_t off)
{
	uint8_t got[XFER];
	uint32_t st = run(v, i, TESTDEV_CMD_WRITE, bar(v, j, P2P_BAR) + off, 0);

	assert_true(st & TESTDEV_STATUS_WRITE_OK);
	assert_int_equal(
		uvfio_client_region_read(dev(v, j)->c, P2P_BAR, off, got, XFER),
		0);
	assert_int_equal(crc32_le(~0u, got, XFER),
			 rd(v, i, TESTDEV_REG_CHECKSUM));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	f->base_fds = proc_fd_count(getpid());
	if (vm2_up(&f->a) || vm2_up(&f->b))
		return -1;
	for (unsigned int i = 0; i < 2; i++) {
		cfg_wr(&f->a, i, PCI_COMMAND,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
		cfg_wr(&f->b, i, PCI_COMMAND,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	}
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vm2_down(&f->a);
	vm2_down(&f->b);
	assert_int_equal(proc_fd_count(getpid()), f->base_fds);
	free(f);
	return 0;
}

static void test_p2p(void **state)
{
	struct fx *f = *state;
	struct vm2 *v = &f->a;
	uint8_t src[XFER];
	uint64_t old;
	uint32_t st;

	/* Each writes into the other's BAR5. */
	p2p_write(v, 1, 0, 0x1000);
	p2p_write(v, 0, 1, 0x3000);
	/* And reads from it: device 0 checks what is in device 1's BAR5. */
	for (uint32_t k = 0; k < XFER; k++)
		src[k] = (uint8_t)(k * 13 + 5);
	assert_int_equal(uvfio_client_region_write(dev(v, 1)->c, P2P_BAR,
						   0x8000, src, XFER, 0),
			 0);
	st = run(v, 0, TESTDEV_CMD_READ, bar(v, 1, P2P_BAR) + 0x8000,
		 crc32_le(~0u, src, XFER));
	assert_true(st & TESTDEV_STATUS_READ_OK);

	/* The guest moves device 0's BAR5: the window moves with it. */
	old = bar(v, 0, P2P_BAR);
	cfg_wr(v, 0, PCI_BASE_ADDRESS_0 + 4 * P2P_BAR, (uint32_t)MOVED, 4);
	assert_int_equal(bar(v, 0, P2P_BAR), MOVED);
	st = run(v, 1, TESTDEV_CMD_WRITE, old + 0x1000, 0);
	assert_true(st & TESTDEV_STATUS_WRITE_FAIL);
	assert_true(st & TESTDEV_STATUS_DST_INVALID);
	p2p_write(v, 1, 0, 0x2000);

	/* Decoding off: no window; on again: back. */
	cfg_wr(v, 0, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	st = run(v, 1, TESTDEV_CMD_WRITE, MOVED + 0x1000, 0);
	assert_true(st & TESTDEV_STATUS_DST_INVALID);
	cfg_wr(v, 0, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	p2p_write(v, 1, 0, 0x1000);
}

static struct fx *mig_fx;

/* During the pre-copy: device 1 writes into device 0's BAR5 again. */
static void p2p_in_round(void *arg, unsigned int round)
{
	(void)arg;
	if (round == 0)
		p2p_write(&mig_fx->a, 1, 0, 0x5000);
}

static void *dst_main(void *arg)
{
	struct fx *f = mig_fx;
	int *fd = arg;

	fd[1] = vm_migrate_in(&f->b.vm, fd[0]);
	return NULL;
}

static void test_p2p_migrate(void **state)
{
	struct fx *f = *state;
	struct vm_mig_opts o = { p2p_in_round, NULL, NULL };
	uint8_t want[2][XFER], got[XFER];
	int sv[2], in[2];
	pthread_t t;
	uint32_t st;

	mig_fx = f;
	p2p_write(&f->a, 1, 0, 0x4000);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	in[0] = sv[1];
	assert_int_equal(pthread_create(&t, NULL, dst_main, in), 0);
	assert_int_equal(vm_migrate_out(&f->a.vm, sv[0], &o), 0);
	pthread_join(t, NULL);
	assert_int_equal(in[1], 0);
	close(sv[0]);
	close(sv[1]);

	/* Both writes into device 0's BAR5, the one in the pre-copy too. */
	for (unsigned int k = 0; k < 2; k++) {
		assert_int_equal(uvfio_client_region_read(
					 dev(&f->a, 0)->c, P2P_BAR,
					 0x4000 + k * 0x1000, want[k], XFER),
				 0);
		assert_int_equal(uvfio_client_region_read(
					 dev(&f->b, 0)->c, P2P_BAR,
					 0x4000 + k * 0x1000, got, XFER),
				 0);
		assert_memory_equal(got, want[k], XFER);
	}
	/* The new pair reaches each other. */
	p2p_write(&f->b, 1, 0, 0x6000);
	p2p_write(&f->b, 0, 1, 0x6000);
	st = run(&f->b, 1, TESTDEV_CMD_READ, bar(&f->b, 0, P2P_BAR) + 0x4000,
		 crc32_le(~0u, want[0], XFER));
	assert_true(st & TESTDEV_STATUS_READ_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_p2p, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2p_migrate, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
