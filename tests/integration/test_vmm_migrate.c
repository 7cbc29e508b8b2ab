// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm's live migration without KVM: two VMs (vm_init_bare()), each
 * with its own uvfio-testdev process, the stream over a socketpair to a
 * thread that runs the destination.  A VM without KVM has no vCPUs, so
 * what moves is guest RAM, the devices' own state, and the VMM's state
 * of each device: a BAR the guest moved, the command register, the
 * client's MSI-X emulation with a masked vector's pending bit.
 *
 * The device writes guest RAM by DMA after the first round copied it:
 * only its DMA dirty log can bring those pages across, and the test
 * compares every byte of RAM on both sides.  guest_migrate does the
 * same with vCPUs in a KVM guest.
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
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "procstat.h"
#include "proto/crc32.h"
#include "regs.h"
#include "bare_vm.h"
#include "guest_access.h"

#define WAIT_MS 5000
#define DMA_GPA 0x100000ull
#define XFER 8192u
#define MSI_ADDR 0xfee00000u
#define MSI_DATA0 0x41u /* vector 0 */
#define MSI_DATA1 0x42u /* vector 1, masked with its interrupt pending */
#define BAR0_MOVED 0xd0000000ull

struct side {
	struct bare_vm b;
	uint64_t bar0;
	unsigned int msi[2]; /* deliveries per vector (atomic) */
	unsigned int others;
};

struct fx {
	struct side src, dst;
	int sv[2];
	int dst_ret;
	unsigned int dma_rounds; /* round_done calls that ran a DMA write */
	uint32_t dma_crc;
	int base_fds;
};

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct side *s = opaque;

	if (address == MSI_ADDR && (data == MSI_DATA0 || data == MSI_DATA1))
		__atomic_fetch_add(&s->msi[data - MSI_DATA0], 1,
				   __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_add(&s->others, 1, __ATOMIC_SEQ_CST);
}

static unsigned int msis(struct side *s, unsigned int v)
{
	return __atomic_load_n(&s->msi[v], __ATOMIC_SEQ_CST);
}

static uint32_t cfg_rd(struct side *s, uint32_t off, uint32_t len)
{
	return ga_cfg_rd(s->b.vd, off, len);
}

static void cfg_wr(struct side *s, uint32_t off, uint32_t v, uint32_t len)
{
	ga_cfg_wr(s->b.vd, off, v, len);
}

static uint32_t rd(struct side *s, uint32_t off)
{
	return ga_rd(&s->b.vm, s->bar0 + off);
}

static void wr(struct side *s, uint32_t off, uint32_t v)
{
	ga_wr(&s->b.vm, s->bar0 + off, v);
}

static void vector(struct side *s, unsigned int v, uint32_t data, bool mask)
{
	uint32_t e = TESTDEV_MSIX_TABLE_OFF + v * PCI_MSIX_ENTRY_SIZE;

	wr(s, e + PCI_MSIX_ENTRY_LOWER_ADDR, MSI_ADDR);
	wr(s, e + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
	wr(s, e + PCI_MSIX_ENTRY_DATA, data);
	wr(s, e + PCI_MSIX_ENTRY_VECTOR_CTRL,
	   mask ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

static void wait_status(struct side *s, uint32_t done, uint32_t ok)
{
	int64_t end = ga_now_ms() + WAIT_MS;
	uint32_t st;

	while (!((st = rd(s, TESTDEV_REG_STATUS)) & done) && ga_now_ms() < end)
		usleep(200);
	assert_true(st & ok);
}

static void wait_msi(struct side *s, unsigned int v, unsigned int want)
{
	int64_t end = ga_now_ms() + WAIT_MS;

	while (msis(s, v) < want && ga_now_ms() < end)
		usleep(200);
	assert_int_equal(msis(s, v), want);
}

/* The device writes XFER bytes of its own at DMA_GPA; their CRC. */
static uint32_t device_writes(struct side *s)
{
	wr(s, TESTDEV_REG_STATUS, 0);
	wr(s, TESTDEV_REG_DST_LO, (uint32_t)DMA_GPA);
	wr(s, TESTDEV_REG_DST_HI, 0);
	wr(s, TESTDEV_REG_SIZE, XFER);
	wr(s, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	wr(s, TESTDEV_REG_IRQ_NUMBER, 1);
	wr(s, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(s, TESTDEV_REG_COMMAND, TESTDEV_CMD_WRITE);
	wait_status(s, TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_WRITE_FAIL,
		    TESTDEV_STATUS_WRITE_OK);
	return rd(s, TESTDEV_REG_CHECKSUM);
}

/* The device reads XFER bytes at DMA_GPA and checks their CRC. */
static void device_reads(struct side *s)
{
	uint8_t *host = s->b.vm.ram.hva + DMA_GPA;

	wr(s, TESTDEV_REG_STATUS, 0);
	wr(s, TESTDEV_REG_SRC_LO, (uint32_t)DMA_GPA);
	wr(s, TESTDEV_REG_SRC_HI, 0);
	wr(s, TESTDEV_REG_SIZE, XFER);
	wr(s, TESTDEV_REG_CHECKSUM, crc32_le(~0u, host, XFER));
	wr(s, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	wr(s, TESTDEV_REG_IRQ_NUMBER, 1);
	wr(s, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(s, TESTDEV_REG_COMMAND, TESTDEV_CMD_READ);
	wait_status(s, TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL,
		    TESTDEV_STATUS_READ_OK);
}

static int up(struct side *s)
{
	if (bare_vm_up(&s->b, NULL, 0, deliver, s))
		return -1;
	s->bar0 = s->b.vd->bars[TESTDEV_REG_BAR].addr;
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	f->base_fds = proc_fd_count(getpid());
	f->sv[0] = f->sv[1] = -1;
	if (up(&f->src) || up(&f->dst) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 2; i++)
		if (f->sv[i] >= 0)
			close(f->sv[i]);
	bare_vm_down(&f->src.b);
	bare_vm_down(&f->dst.b);
	/* Moved, failed or refused: no fd stays behind. */
	assert_int_equal(proc_fd_count(getpid()), f->base_fds);
	free(f);
	return 0;
}

/* What a guest does before the move: MSI-X, a moved BAR, RAM, registers. */
static void guest_before(struct side *s)
{
	unsigned int cap = ga_find_cap(s->b.vd, PCI_CAP_ID_MSIX);
	uint8_t *ram = s->b.vm.ram.hva;

	cfg_wr(s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	vector(s, 0, MSI_DATA0, false);
	vector(s, 1, MSI_DATA1, true);
	cfg_wr(s, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	/* Vector 1 masked: its interrupt waits in the PBA. */
	wr(s, TESTDEV_REG_IRQ_NUMBER, 2);
	wr(s, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSIX);
	{
		int64_t end = ga_now_ms() + WAIT_MS;
		uint32_t pba = 0;

		while (!(pba & 2) && ga_now_ms() < end)
			pba = rd(s, TESTDEV_MSIX_PBA_OFF);
		assert_true(pba & 2);
	}
	assert_int_equal(msis(s, 1), 0);
	/* The guest moves BAR0. */
	cfg_wr(s, PCI_BASE_ADDRESS_0, (uint32_t)BAR0_MOVED, 4);
	s->bar0 = BAR0_MOVED;
	wr(s, TESTDEV_REG_MAGIC, 0x600dcafe);
	/* RAM the guest wrote: a pattern on every 3rd page. */
	for (uint64_t p = 0; p < s->b.vm.ram.size / 4096; p += 3)
		memset(ram + p * 4096, (int)(p & 0xff) | 1, 4096);
}

static void *dst_main(void *arg)
{
	struct fx *f = arg;

	f->dst_ret = vm_migrate_in(&f->dst.b.vm, f->sv[1]);
	return NULL;
}

/* After round 0 copied RAM: the device writes some of it by DMA. */
static void dma_in_round(void *arg, unsigned int round)
{
	struct fx *f = arg;

	if (round != 0)
		return;
	f->dma_crc = device_writes(&f->src);
	f->dma_rounds++;
}

static void migrate(void **state, bool no_dma_log)
{
	struct fx *f = *state;
	struct vm_mig_stats st = { 0 };
	struct vm_mig_opts o = { dma_in_round, f, &st, no_dma_log };
	struct side *s = &f->src, *d = &f->dst;
	uint64_t old_bar0 = f->dst.bar0;
	enum uvfio_mig_state ms;
	pthread_t t;
	uint32_t v = 0;

	guest_before(s);
	assert_int_equal(pthread_create(&t, NULL, dst_main, f), 0);
	assert_int_equal(vm_migrate_out(&s->b.vm, f->sv[0], &o), 0);
	pthread_join(t, NULL);
	assert_int_equal(f->dst_ret, 0);
	assert_int_equal(f->dma_rounds, 1);
	assert_true(st.rounds >= 2);
	/* Without the DMA log, every page with data goes again at the stop. */
	if (no_dma_log)
		assert_true(st.final_pages >= 342);
	else
		assert_int_equal(st.final_pages, 0);
	printf("vmm_migrate: %u rounds, %llu pages, %llu after the stop\n",
	       st.rounds, (unsigned long long)st.pages,
	       (unsigned long long)st.final_pages);

	/* Every byte of RAM, the DMA's too. */
	assert_int_equal(crc32_le(~0u, d->b.vm.ram.hva + DMA_GPA, XFER),
			 f->dma_crc);
	assert_memory_equal(d->b.vm.ram.hva, s->b.vm.ram.hva, s->b.vm.ram.size);
	/* The source's device is stopped for good. */
	assert_int_equal(uvfio_client_mig_get_state(s->b.vd->c, &ms), 0);
	assert_int_equal(ms, UVFIO_MIG_STOP);
	assert_int_equal(uvfio_client_mig_get_state(d->b.vd->c, &ms), 0);
	assert_int_equal(ms, UVFIO_MIG_RUNNING);

	/* BAR0 where the guest put it, its registers with it. */
	d->bar0 = BAR0_MOVED;
	assert_int_equal(cfg_rd(d, PCI_BASE_ADDRESS_0, 4) & ~0xfu,
			 (uint32_t)BAR0_MOVED);
	assert_int_equal(mmio_dispatch(&d->b.vm.mmio, old_bar0, &v, 4, false),
			 0);
	assert_int_equal(rd(d, TESTDEV_REG_MAGIC), 0x600dcafe);
	assert_true(cfg_rd(d, PCI_COMMAND, 2) & PCI_COMMAND_MASTER);

	/* The pending vector fires once, when the guest unmasks it there. */
	assert_true(rd(d, TESTDEV_MSIX_PBA_OFF) & 2);
	assert_int_equal(msis(d, 1), 0);
	wr(d,
	   TESTDEV_MSIX_TABLE_OFF + PCI_MSIX_ENTRY_SIZE +
		   PCI_MSIX_ENTRY_VECTOR_CTRL,
	   0);
	wait_msi(d, 1, 1);
	assert_false(rd(d, TESTDEV_MSIX_PBA_OFF) & 2);
	/* DMA and MSI-X vector 0 work at the destination. */
	device_reads(d);
	wait_msi(d, 0, 1);
	usleep(20000);
	assert_int_equal(msis(d, 1), 1);
	assert_int_equal(__atomic_load_n(&d->others, __ATOMIC_SEQ_CST), 0);
	/* The source saw its DMA write's interrupt, and nothing since. */
	assert_int_equal(msis(s, 0), 1);
	assert_int_equal(msis(s, 1), 0);
}

static void test_vmm_migrate(void **state)
{
	migrate(state, false);
}

/* A device that cannot log its DMA: the stop sends all the data again. */
static void test_vmm_migrate_unlogged(void **state)
{
	migrate(state, true);
}

/* A destination that goes away: the source runs on as before. */
static void test_vmm_migrate_dst_gone(void **state)
{
	struct fx *f = *state;
	struct side *s = &f->src;
	enum uvfio_mig_state ms;
	int r;

	guest_before(s);
	close(f->sv[1]);
	f->sv[1] = -1;
	r = vm_migrate_out(&s->b.vm, f->sv[0], NULL);
	assert_true(r == -EPIPE || r == -ECONNRESET);
	assert_int_equal(uvfio_client_mig_get_state(s->b.vd->c, &ms), 0);
	assert_int_equal(ms, UVFIO_MIG_RUNNING);
	assert_int_equal(rd(s, TESTDEV_REG_MAGIC), 0x600dcafe);
	device_reads(s);
	wait_msi(s, 0, 1);
}

/* Frame header of the stream (uvfio_mig_frame) and a RAM frame's gpa. */
static bool next_frame(const uint8_t *p, size_t len, size_t *at,
		       struct uvfio_mig_frame *fr)
{
	if (*at + sizeof(*fr) > len)
		return false;
	memcpy(fr, p + *at, sizeof(*fr));
	*at += sizeof(*fr);
	return true;
}

/* A stream whose first RAM frame points past RAM is refused. */
static void test_vmm_migrate_bad_stream(void **state)
{
	struct fx *f = *state;
	struct side *s = &f->src, *d = &f->dst;
	struct uvfio_mig_frame fr;
	int mfd = memfd_create("vm-stream", MFD_CLOEXEC);
	uint8_t *p;
	size_t len, at = 0;
	uint64_t gpa = d->b.vm.ram.size;
	bool patched = false;

	assert_true(mfd >= 0);
	guest_before(s);
	assert_int_equal(vm_migrate_out(&s->b.vm, mfd, NULL), 0);
	len = (size_t)lseek(mfd, 0, SEEK_END);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(p != MAP_FAILED);
	while (!patched && next_frame(p, len, &at, &fr)) {
		if (fr.index == UVFIO_MIG_FRAME_USER_BASE + 2) {
			memcpy(p + at, &gpa, sizeof(gpa));
			patched = true;
		}
		at += fr.length;
	}
	assert_true(patched);
	assert_int_equal(lseek(mfd, 0, SEEK_SET), 0);
	assert_int_equal(vm_migrate_in(&d->b.vm, mfd), -EBADMSG);
	munmap(p, len);
	close(mfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vmm_migrate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vmm_migrate_unlogged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmm_migrate_dst_gone,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmm_migrate_bad_stream,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
