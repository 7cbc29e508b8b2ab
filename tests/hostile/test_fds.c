// SPDX-License-Identifier: MIT
/*
 * Hostile fds: descriptors on commands that take none, too many or the
 * wrong kind for DMA_MAP and SET_IRQS.  Every refused fd must be closed
 * by the server: its fd count is compared before and after.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define DMA_ADDR 0x80000000ull
#define PAGE 4096u
#define MANY 253
/* The server's fd limit in this group: floods run into it. */
#define SERVER_NOFILE 640 /* testdev --fd-limit */
#define STR_(x) #x
#define STR(x) STR_(x)

static const uint32_t efd_trig =
	VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
static const uint32_t none_trig =
	VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;

static void dup_n(int fd, int *out, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		out[i] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		assert_true(out[i] >= 0);
	}
}

/* Whether an eventfd of ours was signalled (and resets it). */
static bool fired(int efd)
{
	uint64_t v;

	return read(efd, &v, sizeof(v)) == sizeof(v) && v > 0;
}

static void set_irqs(struct hs_conn *c, uint32_t flags, uint32_t index,
		     uint32_t start, uint32_t count, const int *fds,
		     unsigned int nfds, int err)
{
	struct vfio_irq_set s = { sizeof(s), flags, index, start, count };

	if (err)
		hs_expect_err_fds(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s),
				  fds, nfds, err);
	else
		hs_expect_ok_fds(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s),
				 fds, nfds, NULL);
}

static void test_fds_on_plain_commands(void **state)
{
	struct hs_conn *c = *state;
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 1 };
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	struct vfio_user_region_access rd = { 0, 1, 4 };
	uint8_t wr[sizeof(rd) + 4] = { 0 };
	struct vfio_user_dma_unmap um = { sizeof(um), 0, DMA_ADDR, PAGE };
	struct vfio_user_version v = { VFIO_USER_MAJOR, VFIO_USER_MINOR };
	int e = hs_eventfd(), m = hs_memfd(PAGE), fds[20];
	int before = hs_fds_now(c);
	struct hs_reply r;

	dup_n(e, fds, 20);
	hs_expect_err_fds(c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), &e,
			  1, EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info),
			  fds, 20, EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri),
			  &m, 1, EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), &e,
			  1, EINVAL);
	hs_expect_err_fds(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), &e, 1,
			  EINVAL);
	hs_expect_err_fds(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), fds, 20,
			  EINVAL);
	/* A write that carries an fd is refused whole: BAR1 stays as is. */
	memcpy(wr, &rd, sizeof(rd));
	memset(wr + sizeof(rd), 0x5a, 4);
	hs_expect_ok(c, VFIO_USER_REGION_WRITE, wr, sizeof(wr), NULL);
	memset(wr + sizeof(rd), 0xa5, 4);
	hs_expect_err_fds(c, VFIO_USER_REGION_WRITE, wr, sizeof(wr), &m, 1,
			  EINVAL);
	hs_expect_ok(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), &r);
	assert_int_equal(r.data[sizeof(rd)], 0x5a);
	hs_reply_free(&r);
	hs_expect_err_fds(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), &m, 1,
			  EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DEVICE_RESET, NULL, 0, &e, 1, EINVAL);
	hs_expect_err_fds(c, VFIO_USER_VERSION, &v, sizeof(v), fds, 3, EINVAL);
	hs_expect_err_fds(c, 14, &info, sizeof(info), fds, 20, ENOSYS);
	assert_int_equal(hs_fds_now(c), before);
	hs_close_all(fds, 20);
	close(e);
	close(m);
}

static void test_dma_map_fd_count(void **state)
{
	struct hs_conn *c = *state;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, DMA_ADDR, PAGE };
	struct vfio_user_dma_unmap um = { sizeof(um), 0, DMA_ADDR, PAGE };
	int m = hs_memfd(PAGE), two[2], many[MANY];
	int before = hs_fds_now(c);

	dup_n(m, two, 2);
	dup_n(m, many, MANY);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), two, 2,
			  EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), many, MANY,
			  EINVAL);
	assert_int_equal(hs_fds_now(c), before);
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), ENOENT);
	/* One fd is right: the server keeps it while the window lives. */
	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1, NULL);
	assert_int_equal(hs_fds_now(c), before + 1);
	hs_expect_ok(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), NULL);
	assert_int_equal(hs_fds_now(c), before);
	hs_close_all(two, 2);
	hs_close_all(many, MANY);
	close(m);
}

/* Only regular files and character devices can back a window. */
static void test_dma_map_fd_kind(void **state)
{
	struct hs_conn *c = *state;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, DMA_ADDR, PAGE };
	int p[2], sv[2], e = hs_eventfd(),
			 dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int before = hs_fds_now(c);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_true(dir >= 0);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &p[0], 1,
			  EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &sv[0], 1,
			  EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &e, 1,
			  EINVAL);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &dir, 1,
			  EINVAL);
	assert_int_equal(hs_fds_now(c), before);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(e);
	close(dir);
}

static void test_set_irqs_fd_count(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t msi = VFIO_PCI_MSI_IRQ_INDEX;
	int e[3] = { hs_eventfd(), hs_eventfd(), hs_eventfd() };
	int before = hs_fds_now(c);

	set_irqs(c, efd_trig, msi, 0, 1, e, 2, EINVAL);
	set_irqs(c, efd_trig, msi, 0, 2, e, 1, EINVAL);
	set_irqs(c, efd_trig, msi, 0, 2, e, 3, EINVAL);
	set_irqs(c, efd_trig, msi, 0, 3, e, 2, EINVAL);
	/* fds with data that is not EVENTFD. */
	set_irqs(c, none_trig, msi, 0, 1, e, 1, EINVAL);
	assert_int_equal(hs_fds_now(c), before);
	/* Nothing was enabled: a loopback trigger is refused. */
	set_irqs(c, none_trig, msi, 0, 3, NULL, 0, EINVAL);
	for (int i = 0; i < 3; i++)
		assert_false(fired(e[i]));
	hs_close_all(e, 3);
}

static void test_set_irqs_not_eventfd(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t msi = VFIO_PCI_MSI_IRQ_INDEX;
	int p[2], m = hs_memfd(PAGE), e = hs_eventfd(), mixed[2];
	int before = hs_fds_now(c);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	set_irqs(c, efd_trig, msi, 0, 1, &p[0], 1, EINVAL);
	set_irqs(c, efd_trig, msi, 0, 1, &p[1], 1, EINVAL);
	set_irqs(c, efd_trig, msi, 0, 1, &m, 1, EINVAL);
	/* All or nothing: a good eventfd next to a pipe is not kept. */
	mixed[0] = e;
	mixed[1] = p[0];
	set_irqs(c, efd_trig, msi, 0, 2, mixed, 2, EINVAL);
	assert_int_equal(hs_fds_now(c), before);
	set_irqs(c, none_trig, msi, 0, 2, NULL, 0, EINVAL);
	assert_false(fired(e));
	close(p[0]);
	close(p[1]);
	close(m);
	close(e);
}

/*
 * The most fds one message can carry, as irq eventfds: all kept, all
 * wired to the right vector, replaced without leaking, released on
 * disable.
 */
static void test_set_irqs_many(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t msix = VFIO_PCI_MSIX_IRQ_INDEX;
	uint8_t buf[sizeof(struct vfio_irq_set) + MANY];
	struct vfio_irq_set s = { sizeof(buf),
				  VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_TRIGGER,
				  msix, 0, MANY };
	int e[MANY], e2[MANY];
	unsigned int n = MANY;
	int before = hs_fds_now(c);

	if (c->srv->max_msg_fds < n)
		n = c->srv->max_msg_fds;
	for (unsigned int i = 0; i < n; i++) {
		e[i] = hs_eventfd();
		e2[i] = hs_eventfd();
	}
	set_irqs(c, efd_trig, msix, 0, n, e, n, 0);
	assert_int_equal(hs_fds_now(c), before + (int)n);
	/* Every other vector, by DATA_BOOL. */
	s.count = n;
	s.argsz = (uint32_t)(sizeof(s) + n);
	memcpy(buf, &s, sizeof(s));
	for (unsigned int i = 0; i < n; i++)
		buf[sizeof(s) + i] = i % 2 == 0;
	hs_expect_ok(c, VFIO_USER_DEVICE_SET_IRQS, buf, sizeof(s) + n, NULL);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(fired(e[i]), i % 2 == 0);
	/* Replacing closes the old ones. */
	set_irqs(c, efd_trig, msix, 0, n, e2, n, 0);
	assert_int_equal(hs_fds_now(c), before + (int)n);
	set_irqs(c, none_trig, msix, n - 1, 1, NULL, 0, 0);
	assert_true(fired(e2[n - 1]));
	assert_false(fired(e[n - 1]));
	/* Disable: count 0 releases them all. */
	set_irqs(c, none_trig, msix, 0, 0, NULL, 0, 0);
	assert_int_equal(hs_fds_now(c), before);
	set_irqs(c, none_trig, msix, 0, n, NULL, 0, EINVAL);
	for (unsigned int i = 0; i < n; i++)
		assert_false(fired(e2[i]));
	hs_close_all(e, n);
	hs_close_all(e2, n);
}

/*
 * Sends len zero bytes in chunks, each carrying MANY fds.  The kernel
 * refuses a send while too many fds are in flight: wait for the server
 * to take them.
 */
static void flood(int sock, const int *fds, unsigned int chunks, size_t len)
{
	const struct timespec ms = { 0, 1000000 };
	size_t per = len / chunks;
	uint8_t *zero = calloc(1, per + chunks);

	assert_non_null(zero);
	for (unsigned int i = 0; i < chunks; i++) {
		size_t n = i + 1 < chunks ? per : len - per * (chunks - 1);
		struct iovec iov = { zero, n };
		union {
			char b[CMSG_SPACE(sizeof(int) * MANY)];
			struct cmsghdr align;
		} cb;
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cb.b,
				     .msg_controllen = sizeof(cb.b) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		ssize_t r;

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * MANY);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * MANY);
		for (int t = 0; t < 5000; t++) {
			r = sendmsg(sock, &mh, MSG_NOSIGNAL);
			if (r >= 0 || (errno != ETOOMANYREFS && errno != EINTR))
				break;
			nanosleep(&ms, NULL);
		}
		assert_true(r > 0);
		/* A short send: the rest goes without fds. */
		if ((size_t)r < n)
			hs_send(sock, zero + r, n - (size_t)r, NULL, 0);
	}
	free(zero);
}

/*
 * Thousands of fds inside one message, and inside the skipped body of an
 * oversize one: far more than the server may open.  It must refuse the
 * message, keep going, and hold none of them afterwards.
 */
static void test_fd_flood(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t data = 64 * 1024;
	struct vfio_user_region_access a = { 0, VFIO_PCI_BAR5_REGION_INDEX,
					     data };
	uint8_t head[16 + sizeof(a)];
	int e = hs_eventfd(), fds[MANY];
	int before = hs_fds_now(c);
	uint32_t big = c->srv->max_xfer + 65;
	uint16_t id = c->next_id++;

	dup_n(e, fds, MANY);
	hs_build(head, id, VFIO_USER_REGION_WRITE, 0, &a, sizeof(a));
	((struct vfio_user_header *)head)->msg_size =
		(uint32_t)(sizeof(head) + data);
	hs_send(c->fd, head, sizeof(head), NULL, 0);
	flood(c->fd, fds, 64, data);
	hs_recv_err(c, id, VFIO_USER_REGION_WRITE, EINVAL);
	assert_int_equal(hs_fds_now(c), before);

	id = c->next_id++;
	hs_build(head, id, VFIO_USER_REGION_WRITE, 0, NULL, 0);
	((struct vfio_user_header *)head)->msg_size = big;
	hs_send(c->fd, head, 16, NULL, 0);
	hs_recv_err(c, id, VFIO_USER_REGION_WRITE, EMSGSIZE);
	flood(c->fd, fds, 64, big - 16);
	assert_int_equal(hs_fds_now(c), before);
	hs_close_all(fds, MANY);
	close(e);
}

/*
 * The server's fd table full: the kernel drops the fds of a message on
 * receipt.  The server says so with EMFILE (not a bare EINVAL), a DMA_MAP
 * then fails the same way and changes nothing, and all works again once
 * fds are free.  MSI-X eventfds, which the server keeps, fill the table.
 */
static void test_fd_table_full(void **state)
{
	struct hs_conn *c = *state;
	const uint32_t msix = VFIO_PCI_MSIX_IRQ_INDEX;
	struct vfio_user_dma_map map = { sizeof(map), 3, 0, DMA_ADDR, PAGE };
	struct vfio_user_dma_unmap um = { sizeof(um), 0, DMA_ADDR, PAGE };
	int e = hs_eventfd(), m = hs_memfd(PAGE);
	int before = hs_fds_now(c), err = 0;
	uint32_t v;

	for (v = 0; v < 2048 && !err; v++) {
		struct vfio_irq_set s = { sizeof(s), efd_trig, msix, v, 1 };
		uint16_t id = hs_send_cmd(c, VFIO_USER_DEVICE_SET_IRQS, 0, &s,
					  sizeof(s), &e, 1);
		struct hs_reply r;

		assert_int_equal(hs_recv(c->fd, &r), 0);
		assert_int_equal(r.hdr.msg_id, id);
		if (r.hdr.flags & VFIO_USER_F_ERROR)
			err = (int)r.hdr.error_no;
		hs_reply_free(&r);
	}
	/*
	 * It ran out well before MSI-X did (SERVER_NOFILE): the last fd came
	 * in, and the check that it is an eventfd found no fd to look with,
	 * or the fd itself was dropped.  EMFILE either way.
	 */
	assert_int_equal(err, EMFILE);
	assert_true(v < 2048);
	hs_expect_err_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1,
			  EMFILE);
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), ENOENT);
	/* Disabling MSI-X frees the table. */
	set_irqs(c, none_trig, msix, 0, 0, NULL, 0, 0);
	assert_int_equal(hs_fds_now(c), before);
	hs_expect_ok_fds(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &m, 1, NULL);
	assert_int_equal(hs_fds_now(c), before + 1);
	hs_expect_ok(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), NULL);
	assert_int_equal(hs_fds_now(c), before);
	close(e);
	close(m);
}

/* This group's server gets a small fd limit, so floods reach it. */
static int group_setup(void **state)
{
	static const char *const args[] = { "--fd-limit",
					    STR(SERVER_NOFILE), NULL };

	*state = hs_start(args);
	return *state ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fds_on_plain_commands,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_dma_map_fd_count, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_dma_map_fd_kind, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_fd_count,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_not_eventfd,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_many, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_fd_flood, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_fd_table_full, hs_setup,
						hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_fds", tests, group_setup,
					   hs_group_teardown);
}
