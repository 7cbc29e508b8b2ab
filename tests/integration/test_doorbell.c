// SPDX-License-Identifier: MIT
/*
 * Doorbells (GET_REGION_IO_FDS) against uvfio-testdev --doorbells, whose
 * BAR0 COMMAND register is a doorbell per command (datamatch): the client
 * gets the eventfds, and a signal on one (what KVM does on a guest's
 * matching write) runs the command as the REGION_WRITE would.  Also: a
 * region without doorbells, a short reply buffer, the device's fds
 * across clients.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <cmocka.h>

#include <uvfio/client.h>

#include "proto/crc32.h"
#include "regs.h"
#include "testdev_proc.h"

#define NCMD 6 /* RAISE_INTX .. COPY */
#define WAIT_MS 5000
#define MEM_IOVA 0x100000ull
#define MEM_SIZE (1u << 20)

struct fx {
	struct testdev_proc dev;
	struct uvfio_client *c;
	struct uvfio_doorbell db[NCMD + 2];
	int n;
};

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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool fired(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	return poll(&p, 1, ms) == 1 && read(efd, &v, sizeof(v)) == sizeof(v);
}

/* What KVM does when the guest writes the doorbell's value. */
static void ring(struct fx *f, uint32_t cmd)
{
	uint64_t one = 1;

	for (int i = 0; i < f->n; i++) {
		if (f->db[i].datamatch == cmd) {
			assert_int_equal(write(f->db[i].fd, &one, sizeof(one)),
					 sizeof(one));
			return;
		}
	}
	fail_msg("no doorbell for command %#x", cmd);
}

static void close_all(struct fx *f)
{
	for (int i = 0; i < f->n; i++)
		close(f->db[i].fd);
	f->n = 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	static const char *const args[] = { "--doorbells", NULL };

	if (!f || testdev_start(&f->dev, args))
		return -1;
	f->c = uvfio_client_connect(f->dev.sock, NULL);
	if (!f->c)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close_all(f);
	uvfio_client_close(f->c);
	assert_true(testdev_alive(&f->dev));
	testdev_stop(&f->dev);
	free(f);
	return 0;
}

static void test_listed(void **state)
{
	struct fx *f = *state;
	struct uvfio_doorbell two[2];
	uint32_t seen = 0;

	f->n = uvfio_client_region_doorbells(f->c, TESTDEV_REG_BAR, f->db,
					     NCMD + 2);
	assert_int_equal(f->n, NCMD);
	for (int i = 0; i < f->n; i++) {
		assert_int_equal(f->db[i].offset, TESTDEV_REG_COMMAND);
		assert_int_equal(f->db[i].size, 4);
		assert_int_equal(f->db[i].flags, KVM_IOEVENTFD_FLAG_DATAMATCH);
		assert_true(f->db[i].fd >= 0);
		seen |= (uint32_t)f->db[i].datamatch;
		for (int k = 0; k < i; k++)
			assert_int_not_equal(f->db[k].fd, f->db[i].fd);
	}
	assert_int_equal(seen, (TESTDEV_CMD_COPY << 1) - 1);
	/* Fewer slots: the count, and only what fits is filled. */
	assert_int_equal(uvfio_client_region_doorbells(f->c, TESTDEV_REG_BAR,
						       two, 2),
			 NCMD);
	close(two[0].fd);
	close(two[1].fd);
	/* Mapped memory BARs and config space have none. */
	assert_int_equal(uvfio_client_region_doorbells(f->c, 1, two, 2), 0);
	assert_int_equal(uvfio_client_region_doorbells(
				 f->c, VFIO_PCI_CONFIG_REGION_INDEX, two, 2),
			 0);
	assert_int_equal(uvfio_client_region_doorbells(f->c, 99, two, 2),
			 -EINVAL);
	assert_int_equal(uvfio_client_region_doorbells(f->c, 0, NULL, 2),
			 -EINVAL);
}

/* A doorbell runs its command as a REGION_WRITE of the value would. */
static void test_raise(void **state)
{
	struct fx *f = *state;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	f->n = uvfio_client_region_doorbells(f->c, TESTDEV_REG_BAR, f->db,
					     NCMD);
	assert_int_equal(f->n, NCMD);
	const uint32_t trig =
		VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;

	assert_int_equal(uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       trig, 0, 2, (int[]){ efd, efd }),
			 0);
	wr(f->c, TESTDEV_REG_IRQ_NUMBER, 2);
	for (int i = 0; i < 3; i++) {
		ring(f, TESTDEV_CMD_RAISE_MSIX);
		assert_true(fired(efd, WAIT_MS));
	}
	/* Only a signal rings it: nothing more came. */
	assert_false(fired(efd, 0));
	/* The register path still works beside it. */
	wr(f->c, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSIX);
	assert_true(fired(efd, WAIT_MS));
	close(efd);
}

/* A data-moving command, rung by doorbell: DMA from client memory. */
static void test_dma(void **state)
{
	struct fx *f = *state;
	uint32_t done = TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	int memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *mem;
	uint32_t st = 0;
	int64_t end;

	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, MEM_SIZE), 0);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	assert_true(mem != MAP_FAILED);
	for (uint32_t i = 0; i < 8192; i++)
		mem[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(uvfio_client_dma_map(f->c, MEM_IOVA, MEM_SIZE,
					      UVFIO_DMA_READ, mem, memfd, 0),
			 0);
	f->n = uvfio_client_region_doorbells(f->c, TESTDEV_REG_BAR, f->db,
					     NCMD);
	wr(f->c, TESTDEV_REG_STATUS, 0);
	wr(f->c, TESTDEV_REG_SRC_LO, (uint32_t)MEM_IOVA);
	wr(f->c, TESTDEV_REG_SRC_HI, 0);
	wr(f->c, TESTDEV_REG_SIZE, 8192);
	wr(f->c, TESTDEV_REG_CHECKSUM, crc32_le(~0u, mem, 8192));
	wr(f->c, TESTDEV_REG_IRQ_NUMBER, 0);
	ring(f, TESTDEV_CMD_READ);
	end = now_ms() + WAIT_MS;
	while (!((st = rd(f->c, TESTDEV_REG_STATUS)) & done) &&
	       now_ms() < end)
		usleep(500);
	assert_true(st & TESTDEV_STATUS_READ_OK);
	assert_int_equal(uvfio_client_dma_unmap(f->c, MEM_IOVA, MEM_SIZE), 0);
	munmap(mem, MEM_SIZE);
	close(memfd);
}

/* The eventfds are the device's: a client coming and going costs none. */
static void test_device_fds(void **state)
{
	struct fx *f = *state;
	int base;

	/* Without --doorbells, none. */
	{
		struct testdev_proc plain;
		struct uvfio_client *c;

		assert_int_equal(testdev_start(&plain, NULL), 0);
		c = uvfio_client_connect(plain.sock, NULL);
		assert_non_null(c);
		assert_int_equal(uvfio_client_region_io_fds(c, 0), 0);
		uvfio_client_close(c);
		assert_int_equal(testdev_stop(&plain), 0);
	}
	f->n = uvfio_client_region_doorbells(f->c, TESTDEV_REG_BAR, f->db,
					     NCMD);
	assert_int_equal(f->n, NCMD);
	base = proc_fd_count(f->dev.pid);
	close_all(f);
	uvfio_client_close(f->c);
	f->c = uvfio_client_connect(f->dev.sock, NULL);
	assert_non_null(f->c);
	f->n = uvfio_client_region_doorbells(f->c, TESTDEV_REG_BAR, f->db,
					     NCMD);
	assert_int_equal(f->n, NCMD);
	assert_int_equal(proc_fd_count(f->dev.pid), base);
	/* Still wired after the client changed. */
	ring(f, TESTDEV_CMD_RAISE_INTX);
	wr(f->c, TESTDEV_REG_MAGIC, 0x1234);
	assert_int_equal(rd(f->c, TESTDEV_REG_MAGIC), 0x1234);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_listed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_fds, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
