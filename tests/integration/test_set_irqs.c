// SPDX-License-Identifier: MIT
/*
 * SET_IRQS and GET_IRQ_INFO end to end, with this process as the client:
 *  - against uvfio-testdev, whose command register raises INTx, MSI and
 *    MSI-X vectors (synchronously: when the register write returns, the
 *    eventfd has been written or never will be);
 *  - against a device built here in-process on the server API, for what
 *    testdev cannot do: raising ERR and REQ, emulated and IMS backends,
 *    uvfio_dev_irq_mode().
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "regs.h"
#include "testdev_proc.h"

#define INTX VFIO_PCI_INTX_IRQ_INDEX
#define MSI VFIO_PCI_MSI_IRQ_INDEX
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define ERR VFIO_PCI_ERR_IRQ_INDEX
#define REQ VFIO_PCI_REQ_IRQ_INDEX

#define D_NONE VFIO_IRQ_SET_DATA_NONE
#define D_BOOL VFIO_IRQ_SET_DATA_BOOL
#define D_EFD VFIO_IRQ_SET_DATA_EVENTFD
#define A_MASK VFIO_IRQ_SET_ACTION_MASK
#define A_UNMASK VFIO_IRQ_SET_ACTION_UNMASK
#define A_TRIG VFIO_IRQ_SET_ACTION_TRIGGER

struct fixture {
	struct testdev_proc p;
	struct uvfio_client *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(testdev_start(&f->p, NULL), 0);
	f->c = uvfio_client_connect(f->p.sock, NULL);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uvfio_client_close(f->c);
	assert_true(testdev_alive(&f->p));
	assert_int_equal(testdev_stop(&f->p), 0);
	free(f);
	return 0;
}

static int set(struct uvfio_client *c, uint32_t index, uint32_t flags,
	       uint32_t start, uint32_t count, const void *data)
{
	return uvfio_client_set_irqs(c, index, flags, start, count, data);
}

static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(fd >= 0);
	return fd;
}

/* What the eventfd counted since last time (0: nothing). */
static uint64_t take(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

static uint64_t wait_take(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return 0;
	return take(fd);
}

/* Waits until the device's watcher has read eventfd fd: 1, or 0 at ms. */
static int wait_read_by_peer(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int i = 0; i < ms; i++) {
		if (poll(&p, 1, 0) == 0)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void reg_write(struct uvfio_client *c, uint32_t off, uint32_t v)
{
	assert_int_equal(
		uvfio_client_region_write(c, TESTDEV_REG_BAR, off, &v, 4, 0),
		0);
}

/* testdev raises vector of INTx, MSI or MSI-X before the write returns. */
static void dev_raise(struct uvfio_client *c, unsigned int index,
		      uint32_t vector)
{
	static const uint32_t cmd[] = {
		[INTX] = TESTDEV_CMD_RAISE_INTX,
		[MSI] = TESTDEV_CMD_RAISE_MSI,
		[MSIX] = TESTDEV_CMD_RAISE_MSIX,
	};

	reg_write(c, TESTDEV_REG_IRQ_NUMBER, vector + 1);
	reg_write(c, TESTDEV_REG_COMMAND, cmd[index]);
}

static int server_fds(struct fixture *f)
{
	struct vfio_irq_info ii;

	/* A round trip first, so everything sent before is done. */
	assert_int_equal(uvfio_client_irq_info(f->c, INTX, &ii), 0);
	return proc_fd_count(f->p.pid);
}

static void test_irq_info(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint32_t count, flags;
	} want[VFIO_PCI_NUM_IRQS] = {
		[INTX] = { 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
				      VFIO_IRQ_INFO_AUTOMASKED },
		[MSI] = { TESTDEV_MSI_VECTORS, VFIO_IRQ_INFO_EVENTFD |
						       VFIO_IRQ_INFO_MASKABLE |
						       VFIO_IRQ_INFO_NORESIZE },
		[MSIX] = { TESTDEV_MSIX_VECTORS,
			   VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE },
		[ERR] = { 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
		[REQ] = { 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	};
	struct vfio_irq_info ii;

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		assert_int_equal(uvfio_client_irq_info(f->c, i, &ii), 0);
		assert_int_equal(ii.index, i);
		assert_int_equal(ii.count, want[i].count);
		assert_int_equal(ii.flags, want[i].flags);
	}
}

/*
 * Every index x action x data, with the index off, then on (INTx, MSI,
 * MSI-X enabled with an eventfd on vector 0; ERR, REQ with their
 * eventfd).  EVENTFD data is a real eventfd.
 */
struct combo {
	uint32_t index, flags;
	int off, on;
};

static const struct combo combos[] = {
	{ INTX, D_NONE | A_TRIG, EINVAL, 0 },
	{ INTX, D_BOOL | A_TRIG, EINVAL, 0 },
	{ INTX, D_EFD | A_TRIG, 0, 0 },
	{ INTX, D_NONE | A_MASK, EINVAL, 0 },
	{ INTX, D_BOOL | A_MASK, EINVAL, 0 },
	{ INTX, D_EFD | A_MASK, EINVAL, ENOTTY },
	{ INTX, D_NONE | A_UNMASK, EINVAL, 0 },
	{ INTX, D_BOOL | A_UNMASK, EINVAL, 0 },
	{ INTX, D_EFD | A_UNMASK, EINVAL, 0 },
	{ MSI, D_NONE | A_TRIG, EINVAL, 0 },
	{ MSI, D_BOOL | A_TRIG, EINVAL, 0 },
	{ MSI, D_EFD | A_TRIG, 0, 0 },
	{ MSI, D_NONE | A_MASK, EINVAL, 0 },
	{ MSI, D_BOOL | A_MASK, EINVAL, 0 },
	{ MSI, D_EFD | A_MASK, ENOTTY, ENOTTY },
	{ MSI, D_NONE | A_UNMASK, EINVAL, 0 },
	{ MSI, D_BOOL | A_UNMASK, EINVAL, 0 },
	{ MSI, D_EFD | A_UNMASK, ENOTTY, ENOTTY },
	{ MSIX, D_NONE | A_TRIG, EINVAL, 0 },
	{ MSIX, D_BOOL | A_TRIG, EINVAL, 0 },
	{ MSIX, D_EFD | A_TRIG, 0, 0 },
	{ MSIX, D_NONE | A_MASK, EINVAL, 0 },
	{ MSIX, D_BOOL | A_MASK, EINVAL, 0 },
	{ MSIX, D_EFD | A_MASK, ENOTTY, ENOTTY },
	{ MSIX, D_NONE | A_UNMASK, EINVAL, 0 },
	{ MSIX, D_BOOL | A_UNMASK, EINVAL, 0 },
	{ MSIX, D_EFD | A_UNMASK, ENOTTY, ENOTTY },
	/* ERR/REQ: loopback needs an eventfd; no masking at all. */
	{ ERR, D_NONE | A_TRIG, EINVAL, 0 },
	{ ERR, D_BOOL | A_TRIG, 0, 0 },
	{ ERR, D_EFD | A_TRIG, 0, 0 },
	{ ERR, D_NONE | A_MASK, ENOTTY, ENOTTY },
	{ ERR, D_BOOL | A_MASK, ENOTTY, ENOTTY },
	{ ERR, D_EFD | A_MASK, ENOTTY, ENOTTY },
	{ ERR, D_NONE | A_UNMASK, ENOTTY, ENOTTY },
	{ ERR, D_BOOL | A_UNMASK, ENOTTY, ENOTTY },
	{ ERR, D_EFD | A_UNMASK, ENOTTY, ENOTTY },
	{ REQ, D_NONE | A_TRIG, EINVAL, 0 },
	{ REQ, D_BOOL | A_TRIG, 0, 0 },
	{ REQ, D_EFD | A_TRIG, 0, 0 },
	{ REQ, D_NONE | A_MASK, ENOTTY, ENOTTY },
	{ REQ, D_BOOL | A_MASK, ENOTTY, ENOTTY },
	{ REQ, D_EFD | A_MASK, ENOTTY, ENOTTY },
	{ REQ, D_NONE | A_UNMASK, ENOTTY, ENOTTY },
	{ REQ, D_BOOL | A_UNMASK, ENOTTY, ENOTTY },
	{ REQ, D_EFD | A_UNMASK, ENOTTY, ENOTTY },
};

static void reset_all(struct uvfio_client *c)
{
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		set(c, i, D_NONE | A_TRIG, 0, 0, NULL);
}

static void test_every_combination(void **state)
{
	struct fixture *f = *state;
	const uint8_t yes = 1;
	int base = server_fds(f);

	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		const struct combo *k = &combos[i];
		uint32_t data = k->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
		int trig = efd(), arg = efd();
		const void *p = data == D_BOOL ? (const void *)&yes :
				data == D_EFD  ? (const void *)&arg :
						 NULL;

		print_message("combo %zu: index %u flags %#x\n", i, k->index,
			      k->flags);
		assert_int_equal(set(f->c, k->index, k->flags, 0, 1, p),
				 -k->off);
		reset_all(f->c);
		assert_int_equal(server_fds(f), base);
		assert_int_equal(
			set(f->c, k->index, D_EFD | A_TRIG, 0, 1, &trig), 0);
		assert_int_equal(set(f->c, k->index, k->flags, 0, 1, p),
				 -k->on);
		/* Loopback in the on state reaches the trigger eventfd. */
		if (k->flags == (D_NONE | A_TRIG) ||
		    k->flags == (D_BOOL | A_TRIG))
			assert_int_equal(take(trig), 1);
		reset_all(f->c);
		assert_int_equal(server_fds(f), base);
		close(trig);
		close(arg);
	}
}

/* Subranges with start > 0: exactly those vectors, assigned and freed. */
static void test_msix_subranges(void **state)
{
	struct fixture *f = *state;
	int e[4] = { efd(), efd(), efd(), efd() };
	int un[2] = { -1, -1 };
	int base = server_fds(f);

	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 4, 4, e), 0);
	assert_int_equal(server_fds(f), base + 4);
	for (int i = 0; i < 4; i++) {
		dev_raise(f->c, MSIX, 4 + i);
		assert_int_equal(take(e[i]), 1);
	}
	/* Vectors around the range have nothing wired. */
	dev_raise(f->c, MSIX, 3);
	dev_raise(f->c, MSIX, 8);
	for (int i = 0; i < 4; i++)
		assert_int_equal(take(e[i]), 0);
	/* Release 5 and 6 only: closed on the server, 4 and 7 still fire. */
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 5, 2, un), 0);
	assert_int_equal(server_fds(f), base + 2);
	for (int i = 0; i < 4; i++)
		dev_raise(f->c, MSIX, 4 + i);
	assert_int_equal(take(e[0]), 1);
	assert_int_equal(take(e[1]), 0);
	assert_int_equal(take(e[2]), 0);
	assert_int_equal(take(e[3]), 1);
	/* Dynamic MSI-X: a vector far out joins the enabled set. */
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 2000, 1, &e[1]), 0);
	dev_raise(f->c, MSIX, 2000);
	assert_int_equal(take(e[1]), 1);
	/* Loopback of a range skips the unwired vectors. */
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 4, 4, NULL), 0);
	assert_int_equal(take(e[0]) + take(e[2]) + take(e[3]), 2);
	/* Bad ranges. */
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 2048, 1, e), -EINVAL);
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 2047, 2, e), -EINVAL);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 0, 2049, NULL),
			 -EINVAL);
	/* Disable: all of them released, raises go nowhere. */
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(server_fds(f), base);
	dev_raise(f->c, MSIX, 4);
	dev_raise(f->c, MSIX, 7);
	assert_int_equal(take(e[0]) + take(e[3]), 0);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 0, 0, NULL), -EINVAL);
	for (int i = 0; i < 4; i++)
		close(e[i]);
}

/* MSI is NORESIZE: enabled with start + count vectors, no more. */
static void test_msi_noresize(void **state)
{
	struct fixture *f = *state;
	int e[3] = { efd(), efd(), efd() }, un = -1;
	int base = server_fds(f);

	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 0, 2, e), 0);
	dev_raise(f->c, MSI, 1);
	assert_int_equal(take(e[1]), 1);
	/* Vector 2 was never enabled: refused, and like vfio-pci the
	 * request's vectors before it (1 here) are released. */
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 1, 2, &e[1]), -EINVAL);
	assert_int_equal(server_fds(f), base + 1);
	dev_raise(f->c, MSI, 1);
	dev_raise(f->c, MSI, 2);
	assert_int_equal(take(e[1]) + take(e[2]), 0);
	dev_raise(f->c, MSI, 0);
	assert_int_equal(take(e[0]), 1);
	/* Unassigning beyond is harmless; loopback past the set is too. */
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 5, 1, &un), 0);
	assert_int_equal(set(f->c, MSI, D_NONE | A_TRIG, 0, 32, NULL), 0);
	assert_int_equal(take(e[0]), 1);
	assert_int_equal(set(f->c, MSI, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(server_fds(f), base);
	/* Enabling with nothing (count 0) is no set of vectors at all. */
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 0, 0, NULL), -EINVAL);
	/* Enabling with no fds (QEMU's "no vector yet"): on, none wired. */
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 3, 1, &un), 0);
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 2, 1, &e[2]), 0);
	dev_raise(f->c, MSI, 2);
	assert_int_equal(take(e[2]), 1);
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 4, 1, &e[2]), -EINVAL);
	assert_int_equal(set(f->c, MSI, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(server_fds(f), base);
	for (int i = 0; i < 3; i++)
		close(e[i]);
}

/* One of INTx, MSI, MSI-X at a time, as vfio-pci. */
static void test_switching(void **state)
{
	struct fixture *f = *state;
	int e = efd(), u = efd();
	const uint8_t yes = 1;

	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 0, 1, &e), 0);
	assert_int_equal(set(f->c, INTX, D_EFD | A_TRIG, 0, 1, &e), -EINVAL);
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 0, 1, &e), -EINVAL);
	assert_int_equal(set(f->c, MSI, D_NONE | A_TRIG, 0, 0, NULL), -EINVAL);
	assert_int_equal(set(f->c, MSI, D_BOOL | A_TRIG, 0, 1, &yes), -EINVAL);
	assert_int_equal(set(f->c, INTX, D_NONE | A_MASK, 0, 1, NULL), -EINVAL);
	assert_int_equal(set(f->c, INTX, D_EFD | A_UNMASK, 0, 1, &u), -EINVAL);
	/* ERR and REQ are independent of the mode. */
	assert_int_equal(set(f->c, ERR, D_EFD | A_TRIG, 0, 1, &u), 0);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(set(f->c, INTX, D_EFD | A_TRIG, 0, 1, &e), 0);
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 0, 1, &e), -EINVAL);
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 0, 1, &e), -EINVAL);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_MASK, 0, 1, NULL), -EINVAL);
	assert_int_equal(set(f->c, INTX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 0, 1, &e), 0);
	dev_raise(f->c, MSI, 0);
	assert_int_equal(take(e), 1);
	/* The old mode's vectors raise nothing. */
	dev_raise(f->c, INTX, 0);
	dev_raise(f->c, MSIX, 0);
	assert_int_equal(take(e), 0);
	assert_int_equal(set(f->c, ERR, D_NONE | A_TRIG, 0, 1, NULL), 0);
	assert_int_equal(take(u), 1);
	reset_all(f->c);
	close(e);
	close(u);
}

static void unmask(struct uvfio_client *c, uint8_t how)
{
	if (how == 2)
		assert_int_equal(set(c, INTX, D_NONE | A_UNMASK, 0, 1, NULL),
				 0);
	else
		assert_int_equal(set(c, INTX, D_BOOL | A_UNMASK, 0, 1, &how),
				 0);
}

/* INTx is level-triggered: each delivery masks it until UNMASK. */
static void test_intx_automask(void **state)
{
	struct fixture *f = *state;
	int t = efd(), u = efd(), u2 = efd(), un = -1;
	uint64_t one = 1;
	int base = server_fds(f);

	assert_int_equal(set(f->c, INTX, D_EFD | A_TRIG, 0, 1, &t), 0);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 1);
	/* Masked now: the second raise does not fire... */
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 0);
	/* ...but is pending, and the unmask delivers it (and masks). */
	unmask(f->c, 2);
	assert_int_equal(take(t), 1);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 0);
	unmask(f->c, 0); /* BOOL false: nothing */
	assert_int_equal(take(t), 0);
	unmask(f->c, 1);
	assert_int_equal(take(t), 1);
	/* Nothing pending: this unmask really opens the line. */
	unmask(f->c, 2);
	assert_int_equal(take(t), 0);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 1);
	unmask(f->c, 1);
	/* MASK by message, NONE and BOOL. */
	assert_int_equal(set(f->c, INTX, D_NONE | A_MASK, 0, 1, NULL), 0);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 0);
	unmask(f->c, 2);
	assert_int_equal(take(t), 1);
	unmask(f->c, 2);
	{
		const uint8_t no = 0, yes = 1;

		assert_int_equal(set(f->c, INTX, D_BOOL | A_MASK, 0, 1, &no),
				 0);
		dev_raise(f->c, INTX, 0);
		assert_int_equal(take(t), 1);
		unmask(f->c, 2);
		assert_int_equal(set(f->c, INTX, D_BOOL | A_MASK, 0, 1, &yes),
				 0);
		dev_raise(f->c, INTX, 0);
		assert_int_equal(take(t), 0);
		unmask(f->c, 2);
		assert_int_equal(take(t), 1);
		unmask(f->c, 2);
	}
	/* Loopback fires whatever the mask, and changes nothing. */
	assert_int_equal(set(f->c, INTX, D_NONE | A_MASK, 0, 1, NULL), 0);
	assert_int_equal(set(f->c, INTX, D_NONE | A_TRIG, 0, 1, NULL), 0);
	assert_int_equal(take(t), 1);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 0);
	unmask(f->c, 2);
	assert_int_equal(take(t), 1);

	/*
	 * The unmask eventfd (resample): the test writes it.  Watching it
	 * costs the server the fd and the watcher's own wake-up eventfd.
	 */
	assert_int_equal(set(f->c, INTX, D_EFD | A_UNMASK, 0, 1, &u), 0);
	assert_int_equal(server_fds(f), base + 3);
	assert_int_equal(set(f->c, INTX, D_EFD | A_UNMASK, 0, 1, &u2), -EBUSY);
	assert_int_equal(server_fds(f), base + 3);
	dev_raise(f->c, INTX, 0); /* still masked from the last delivery */
	assert_int_equal(take(t), 0);
	assert_int_equal(write(u, &one, sizeof(one)), sizeof(one));
	assert_int_equal(wait_take(t, 2000), 1);
	assert_int_equal(write(u, &one, sizeof(one)), sizeof(one));
	/* The unmask is taken: the next raise is delivered, not held. */
	assert_int_equal(wait_read_by_peer(u, 2000), 1);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(wait_take(t, 2000), 1);
	dev_raise(f->c, INTX, 0);
	assert_int_equal(take(t), 0);
	assert_int_equal(write(u, &one, sizeof(one)), sizeof(one));
	assert_int_equal(wait_take(t, 2000), 1);
	/* Unwatched (no fd): writing it unmasks nothing any more. */
	assert_int_equal(set(f->c, INTX, D_EFD | A_UNMASK, 0, 1, &un), 0);
	assert_int_equal(server_fds(f), base + 1);
	assert_int_equal(write(u, &one, sizeof(one)), sizeof(one));
	dev_raise(f->c, INTX, 0);
	/*
	 * The raise is decided before the write that asked returns, and no
	 * watcher holds u any more (the fd count): held, not delivered.
	 */
	assert_int_equal(take(t), 0);
	unmask(f->c, 2);
	assert_int_equal(take(t), 1);
	/* Watched again with a new fd, then dropped with INTx itself. */
	assert_int_equal(set(f->c, INTX, D_EFD | A_UNMASK, 0, 1, &u2), 0);
	assert_int_equal(set(f->c, INTX, D_EFD | A_MASK, 0, 1, &u), -ENOTTY);
	assert_int_equal(set(f->c, INTX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(server_fds(f), base);
	assert_int_equal(set(f->c, INTX, D_NONE | A_UNMASK, 0, 1, NULL),
			 -EINVAL);
	close(t);
	close(u);
	close(u2);
}

/* MSI-X and MSI vectors honour MASK/UNMASK (our superset of vfio-pci). */
static void test_msix_mask(void **state)
{
	struct fixture *f = *state;
	int e[4] = { efd(), efd(), efd(), efd() };
	const uint8_t odd[4] = { 0, 1, 0, 1 };

	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 0, 4, e), 0);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_MASK, 1, 1, NULL), 0);
	dev_raise(f->c, MSIX, 1);
	dev_raise(f->c, MSIX, 1);
	dev_raise(f->c, MSIX, 0);
	assert_int_equal(take(e[1]), 0);
	assert_int_equal(take(e[0]), 1);
	/* Exactly one for both raises while masked. */
	assert_int_equal(set(f->c, MSIX, D_NONE | A_UNMASK, 1, 1, NULL), 0);
	assert_int_equal(take(e[1]), 1);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_UNMASK, 1, 1, NULL), 0);
	assert_int_equal(take(e[1]), 0);
	dev_raise(f->c, MSIX, 1);
	assert_int_equal(take(e[1]), 1);
	/* By BOOL: 1 and 3 masked. */
	assert_int_equal(set(f->c, MSIX, D_BOOL | A_MASK, 0, 4, odd), 0);
	for (uint32_t v = 0; v < 4; v++)
		dev_raise(f->c, MSIX, v);
	for (uint32_t v = 0; v < 4; v++)
		assert_int_equal(take(e[v]), !odd[v]);
	assert_int_equal(set(f->c, MSIX, D_BOOL | A_UNMASK, 0, 4, odd), 0);
	for (uint32_t v = 0; v < 4; v++)
		assert_int_equal(take(e[v]), odd[v]);
	/* Masked and pending, then disabled: gone when re-enabled. */
	assert_int_equal(set(f->c, MSIX, D_NONE | A_MASK, 2, 1, NULL), 0);
	dev_raise(f->c, MSIX, 2);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 2, 1, &e[2]), 0);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_UNMASK, 2, 1, NULL), 0);
	assert_int_equal(take(e[2]), 0);
	dev_raise(f->c, MSIX, 2);
	assert_int_equal(take(e[2]), 1);
	assert_int_equal(set(f->c, MSIX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	/* MSI the same way. */
	assert_int_equal(set(f->c, MSI, D_EFD | A_TRIG, 0, 1, e), 0);
	assert_int_equal(set(f->c, MSI, D_NONE | A_MASK, 0, 1, NULL), 0);
	dev_raise(f->c, MSI, 0);
	assert_int_equal(take(e[0]), 0);
	assert_int_equal(set(f->c, MSI, D_NONE | A_UNMASK, 0, 1, NULL), 0);
	assert_int_equal(take(e[0]), 1);
	assert_int_equal(set(f->c, MSI, D_NONE | A_TRIG, 0, 0, NULL), 0);
	for (int i = 0; i < 4; i++)
		close(e[i]);
}

static void test_err_req_loopback(void **state)
{
	struct fixture *f = *state;
	const uint8_t no = 0, yes = 1;
	int base = server_fds(f);

	for (uint32_t i = ERR; i <= REQ; i++) {
		int e = efd(), e2 = efd(), un = -1;

		assert_int_equal(set(f->c, i, D_NONE | A_TRIG, 0, 1, NULL),
				 -EINVAL);
		assert_int_equal(set(f->c, i, D_NONE | A_TRIG, 0, 0, NULL),
				 -EINVAL);
		assert_int_equal(set(f->c, i, D_EFD | A_TRIG, 0, 1, &e), 0);
		assert_int_equal(server_fds(f), base + 1);
		assert_int_equal(set(f->c, i, D_NONE | A_TRIG, 0, 1, NULL), 0);
		assert_int_equal(take(e), 1);
		assert_int_equal(set(f->c, i, D_BOOL | A_TRIG, 0, 1, &no), 0);
		assert_int_equal(take(e), 0);
		assert_int_equal(set(f->c, i, D_BOOL | A_TRIG, 0, 1, &yes), 0);
		assert_int_equal(take(e), 1);
		/* Replaced: the old one is closed on the server. */
		assert_int_equal(set(f->c, i, D_EFD | A_TRIG, 0, 1, &e2), 0);
		assert_int_equal(server_fds(f), base + 1);
		assert_int_equal(set(f->c, i, D_NONE | A_TRIG, 0, 1, NULL), 0);
		assert_int_equal(take(e) + take(e2) * 2, 2);
		assert_int_equal(set(f->c, i, D_EFD | A_TRIG, 0, 1, &un), 0);
		assert_int_equal(server_fds(f), base);
		assert_int_equal(set(f->c, i, D_EFD | A_TRIG, 0, 1, &e), 0);
		/* count 0 with DATA_NONE releases; then there is nothing. */
		assert_int_equal(set(f->c, i, D_NONE | A_TRIG, 0, 0, NULL), 0);
		assert_int_equal(server_fds(f), base);
		assert_int_equal(set(f->c, i, D_NONE | A_TRIG, 0, 0, NULL),
				 -EINVAL);
		assert_int_equal(set(f->c, i, D_EFD | A_TRIG, 0, 0, NULL),
				 -EINVAL);
		assert_int_equal(set(f->c, i, D_EFD | A_TRIG, 1, 1, &e),
				 -EINVAL);
		assert_int_equal(set(f->c, i, D_NONE | A_UNMASK, 0, 1, NULL),
				 -ENOTTY);
		close(e);
		close(e2);
	}
}

/* A client that leaves takes every eventfd and the watcher with it. */
static void test_client_leaves(void **state)
{
	struct fixture *f = *state;
	int e[3] = { efd(), efd(), efd() }, u = efd();
	int base = server_fds(f);

	assert_int_equal(set(f->c, INTX, D_EFD | A_TRIG, 0, 1, &e[0]), 0);
	assert_int_equal(set(f->c, INTX, D_EFD | A_UNMASK, 0, 1, &u), 0);
	assert_int_equal(set(f->c, ERR, D_EFD | A_TRIG, 0, 1, &e[1]), 0);
	assert_int_equal(set(f->c, REQ, D_EFD | A_TRIG, 0, 1, &e[2]), 0);
	assert_int_equal(server_fds(f), base + 5); /* + the watcher's */
	uvfio_client_close(f->c);
	f->c = uvfio_client_connect(f->p.sock, NULL);
	assert_non_null(f->c);
	assert_int_equal(server_fds(f), base);
	/* Nothing enabled for the new client. */
	assert_int_equal(set(f->c, INTX, D_NONE | A_TRIG, 0, 1, NULL), -EINVAL);
	assert_int_equal(set(f->c, ERR, D_NONE | A_TRIG, 0, 1, NULL), -EINVAL);
	assert_int_equal(set(f->c, MSIX, D_EFD | A_TRIG, 0, 3, e), 0);
	dev_raise(f->c, MSIX, 2);
	assert_int_equal(take(e[2]), 1);
	for (int i = 0; i < 3; i++)
		close(e[i]);
	close(u);
}

/* ------------------------------------------------------------------ */
/* In-process device: ERR/REQ raised by the device, backends, mode.    */

struct inproc {
	struct uvfio_dev *dev;
	struct uvfio_client *c;
	struct uvfio_ims *ims;
	pthread_t thread;
	atomic_uint calls;
	atomic_uint last_vector;
};

static void *serve(void *arg)
{
	struct inproc *ip = arg;

	uvfio_dev_run(ip->dev, true);
	return NULL;
}

static int inproc_start(void **state, bool ims)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10f1,
						  .irq_pin = 1 };
	static const uint32_t count[VFIO_PCI_NUM_IRQS] = { 1, 4, 16, 1, 1 };
	struct uvfio_client_opts o = { .flags = UVFIO_CLIENT_NO_TWIN };
	struct inproc *ip = calloc(1, sizeof(*ip));
	int sv[2];

	assert_non_null(ip);
	ip->dev = uvfio_dev_create(&ids, UVFIO_PCIE_CFG_SIZE, NULL, ip, NULL);
	assert_non_null(ip->dev);
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		assert_int_equal(uvfio_dev_set_irq_count(ip->dev, i, count[i]),
				 0);
	if (ims) {
		ip->ims = uvfio_ims_new(8);
		assert_non_null(ip->ims);
		assert_int_equal(
			uvfio_dev_set_msix_ims(ip->dev, 2048 + 4, ip->ims, 2),
			0);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(uvfio_dev_attach_fd(ip->dev, sv[1]), 0);
	assert_int_equal(pthread_create(&ip->thread, NULL, serve, ip), 0);
	ip->c = uvfio_client_attach_fd(sv[0], &o);
	assert_non_null(ip->c);
	*state = ip;
	return 0;
}

static int inproc_setup(void **state)
{
	return inproc_start(state, false);
}

static int inproc_ims_setup(void **state)
{
	return inproc_start(state, true);
}

static int inproc_teardown(void **state)
{
	struct inproc *ip = *state;

	uvfio_client_close(ip->c);
	pthread_join(ip->thread, NULL);
	/* Gone with the client: no mode, nothing can land. */
	assert_int_equal(uvfio_dev_irq_mode(ip->dev), -1);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, ERR, 0), -ENOENT);
	uvfio_dev_destroy(ip->dev);
	uvfio_ims_free(ip->ims);
	free(ip);
	return 0;
}

static void test_device_raises_err_req(void **state)
{
	struct inproc *ip = *state;
	int e = efd(), r = efd();

	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, ERR, 0), -ENOENT);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, REQ, 0), -ENOENT);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, ERR, 1), -EINVAL);
	assert_int_equal(set(ip->c, ERR, D_EFD | A_TRIG, 0, 1, &e), 0);
	assert_int_equal(set(ip->c, REQ, D_EFD | A_TRIG, 0, 1, &r), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, ERR, 0), 0);
	assert_int_equal(take(e), 1);
	assert_int_equal(take(r), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, REQ, 0), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, REQ, 0), 0);
	assert_int_equal(take(r), 2);
	assert_int_equal(set(ip->c, ERR, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, ERR, 0), -ENOENT);
	close(e);
	close(r);
}

static void test_mode(void **state)
{
	struct inproc *ip = *state;
	int e = efd();

	assert_int_equal(uvfio_dev_irq_mode(ip->dev), -1);
	assert_int_equal(set(ip->c, INTX, D_EFD | A_TRIG, 0, 1, &e), 0);
	assert_int_equal(uvfio_dev_irq_mode(ip->dev), INTX);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, INTX, 0), 0);
	assert_int_equal(take(e), 1);
	assert_int_equal(uvfio_dev_irq_status(ip->dev, INTX, 0),
			 UVFIO_IRQ_LIVE | UVFIO_IRQ_MASKED);
	assert_int_equal(set(ip->c, INTX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(uvfio_dev_irq_mode(ip->dev), -1);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, INTX, 0), -ENOENT);
	assert_int_equal(set(ip->c, MSI, D_EFD | A_TRIG, 0, 1, &e), 0);
	assert_int_equal(uvfio_dev_irq_mode(ip->dev), MSI);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSI, 1), -ENOENT);
	assert_int_equal(set(ip->c, MSI, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(set(ip->c, MSIX, D_EFD | A_TRIG, 3, 1, &e), 0);
	assert_int_equal(uvfio_dev_irq_mode(ip->dev), MSIX);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 3), 0);
	assert_int_equal(take(e), 1);
	/* The level API: an asserted line refires on each unmask. */
	assert_int_equal(set(ip->c, MSIX, D_NONE | A_TRIG, 0, 0, NULL), 0);
	assert_int_equal(set(ip->c, INTX, D_EFD | A_TRIG, 0, 1, &e), 0);
	assert_int_equal(uvfio_dev_intx_set_level(ip->dev, true), 0);
	assert_int_equal(take(e), 1);
	assert_int_equal(set(ip->c, INTX, D_NONE | A_UNMASK, 0, 1, NULL), 0);
	assert_int_equal(take(e), 1);
	assert_int_equal(uvfio_dev_intx_set_level(ip->dev, false), 0);
	assert_int_equal(set(ip->c, INTX, D_NONE | A_UNMASK, 0, 1, NULL), 0);
	assert_int_equal(take(e), 0);
	close(e);
}

static void emu_fn(struct uvfio_dev *dev, void *priv, unsigned int index,
		   uint32_t vector)
{
	struct inproc *ip = priv;

	if (dev == ip->dev && index == MSIX) {
		atomic_store(&ip->last_vector, vector);
		atomic_fetch_add(&ip->calls, 1);
	}
}

static void test_emulated_backend(void **state)
{
	struct inproc *ip = *state;
	int e = efd();

	assert_int_equal(
		uvfio_dev_irq_set_emulated(ip->dev, MSIX, 5, emu_fn, ip), 0);
	/* Not enabled by the client: nothing, even emulated. */
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 5), -ENOENT);
	assert_int_equal(set(ip->c, MSIX, D_EFD | A_TRIG, 0, 1, &e), 0);
	/* Enabled: the emulated vector needs no eventfd of its own. */
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 5), 0);
	assert_int_equal(atomic_load(&ip->calls), 1);
	assert_int_equal(atomic_load(&ip->last_vector), 5);
	assert_int_equal(take(e), 0);
	/* Masked by the client: held, then delivered once on unmask. */
	assert_int_equal(set(ip->c, MSIX, D_NONE | A_MASK, 5, 1, NULL), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 5), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 5), 0);
	assert_int_equal(atomic_load(&ip->calls), 1);
	assert_int_equal(uvfio_dev_irq_status(ip->dev, MSIX, 5),
			 UVFIO_IRQ_LIVE | UVFIO_IRQ_MASKED | UVFIO_IRQ_PENDING);
	assert_int_equal(set(ip->c, MSIX, D_NONE | A_UNMASK, 5, 1, NULL), 0);
	assert_int_equal(atomic_load(&ip->calls), 2);
	/* Loopback goes through the backend too. */
	assert_int_equal(set(ip->c, MSIX, D_NONE | A_TRIG, 4, 2, NULL), 0);
	assert_int_equal(atomic_load(&ip->calls), 3);
	/* Back to the eventfd: vector 5 has none, vector 0 fires. */
	assert_int_equal(
		uvfio_dev_irq_set_emulated(ip->dev, MSIX, 5, NULL, NULL), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 5), -ENOENT);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 0), 0);
	assert_int_equal(take(e), 1);
	assert_int_equal(atomic_load(&ip->calls), 3);
	close(e);
}

static void test_ims_backend(void **state)
{
	struct inproc *ip = *state;
	struct vfio_irq_info ii;
	struct uvfio_ims_entry ent;
	int e = efd(), e2 = efd();

	/* The client sees the IMS-backed vectors past 2048. */
	assert_int_equal(uvfio_client_irq_info(ip->c, MSIX, &ii), 0);
	assert_int_equal(ii.count, 2048 + 4);
	assert_int_equal(set(ip->c, MSIX, D_EFD | A_TRIG, 2049, 1, &e), 0);
	assert_int_equal(set(ip->c, MSIX, D_EFD | A_TRIG, 2052, 1, &e),
			 -EINVAL);
	/* Vector 2049 is slot 3, which starts masked. */
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 2049), 0);
	assert_int_equal(take(e), 0);
	assert_int_equal(uvfio_ims_get(ip->ims, 3, &ent), 0);
	assert_true(ent.masked && ent.pending);
	assert_int_equal(uvfio_ims_set_mask(ip->ims, 3, false), 0);
	assert_int_equal(take(e), 1);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 2049), 0);
	assert_int_equal(take(e), 1);
	/* The client's mask still applies to an IMS-backed vector. */
	assert_int_equal(set(ip->c, MSIX, D_NONE | A_MASK, 2049, 1, NULL), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 2049), 0);
	assert_int_equal(take(e), 0);
	assert_int_equal(set(ip->c, MSIX, D_NONE | A_UNMASK, 2049, 1, NULL), 0);
	assert_int_equal(take(e), 1);
	/* A vector below 2048 backed by a slot of the same store. */
	assert_int_equal(uvfio_dev_irq_set_ims(ip->dev, MSIX, 7, ip->ims, 0),
			 0);
	assert_int_equal(set(ip->c, MSIX, D_EFD | A_TRIG, 7, 1, &e2), 0);
	assert_int_equal(uvfio_dev_irq_trigger(ip->dev, MSIX, 7), 0);
	assert_int_equal(take(e2), 0);
	assert_int_equal(uvfio_ims_set_mask(ip->ims, 0, false), 0);
	assert_int_equal(take(e2), 1);
	close(e);
	close(e2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_irq_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_combination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_subranges, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msi_noresize, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_switching, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_intx_automask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_mask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_err_req_loopback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_leaves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_raises_err_req,
						inproc_setup, inproc_teardown),
		cmocka_unit_test_setup_teardown(test_mode, inproc_setup,
						inproc_teardown),
		cmocka_unit_test_setup_teardown(test_emulated_backend,
						inproc_setup, inproc_teardown),
		cmocka_unit_test_setup_teardown(
			test_ims_backend, inproc_ims_setup, inproc_teardown),
	};

	return cmocka_run_group_tests_name("integration_set_irqs", tests, NULL,
					   NULL);
}
