// SPDX-License-Identifier: MIT
/*
 * The interrupt emulation's state moves between VMMs: a source client on
 * one uvfio-testdev and its router, a destination client on another
 * testdev and another router (both userspace routers recording each
 * delivery).  The guest programs MSI-X on the source (messages, a masked
 * vector with an interrupt pending, the function mask off), the state is
 * saved and loaded on the destination, and there: the table and PBA
 * read the same, an unmasked vector's interrupt arrives with its
 * message, the pending one arrives once on unmask, and nothing else
 * does.  MSI the same way, with its per-vector mask and pending bits.
 * Damaged blobs are refused and change nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>

#include "regs.h"
#include "testdev_proc.h"

#define NV 8 /* MSI-X vectors the test programs */
#define WAIT_MS 3000
#define ADDR(v) (0xfee00000ull | (uint64_t)(v) << 12)
#define DATA(v) (0x4100u + (v))

struct side {
	struct testdev_proc dev;
	struct uvfio_client *c;
	struct uvfio_irq_router *r;
	pthread_mutex_t lock;
	unsigned int n;
	uint64_t last_addr;
	uint32_t last_data;
	uint8_t msi, msix; /* capability offsets */
};

struct fx {
	struct side src, dst;
};

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct side *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->n++;
	s->last_addr = address;
	s->last_data = data;
	pthread_mutex_unlock(&s->lock);
}

static unsigned int delivered(struct side *s)
{
	unsigned int n;

	assert_int_equal(uvfio_irq_router_flush(s->r), 0);
	pthread_mutex_lock(&s->lock);
	n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* One more delivery, of (addr, data). */
static void expect_one(struct side *s, unsigned int before, uint64_t addr,
		       uint32_t data)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (delivered(s) > before)
			break;
		usleep(200);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 < WAIT_MS);
	assert_int_equal(delivered(s), before + 1);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->last_addr, addr);
	assert_int_equal(s->last_data, data);
	pthread_mutex_unlock(&s->lock);
}

static uint8_t find_cap(struct uvfio_client *c, uint8_t id)
{
	uint8_t at = 0, cid = 0;

	assert_int_equal(uvfio_client_cfg_read(c, PCI_CAPABILITY_LIST, &at, 1),
			 0);
	for (int n = 0; at && n < 48; n++) {
		assert_int_equal(uvfio_client_cfg_read(c, at, &cid, 1), 0);
		if (cid == id)
			return at;
		assert_int_equal(uvfio_client_cfg_read(c, at + 1, &at, 1), 0);
	}
	fail_msg("no capability %#x", id);
	return 0;
}

static void side_up(struct side *s)
{
	pthread_mutex_init(&s->lock, NULL);
	assert_int_equal(testdev_start(&s->dev, NULL), 0);
	s->c = uvfio_client_connect(s->dev.sock, NULL);
	s->r = uvfio_irq_router_new_user(deliver, s, 0);
	assert_non_null(s->c);
	assert_non_null(s->r);
	assert_int_equal(uvfio_client_irq_attach(s->c, s->r), 0);
	s->msi = find_cap(s->c, PCI_CAP_ID_MSI);
	s->msix = find_cap(s->c, PCI_CAP_ID_MSIX);
}

static void side_down(struct side *s)
{
	uvfio_client_irq_detach(s->c);
	uvfio_client_close(s->c);
	uvfio_irq_router_free(s->r);
	assert_int_equal(testdev_stop(&s->dev), 0);
	pthread_mutex_destroy(&s->lock);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	side_up(&f->src);
	side_up(&f->dst);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	side_down(&f->src);
	side_down(&f->dst);
	free(f);
	return 0;
}

static void reg(struct side *s, uint32_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_bar_write(s->c, TESTDEV_REG_BAR, off, &v,
						4),
			 0);
}

/* testdev raises before it answers the write that asked. */
static void raise_irq(struct side *s, uint32_t cmd, uint32_t v)
{
	reg(s, TESTDEV_REG_IRQ_NUMBER, v + 1);
	reg(s, TESTDEV_REG_COMMAND, cmd);
}

static void entry(struct side *s, uint32_t v, bool masked)
{
	uint32_t e[4] = { (uint32_t)ADDR(v), 0, DATA(v),
			  masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0 };

	assert_int_equal(uvfio_client_bar_write(s->c, TESTDEV_REG_BAR,
						TESTDEV_MSIX_TABLE_OFF + v * 16,
						e, sizeof(e)),
			 0);
}

static void cfg16(struct side *s, uint32_t off, uint16_t v)
{
	assert_int_equal(uvfio_client_cfg_write(s->c, off, &v, 2), 0);
}

static uint64_t pba(struct side *s)
{
	uint64_t p = 0;

	assert_int_equal(uvfio_client_bar_read(s->c, TESTDEV_REG_BAR,
					       TESTDEV_MSIX_PBA_OFF, &p, 8),
			 0);
	return p;
}

static uint8_t *save(struct side *s, size_t *len)
{
	ssize_t n = uvfio_client_irq_save(s->c, NULL, 0);
	uint8_t *b;

	assert_true(n > 16);
	b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(uvfio_client_irq_save(s->c, b, (size_t)n - 1),
			 -ENOSPC);
	assert_int_equal(uvfio_client_irq_save(s->c, b, (size_t)n), n);
	*len = (size_t)n;
	return b;
}

static void test_msix_moves(void **state)
{
	struct fx *f = *state;
	struct side *s = &f->src, *d = &f->dst;
	uint8_t t_src[NV * 16], t_dst[NV * 16];
	unsigned int before;
	size_t len;
	uint8_t *blob;

	/* Vectors 0..NV-1 with their messages; 3 and 5 masked. */
	for (uint32_t v = 0; v < NV; v++)
		entry(s, v, v == 3 || v == 5);
	cfg16(s, s->msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE);
	before = delivered(s);
	raise_irq(s, TESTDEV_CMD_RAISE_MSIX, 2);
	expect_one(s, before, ADDR(2), DATA(2));
	raise_irq(s, TESTDEV_CMD_RAISE_MSIX, 3); /* masked: pending */
	assert_int_equal(delivered(s), before + 1);
	assert_int_equal(pba(s), 1u << 3);

	blob = save(s, &len);
	assert_int_equal(uvfio_client_irq_load(d->c, blob, len), 0);
	free(blob);
	/* The same table and PBA, enabled, nothing delivered by the load. */
	assert_int_equal(uvfio_client_bar_read(s->c, TESTDEV_REG_BAR,
					       TESTDEV_MSIX_TABLE_OFF, t_src,
					       sizeof(t_src)),
			 0);
	assert_int_equal(uvfio_client_bar_read(d->c, TESTDEV_REG_BAR,
					       TESTDEV_MSIX_TABLE_OFF, t_dst,
					       sizeof(t_dst)),
			 0);
	assert_memory_equal(t_src, t_dst, sizeof(t_src));
	assert_int_equal(pba(d), 1u << 3);
	assert_int_equal(delivered(d), 0);
	/* The destination's device raises: its router delivers. */
	raise_irq(d, TESTDEV_CMD_RAISE_MSIX, 6);
	expect_one(d, 0, ADDR(6), DATA(6));
	raise_irq(d, TESTDEV_CMD_RAISE_MSIX, 5); /* masked there too */
	assert_int_equal(delivered(d), 1);
	assert_int_equal(pba(d), 1u << 3 | 1u << 5);
	/* Unmasking 3 delivers its interrupt from the source, once. */
	entry(d, 3, false);
	expect_one(d, 1, ADDR(3), DATA(3));
	assert_int_equal(pba(d), 1u << 5);
	entry(d, 5, false);
	expect_one(d, 2, ADDR(5), DATA(5));
	assert_int_equal(pba(d), 0);
	assert_int_equal(delivered(d), 3);
}

static void test_msi_moves(void **state)
{
	struct fx *f = *state;
	struct side *s = &f->src, *d = &f->dst;
	uint16_t flags = 0;
	uint32_t mask_off, pend_off, v32;
	size_t len;
	uint8_t *blob;

	assert_int_equal(uvfio_client_cfg_read(s->c, s->msi + PCI_MSI_FLAGS,
					       &flags, 2),
			 0);
	assert_true(flags & PCI_MSI_FLAGS_64BIT);
	assert_true(flags & PCI_MSI_FLAGS_MASKBIT);
	mask_off = s->msi + PCI_MSI_MASK_64;
	pend_off = s->msi + PCI_MSI_PENDING_64;
	v32 = 0xfee01000u;
	assert_int_equal(uvfio_client_cfg_write(
				 s->c, s->msi + PCI_MSI_ADDRESS_LO, &v32, 4),
			 0);
	cfg16(s, s->msi + PCI_MSI_DATA_64, 0x4200);
	v32 = 1u << 1; /* vector 1 masked */
	assert_int_equal(uvfio_client_cfg_write(s->c, mask_off, &v32, 4), 0);
	/* Four vectors (Multiple Message Enable 2), enabled. */
	cfg16(s, s->msi + PCI_MSI_FLAGS,
	      (uint16_t)((flags & ~PCI_MSI_FLAGS_QSIZE) | (2 << 4) |
			 PCI_MSI_FLAGS_ENABLE));
	raise_irq(s, TESTDEV_CMD_RAISE_MSI, 1);
	assert_int_equal(delivered(s), 0);
	assert_int_equal(uvfio_client_cfg_read(s->c, pend_off, &v32, 4), 0);
	assert_int_equal(v32, 1u << 1);

	blob = save(s, &len);
	assert_int_equal(uvfio_client_irq_load(d->c, blob, len), 0);
	free(blob);
	assert_int_equal(uvfio_client_cfg_read(d->c, pend_off, &v32, 4), 0);
	assert_int_equal(v32, 1u << 1);
	raise_irq(d, TESTDEV_CMD_RAISE_MSI, 2);
	expect_one(d, 0, 0xfee01000u, 0x4202);
	v32 = 0;
	assert_int_equal(uvfio_client_cfg_write(d->c, mask_off, &v32, 4), 0);
	expect_one(d, 1, 0xfee01000u, 0x4201);
	assert_int_equal(uvfio_client_cfg_read(d->c, pend_off, &v32, 4), 0);
	assert_int_equal(v32, 0);
}

/* A damaged or foreign blob: refused, and the client unchanged. */
static void test_bad_blobs(void **state)
{
	struct fx *f = *state;
	struct side *s = &f->src, *d = &f->dst;
	unsigned int before;
	size_t len;
	uint8_t *blob, *bad;

	for (uint32_t v = 0; v < NV; v++)
		entry(s, v, false);
	cfg16(s, s->msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE);
	blob = save(s, &len);
	bad = malloc(len + 1);
	assert_non_null(bad);
	/* Short, long, and each header field changed. */
	assert_int_equal(uvfio_client_irq_load(d->c, blob, len - 1), -EINVAL);
	memcpy(bad, blob, len);
	bad[len] = 0;
	assert_int_equal(uvfio_client_irq_load(d->c, bad, len + 1), -EINVAL);
	assert_int_equal(uvfio_client_irq_load(d->c, blob, 3), -EINVAL);
	assert_int_equal(uvfio_client_irq_load(d->c, NULL, len), -EINVAL);
	for (unsigned int i = 0; i < 16; i++) {
		memcpy(bad, blob, len);
		bad[i] ^= 0x40;
		assert_int_equal(uvfio_client_irq_load(d->c, bad, len),
				 -EINVAL);
	}
	/* Nothing of it reached the destination: MSI-X is still off. */
	before = delivered(d);
	raise_irq(d, TESTDEV_CMD_RAISE_MSIX, 0);
	assert_int_equal(delivered(d), before);
	assert_int_equal(uvfio_client_irq_load(d->c, blob, len), 0);
	/* Once on, a second load is refused. */
	assert_int_equal(uvfio_client_irq_load(d->c, blob, len), -EBUSY);
	assert_int_equal(uvfio_client_irq_save(NULL, blob, len), -EINVAL);
	free(bad);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msix_moves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msi_moves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_blobs, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
