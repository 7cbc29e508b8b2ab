// SPDX-License-Identifier: MIT
/*
 * A VMM that outlives its device: uvfio-testdev is killed mid-session and
 * started again on the same socket; uvfio_client_reconnect() must give it
 * back every DMA window (one from a memfd, one answered in-band), the
 * MSI-X eventfd and the BAR mapping, invent no interrupt, and leave no fd
 * behind; also the vectors the client masked and INTx's unmask eventfd.
 * And: the timeout, another kind of device, and a client that did not
 * ask to keep state.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "proto/crc32.h"
#include "regs.h"
#include "testdev_proc.h"

#define MEM_IOVA 0x100000ull
#define MEM_SIZE (1u << 20)
#define INB_IOVA 0x400000ull
#define INB_SIZE 65536u
#define XFER 8192u
#define WAIT_MS 5000

struct fx {
	struct testdev_proc dev;
	struct uvfio_client *c;
	int memfd, efd, base_fds;
	uint8_t *mem, *inb, *bar;
	size_t bar_size;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int my_fds(void)
{
	return proc_fd_count(getpid());
}

static void wr(struct uvfio_client *c, uint32_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(c, TESTDEV_REG_BAR, off,
						   &v, 4, 0),
			 0);
}

static uint32_t rd(struct uvfio_client *c, uint32_t off)
{
	uint32_t v = 0;

	assert_int_equal(uvfio_client_region_read(c, TESTDEV_REG_BAR, off, &v,
						  4),
			 0);
	return v;
}

/* One count on efd within the deadline: true; read it. */
static bool fired(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	return read(efd, &v, sizeof(v)) == sizeof(v) && v == 1;
}

static bool quiet(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* The device reads [iova, +XFER) by DMA, checks its CRC, raises MSI-X 0. */
static void device_reads(struct fx *f, uint64_t iova, uint8_t *host)
{
	uint32_t done = TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	uint32_t st = 0;
	int64_t end = now_us() + WAIT_MS * 1000;

	for (uint32_t i = 0; i < XFER; i++)
		host[i] = (uint8_t)(rand() & 0xff);
	wr(f->c, TESTDEV_REG_STATUS, 0);
	wr(f->c, TESTDEV_REG_SRC_LO, (uint32_t)iova);
	wr(f->c, TESTDEV_REG_SRC_HI, (uint32_t)(iova >> 32));
	wr(f->c, TESTDEV_REG_SIZE, XFER);
	wr(f->c, TESTDEV_REG_CHECKSUM, crc32_le(~0u, host, XFER));
	wr(f->c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	wr(f->c, TESTDEV_REG_IRQ_NUMBER, 1);
	wr(f->c, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	wr(f->c, TESTDEV_REG_COMMAND, TESTDEV_CMD_READ);
	/* The doorbell's work runs after its reply: wait for the status. */
	while (!((st = rd(f->c, TESTDEV_REG_STATUS)) & done) && now_us() < end)
		usleep(500);
	assert_true(st & TESTDEV_STATUS_READ_OK);
	assert_true(fired(f->efd));
}

static int setup(void **state)
{
	const struct uvfio_client_opts o = { .flags = UVFIO_CLIENT_RECONNECT };
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->base_fds = my_fds();
	if (testdev_start(&f->dev, NULL))
		return -1;
	f->c = uvfio_client_connect(f->dev.sock, &o);
	f->memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!f->c || f->memfd < 0 || f->efd < 0 ||
	    ftruncate(f->memfd, MEM_SIZE))
		return -1;
	f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->memfd, 0);
	f->inb = mmap(NULL, INB_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->mem == MAP_FAILED || f->inb == MAP_FAILED)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->c)
		uvfio_client_close(f->c);
	munmap(f->mem, MEM_SIZE);
	munmap(f->inb, INB_SIZE);
	close(f->memfd);
	close(f->efd);
	testdev_stop(&f->dev);
	free(f);
	return 0;
}

static void wire(struct fx *f)
{
	assert_int_equal(uvfio_client_dma_map(f->c, MEM_IOVA, MEM_SIZE,
					      UVFIO_DMA_READ |
						      UVFIO_DMA_WRITE,
					      f->mem, f->memfd, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(f->c, INB_IOVA, INB_SIZE,
					      UVFIO_DMA_READ |
						      UVFIO_DMA_WRITE,
					      f->inb, -1, 0),
			 0);
	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, &f->efd),
			 0);
	f->bar = uvfio_client_region_mmap(f->c, 4, -1, &f->bar_size);
	assert_non_null(f->bar);
}

/* A write through the BAR mapping is what the device reads back. */
static void bar_check(struct fx *f, uint32_t pat)
{
	uint32_t v = 0;

	memcpy(f->bar + 64, &pat, 4);
	assert_int_equal(uvfio_client_region_read(f->c, 4, 64, &v, 4), 0);
	assert_int_equal(v, pat);
}

static void test_restart(void **state)
{
	struct fx *f = *state;
	uint32_t v;
	int64_t t0, ts, t1;
	int r, fds;

	wire(f);
	/* Kept files are shared: a second window of the memfd, no new fd. */
	fds = my_fds();
	assert_int_equal(uvfio_client_dma_map(f->c, 0x800000, 4096,
					      UVFIO_DMA_READ, f->mem,
					      f->memfd, 0),
			 0);
	assert_int_equal(my_fds(), fds);
	device_reads(f, MEM_IOVA, f->mem);
	device_reads(f, INB_IOVA, f->inb);
	bar_check(f, 0x5a5a1234);

	/* The device dies mid-session; the client notices. */
	assert_int_equal(testdev_kill(&f->dev), 0);
	assert_true(uvfio_client_region_read(f->c, TESTDEV_REG_BAR, 0, &v,
					     4) < 0);
	assert_int_equal(testdev_spawn(&f->dev, NULL), 0);
	t0 = now_us();
	/* The socket comes back (bound, about to listen). */
	while (access(f->dev.sock, F_OK) && now_us() - t0 < WAIT_MS * 1000)
		usleep(100);
	ts = now_us();
	r = uvfio_client_reconnect(f->c, -1, WAIT_MS);
	assert_int_equal(r, 0);
	assert_int_equal(uvfio_client_region_read(f->c, TESTDEV_REG_BAR,
						  TESTDEV_REG_MAGIC, &v, 4),
			 0);
	t1 = now_us();
	print_message("reconnect: %lld us from the socket's return to the "
		      "first REGION_READ (%lld us from the device's restart)\n",
		      (long long)(t1 - ts), (long long)(t1 - t0));
	/* Nothing was raised while the device was away: none invented. */
	assert_true(quiet(f->efd));
	device_reads(f, MEM_IOVA, f->mem);
	device_reads(f, INB_IOVA, f->inb);
	assert_true(quiet(f->efd));
	bar_check(f, 0x0badcafe);
	/* Twice in a row works too. */
	assert_int_equal(testdev_kill(&f->dev), 0);
	assert_int_equal(testdev_spawn(&f->dev, NULL), 0);
	assert_int_equal(uvfio_client_reconnect(f->c, -1, WAIT_MS), 0);
	device_reads(f, MEM_IOVA + 4096, f->mem + 4096);
	uvfio_client_close(f->c);
	f->c = NULL;
	munmap(f->mem, MEM_SIZE);
	munmap(f->inb, INB_SIZE);
	close(f->memfd);
	close(f->efd);
	testdev_stop(&f->dev);
	/* setup's own fds are gone too: back to before the test. */
	f->memfd = f->efd = -1;
	f->mem = f->inb = MAP_FAILED;
	assert_int_equal(my_fds(), f->base_fds);
}

/* testdev raises INTx, or MSI-X vector v, before the write returns. */
static void raise_irq(struct uvfio_client *c, uint32_t cmd, uint32_t v)
{
	wr(c, TESTDEV_REG_IRQ_NUMBER, v + 1);
	wr(c, TESTDEV_REG_COMMAND, cmd);
}

static int set_irqs(struct uvfio_client *c, uint32_t index, uint32_t flags,
		    uint32_t start, uint32_t count, const void *data)
{
	return uvfio_client_set_irqs(c, index, flags, start, count, data);
}

static void restart(struct fx *f)
{
	assert_int_equal(testdev_kill(&f->dev), 0);
	assert_int_equal(testdev_spawn(&f->dev, NULL), 0);
	assert_int_equal(uvfio_client_reconnect(f->c, -1, WAIT_MS), 0);
}

/*
 * What the client masked stays masked in the restarted device, and
 * INTx's unmask eventfd is watched again.
 */
static void test_restart_irqs(void **state)
{
	struct fx *f = *state;
	const uint32_t efd_trig =
		VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	const uint8_t yes = 1;
	uint64_t one = 1;
	int e[3] = { eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
		     eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
		     eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	int t = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int u = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int fds = my_fds();

	assert_true(e[0] >= 0 && e[1] >= 0 && e[2] >= 0 && t >= 0 && u >= 0);
	/* MSI-X: vectors 0..2, 1 masked by NONE, 2 by BOOL then unmasked. */
	assert_int_equal(set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX, efd_trig, 0,
				  3, e),
			 0);
	assert_int_equal(set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_MASK,
				  1, 1, NULL),
			 0);
	assert_int_equal(set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_MASK,
				  2, 1, &yes),
			 0);
	assert_int_equal(set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_UNMASK,
				  2, 1, NULL),
			 0);
	restart(f);
	raise_irq(f->c, TESTDEV_CMD_RAISE_MSIX, 0);
	assert_true(fired(e[0]));
	raise_irq(f->c, TESTDEV_CMD_RAISE_MSIX, 2);
	assert_true(fired(e[2]));
	/* Still masked: held pending, and delivered by the unmask. */
	raise_irq(f->c, TESTDEV_CMD_RAISE_MSIX, 1);
	assert_true(quiet(e[1]));
	assert_int_equal(set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_UNMASK,
				  1, 1, NULL),
			 0);
	assert_true(fired(e[1]));

	/* MSI-X off, INTx on with its unmask eventfd (the VMM's resample). */
	assert_int_equal(set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 0, NULL),
			 0);
	assert_int_equal(set_irqs(f->c, VFIO_PCI_INTX_IRQ_INDEX, efd_trig, 0,
				  1, &t),
			 0);
	assert_int_equal(set_irqs(f->c, VFIO_PCI_INTX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_EVENTFD |
					  VFIO_IRQ_SET_ACTION_UNMASK,
				  0, 1, &u),
			 0);
	restart(f);
	raise_irq(f->c, TESTDEV_CMD_RAISE_INTX, 0);
	assert_true(fired(t));
	/* Delivery masked it: held until the unmask eventfd is written. */
	raise_irq(f->c, TESTDEV_CMD_RAISE_INTX, 0);
	assert_true(quiet(t));
	assert_int_equal(write(u, &one, sizeof(one)), sizeof(one));
	assert_true(fired(t));
	/* MSI-X's masks went with it: nothing of it is replayed now. */
	assert_int_equal(set_irqs(f->c, VFIO_PCI_INTX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, 0, NULL),
			 0);
	for (int i = 0; i < 3; i++)
		close(e[i]);
	close(t);
	close(u);
	/* The client's dups of them went with the index. */
	assert_int_equal(my_fds(), fds - 5);
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	uint32_t v;
	int64_t t0;

	wire(f);
	assert_int_equal(testdev_kill(&f->dev), 0);
	t0 = now_us();
	assert_int_equal(uvfio_client_reconnect(f->c, -1, 200), -ETIMEDOUT);
	assert_true(now_us() - t0 >= 200000);
	/* Broken: calls fail at once. */
	assert_true(uvfio_client_region_read(f->c, TESTDEV_REG_BAR, 0, &v,
					     4) < 0);
	/* The device comes back later: a second try works. */
	assert_int_equal(testdev_spawn(&f->dev, NULL), 0);
	assert_int_equal(uvfio_client_reconnect(f->c, -1, WAIT_MS), 0);
	device_reads(f, MEM_IOVA, f->mem);
}

/* A device of another kind (one BAR, no IRQs) on a socketpair. */
static void *other_device(void *arg)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x1111 };
	const struct uvfio_region_desc r0 = { .size = 4096,
					      .flags = UVFIO_REGION_RW |
						       UVFIO_REGION_MEM };
	struct uvfio_dev *d = uvfio_dev_create(&ids, 256, NULL, NULL, NULL);
	int fd = *(int *)arg;

	if (!d || uvfio_dev_add_region(d, 0, &r0) ||
	    uvfio_dev_attach_fd(d, fd))
		return NULL;
	uvfio_dev_run(d, true);
	uvfio_dev_destroy(d);
	return NULL;
}

static void test_other_device(void **state)
{
	struct fx *f = *state;
	pthread_t t;
	uint32_t v;
	int sv[2];

	wire(f);
	assert_int_equal(testdev_kill(&f->dev), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(pthread_create(&t, NULL, other_device, &sv[1]), 0);
	assert_int_equal(uvfio_client_reconnect(f->c, sv[0], WAIT_MS),
			 -ENODEV);
	assert_true(uvfio_client_region_read(f->c, TESTDEV_REG_BAR, 0, &v,
					     4) < 0);
	uvfio_client_close(f->c);
	f->c = NULL;
	pthread_join(t, NULL);
}

static void test_not_kept(void **state)
{
	struct fx *f = *state;
	struct uvfio_client *c;

	/* testdev serves one client at a time. */
	uvfio_client_close(f->c);
	f->c = NULL;
	c = uvfio_client_connect(f->dev.sock, NULL);
	assert_non_null(c);
	assert_int_equal(uvfio_client_reconnect(c, -1, 100), -ENOTSUP);
	assert_int_equal(uvfio_client_reconnect(NULL, -1, 100), -EINVAL);
	uvfio_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_irqs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_kept, setup,
						teardown),
	};

	srand(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
