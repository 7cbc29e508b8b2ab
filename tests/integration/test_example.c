// SPDX-License-Identifier: MIT
/*
 * The example device (examples/memcpy_dev.c) as its guide drives it: a
 * copy through an fd-backed window and through an in-band one, its
 * MSI-X interrupt, a copy from unmapped memory that must report ERROR,
 * and INTx when MSI-X is off.
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
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>

#include "testdev_proc.h"

#define REG_SRC 0x00
#define REG_DST 0x08
#define REG_LEN 0x10
#define REG_CMD 0x14
#define REG_STATUS 0x18
#define WIN 0x100000000ull      /* fd-backed, 1 MiB */
#define INBAND 0x200000000ull   /* no fd: the device asks us */
#define SZ (1u << 20)

struct fx {
	struct testdev_proc p;
	struct uvfio_client *c;
	uint8_t *mem;   /* WIN */
	uint8_t *own;   /* INBAND */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const uint32_t rw = UVFIO_DMA_READ | UVFIO_DMA_WRITE;
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_non_null(f);
	assert_int_equal(testdev_start(&f->p, NULL), 0);
	f->c = uvfio_client_connect(f->p.sock, NULL);
	assert_non_null(f->c);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SZ), 0);
	f->mem = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(f->mem != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(f->c, WIN, SZ, rw, f->mem, fd, 0),
			 0);
	close(fd);
	f->own = mmap(NULL, SZ, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->own != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(f->c, INBAND, SZ, rw, f->own, -1,
					      0),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	uvfio_client_close(f->c);
	assert_int_equal(testdev_stop(&f->p), 0);
	munmap(f->mem, SZ);
	munmap(f->own, SZ);
	free(f);
	return 0;
}

static void wr(struct fx *f, uint64_t off, uint64_t v, size_t n)
{
	assert_int_equal(uvfio_client_region_write(f->c, 0, off, &v, n, 0), 0);
}

static uint32_t status(struct fx *f)
{
	uint32_t v = 0;

	assert_int_equal(uvfio_client_region_read(f->c, 0, REG_STATUS, &v, 4),
			 0);
	return v;
}

/* Programs a copy, waits for the interrupt on efd; the status. */
static uint32_t copy(struct fx *f, uint64_t src, uint64_t dst, uint32_t len,
		     int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n;

	wr(f, REG_STATUS, 0, 4);
	wr(f, REG_SRC, src, 8);
	wr(f, REG_DST, dst, 8);
	wr(f, REG_LEN, len, 4);
	wr(f, REG_CMD, 1, 4);
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(efd, &n, sizeof(n)), sizeof(n));
	return status(f);
}

static int wire(struct fx *f, uint32_t index)
{
	int efd = eventfd(0, EFD_CLOEXEC);

	assert_true(efd >= 0);
	assert_int_equal(uvfio_client_set_irqs(f->c, index,
					       VFIO_IRQ_SET_DATA_EVENTFD |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, &efd),
			 0);
	return efd;
}

static void test_copies(void **state)
{
	struct fx *f = *state;
	int efd = wire(f, VFIO_PCI_MSIX_IRQ_INDEX);

	for (uint32_t i = 0; i < 65536; i++)
		f->mem[i] = (uint8_t)(i * 7 + 1);
	/* Mapped to mapped. */
	assert_int_equal(copy(f, WIN, WIN + 0x80000, 65536, efd), 1);
	assert_memory_equal(f->mem, f->mem + 0x80000, 65536);
	/* Mapped to in-band, and back. */
	assert_int_equal(copy(f, WIN, INBAND + 4096, 65536, efd), 1);
	assert_memory_equal(f->mem, f->own + 4096, 65536);
	memset(f->mem + 0x40000, 0, 65536);
	assert_int_equal(copy(f, INBAND + 4096, WIN + 0x40000, 65536, efd), 1);
	assert_memory_equal(f->mem, f->mem + 0x40000, 65536);
	/* From memory nobody mapped: ERROR, and still an interrupt. */
	assert_int_equal(copy(f, 0x1000, WIN, 16, efd), 2);
	close(efd);
}

static void test_intx(void **state)
{
	struct fx *f = *state;
	int efd = wire(f, VFIO_PCI_INTX_IRQ_INDEX);

	memset(f->mem, 0x3c, 512);
	assert_int_equal(copy(f, WIN, WIN + 4096, 512, efd), 1);
	assert_memory_equal(f->mem, f->mem + 4096, 512);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
