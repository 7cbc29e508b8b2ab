// SPDX-License-Identifier: MIT
/*
 * Shared files shrunk behind the server's back.  A client can truncate a
 * DMA window's file after mapping it, and the fd of a mappable region it
 * was given: the server must not die of SIGBUS when it next touches them,
 * so it seals what it maps and refuses what cannot be sealed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto/crc32.h"
#include "regs.h"

#define PAGE 4096u
#define BAR TESTDEV_REG_BAR

/*
 * COMMAND_READ over [iova, iova + size), which holds zeros when mapped:
 * with the zeros' CRC as the checksum, a mapped window must read OK, and
 * an unmapped one must fail as an invalid source.  Nothing in between.
 */
static void run_read(struct hs_conn *c, uint64_t iova, uint32_t size,
		     bool mapped)
{
	const uint32_t done = TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_READ_FAIL;
	uint8_t *zeros = calloc(1, size);
	uint32_t status = 0;

	assert_non_null(zeros);
	hs_region_write32(c, BAR, TESTDEV_REG_STATUS, 0);
	hs_region_write32(c, BAR, TESTDEV_REG_SRC_LO, (uint32_t)iova);
	hs_region_write32(c, BAR, TESTDEV_REG_SRC_HI, (uint32_t)(iova >> 32));
	hs_region_write32(c, BAR, TESTDEV_REG_SIZE, size);
	hs_region_write32(c, BAR, TESTDEV_REG_CHECKSUM,
			  crc32_le(~0u, zeros, size));
	free(zeros);
	hs_region_write32(c, BAR, TESTDEV_REG_COMMAND, TESTDEV_CMD_READ);
	hs_alive(c->srv);
	/* Inline or on a worker: wait for the command to settle. */
	for (int i = 0; i < 500 && !(status & done); i++) {
		status = hs_region_read32(c, BAR, TESTDEV_REG_STATUS);
		if (!(status & done))
			usleep(10000);
	}
	if (mapped)
		assert_int_equal(status & (done | TESTDEV_STATUS_SRC_INVALID),
				 TESTDEV_STATUS_READ_OK);
	else
		assert_int_equal(status & (done | TESTDEV_STATUS_SRC_INVALID),
				 TESTDEV_STATUS_READ_FAIL |
					 TESTDEV_STATUS_SRC_INVALID);
}

/*
 * A window's file is sealed against shrinking by the server when the
 * client left sealing open: the truncate that would have raised SIGBUS in
 * the server now fails in the client.
 */
static void test_truncate_after_map(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t iova = 0x10000000;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, iova, 16 * PAGE };
	int m = hs_memfd(16 * PAGE);

	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1, NULL);
	assert_int_equal(ftruncate(m, 0), -1);
	assert_int_equal(errno, EPERM);
	run_read(c, iova, 8 * PAGE, true);
	close(m);
}

/* Files that cannot be sealed could shrink later: refused. */
static void test_unsealable_refused(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t iova = 0x20000000;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, iova, 4 * PAGE };
	char path[] = "/tmp/uvfio-hostile-XXXXXX";
	int m = memfd_create("unsealable", MFD_CLOEXEC);
	int f = mkstemp(path);

	assert_true(m >= 0 && f >= 0);
	unlink(path);
	assert_int_equal(ftruncate(m, 4 * PAGE), 0);
	assert_int_equal(ftruncate(f, 4 * PAGE), 0);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1,
			  EPERM);
	/* A file on /tmp: sealable only where /tmp is a tmpfs. */
	if (fcntl(f, F_GET_SEALS) < 0)
		hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &f,
				  1, EPERM);
	/* Shrinking the refused files harms nobody. */
	assert_int_equal(ftruncate(m, 0), 0);
	run_read(c, iova, 4 * PAGE, false);
	close(m);
	close(f);
}

/*
 * GET_REGION_INFO hands out the fd behind a BAR's memory.  A client that
 * truncates it must not take the server's own mapping away.
 */
static void test_region_fd_truncate(void **state)
{
	struct hs_conn *c = *state;
	/* Room for the sparse capability, which brings the fd. */
	struct vfio_region_info ri = { .argsz = 4096, .index = 1 };
	const uint32_t pat = 0x600dda7a;
	struct hs_reply r;

	hs_region_write32(c, 1, 0, pat);
	hs_expect_ok(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &r);
	assert_int_equal(r.nfds, 1);
	/* Whether the server sealed it or not, try. */
	(void)!ftruncate(r.fds[0], 0);
	hs_reply_free(&r);
	assert_int_equal(hs_region_read32(c, 1, 0), pat);
	hs_alive(c->srv);
}

/* A server per test: the first SIGBUS must not hide the second. */
/*
 * --allow-unsealed-dma: files the device cannot seal (hugetlbfs or disk
 * guest RAM, libvfio-user's mkstemp file) are taken from a trusted client.
 */
static void test_unsealable_trusted(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t iova = 0x30000000;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, iova, 4 * PAGE };
	int m = memfd_create("unsealable", MFD_CLOEXEC);

	assert_true(m >= 0);
	assert_int_equal(ftruncate(m, 4 * PAGE), 0);
	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1, NULL);
	run_read(c, iova, 4 * PAGE, true);
	close(m);
}

/*
 * Guest RAM in huge pages (QEMU's memory-backend-file on hugetlbfs): a
 * window at an offset that is not a huge page multiple still maps.
 * Needs free huge pages (vm.nr_hugepages); skipped without.
 */
static void test_hugetlb_offsets(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t iova = 0x40000000;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0xc0000, iova,
					 16 * PAGE };
	int m = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB |
					     MFD_ALLOW_SEALING);

	void *p = MAP_FAILED;

	/*
	 * ftruncate() reserves nothing: only a shared mapping takes the huge
	 * pages, and fails without them, as the device's would.
	 */
	if (m >= 0 && !ftruncate(m, 4u << 20))
		p = mmap(NULL, 4u << 20, PROT_READ, MAP_SHARED, m, 0);
	if (p == MAP_FAILED) {
		if (m >= 0)
			close(m);
		print_message("no huge pages here (vm.nr_hugepages)\n");
		skip();
	}
	munmap(p, 4u << 20);
	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1, NULL);
	run_read(c, iova, 16 * PAGE, true);
	close(m);
}

static int setup_args(void **state, const char *const *args)
{
	*state = hs_start(args);
	if (!*state)
		return -1;
	if (hs_setup(state)) {
		hs_stop(*state);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	return setup_args(state, NULL);
}

static int setup_trusting(void **state)
{
	static const char *const args[] = { "--allow-unsealed-dma", NULL };

	return setup_args(state, args);
}

static int teardown(void **state)
{
	int ret = hs_teardown(state);

	return hs_stop(*state) ?: ret;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_fd_truncate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncate_after_map, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsealable_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsealable_trusted,
						setup_trusting, teardown),
		cmocka_unit_test_setup_teardown(test_hugetlb_offsets, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("hostile_truncate", tests, NULL,
					   NULL);
}
