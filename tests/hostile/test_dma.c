// SPDX-License-Identifier: MIT
/*
 * Hostile DMA maps and unmaps against a server started with
 * --dma-limit 65536: overlaps (also between windows of the radix table
 * and of the tree), bad geometry, files too small for the
 * window, the byte cap, unmaps that match no window, and the window-count
 * limit reached with pipelined requests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PAGE 4096u
#define LIMIT 65536u
#define RW (VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)
/* Replies the server may have queued while we still send: see map_many. */
#define BATCH 128

static const char *const limit_args[] = { "--dma-limit", "65536", NULL };

static int group_setup(void **state)
{
	*state = hs_start(limit_args);
	return *state ? 0 : -1;
}

static void map_err(struct hs_conn *c, uint64_t addr, uint64_t size,
		    uint64_t offset, uint32_t flags, int fd, int err)
{
	struct vfio_user_dma_map m = { sizeof(m), flags, offset, addr, size };

	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, fd >= 0,
			  err);
}

static void map_ok(struct hs_conn *c, uint64_t addr, uint64_t size, int fd)
{
	struct vfio_user_dma_map m = { sizeof(m), RW, 0, addr, size };

	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, fd >= 0,
			 NULL);
}

static void unmap(struct hs_conn *c, uint64_t addr, uint64_t size, int err)
{
	struct vfio_user_dma_unmap u = { sizeof(u), 0, addr, size };
	struct hs_reply r;

	if (err) {
		hs_expect_err(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), err);
		return;
	}
	/* The reply is the original entry. */
	hs_expect_ok(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), &r);
	assert_int_equal(r.size, sizeof(u));
	assert_memory_equal(r.data, &u, sizeof(u));
	hs_reply_free(&r);
}

static void unmap_all(struct hs_conn *c)
{
	struct vfio_user_dma_unmap u = { sizeof(u), VFIO_DMA_UNMAP_FLAG_ALL };

	hs_expect_ok(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL);
}

static void test_overlap(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t a = 0x100000;
	int m = hs_memfd(4 * PAGE);
	int before = hs_fds_now(c);

	map_ok(c, a, 4 * PAGE, -1);
	map_err(c, a, 4 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, a - PAGE, 2 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, a + 3 * PAGE, 2 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, a + PAGE, PAGE, 0, RW, -1, EEXIST);
	map_err(c, a - PAGE, 6 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, 0, 0x10000000, 0, RW, -1, EEXIST);
	map_err(c, a + 2 * PAGE, PAGE, 0, RW, m, EEXIST);
	assert_int_equal(hs_fds_now(c), before);
	/* Touching is not overlapping. */
	map_ok(c, a + 4 * PAGE, PAGE, -1);
	map_ok(c, a - PAGE, PAGE, m);
	map_err(c, a - PAGE, PAGE, 0, RW, -1, EEXIST);
	unmap(c, a, 4 * PAGE, 0);
	unmap(c, a + 4 * PAGE, PAGE, 0);
	unmap(c, a - PAGE, PAGE, 0);
	assert_int_equal(hs_fds_now(c), before);
	close(m);
}

/*
 * Windows the device's radix table holds (under 2^48) and windows only
 * its tree holds (reaching 2^48 or past it) overlap each other as any
 * two windows do, in either order; an unmap must name a window exactly.
 */
static void test_overlap_radix_tree(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t top = (uint64_t)1 << 48;

	map_ok(c, top - 4 * PAGE, PAGE, -1); /* radix */
	map_ok(c, top - PAGE, 2 * PAGE, -1); /* tree: crosses 2^48 */
	map_ok(c, top + 4 * PAGE, PAGE, -1); /* tree: past 2^48 */
	/* A tree-only window over a radix one, and the other way round. */
	map_err(c, top - 5 * PAGE, 3 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, top - 4 * PAGE, 8 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, top - 2 * PAGE, 2 * PAGE, 0, RW, -1, EEXIST);
	map_err(c, top, PAGE, 0, RW, -1, EEXIST);
	map_err(c, top + 3 * PAGE, 2 * PAGE, 0, RW, -1, EEXIST);
	/* Between them is free. */
	map_ok(c, top - 3 * PAGE, 2 * PAGE, -1);
	map_ok(c, top + PAGE, 3 * PAGE, -1);
	/* Part of a window, or more than it, is no window. */
	unmap(c, top - 4 * PAGE, 2 * PAGE, ENOENT);
	unmap(c, top - 3 * PAGE, PAGE, ENOENT);
	unmap(c, top - PAGE, PAGE, ENOENT);
	unmap(c, top - 2 * PAGE, 3 * PAGE, ENOENT);
	unmap(c, top - 4 * PAGE, PAGE, 0);
	unmap(c, top - 3 * PAGE, 2 * PAGE, 0);
	unmap(c, top - PAGE, 2 * PAGE, 0);
	unmap(c, top + PAGE, 3 * PAGE, 0);
	unmap(c, top + 4 * PAGE, PAGE, 0);
	/* All gone: the same ranges map again. */
	map_ok(c, top - 5 * PAGE, 3 * PAGE, -1);
	map_ok(c, top - 2 * PAGE, 8 * PAGE, -1);
	unmap_all(c);
	map_ok(c, top - 4 * PAGE, 8 * PAGE, -1);
	unmap(c, top - 4 * PAGE, 8 * PAGE, 0);
}

static void test_bad_geometry(void **state)
{
	struct hs_conn *c = *state;
	int m = hs_memfd(4 * PAGE);
	int before = hs_fds_now(c);

	map_err(c, 0x100001, PAGE, 0, RW, -1, EINVAL);
	map_err(c, 0x100800, PAGE, 0, RW, -1, EINVAL);
	map_err(c, 0x100000, PAGE / 2, 0, RW, -1, EINVAL);
	map_err(c, 0x100000, PAGE + 1, 0, RW, -1, EINVAL);
	map_err(c, 0x100000, 0, 0, RW, -1, EINVAL);
	map_err(c, 0x100000, 0, 0, RW, m, EINVAL);
	map_err(c, 0x100000, PAGE, PAGE / 2, RW, m, EINVAL);
	/* No fd, nothing to take an offset into. */
	map_err(c, 0x100000, PAGE, PAGE, RW, -1, EINVAL);
	/* addr + size past 2^64. */
	map_err(c, 0xfffffffffffff000ull, 2 * PAGE, 0, RW, -1, EINVAL);
	map_err(c, 0x100000, 0xffffffffffff0000ull, 0, RW, -1, EINVAL);
	map_err(c, 0x100000, 0xffffffffffff0000ull, 0, RW, m, EINVAL);
	/* Unknown flags. */
	map_err(c, 0x100000, PAGE, 0, 1u << 2, -1, EINVAL);
	map_err(c, 0x100000, PAGE, 0, RW | (1u << 31), -1, EINVAL);
	map_err(c, 0x100000, PAGE, 0, RW | (1u << 2), m, EINVAL);
	assert_int_equal(hs_fds_now(c), before);
	/* None of them went in: this would overlap any of them. */
	map_ok(c, 0, 0x10000000, -1);
	unmap(c, 0, 0x10000000, 0);
	close(m);
}

/* Touching a page past the end of the file would be a SIGBUS. */
static void test_fd_too_small(void **state)
{
	struct hs_conn *c = *state;
	int m = hs_memfd(PAGE), empty = hs_memfd(0);
	int before = hs_fds_now(c);

	map_err(c, 0x200000, 2 * PAGE, 0, RW, m, EINVAL);
	map_err(c, 0x200000, PAGE, PAGE, RW, m, EINVAL);
	map_err(c, 0x200000, PAGE, 2 * PAGE, RW, m, EINVAL);
	map_err(c, 0x200000, PAGE, 0xfffffffffffff000ull, RW, m, EINVAL);
	map_err(c, 0x200000, PAGE, 0, RW, empty, EINVAL);
	assert_int_equal(hs_fds_now(c), before);
	map_ok(c, 0x200000, PAGE, m);
	unmap(c, 0x200000, PAGE, 0);
	close(m);
	close(empty);
}

static void test_limit(void **state)
{
	struct hs_conn *c = *state;
	int big = hs_memfd(LIMIT + PAGE), small = hs_memfd(PAGE);
	int before = hs_fds_now(c);

	map_err(c, 0x1000000, LIMIT + PAGE, 0, RW, big, ENOMEM);
	map_ok(c, 0x1000000, LIMIT, big);
	assert_int_equal(hs_fds_now(c), before + 1);
	map_err(c, 0x2000000, PAGE, 0, RW, small, ENOMEM);
	assert_int_equal(hs_fds_now(c), before + 1);
	/* The table is as it was: the first window, exactly. */
	unmap(c, 0x2000000, PAGE, ENOENT);
	unmap(c, 0x1000000, LIMIT, 0);
	assert_int_equal(hs_fds_now(c), before);
	/* And its bytes were given back. */
	map_ok(c, 0x2000000, PAGE, small);
	map_ok(c, 0x1000000, LIMIT - PAGE, big);
	map_err(c, 0x3000000, PAGE, 0, RW, small, ENOMEM);
	unmap_all(c);
	assert_int_equal(hs_fds_now(c), before);
	close(big);
	close(small);
}

static void test_unmap_enoent(void **state)
{
	struct hs_conn *c = *state;
	const uint64_t a = 0x400000;

	unmap(c, a, 4 * PAGE, ENOENT);
	map_ok(c, a, 4 * PAGE, -1);
	unmap(c, a + 0x100000, 4 * PAGE, ENOENT);
	unmap(c, a, PAGE, ENOENT);
	unmap(c, a + PAGE, PAGE, ENOENT);
	unmap(c, a + PAGE, 3 * PAGE, ENOENT);
	unmap(c, a - PAGE, 6 * PAGE, ENOENT);
	unmap(c, a, 5 * PAGE, ENOENT);
	unmap(c, a - PAGE, 5 * PAGE, ENOENT);
	unmap(c, a, 0, ENOENT);
	unmap(c, a, UINT64_MAX, ENOENT);
	unmap(c, a, 4 * PAGE, 0);
	unmap(c, a, 4 * PAGE, ENOENT);
}

static void test_unmap_flags(void **state)
{
	struct hs_conn *c = *state;
	struct vfio_user_dma_unmap u = { sizeof(u), VFIO_DMA_UNMAP_FLAG_ALL,
					 0x1000, 0 };
	int m = hs_memfd(PAGE);
	int before = hs_fds_now(c);

	map_ok(c, 0x500000, PAGE, -1);
	map_ok(c, 0x600000, PAGE, m);
	map_ok(c, 0x700000, 2 * PAGE, -1);
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), EINVAL);
	u.addr = 0;
	u.size = PAGE;
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), EINVAL);
	u.addr = 0x500000;
	u.flags = 1u << 5;
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), EINVAL);
	u.flags = VFIO_DMA_UNMAP_FLAG_ALL | (1u << 5);
	u.addr = 0;
	u.size = 0;
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), EINVAL);
	/* None of the refused unmaps removed anything. */
	assert_int_equal(hs_fds_now(c), before + 1);
	map_err(c, 0x500000, PAGE, 0, RW, -1, EEXIST);
	unmap_all(c);
	assert_int_equal(hs_fds_now(c), before);
	unmap(c, 0x500000, PAGE, ENOENT);
	unmap(c, 0x600000, PAGE, ENOENT);
	unmap(c, 0x700000, 2 * PAGE, ENOENT);
	unmap_all(c);
	map_ok(c, 0x600000, PAGE, m);
	unmap(c, 0x600000, PAGE, 0);
	close(m);
}

/*
 * n windows of a page each, every other page from base, sent BATCH at a
 * time before the replies are read.  A batch's replies (16-byte messages,
 * each its own socket buffer) stay well below the socket's send buffer, so
 * the server never blocks on us while we block on it.
 */
static void map_many(struct hs_conn *c, uint64_t base, uint32_t n)
{
	const size_t one = sizeof(struct vfio_user_header) +
			   sizeof(struct vfio_user_dma_map);
	uint8_t *buf = malloc(BATCH * one);
	uint32_t done = 0;

	assert_non_null(buf);
	while (done < n) {
		uint32_t k = n - done < BATCH ? n - done : BATCH;
		uint16_t first = c->next_id;
		size_t len = 0;

		for (uint32_t i = 0; i < k; i++) {
			struct vfio_user_dma_map m = {
				sizeof(m), RW, 0,
				base + (uint64_t)(done + i) * 2 * PAGE, PAGE
			};

			len += hs_build(buf + len, c->next_id++,
					VFIO_USER_DMA_MAP, 0, &m, sizeof(m));
		}
		hs_send(c->fd, buf, len, NULL, 0);
		for (uint32_t i = 0; i < k; i++) {
			struct hs_reply r;

			hs_recv_ok(c, (uint16_t)(first + i), VFIO_USER_DMA_MAP,
				   &r);
			assert_int_equal(r.size, 0);
			hs_reply_free(&r);
		}
		done += k;
	}
	free(buf);
}

static void test_max_windows(void **state)
{
	struct hs_conn *c = *state;
	uint32_t max = c->srv->max_dma_maps;
	const uint64_t base = 0x100000000ull;
	int m = hs_memfd(PAGE);
	int before = hs_fds_now(c);

	/* The protocol's default, which testdev keeps. */
	assert_int_equal(max, 65535);
	map_many(c, base, max);
	map_err(c, 0x1000, PAGE, 0, RW, -1, ENOSPC);
	map_err(c, 0x1000, PAGE, 0, RW, m, ENOSPC);
	assert_int_equal(hs_fds_now(c), before);
	/* Lookups still work at both ends of a full table. */
	unmap(c, base + PAGE, PAGE, ENOENT);
	unmap(c, base + (uint64_t)(max - 1) * 2 * PAGE, PAGE, 0);
	map_ok(c, 0x1000, PAGE, m);
	map_err(c, 0x3000, PAGE, 0, RW, -1, ENOSPC);
	unmap_all(c);
	assert_int_equal(hs_fds_now(c), before);
	map_ok(c, base, PAGE, -1);
	unmap_all(c);
	close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overlap, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_overlap_radix_tree,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_bad_geometry, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_fd_too_small, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_limit, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_unmap_enoent, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_unmap_flags, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_max_windows, hs_setup,
						hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_dma", tests, group_setup,
					   hs_group_teardown);
}
