// SPDX-License-Identifier: MIT
/*
 * MSI, MSI-X and INTx emulation on the VMM side, end to end: uvfio-testdev
 * runs as its own process and raises interrupts when told to through its
 * registers; this process is the VMM, with the client's emulation on the
 * userspace router, whose delivery callback records every (address,
 * data).  All guest accesses go through uvfio_client_cfg_* and
 * uvfio_client_bar_*, as a VMM's trapped accesses would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>

#include "regs.h"
#include "testdev_proc.h"

#define MAX_EV 8192
#define WAIT_MS 3000
/* Long enough for a stray second delivery to show up. */
#define ADDR(v) (0xfee00000ull | ((uint64_t)(v)&0xff) << 12)
#define DATA(v) (0x4000u + (v))
#define PIN_ADDRESS UINT64_MAX /* the userspace router's pin routes */

struct rec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int n;
	struct uvfio_msi_msg ev[MAX_EV];
};

struct fixture {
	struct testdev_proc dev;
	struct uvfio_client *c;
	struct uvfio_irq_router *r;
	struct rec rec;
	uint8_t msi; /* capability offsets */
	uint8_t msix;
	int fds; /* our open fds after attaching */
};

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct rec *r = opaque;

	pthread_mutex_lock(&r->lock);
	if (r->n < MAX_EV) {
		r->ev[r->n].address = address;
		r->ev[r->n].data = data;
	}
	r->n++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Waits until n deliveries were seen or ms passed; returns the count. */
static unsigned int wait_n(struct rec *r, unsigned int n, int ms)
{
	struct timespec ts;
	unsigned int got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (r->n < n && pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0)
		;
	got = r->n;
	pthread_mutex_unlock(&r->lock);
	return got;
}

static unsigned int count(struct rec *r)
{
	return wait_n(r, 0, 0);
}

/*
 * Everything raised so far has reached the record: testdev raises before
 * it answers the write that asked (no worker here), and the flush waits
 * for the router's thread to handle every eventfd written before it.
 */
static void settle(struct fixture *f)
{
	assert_int_equal(uvfio_irq_router_flush(f->r), 0);
}

/* Exactly one more delivery, carrying (address, data). */
static void expect_one(struct fixture *f, unsigned int before, uint64_t address,
		       uint32_t data)
{
	assert_int_equal(wait_n(&f->rec, before + 1, WAIT_MS), before + 1);
	settle(f);
	assert_int_equal(count(&f->rec), before + 1);
	pthread_mutex_lock(&f->rec.lock);
	assert_int_equal(f->rec.ev[before].address, address);
	assert_int_equal(f->rec.ev[before].data, data);
	pthread_mutex_unlock(&f->rec.lock);
}

static void expect_none(struct fixture *f, unsigned int before)
{
	settle(f);
	assert_int_equal(count(&f->rec), before);
}

static int bar_w32(struct fixture *f, uint64_t off, uint32_t v)
{
	return uvfio_client_bar_write(f->c, 0, off, &v, 4);
}

static uint32_t bar_r32(struct fixture *f, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(uvfio_client_bar_read(f->c, 0, off, &v, 4), 0);
	return v;
}

static uint16_t cfg_r16(struct fixture *f, uint32_t off)
{
	uint16_t v = 0xdead;

	assert_int_equal(uvfio_client_cfg_read(f->c, off, &v, 2), 0);
	return v;
}

static uint32_t cfg_r32(struct fixture *f, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(uvfio_client_cfg_read(f->c, off, &v, 4), 0);
	return v;
}

static int cfg_w16(struct fixture *f, uint32_t off, uint16_t v)
{
	return uvfio_client_cfg_write(f->c, off, &v, 2);
}

static int cfg_w32(struct fixture *f, uint32_t off, uint32_t v)
{
	return uvfio_client_cfg_write(f->c, off, &v, 4);
}

/* The device raises vector number (1-based) of type, as its driver asks. */
static void raise_irq(struct fixture *f, uint32_t type, uint32_t number)
{
	static const uint32_t cmd[] = { TESTDEV_CMD_RAISE_INTX,
					TESTDEV_CMD_RAISE_MSI,
					TESTDEV_CMD_RAISE_MSIX };

	assert_int_equal(bar_w32(f, TESTDEV_REG_IRQ_TYPE, type), 0);
	assert_int_equal(bar_w32(f, TESTDEV_REG_IRQ_NUMBER, number), 0);
	assert_int_equal(bar_w32(f, TESTDEV_REG_COMMAND, cmd[type]), 0);
}

static void raise_msix(struct fixture *f, uint32_t v)
{
	raise_irq(f, TESTDEV_IRQ_MSIX, v + 1);
}

#define ENT(v) (TESTDEV_MSIX_TABLE_OFF + (uint64_t)(v)*16)

/* A guest's dword writes to one table entry. */
static int set_entry(struct fixture *f, uint32_t v, uint64_t addr,
		     uint32_t data, bool masked)
{
	int r = bar_w32(f, ENT(v) + 12, 1);

	if (!r)
		r = bar_w32(f, ENT(v), (uint32_t)addr);
	if (!r)
		r = bar_w32(f, ENT(v) + 4, (uint32_t)(addr >> 32));
	if (!r)
		r = bar_w32(f, ENT(v) + 8, data);
	if (!r)
		r = bar_w32(f, ENT(v) + 12, masked);
	return r;
}

static void vmask(struct fixture *f, uint32_t v, bool masked)
{
	assert_int_equal(bar_w32(f, ENT(v) + 12, masked), 0);
}

static int msix_ctl(struct fixture *f, uint16_t set, uint16_t clear)
{
	uint16_t fl = cfg_r16(f, f->msix + PCI_MSIX_FLAGS);

	return cfg_w16(f, f->msix + PCI_MSIX_FLAGS,
		       (uint16_t)((fl | set) & ~clear));
}

static bool pba_bit(struct fixture *f, uint32_t v)
{
	uint64_t q = 0;

	assert_int_equal(
		uvfio_client_bar_read(f->c, 0,
				      TESTDEV_MSIX_PBA_OFF + v / 64 * 8, &q, 8),
		0);
	return q >> (v % 64) & 1;
}

static struct uvfio_client_vector vec(struct fixture *f, uint32_t v)
{
	struct uvfio_client_vector out;

	assert_int_equal(uvfio_client_msix_vector(f->c, v, &out), 0);
	return out;
}

static uint32_t routes(struct fixture *f)
{
	struct uvfio_irq_router_stats s;

	uvfio_irq_router_stats(f->r, &s);
	return s.routes;
}

static uint64_t commits(struct fixture *f)
{
	struct uvfio_irq_router_stats s;

	uvfio_irq_router_stats(f->r, &s);
	return s.commits;
}

static void find_caps(struct fixture *f)
{
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	uint8_t raw[UVFIO_PCI_CFG_SIZE];

	assert_int_equal(uvfio_client_cfg_read(f->c, 0, raw, sizeof(raw)), 0);
	assert_non_null(cfg);
	uvfio_pci_load(cfg, raw, sizeof(raw));
	f->msi = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSI);
	f->msix = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX);
	uvfio_pci_cfg_free(cfg);
	assert_true(f->msi && f->msix);
}

static int start(void **state, uint32_t router_flags)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->rec.lock, NULL);
	pthread_cond_init(&f->rec.cond, NULL);
	assert_int_equal(testdev_start(&f->dev, NULL), 0);
	f->c = uvfio_client_connect(f->dev.sock, NULL);
	assert_non_null(f->c);
	f->r = uvfio_irq_router_new_user(deliver, &f->rec, router_flags);
	assert_non_null(f->r);
	assert_int_equal(uvfio_client_irq_attach(f->c, f->r), 0);
	/* After attach: the client keeps region fds until it closes. */
	f->fds = proc_fd_count(getpid());
	find_caps(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start(state, 0);
}

static int setup_direct(void **state)
{
	return start(state, UVFIO_ROUTER_DIRECT);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uvfio_client_irq_detach(f->c);
	/* Every eventfd and route is gone with the emulation. */
	assert_int_equal(routes(f), 0);
	assert_int_equal(proc_fd_count(getpid()), f->fds);
	uvfio_irq_router_free(f->r);
	uvfio_client_close(f->c);
	assert_true(testdev_alive(&f->dev));
	assert_int_equal(testdev_stop(&f->dev), 0);
	pthread_cond_destroy(&f->rec.cond);
	pthread_mutex_destroy(&f->rec.lock);
	free(f);
	return 0;
}

/* Vectors 0..n-1 programmed unmasked, then MSI-X enabled. */
static void msix_up(struct fixture *f, uint32_t n)
{
	for (uint32_t v = 0; v < n; v++)
		assert_int_equal(set_entry(f, v, ADDR(v), DATA(v), false), 0);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), 0);
	assert_true(routes(f) >= n);
	assert_true(cfg_r16(f, f->msix + PCI_MSIX_FLAGS) &
		    PCI_MSIX_FLAGS_ENABLE);
}

static void test_msix_deliver(void **state)
{
	struct fixture *f = *state;

	msix_up(f, 8);
	for (uint32_t v = 0; v < 8; v++) {
		unsigned int n = count(&f->rec);
		struct uvfio_client_vector cv = vec(f, v);

		assert_true(cv.enabled);
		assert_false(cv.masked);
		assert_true(cv.route >= 0);
		assert_int_equal(cv.address, ADDR(v));
		raise_msix(f, v);
		expect_one(f, n, ADDR(v), DATA(v));
	}
	/*
	 * A vector without an address has no route.  Masked (out of
	 * reset), its interrupt pends and goes out once it is programmed
	 * and unmasked, with the new message.
	 */
	assert_int_equal(vec(f, 8).route, -1);
	assert_true(vec(f, 8).masked);
	raise_msix(f, 8);
	expect_none(f, 8);
	assert_true(pba_bit(f, 8));
	assert_int_equal(set_entry(f, 8, ADDR(8), DATA(8), false), 0);
	assert_true(vec(f, 8).route >= 0);
	expect_one(f, 8, ADDR(8), DATA(8));
	assert_false(pba_bit(f, 8));
	raise_msix(f, 8);
	expect_one(f, 9, ADDR(8), DATA(8));
	/* Unmasked without an address, an interrupt goes nowhere. */
	vmask(f, 9, false);
	raise_msix(f, 9);
	expect_none(f, 10);
	assert_false(pba_bit(f, 9));
	assert_int_equal(set_entry(f, 9, ADDR(9), DATA(9), false), 0);
	expect_none(f, 10);
	raise_msix(f, 9);
	expect_one(f, 10, ADDR(9), DATA(9));

	assert_int_equal(msix_ctl(f, 0, PCI_MSIX_FLAGS_ENABLE), 0);
	assert_int_equal(routes(f), 0);
	assert_false(vec(f, 0).enabled);
	raise_msix(f, 0);
	expect_none(f, 11);
}

static void test_msix_vector_mask(void **state)
{
	struct fixture *f = *state;
	unsigned int n;

	msix_up(f, 4);
	vmask(f, 3, true);
	assert_true(vec(f, 3).masked);
	raise_msix(f, 3);
	expect_none(f, 0);
	assert_true(pba_bit(f, 3));
	assert_false(pba_bit(f, 2));
	assert_true(vec(f, 3).pending);
	/* A second interrupt while masked is the same pending bit. */
	raise_msix(f, 3);
	/* Others are not held up. */
	raise_msix(f, 2);
	expect_one(f, 0, ADDR(2), DATA(2));
	vmask(f, 3, false);
	expect_one(f, 1, ADDR(3), DATA(3));
	assert_false(pba_bit(f, 3));
	assert_false(vec(f, 3).pending);
	/* Unmasked again, it delivers straight away. */
	n = count(&f->rec);
	raise_msix(f, 3);
	expect_one(f, n, ADDR(3), DATA(3));
	/* Masking with nothing pending delivers nothing on unmask. */
	vmask(f, 1, true);
	vmask(f, 1, false);
	expect_none(f, n + 1);
}

static void test_msix_maskall(void **state)
{
	struct fixture *f = *state;

	msix_up(f, 4);
	vmask(f, 2, true);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_MASKALL, 0), 0);
	assert_true(cfg_r16(f, f->msix + PCI_MSIX_FLAGS) &
		    PCI_MSIX_FLAGS_MASKALL);
	for (uint32_t v = 0; v < 3; v++) {
		assert_true(vec(f, v).masked);
		raise_msix(f, v);
	}
	expect_none(f, 0);
	for (uint32_t v = 0; v < 3; v++)
		assert_true(pba_bit(f, v));
	assert_false(pba_bit(f, 3));
	/* The table still reads the vector's own mask bits. */
	assert_int_equal(bar_r32(f, ENT(0) + 12), 0);
	assert_int_equal(bar_r32(f, ENT(2) + 12), 1);

	/* Clearing the function mask releases 0 and 1, not 2. */
	assert_int_equal(msix_ctl(f, 0, PCI_MSIX_FLAGS_MASKALL), 0);
	assert_int_equal(wait_n(&f->rec, 2, WAIT_MS), 2);
	expect_none(f, 2);
	pthread_mutex_lock(&f->rec.lock);
	assert_true(f->rec.ev[0].data != f->rec.ev[1].data);
	for (unsigned int i = 0; i < 2; i++)
		assert_true(f->rec.ev[i].data == DATA(0) ||
			    f->rec.ev[i].data == DATA(1));
	pthread_mutex_unlock(&f->rec.lock);
	assert_false(pba_bit(f, 0));
	assert_false(pba_bit(f, 1));
	assert_true(pba_bit(f, 2));
	vmask(f, 2, false);
	expect_one(f, 2, ADDR(2), DATA(2));
	assert_false(pba_bit(f, 2));
}

static void test_msix_reprogram(void **state)
{
	struct fixture *f = *state;

	msix_up(f, 2);
	/* Live and unmasked: the route changes in place. */
	assert_int_equal(bar_w32(f, ENT(0), 0xfee0f000), 0);
	assert_int_equal(bar_w32(f, ENT(0) + 8, 0x77), 0);
	assert_int_equal(vec(f, 0).data, 0x77);
	raise_msix(f, 0);
	expect_one(f, 0, 0xfee0f000, 0x77);
	/* A qword write of the address, as a 64-bit guest does. */
	uint64_t a = 0x1fee0a000ull;

	assert_int_equal(uvfio_client_bar_write(f->c, 0, ENT(1), &a, 8), 0);
	raise_msix(f, 1);
	expect_one(f, 1, a, DATA(1));
	/* Masked, pending, reprogrammed: unmask sends the new message. */
	vmask(f, 0, true);
	raise_msix(f, 0);
	expect_none(f, 2);
	assert_int_equal(bar_w32(f, ENT(0) + 8, 0x99), 0);
	vmask(f, 0, false);
	expect_one(f, 2, 0xfee0f000, 0x99);
}

/* Table and PBA accesses of every shape, and their bounds. */
static void test_msix_table_access(void **state)
{
	struct fixture *f = *state;
	uint8_t b[32];
	uint64_t q;

	/* Byte writes assemble an entry; reserved bits stay zero. */
	const uint8_t ent[16] = {
		0x03, 0x10, 0xe0, 0xfe, 0,    0,    0,	  0,
		0x42, 0,    0,	  0,	0xff, 0xff, 0xff, 0xff
	};

	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(
			uvfio_client_bar_write(f->c, 0, ENT(5) + i, &ent[i], 1),
			0);
	struct uvfio_client_vector cv = vec(f, 5);

	assert_int_equal(cv.address, 0xfee01000);
	assert_int_equal(cv.data, 0x42);
	assert_true(cv.masked);
	assert_int_equal(bar_r32(f, ENT(5) + 12), 1);
	/* An unaligned write across two entries. */
	q = 0xfee02000ull << 32;
	assert_int_equal(uvfio_client_bar_write(f->c, 0, ENT(5) + 12, &q, 8),
			 0);
	assert_false(vec(f, 5).masked);
	assert_int_equal(vec(f, 6).address, 0xfee02000);
	/* A read across the register space and the table. */
	assert_int_equal(bar_w32(f, ENT(0), 0xfee0c000), 0);
	memset(b, 0xaa, sizeof(b));
	assert_int_equal(uvfio_client_bar_read(f->c, 0, ENT(0) - 4, b, 8), 0);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	assert_int_equal(b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24,
			 0xfee0c000);
	assert_int_equal(uvfio_client_bar_read(f->c, 0, ENT(5), b, 32), 0);
	assert_int_equal(b[0], 0x00);
	assert_int_equal(b[1], 0x10);
	assert_int_equal(b[8], 0x42);
	assert_int_equal(b[16 + 1], 0x20);
	/* The PBA is read-only. */
	q = ~0ull;
	assert_int_equal(
		uvfio_client_bar_write(f->c, 0, TESTDEV_MSIX_PBA_OFF, &q, 8),
		0);
	assert_false(pba_bit(f, 0));
	/* Nothing is routed while MSI-X is off. */
	assert_int_equal(routes(f), 0);
	assert_int_equal(vec(f, 5).route, -1);

	/* Bounds. */
	assert_int_equal(
		uvfio_client_bar_read(f->c, 0, TESTDEV_BAR0_SIZE - 4, b, 8),
		-EINVAL);
	assert_int_equal(uvfio_client_bar_write(f->c, 0, UINT64_MAX - 1, b, 4),
			 -EINVAL);
	assert_int_equal(uvfio_client_bar_read(f->c, 6, 0, b, 4), -EINVAL);
	assert_int_equal(uvfio_client_bar_read(f->c, 0, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_client_cfg_read(f->c, 4094, b, 4), -EINVAL);
	assert_int_equal(uvfio_client_cfg_write(f->c, UINT32_MAX, b, 1),
			 -EINVAL);
	assert_int_equal(uvfio_client_msix_vector(f->c, 2048, &cv), -EINVAL);
	assert_int_equal(uvfio_client_msi_vector(f->c, 32, &cv), -EINVAL);

	/* Read-only capability fields do not move. */
	uint32_t table = cfg_r32(f, f->msix + PCI_MSIX_TABLE);

	assert_int_equal(table, TESTDEV_MSIX_TABLE_OFF);
	assert_int_equal(cfg_w32(f, f->msix + PCI_MSIX_TABLE, 0x5000 | 3), 0);
	assert_int_equal(cfg_r32(f, f->msix + PCI_MSIX_TABLE), table);
	assert_int_equal(cfg_w16(f, f->msix + PCI_MSIX_FLAGS, 0x0003), 0);
	assert_int_equal(cfg_r16(f, f->msix + PCI_MSIX_FLAGS),
			 TESTDEV_MSIX_VECTORS - 1);
}

static void test_msix_2048(void **state)
{
	struct fixture *f = *state;
	const unsigned int nv = TESTDEV_MSIX_VECTORS;
	uint32_t max = uvfio_client_caps(f->c)->max_msg_fds;
	struct uvfio_client_stats s0, s1;
	uint64_t c0;

	if (max > 253)
		max = 253;
	for (uint32_t v = 0; v < nv; v++)
		assert_int_equal(set_entry(f, v, ADDR(v), 0x100000u + v, false),
				 0);
	uvfio_client_stats(f->c, &s0);
	c0 = commits(f);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), 0);
	uvfio_client_stats(f->c, &s1);
	/* SET_IRQS split at max_msg_fds, plus the config write forwarded. */
	print_message("2048 vectors: %llu requests, %llu commits\n",
		      (unsigned long long)(s1.requests - s0.requests),
		      (unsigned long long)(commits(f) - c0));
	assert_true(s1.requests - s0.requests <= (nv + max - 1) / max + 2);
	assert_true(commits(f) - c0 <= 2);
	assert_int_equal(routes(f), nv);
	assert_int_equal(proc_fd_count(getpid()), f->fds + (int)nv);

	raise_msix(f, 0);
	expect_one(f, 0, ADDR(0), 0x100000u);
	raise_msix(f, 1000);
	expect_one(f, 1, ADDR(1000), 0x100000u + 1000);
	raise_msix(f, nv - 1);
	expect_one(f, 2, ADDR(nv - 1), 0x100000u + nv - 1);

	/* The function mask over all of them, batched without commits. */
	c0 = commits(f);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_MASKALL, 0), 0);
	raise_msix(f, nv - 1);
	raise_msix(f, 64);
	expect_none(f, 3);
	assert_true(pba_bit(f, nv - 1));
	assert_true(pba_bit(f, 64));
	assert_false(pba_bit(f, 63));
	assert_int_equal(msix_ctl(f, 0, PCI_MSIX_FLAGS_MASKALL), 0);
	assert_int_equal(wait_n(&f->rec, 5, WAIT_MS), 5);
	assert_false(pba_bit(f, nv - 1));
	assert_int_equal(commits(f), c0);

	c0 = commits(f);
	assert_int_equal(msix_ctl(f, 0, PCI_MSIX_FLAGS_ENABLE), 0);
	assert_int_equal(commits(f) - c0, 1);
	assert_int_equal(routes(f), 0);
	assert_int_equal(proc_fd_count(getpid()), f->fds);
	expect_none(f, 5);
}

/* No eventfds to be had: the enable fails, and nothing is left over. */
static void test_msix_no_fds(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, low;

	for (uint32_t v = 0; v < 4; v++)
		assert_int_equal(set_entry(f, v, ADDR(v), DATA(v), false), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)f->fds + 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), -EMFILE);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_false(cfg_r16(f, f->msix + PCI_MSIX_FLAGS) &
		     PCI_MSIX_FLAGS_ENABLE);
	assert_false(vec(f, 0).enabled);
	assert_int_equal(routes(f), 0);
	assert_int_equal(proc_fd_count(getpid()), f->fds);
	/* And it works once there are. */
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), 0);
	raise_msix(f, 3);
	expect_one(f, 0, ADDR(3), DATA(3));
}

/* The direct policy refuses data above 16 bits: the guest access fails. */
static void test_msix_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(set_entry(f, 0, ADDR(0), 0x10000, false), 0);
	assert_int_equal(set_entry(f, 1, ADDR(1), 0x21, false), 0);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), -ERANGE);
	assert_false(cfg_r16(f, f->msix + PCI_MSIX_FLAGS) &
		     PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(routes(f), 0);
	assert_int_equal(proc_fd_count(getpid()), f->fds);

	assert_int_equal(bar_w32(f, ENT(0) + 8, 0x20), 0);
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), 0);
	raise_msix(f, 0);
	expect_one(f, 0, ADDR(0), 0x20);
	/* Reprogramming a live vector out of range fails and changes none. */
	assert_int_equal(bar_w32(f, ENT(0) + 8, 0x12345), -ERANGE);
	assert_int_equal(bar_r32(f, ENT(0) + 8), 0x20);
	raise_msix(f, 0);
	expect_one(f, 1, ADDR(0), 0x20);
	/* Two vectors on one number: the second is refused. */
	assert_int_equal(bar_w32(f, ENT(1) + 8, 0x20), -EEXIST);
	assert_int_equal(vec(f, 1).data, 0x21);
	raise_msix(f, 1);
	expect_one(f, 2, ADDR(1), 0x21);
	/* A new vector that cannot be routed is refused as it is written. */
	assert_int_equal(bar_w32(f, ENT(2) + 8, 0x30000), 0);
	assert_int_equal(bar_w32(f, ENT(2), 0xfee00000), -ERANGE);
	assert_int_equal(vec(f, 2).address, 0);
	assert_int_equal(vec(f, 2).route, -1);
}

static void test_msi_mme(void **state)
{
	struct fixture *f = *state;
	uint32_t m = f->msi;
	uint16_t fl = cfg_r16(f, m + PCI_MSI_FLAGS);
	struct uvfio_client_vector cv;

	/* 64-bit, per-vector masks, 32 vectors: as the device says. */
	assert_true(fl & PCI_MSI_FLAGS_64BIT);
	assert_true(fl & PCI_MSI_FLAGS_MASKBIT);
	assert_int_equal((fl & PCI_MSI_FLAGS_QMASK) >> 1, 5);
	assert_int_equal(cfg_w32(f, m + PCI_MSI_ADDRESS_LO, 0xfee00003), 0);
	assert_int_equal(cfg_r32(f, m + PCI_MSI_ADDRESS_LO), 0xfee00000);
	assert_int_equal(cfg_w32(f, m + PCI_MSI_ADDRESS_HI, 0), 0);
	assert_int_equal(cfg_w16(f, m + PCI_MSI_DATA_64, 0x50), 0);
	assert_int_equal(cfg_w32(f, m + PCI_MSI_MASK_64, 1u << 2), 0);
	assert_int_equal(
		cfg_w16(f, m + PCI_MSI_FLAGS,
			(uint16_t)(fl | 2 << 4 | PCI_MSI_FLAGS_ENABLE)),
		0);
	assert_int_equal(routes(f), 4);
	assert_int_equal(cfg_r16(f, m + PCI_MSI_FLAGS),
			 fl | 2 << 4 | PCI_MSI_FLAGS_ENABLE);
	/* MSI-X cannot come on beside MSI. */
	assert_int_equal(msix_ctl(f, PCI_MSIX_FLAGS_ENABLE, 0), -EBUSY);
	assert_false(cfg_r16(f, f->msix + PCI_MSIX_FLAGS) &
		     PCI_MSIX_FLAGS_ENABLE);

	unsigned int n = 0;

	for (uint32_t i = 0; i < 4; i++) {
		raise_irq(f, TESTDEV_IRQ_MSI, i + 1);
		if (i == 2) {
			expect_none(f, n);
			continue;
		}
		expect_one(f, n++, 0xfee00000, 0x50 | i);
	}
	assert_int_equal(cfg_r32(f, m + PCI_MSI_PENDING_64), 1u << 2);
	assert_int_equal(uvfio_client_msi_vector(f->c, 2, &cv), 0);
	assert_true(cv.masked && cv.pending && cv.enabled);
	assert_int_equal(cv.data, 0x52);
	assert_int_equal(cfg_w32(f, m + PCI_MSI_MASK_64, 0), 0);
	expect_one(f, n++, 0xfee00000, 0x52);
	assert_int_equal(cfg_r32(f, m + PCI_MSI_PENDING_64), 0);
	/* Vector 4 is beyond what was enabled. */
	raise_irq(f, TESTDEV_IRQ_MSI, 5);
	expect_none(f, n);
	assert_int_equal(uvfio_client_msi_vector(f->c, 4, &cv), 0);
	assert_false(cv.enabled);
	/* New data while enabled reaches all four routes at once. */
	uint64_t c0 = commits(f);

	assert_int_equal(cfg_w16(f, m + PCI_MSI_DATA_64, 0x60), 0);
	assert_int_equal(commits(f) - c0, 1);
	raise_irq(f, TESTDEV_IRQ_MSI, 2);
	expect_one(f, n++, 0xfee00000, 0x61);
	/* With 32 vectors all 32 mask bits are writable. */
	assert_int_equal(cfg_w32(f, m + PCI_MSI_MASK_64, ~0u), 0);
	assert_int_equal(cfg_r32(f, m + PCI_MSI_MASK_64), ~0u);
	assert_int_equal(cfg_w32(f, m + PCI_MSI_MASK_64, 0), 0);

	assert_int_equal(cfg_w16(f, m + PCI_MSI_FLAGS, fl), 0);
	assert_int_equal(routes(f), 0);
	raise_irq(f, TESTDEV_IRQ_MSI, 1);
	expect_none(f, n);
	/* With MSI off, MSI-X may come on. */
	msix_up(f, 1);
	raise_msix(f, 0);
	expect_one(f, n, ADDR(0), DATA(0));
}

/* No eventfds for MSI's 32 vectors: refused, nothing left over. */
static void test_msi_no_fds(void **state)
{
	struct fixture *f = *state;
	uint32_t m = f->msi;
	uint16_t fl = cfg_r16(f, m + PCI_MSI_FLAGS);
	uint16_t on = (uint16_t)(fl | 5 << 4 | PCI_MSI_FLAGS_ENABLE);
	struct rlimit old, low;

	assert_int_equal(cfg_w32(f, m + PCI_MSI_ADDRESS_LO, 0xfee00000), 0);
	assert_int_equal(cfg_w16(f, m + PCI_MSI_DATA_64, 0x80), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)f->fds + 8;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(cfg_w16(f, m + PCI_MSI_FLAGS, on), -EMFILE);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(cfg_r16(f, m + PCI_MSI_FLAGS), fl);
	assert_int_equal(routes(f), 0);
	assert_int_equal(proc_fd_count(getpid()), f->fds);
	assert_int_equal(cfg_w16(f, m + PCI_MSI_FLAGS, on), 0);
	assert_int_equal(routes(f), 32);
	raise_irq(f, TESTDEV_IRQ_MSI, 32);
	expect_one(f, 0, 0xfee00000, 0x80 | 31);
}

static void test_intx(void **state)
{
	struct fixture *f = *state;
	unsigned int n;

	assert_int_equal(uvfio_client_intx_eoi(f->c), -ENODEV);
	assert_int_equal(uvfio_client_intx_enable(f->c, 5), 0);
	assert_int_equal(uvfio_client_intx_enable(f->c, 5), -EBUSY);
	raise_irq(f, TESTDEV_IRQ_INTX, 0);
	expect_one(f, 0, PIN_ADDRESS, 5);
	/* Automasked until the guest's EOI. */
	raise_irq(f, TESTDEV_IRQ_INTX, 0);
	expect_none(f, 1);
	/* The EOI unmasks: what was raised meanwhile fires, once. */
	assert_int_equal(uvfio_client_intx_eoi(f->c), 0);
	expect_one(f, 1, PIN_ADDRESS, 5);
	assert_int_equal(uvfio_client_intx_eoi(f->c), 0);
	expect_none(f, 2);
	raise_irq(f, TESTDEV_IRQ_INTX, 0);
	expect_one(f, 2, PIN_ADDRESS, 5);
	assert_int_equal(uvfio_client_intx_eoi(f->c), 0);
	expect_none(f, 3);
	n = 3;

	/* MSI-X takes over, INTx comes back after. */
	msix_up(f, 1);
	raise_irq(f, TESTDEV_IRQ_INTX, 0);
	expect_none(f, n);
	raise_msix(f, 0);
	expect_one(f, n++, ADDR(0), DATA(0));
	assert_int_equal(msix_ctl(f, 0, PCI_MSIX_FLAGS_ENABLE), 0);
	raise_irq(f, TESTDEV_IRQ_INTX, 0);
	expect_one(f, n++, PIN_ADDRESS, 5);

	assert_int_equal(uvfio_client_intx_disable(f->c), 0);
	assert_int_equal(routes(f), 0);
	assert_int_equal(uvfio_client_intx_eoi(f->c), -ENODEV);
	raise_irq(f, TESTDEV_IRQ_INTX, 0);
	expect_none(f, n);
	/* A pin the router does not have. */
	assert_int_equal(uvfio_client_intx_enable(f->c, 99), -EINVAL);
	assert_int_equal(routes(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msix_deliver, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_vector_mask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_maskall, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_reprogram, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_table_access, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_2048, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_no_fds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_refused, setup_direct,
						teardown),
		cmocka_unit_test_setup_teardown(test_msi_mme, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_no_fds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
