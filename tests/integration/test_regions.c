// SPDX-License-Identifier: MIT
/*
 * The device-side API beyond what uvfio-testdev uses, end to end: capdev
 * (a device built on include/uvfio/server.h) serves in a child process,
 * this process is the client, over a socketpair or a listening socket.
 * Every test ends by checking that the child exited with status 0, after
 * the client left (uvfio_dev_run(once)) or after SIGTERM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "capdev.h"
#include "procstat.h"
#include "proto/wire.h"
#include "testdev_proc.h"
#include "client/testing.h"

/* Generous: the whole suite also runs under valgrind. */
#define READY_MS 20000
#define EXIT_MS 10000
#define IOVA 0x100000ull

struct fixture {
	pid_t pid;
	int notify; /* read end of the child's notes */
	int release; /* write end: the child's hold worker lets go */
	char dir[64];
	char path[128];
	struct uvfio_client *c;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next note from the child, or -1 after ms. */
static int read_note(struct fixture *f, int ms)
{
	struct pollfd p = { .fd = f->notify, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) != 1 || read(f->notify, &c, 1) != 1)
		return -1;
	return c;
}

/* The child's wait status, or -1 if it is still running after ms. */
static int reap(struct fixture *f, int ms)
{
	int64_t end = now_ms() + ms;
	int st;

	while (now_ms() < end) {
		pid_t r = waitpid(f->pid, &st, WNOHANG);

		if (r == f->pid) {
			f->pid = 0;
			return st;
		}
		if (r < 0)
			return -1;
		usleep(5000);
	}
	return -1;
}

static void child(const struct capdev_params *p)
{
	/* cmocka's handlers would longjmp into the parent's test. */
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL,
				    SIGFPE,  SIGSYS, SIGABRT };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	exit(capdev_main(p));
}

/* Forks capdev and connects a client unless no_client. */
static struct fixture *start(void **state, enum capdev_mode mode,
			     uint64_t dma_limit, uint32_t huge_areas,
			     bool no_client)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct capdev_params p = { .mode = mode,
				   .fd = -1,
				   .dma_limit = dma_limit,
				   .huge_areas = huge_areas };
	int pfd[2], rfd[2], sv[2] = { -1, -1 };

	assert_non_null(f);
	*state = f; /* teardown cleans up whatever start got to */
	f->notify = -1;
	f->release = -1;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rfd, O_CLOEXEC), 0);
	if (mode == CAPDEV_FD_ONCE) {
		assert_int_equal(
			socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			0);
		p.fd = sv[1];
	} else {
		strcpy(f->dir, "/tmp/uvfio-regions-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->path, sizeof(f->path), "%s/dev.sock", f->dir);
		p.path = f->path;
	}
	p.notify_fd = pfd[1];
	p.release_fd = rfd[0];
	fflush(NULL);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		close(pfd[0]);
		close(rfd[1]);
		if (sv[0] >= 0)
			close(sv[0]);
		child(&p);
	}
	f->notify = pfd[0];
	close(pfd[1]);
	f->release = rfd[1];
	close(rfd[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	assert_int_equal(read_note(f, READY_MS), CAPDEV_NOTE_READY);
	if (no_client) {
		if (sv[0] >= 0)
			close(sv[0]);
		return f;
	}
	if (mode == CAPDEV_FD_ONCE)
		f->c = uvfio_client_attach_fd(sv[0], NULL);
	else
		f->c = uvfio_client_connect(f->path, NULL);
	assert_non_null(f->c);
	return f;
}

static void drop_client(struct fixture *f)
{
	uvfio_client_close(f->c);
	f->c = NULL;
}

/* The client leaves; a run(once) device must then exit 0 by itself. */
static void expect_exit_alone(struct fixture *f)
{
	int st;

	drop_client(f);
	st = reap(f, EXIT_MS);
	assert_int_not_equal(st, -1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* SIGTERM must stop the device cleanly within ms. */
static void expect_exit_term(struct fixture *f, int ms)
{
	int st;

	assert_int_equal(kill(f->pid, SIGTERM), 0);
	st = reap(f, ms);
	assert_int_not_equal(st, -1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	if (f->c)
		uvfio_client_close(f->c);
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	if (f->notify >= 0)
		close(f->notify);
	if (f->release >= 0)
		close(f->release);
	if (f->dir[0]) {
		unlink(f->path);
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

static uint64_t rd(struct uvfio_client *c, uint32_t off)
{
	uint64_t v = 0;

	assert_int_equal(uvfio_client_region_read(c, 0, off, &v, sizeof(v)), 0);
	return v;
}

static void wr(struct uvfio_client *c, uint32_t off, uint64_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, sizeof(v), 0),
			 0);
}

static uint64_t peek(struct uvfio_client *c, uint32_t index, uint32_t off)
{
	wr(c, CAPDEV_REG_PEEK_SEL, (uint64_t)index << 32 | off);
	return rd(c, CAPDEV_REG_PEEK);
}

static int dma_probe(struct uvfio_client *c, uint64_t iova, uint64_t len,
		     uint32_t access)
{
	wr(c, CAPDEV_REG_DMA_IOVA, iova);
	wr(c, CAPDEV_REG_DMA_LEN, len);
	wr(c, CAPDEV_REG_DMA_ACCESS, access);
	wr(c, CAPDEV_REG_DMA_CMD, CAPDEV_CMD_PROBE);
	return (int)(int64_t)rd(c, CAPDEV_REG_DMA_RESULT);
}

/*
 * The device's open fds once it is idle: it replies before it closes
 * what the request brought (and its end of the twin socket after the
 * VERSION reply), so one round trip first.
 */
static int dev_fds(struct fixture *f)
{
	int n;

	rd(f->c, CAPDEV_REG_SCRATCH);
	n = proc_fd_count(f->pid);
	assert_true(n > 0);
	return n;
}

/*
 * A shared-memory buffer to hand out as a DMA window; sealing stays open
 * so the device can seal it against shrinking.
 */
static void *memfd_buf(size_t size, int *fd)
{
	void *p;

	*fd = memfd_create("regions-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void raw_region_info(struct uvfio_client *c, uint32_t index,
			    uint32_t argsz, uint8_t *buf, size_t cap, int want)
{
	struct vfio_region_info q = { .argsz = argsz, .index = index };

	memset(buf, 0xee, cap);
	assert_int_equal(uvfio_client_raw(c, VFIO_USER_DEVICE_GET_REGION_INFO,
					  &q, sizeof(q), NULL, 0, buf, cap),
			 want);
}

/* 1. Sparse mmap: info, mapping, and which accesses reach the callback. */
static void test_sparse_info(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	const struct uvfio_region *r;
	uint32_t bar = 0xffffffff;

	assert_int_equal(uvfio_client_region_info(f->c, 2, &r), 0);
	assert_int_equal(r->size, CAPDEV_BAR2_SIZE);
	assert_int_equal(r->flags & (VFIO_REGION_INFO_FLAG_READ |
				     VFIO_REGION_INFO_FLAG_WRITE |
				     VFIO_REGION_INFO_FLAG_MMAP |
				     VFIO_REGION_INFO_FLAG_CAPS),
			 VFIO_REGION_INFO_FLAG_READ |
				 VFIO_REGION_INFO_FLAG_WRITE |
				 VFIO_REGION_INFO_FLAG_MMAP |
				 VFIO_REGION_INFO_FLAG_CAPS);
	assert_true(r->fd >= 0);
	assert_false(r->has_type);
	assert_int_equal(r->nr_areas, 2);
	assert_int_equal(r->areas[0].offset, CAPDEV_AREA0_OFF);
	assert_int_equal(r->areas[0].size, CAPDEV_AREA0_SIZE);
	assert_int_equal(r->areas[1].offset, CAPDEV_AREA1_OFF);
	assert_int_equal(r->areas[1].size, CAPDEV_AREA1_SIZE);

	/* The region declared BAR2 in config space: sizing reads it back. */
	assert_int_equal(
		uvfio_client_region_write(f->c, VFIO_PCI_CONFIG_REGION_INDEX,
					  PCI_BASE_ADDRESS_2, &bar, 4, 0),
		0);
	assert_int_equal(uvfio_client_region_read(f->c,
						  VFIO_PCI_CONFIG_REGION_INDEX,
						  PCI_BASE_ADDRESS_2, &bar, 4),
			 0);
	assert_int_equal(bar, (uint32_t) ~(CAPDEV_BAR2_SIZE - 1));

	/* BAR3 is not a region: present in the count, empty. */
	assert_int_equal(uvfio_client_region_info(f->c, 3, &r), 0);
	assert_int_equal(r->size, 0);
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->fd, -1);
	expect_exit_alone(f);
}

static void test_sparse_mmap(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	uint64_t v = 0x1122334455667788ull, traps;
	size_t sz0 = 0, sz1 = 0;
	uint8_t *a0, *a1;

	a0 = uvfio_client_region_mmap(f->c, 2, 0, &sz0);
	a1 = uvfio_client_region_mmap(f->c, 2, 1, &sz1);
	assert_non_null(a0);
	assert_non_null(a1);
	assert_int_equal(sz0, CAPDEV_AREA0_SIZE);
	assert_int_equal(sz1, CAPDEV_AREA1_SIZE);
	/* Sparse: no whole-region mapping, and no third area. */
	errno = 0;
	assert_null(uvfio_client_region_mmap(f->c, 2, -1, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(uvfio_client_region_mmap(f->c, 2, 2, NULL));

	/* Stores through the mappings are the device's memory... */
	memcpy(a0 + 0x10, &v, sizeof(v));
	memcpy(a1 + 0x7ff8, &v, sizeof(v));
	assert_int_equal(peek(f->c, 2, CAPDEV_AREA0_OFF + 0x10), v);
	assert_int_equal(peek(f->c, 2, CAPDEV_AREA1_OFF + 0x7ff8), v);
	/* ...and the device's stores show in the mappings. */
	wr(f->c, CAPDEV_REG_PEEK_SEL, 2ull << 32 | (CAPDEV_AREA1_OFF + 0x100));
	wr(f->c, CAPDEV_REG_POKE, ~v);
	assert_memory_equal(a1 + 0x100, &(uint64_t){ ~v }, 8);

	/* Messages inside an area go to memory, not the callback. */
	traps = rd(f->c, CAPDEV_REG_TRAPS);
	v = 0;
	assert_int_equal(uvfio_client_region_read(
				 f->c, 2, CAPDEV_AREA0_OFF + 0x10, &v, 8),
			 0);
	assert_int_equal(v, 0x1122334455667788ull);
	v = 0xa5a5a5a5a5a5a5a5ull;
	assert_int_equal(uvfio_client_region_write(
				 f->c, 2, CAPDEV_AREA1_OFF + 0x200, &v, 8, 0),
			 0);
	assert_memory_equal(a1 + 0x200, &v, 8);
	assert_int_equal(rd(f->c, CAPDEV_REG_TRAPS), traps);
	assert_int_equal(rd(f->c, CAPDEV_REG_AREA_HITS), 0);

	/* The trapped parts reach the callback with offset, size, way. */
	uint8_t buf[32], want[32];

	assert_int_equal(uvfio_client_region_read(f->c, 2, 0x1004, buf, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(buf[i], capdev_pattern(0x1004 + i));
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_OFF), 0x1004);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_LEN), 4);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_WR), 0);
	v = 0x0102030405060708ull;
	assert_int_equal(uvfio_client_region_write(f->c, 2, 0x6008, &v, 8, 0),
			 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_OFF), 0x6008);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_LEN), 8);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_WR), 1);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_DATA), v);
	/* The trapped gap at the end of area 0, and one byte of it. */
	assert_int_equal(uvfio_client_region_read(f->c, 2, 0x7fff, buf, 1), 0);
	assert_int_equal(buf[0], capdev_pattern(0x7fff));
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_OFF), 0x7fff);
	/* Straddling a trapped part and an area: one trapped access. */
	assert_int_equal(uvfio_client_region_read(f->c, 2, 0x3ff0, buf, 32), 0);
	for (int i = 0; i < 32; i++)
		want[i] = capdev_pattern(0x3ff0 + i);
	assert_memory_equal(buf, want, 32);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_OFF), 0x3ff0);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_LEN), 32);
	assert_int_equal(rd(f->c, CAPDEV_REG_TRAPS), traps + 4);
	assert_int_equal(rd(f->c, CAPDEV_REG_AREA_HITS), 0);

	/* Past the end, at the end and empty. */
	assert_int_equal(uvfio_client_region_read(f->c, 2, 0xfffc, buf, 8),
			 -EINVAL);
	assert_int_equal(uvfio_client_region_read(f->c, 2, 0x10000, buf, 1),
			 -EINVAL);
	assert_int_equal(rd(f->c, CAPDEV_REG_TRAPS), traps + 4);
	expect_exit_alone(f);
}

/* 2. A device-specific region with VFIO_REGION_INFO_CAP_TYPE. */
static void test_device_region(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	const struct uvfio_region *r;
	struct uvfio_device_info di;
	uint8_t buf[64], back[64];

	assert_int_equal(uvfio_client_device_info(f->c, &di), 0);
	assert_int_equal(di.num_regions, CAPDEV_DEVREG_INDEX + 1);
	assert_int_equal(
		uvfio_client_region_info(f->c, CAPDEV_DEVREG_INDEX, &r), 0);
	assert_int_equal(r->size, CAPDEV_DEVREG_SIZE);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(r->flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
	assert_true(r->has_type);
	assert_int_equal(r->type, CAPDEV_DEVREG_TYPE);
	assert_int_equal(r->subtype, CAPDEV_DEVREG_SUBTYPE);
	assert_int_equal(r->nr_areas, 0);
	assert_int_equal(r->fd, -1);
	assert_null(
		uvfio_client_region_mmap(f->c, CAPDEV_DEVREG_INDEX, -1, NULL));

	/* Standard regions carry no type. */
	assert_int_equal(uvfio_client_region_info(f->c, 0, &r), 0);
	assert_false(r->has_type);
	assert_int_equal(r->flags & VFIO_REGION_INFO_FLAG_CAPS, 0);

	for (int i = 0; i < 64; i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(uvfio_client_region_write(f->c, CAPDEV_DEVREG_INDEX,
						   0xf80, buf, 64, 0),
			 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_OFF), 0xf80);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_LEN), 64);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_WR), 1);
	assert_int_equal(uvfio_client_region_read(f->c, CAPDEV_DEVREG_INDEX,
						  0xf80, back, 64),
			 0);
	assert_memory_equal(buf, back, 64);
	assert_int_equal(rd(f->c, CAPDEV_REG_LAST_WR), 0);
	/* Bounds are the server's job: the callback must never see these. */
	assert_int_equal(uvfio_client_region_read(f->c, CAPDEV_DEVREG_INDEX,
						  0xfc1, back, 64),
			 -EINVAL);
	assert_int_equal(uvfio_client_region_read(f->c, CAPDEV_DEVREG_INDEX + 1,
						  0, back, 4),
			 -EINVAL);
	expect_exit_alone(f);
}

/* 3. GET_REGION_INFO with argsz too small for the capabilities. */
static void test_region_info_argsz(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	const size_t ri = sizeof(struct vfio_region_info);
	const size_t full = ri +
			    sizeof(struct vfio_region_info_cap_sparse_mmap) +
			    2 * sizeof(struct vfio_region_sparse_mmap_area);
	struct vfio_region_info_cap_sparse_mmap sp;
	struct vfio_region_sparse_mmap_area a[2];
	struct vfio_region_info_cap_type t;
	struct vfio_region_info info;
	uint8_t buf[256];

	raw_region_info(f->c, 2, (uint32_t)ri, buf, sizeof(buf), (int)ri);
	memcpy(&info, buf, ri);
	assert_int_equal(info.argsz, full);
	assert_int_equal(info.index, 2);
	/*
	 * Unlike vfio-pci, no CAPS flag without the caps: QEMU's vfio-user
	 * client refuses CAPS with cap_offset 0, libvfio-user omits it too.
	 */
	assert_false(info.flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_true(info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(info.cap_offset, 0);
	assert_int_equal(info.size, CAPDEV_BAR2_SIZE);
	/* One byte short is still too small. */
	raw_region_info(f->c, 2, (uint32_t)full - 1, buf, sizeof(buf), (int)ri);

	raw_region_info(f->c, 2, (uint32_t)full, buf, sizeof(buf), (int)full);
	memcpy(&info, buf, ri);
	assert_int_equal(info.argsz, full);
	assert_int_equal(info.cap_offset, ri);
	memcpy(&sp, buf + ri, sizeof(sp));
	assert_int_equal(sp.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(sp.header.version, 1);
	assert_int_equal(sp.header.next, 0);
	assert_int_equal(sp.nr_areas, 2);
	memcpy(a, buf + ri + sizeof(sp), sizeof(a));
	assert_int_equal(a[0].offset, CAPDEV_AREA0_OFF);
	assert_int_equal(a[0].size, CAPDEV_AREA0_SIZE);
	assert_int_equal(a[1].offset, CAPDEV_AREA1_OFF);
	assert_int_equal(a[1].size, CAPDEV_AREA1_SIZE);
	/* More room than needed: the same answer. */
	raw_region_info(f->c, 2, 4096, buf, sizeof(buf), (int)full);

	/* The type capability alone, for region 9. */
	raw_region_info(f->c, CAPDEV_DEVREG_INDEX, (uint32_t)ri, buf,
			sizeof(buf), (int)ri);
	memcpy(&info, buf, ri);
	assert_int_equal(info.argsz, ri + sizeof(t));
	assert_int_equal(info.cap_offset, 0);
	raw_region_info(f->c, CAPDEV_DEVREG_INDEX, (uint32_t)(ri + sizeof(t)),
			buf, sizeof(buf), (int)(ri + sizeof(t)));
	memcpy(&info, buf, ri);
	assert_int_equal(info.cap_offset, ri);
	memcpy(&t, buf + ri, sizeof(t));
	assert_int_equal(t.header.id, VFIO_REGION_INFO_CAP_TYPE);
	assert_int_equal(t.header.next, 0);
	assert_int_equal(t.type, CAPDEV_DEVREG_TYPE);
	assert_int_equal(t.subtype, CAPDEV_DEVREG_SUBTYPE);

	/*
	 * Mappable as a whole: one area covering it, as libvfio-user says
	 * it, so 32 bytes are not everything (and bring no fd).
	 */
	raw_region_info(f->c, 4, (uint32_t)ri, buf, sizeof(buf), (int)ri);
	memcpy(&info, buf, ri);
	assert_int_equal(info.argsz, ri + sizeof(sp) + sizeof(a[0]));
	assert_true(info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	raw_region_info(f->c, 4, info.argsz, buf, sizeof(buf),
			(int)info.argsz);
	memcpy(&sp, buf + ri, sizeof(sp));
	assert_int_equal(sp.nr_areas, 1);
	memcpy(a, buf + ri + sizeof(sp), sizeof(a[0]));
	assert_int_equal(a[0].offset, 0);
	assert_int_equal(a[0].size, CAPDEV_BAR4_SIZE);

	/* Below the fixed part, or a region that does not exist. */
	raw_region_info(f->c, 2, (uint32_t)ri - 1, buf, sizeof(buf), -EINVAL);
	raw_region_info(f->c, 2, 0, buf, sizeof(buf), -EINVAL);
	raw_region_info(f->c, CAPDEV_DEVREG_INDEX + 1, (uint32_t)ri, buf,
			sizeof(buf), -EINVAL);
	raw_region_info(f->c, UINT32_MAX, (uint32_t)ri, buf, sizeof(buf),
			-EINVAL);
	expect_exit_alone(f);
}

/* 4. What an access callback returns is what the client gets. */
static void test_callback_errors(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	static const struct {
		uint32_t off;
		int err;
	} cases[] = {
		{ CAPDEV_OFF_EIO, -EIO },   { CAPDEV_OFF_EACCES, -EACCES },
		{ CAPDEV_OFF_SHORT, -EIO }, { CAPDEV_OFF_ZERO, -EIO },
		{ CAPDEV_OFF_LONG, -EIO },
	};
	struct uvfio_write w = { .index = 2,
				 .count = 4,
				 .offset = CAPDEV_OFF_EIO };
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint64_t traps = rd(f->c, CAPDEV_REG_TRAPS);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
			uvfio_client_region_read(f->c, 2, cases[i].off, buf, 4),
			cases[i].err);
		assert_int_equal(uvfio_client_region_write(
					 f->c, 2, cases[i].off, buf, 8, 0),
				 cases[i].err);
		assert_int_equal(rd(f->c, CAPDEV_REG_LAST_OFF), cases[i].off);
		assert_int_equal(rd(f->c, CAPDEV_REG_LAST_WR), 1);
	}
	/* Every one of them reached the callback. */
	assert_int_equal(rd(f->c, CAPDEV_REG_TRAPS), traps + 10);
	/* A one-byte access whose callback claims nothing done. */
	assert_int_equal(
		uvfio_client_region_read(f->c, 2, CAPDEV_OFF_SHORT, buf, 1),
		-EIO);
	/* The register file refuses odd sizes through the same path. */
	assert_int_equal(uvfio_client_region_read(f->c, 0, 0, buf, 4), -EINVAL);
	assert_int_equal(uvfio_client_region_write(f->c, 0, 0xff8, buf, 8, 0),
			 -EINVAL);
	/* WRITE_MULTI stops at the failing write and reports it. */
	if (uvfio_client_caps(f->c)->write_multiple)
		assert_int_equal(uvfio_client_region_write_multi(f->c, &w, 1),
				 -EIO);
	/* None of that broke the connection. */
	wr(f->c, CAPDEV_REG_SCRATCH, 42);
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), 42);
	expect_exit_alone(f);
}

struct unmap_call {
	struct uvfio_client *c;
	size_t size;
	int ret;
	atomic_bool done;
};

static void *unmap_main(void *arg)
{
	struct unmap_call *u = arg;

	u->ret = uvfio_client_dma_unmap(u->c, IOVA, u->size);
	atomic_store(&u->done, true);
	return NULL;
}

/*
 * The device's dispatch thread waits (a futex: dma_ref_sleep()'s condition
 * variable) rather than sitting idle in epoll: it is inside the unmap.
 */
static bool in_futex(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	char path[64];
	long nr = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	if (fscanf(fp, "%ld", &nr) != 1)
		nr = -1;
	fclose(fp);
	return nr == 202; /* futex on x86-64 */
}

/* 5. An unmap waits until the device has put every reference. */
static void test_unmap_waits(void **state)
{
	struct fixture *f = start(state, CAPDEV_LISTEN, 0, 0, false);
	const uint64_t marker = 0x6d61726b65722121ull;
	const size_t size = 0x10000;
	struct unmap_call u = { .size = size };
	pthread_t tid;
	int64_t end;
	uint64_t st, got;
	int fd;
	uint8_t *mem = memfd_buf(size, &fd);

	assert_int_equal(
		uvfio_client_dma_map(f->c, IOVA, size,
				     UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				     mem, fd, 0),
		0);
	wr(f->c, CAPDEV_REG_DMA_IOVA, IOVA + 0x80);
	wr(f->c, CAPDEV_REG_DMA_MARKER, marker);
	/* A cap only: the worker holds until f->release is written. */
	wr(f->c, CAPDEV_REG_HOLD_MS, 60000);
	wr(f->c, CAPDEV_REG_DMA_CMD, CAPDEV_CMD_HOLD);
	end = now_ms() + 5000;
	do {
		st = rd(f->c, CAPDEV_REG_DMA_STATUS);
		assert_true(now_ms() < end);
	} while (!(st & (CAPDEV_ST_HOLDING | CAPDEV_ST_FAILED)));
	assert_int_equal(st, CAPDEV_ST_HOLDING);
	/* Still holding: the marker is not there yet. */
	memcpy(&got, mem + 0x80, 8);
	assert_int_not_equal(got, marker);

	u.c = f->c;
	atomic_init(&u.done, false);
	assert_int_equal(pthread_create(&tid, NULL, unmap_main, &u), 0);
	if (!wait_cond(in_futex, &f->pid, 10000))
		fail_msg("the device never waited in the unmap");
	/* The reference is still held: the unmap must not have returned. */
	assert_false(atomic_load(&u.done));
	assert_int_equal(write(f->release, "x", 1), 1);
	pthread_join(tid, NULL);
	assert_int_equal(u.ret, 0);
	memcpy(&got, mem + 0x80, 8);
	assert_int_equal(got, marker);
	assert_true(rd(f->c, CAPDEV_REG_DMA_STATUS) & CAPDEV_ST_RELEASED);
	/* Gone for the device too. */
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 0);
	assert_int_equal(dma_probe(f->c, IOVA + 0x80, 8, UVFIO_DMA_READ),
			 -ENOENT);
	munmap(mem, size);
	close(fd);
	expect_exit_term(f, EXIT_MS);
}

/* uvfio_dma_get() refusals, as the device sees them. */
static void test_dma_get_errors(void **state)
{
	struct fixture *f = start(state, CAPDEV_LISTEN, 0, 0, false);
	const uint32_t rw = UVFIO_DMA_READ | UVFIO_DMA_WRITE;
	int fd1, fd2;
	uint8_t *m1 = memfd_buf(0x10000, &fd1), *m2 = memfd_buf(0x1000, &fd2);
	void *plain = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(plain != MAP_FAILED);
	assert_int_equal(
		uvfio_client_dma_map(f->c, IOVA, 0x10000,
				     UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				     m1, fd1, 0),
		0);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x200000, 0x1000,
					      UVFIO_DMA_PROT_READ, m2, fd2, 0),
			 0);
	assert_int_equal(
		uvfio_client_dma_map(f->c, 0x300000, 0x1000,
				     UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				     plain, -1, 0),
		0);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 3);
	/* The device sealed the files it maps against shrinking. */
	assert_true(fcntl(fd1, F_GET_SEALS) & F_SEAL_SHRINK);
	/* A file it cannot seal is refused (no allow_unsealed_dma). */
	int fd3 = memfd_create("regions-unsealable", MFD_CLOEXEC);

	assert_true(fd3 >= 0);
	assert_int_equal(ftruncate(fd3, 0x1000), 0);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x400000, 0x1000,
					      UVFIO_DMA_PROT_READ, plain, fd3,
					      0),
			 -EPERM);
	close(fd3);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 3);

	assert_int_equal(dma_probe(f->c, IOVA, 0x10000, rw), 0);
	assert_int_equal(dma_probe(f->c, IOVA + 0xfff8, 8, UVFIO_DMA_WRITE), 0);
	assert_int_equal(dma_probe(f->c, 0x200000, 8, UVFIO_DMA_READ), 0);
	/* Not mapped: a hole, past the end, across the end, below. */
	assert_int_equal(dma_probe(f->c, 0x500000, 8, UVFIO_DMA_READ), -ENOENT);
	assert_int_equal(dma_probe(f->c, IOVA + 0x10000, 8, UVFIO_DMA_READ),
			 -ENOENT);
	assert_int_equal(dma_probe(f->c, IOVA + 0xfff8, 16, UVFIO_DMA_READ),
			 -ENOENT);
	assert_int_equal(dma_probe(f->c, IOVA - 8, 16, UVFIO_DMA_READ),
			 -ENOENT);
	assert_int_equal(dma_probe(f->c, UINT64_MAX - 15, 8, UVFIO_DMA_READ),
			 -ENOENT);
	/* Rights. */
	assert_int_equal(dma_probe(f->c, 0x200000, 8, UVFIO_DMA_WRITE),
			 -EACCES);
	assert_int_equal(dma_probe(f->c, 0x200000, 8, rw), -EACCES);
	/* No fd: only uvfio_dma_read/write can reach it. */
	assert_int_equal(dma_probe(f->c, 0x300000, 8, UVFIO_DMA_READ), -EFAULT);
	/* Nonsense arguments. */
	assert_int_equal(dma_probe(f->c, IOVA, 0, UVFIO_DMA_READ), -EINVAL);
	assert_int_equal(dma_probe(f->c, IOVA, 8, 0), -EINVAL);
	assert_int_equal(dma_probe(f->c, IOVA, 8, 4), -EINVAL);
	assert_int_equal(dma_probe(f->c, UINT64_MAX - 3, 8, UVFIO_DMA_READ),
			 -EINVAL);
	/* A hold on a read-only window fails in the worker too. */
	wr(f->c, CAPDEV_REG_DMA_IOVA, 0x200000);
	wr(f->c, CAPDEV_REG_DMA_CMD, CAPDEV_CMD_HOLD);
	int64_t end = now_ms() + 5000;

	while (!(rd(f->c, CAPDEV_REG_DMA_STATUS) & CAPDEV_ST_DONE))
		assert_true(now_ms() < end);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_STATUS),
			 CAPDEV_ST_DONE | CAPDEV_ST_FAILED);
	assert_int_equal((int64_t)rd(f->c, CAPDEV_REG_DMA_RESULT), -EACCES);

	/* Windows left mapped go when the client does. */
	munmap(m1, 0x10000);
	munmap(m2, 0x1000);
	munmap(plain, 0x1000);
	close(fd1);
	close(fd2);
	expect_exit_term(f, EXIT_MS);
}

/* 6. opts.dma_limit caps bytes mapped with an fd. */
static void test_dma_limit(void **state)
{
	struct fixture *f = start(state, CAPDEV_LISTEN, 1 << 20, 0, false);
	const uint32_t prot = UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE;
	int fd, fd2, nfd;
	uint8_t *big = memfd_buf(2 << 20, &fd),
		*small = memfd_buf(0x1000, &fd2);

	nfd = dev_fds(f);
	/* More than the cap at once. */
	assert_int_equal(uvfio_client_dma_map(f->c, 0x10000000,
					      (1 << 20) + 0x1000, prot, big, fd,
					      0),
			 -ENOMEM);
	/* A refused map leaves no fd behind in the device. */
	assert_int_equal(dev_fds(f), nfd);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x10000000, 1 << 20, prot,
					      big, fd, 0),
			 0);
	assert_int_equal(dev_fds(f), nfd + 1);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x20000000, 0x1000, prot,
					      small, fd2, 0),
			 -ENOMEM);
	assert_int_equal(dev_fds(f), nfd + 1);
	/* Windows without an fd use no device memory: not counted. */
	assert_int_equal(uvfio_client_dma_map(f->c, 0x30000000, 2 << 20, prot,
					      big, -1, 0),
			 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 2);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_BYTES), 1 << 20);
	/* Unmapping gives the room back. */
	assert_int_equal(uvfio_client_dma_unmap(f->c, 0x10000000, 1 << 20), 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_BYTES), 0);
	assert_int_equal(dev_fds(f), nfd);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x20000000, 0x1000, prot,
					      small, fd2, 0),
			 0);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x10000000, 0xff000, prot,
					      big, fd, 0),
			 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 3);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_BYTES), 1 << 20);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x40000000, 0x1000, prot,
					      small, fd2, 0),
			 -ENOMEM);
	/* unmap-all empties the table and the count. */
	assert_int_equal(uvfio_client_dma_unmap_all(f->c), 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 0);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_BYTES), 0);
	assert_int_equal(uvfio_client_dma_map(f->c, 0x10000000, 1 << 20, prot,
					      big, fd, 0),
			 0);
	munmap(big, 2 << 20);
	munmap(small, 0x1000);
	close(fd);
	close(fd2);
	expect_exit_term(f, EXIT_MS);
}

/* One client's session for the embedding test: leaves things behind. */
static void embedded_session(struct fixture *f, uint64_t scratch_in,
			     uint64_t scratch_out)
{
	const uint32_t prot = UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE;
	int efd[2], fd;
	uint8_t *mem = memfd_buf(0x10000, &fd);
	uint64_t n = 0;
	uint8_t *bar4;

	f->c = uvfio_client_connect(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), scratch_in);
	wr(f->c, CAPDEV_REG_SCRATCH, scratch_out);
	for (int i = 0; i < 2; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(efd[i] >= 0);
	}
	assert_int_equal(
		uvfio_client_set_irqs(f->c, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 2, efd),
		0);
	wr(f->c, CAPDEV_REG_IRQ, 1);
	assert_int_equal(read(efd[1], &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	assert_int_equal(read(efd[0], &n, sizeof(n)), -1);
	assert_int_equal(
		uvfio_client_dma_map(f->c, IOVA, 0x10000, prot, mem, fd, 0), 0);
	bar4 = uvfio_client_region_mmap(f->c, 4, -1, NULL);
	assert_non_null(bar4);
	bar4[0] = (uint8_t)scratch_out;
	assert_int_equal(peek(f->c, 4, 0) & 0xff, (uint8_t)scratch_out);
	/* Leave with the window mapped and the eventfds assigned. */
	drop_client(f);
	assert_int_equal(read_note(f, EXIT_MS), CAPDEV_NOTE_DETACHED);
	munmap(mem, 0x10000);
	close(fd);
	close(efd[0]);
	close(efd[1]);
}

/* 7. The caller's own loop: poll fd + uvfio_dev_process, two clients. */
static void test_embedded(void **state)
{
	struct fixture *f = start(state, CAPDEV_EMBED, 0, 0, true);
	int n0, n1, n2;

	n0 = proc_fd_count(f->pid);
	assert_true(n0 > 0);
	embedded_session(f, 0, 0x1111);
	n1 = proc_fd_count(f->pid);
	/* Device state stays from one client to the next; their fds do not. */
	embedded_session(f, 0x1111, 0x2222);
	n2 = proc_fd_count(f->pid);
	assert_int_equal(n1, n2);
	assert_int_equal(n0, n1);
	f->c = uvfio_client_connect(f->path, NULL);
	assert_non_null(f->c);
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), 0x2222);
	assert_int_equal(rd(f->c, CAPDEV_REG_ATTACHED), 3);
	assert_int_equal(rd(f->c, CAPDEV_REG_DMA_WINDOWS), 0);
	drop_client(f);
	assert_int_equal(read_note(f, EXIT_MS), CAPDEV_NOTE_DETACHED);
	expect_exit_term(f, EXIT_MS);
}

static bool device_waiting(void *arg)
{
	const struct fixture *f = arg;

	return proc_waiting(f->pid);
}

/* 8. uvfio_dev_run(once) on a listening socket ends with the client. */
static void test_run_once(void **state)
{
	struct fixture *f = start(state, CAPDEV_LISTEN_ONCE, 0, 0, false);
	struct uvfio_client *again;

	wr(f->c, CAPDEV_REG_SCRATCH, 7);
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), 7);
	expect_exit_alone(f);
	/* Destroying the device took the socket path away. */
	again = uvfio_client_connect(f->path, NULL);
	assert_null(again);
	assert_int_equal(access(f->path, F_OK), -1);
}

/* uvfio_dev_stop() from SIGTERM, with a client connected and idle. */
static void test_stop_connected(void **state)
{
	struct fixture *f = start(state, CAPDEV_LISTEN, 0, 0, false);
	uint64_t v = 0;
	int64_t t0;

	wr(f->c, CAPDEV_REG_SCRATCH, 9);
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), 9);
	/* The stop must wake a device blocked waiting for its client. */
	assert_true(wait_cond(device_waiting, f, 3000));
	t0 = now_ms();
	expect_exit_term(f, 3000);
	assert_true(now_ms() - t0 < 3000);
	assert_true(uvfio_client_region_read(f->c, 0, 0, &v, 8) < 0);
}

/* ...and with nobody connected, while it waits in accept. */
static void test_stop_listening(void **state)
{
	struct fixture *f = start(state, CAPDEV_LISTEN, 0, 0, true);

	assert_true(wait_cond(device_waiting, f, 3000));
	expect_exit_term(f, 3000);
	assert_int_equal(access(f->path, F_OK), -1);
}

/* 9. No ops.reset: not offered, and refused. */
static void test_no_reset(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	struct uvfio_device_info di;

	assert_int_equal(uvfio_client_device_info(f->c, &di), 0);
	assert_true(di.flags & VFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(di.flags & VFIO_DEVICE_FLAGS_RESET, 0);
	wr(f->c, CAPDEV_REG_SCRATCH, 5);
	assert_int_equal(uvfio_client_reset(f->c), -ENOTSUP);
	/* Nothing happened to the device. */
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), 5);
	expect_exit_alone(f);
}

/* 10. A MEM region without a callback: all of it is memory. */
static void test_plain_mem(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, 0, false);
	const struct uvfio_region *r;
	uint8_t buf[256], back[256];
	size_t size = 0;
	uint8_t *m;

	assert_int_equal(uvfio_client_region_info(f->c, 4, &r), 0);
	assert_int_equal(r->size, CAPDEV_BAR4_SIZE);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
	/* One area, all of it: mappable as area 0 or as a whole. */
	assert_int_equal(r->nr_areas, 1);
	assert_int_equal(r->areas[0].size, CAPDEV_BAR4_SIZE);
	assert_null(uvfio_client_region_mmap(f->c, 4, 1, NULL));
	m = uvfio_client_region_mmap(f->c, 4, -1, &size);
	assert_non_null(m);
	assert_int_equal(size, CAPDEV_BAR4_SIZE);

	for (int i = 0; i < 256; i++)
		buf[i] = (uint8_t)(255 - i);
	assert_int_equal(
		uvfio_client_region_write(f->c, 4, 0x1230, buf, 256, 0), 0);
	assert_memory_equal(m + 0x1230, buf, 256);
	memset(m + 0x3f00, 0x3c, 256);
	assert_int_equal(uvfio_client_region_read(f->c, 4, 0x3f00, back, 256),
			 0);
	memset(buf, 0x3c, 256);
	assert_memory_equal(back, buf, 256);
	/* Posted writes land too; the read after them is ordered. */
	assert_int_equal(uvfio_client_region_write(f->c, 4, 0, "\x5a", 1,
						   UVFIO_WRITE_POSTED),
			 0);
	assert_int_equal(peek(f->c, 4, 0) & 0xff, 0x5a);
	assert_int_equal(m[0], 0x5a);
	/* The last byte, and one past it. */
	assert_int_equal(
		uvfio_client_region_write(f->c, 4, 0x3fff, "\x77", 1, 0), 0);
	assert_int_equal(m[0x3fff], 0x77);
	assert_int_equal(uvfio_client_region_write(f->c, 4, 0x3fff, buf, 2, 0),
			 -EINVAL);
	assert_int_equal(rd(f->c, CAPDEV_REG_TRAPS), 0);
	expect_exit_alone(f);
}

/*
 * Sparse areas more than a reply can carry: the server must refuse the
 * region rather than build a capability chain past its reply buffer.
 */
static void test_area_count_cap(void **state)
{
	/* Past what the default 1 MiB max_data_xfer_size can carry. */
	const uint32_t n = (1u << 20) / 16 + 4096;
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, n, false);
	const struct uvfio_region *r;
	int err;

	err = uvfio_client_region_info(f->c, CAPDEV_HUGE_INDEX, &r);
	assert_true(err < 0 || r->size == 0);
	wr(f->c, CAPDEV_REG_SCRATCH, 3);
	assert_int_equal(rd(f->c, CAPDEV_REG_SCRATCH), 3);
	assert_true((int64_t)rd(f->c, CAPDEV_REG_HUGE_ADD) < 0);
	expect_exit_alone(f);
}

/*
 * As many areas as a device may declare: libuvfio's own client takes the
 * region (one limit on both sides), every area as the device gave it.
 */
static void test_area_count_max(void **state)
{
	struct fixture *f = start(state, CAPDEV_FD_ONCE, 0, UVFIO_MAX_AREAS,
				  false);
	const struct uvfio_region *r;

	assert_int_equal((int64_t)rd(f->c, CAPDEV_REG_HUGE_ADD), 0);
	assert_int_equal(uvfio_client_region_info(f->c, CAPDEV_HUGE_INDEX, &r),
			 0);
	assert_int_equal(r->nr_areas, UVFIO_MAX_AREAS);
	for (unsigned int i = 0; i < r->nr_areas; i++) {
		assert_int_equal(r->areas[i].offset, 0);
		assert_int_equal(r->areas[i].size, 0x1000);
	}
	expect_exit_alone(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sparse_info, teardown),
		cmocka_unit_test_teardown(test_area_count_max, teardown),
		cmocka_unit_test_teardown(test_sparse_mmap, teardown),
		cmocka_unit_test_teardown(test_device_region, teardown),
		cmocka_unit_test_teardown(test_region_info_argsz, teardown),
		cmocka_unit_test_teardown(test_callback_errors, teardown),
		cmocka_unit_test_teardown(test_unmap_waits, teardown),
		cmocka_unit_test_teardown(test_dma_get_errors, teardown),
		cmocka_unit_test_teardown(test_dma_limit, teardown),
		cmocka_unit_test_teardown(test_embedded, teardown),
		cmocka_unit_test_teardown(test_run_once, teardown),
		cmocka_unit_test_teardown(test_stop_connected, teardown),
		cmocka_unit_test_teardown(test_stop_listening, teardown),
		cmocka_unit_test_teardown(test_no_reset, teardown),
		cmocka_unit_test_teardown(test_plain_mem, teardown),
		cmocka_unit_test_teardown(test_area_count_cap, teardown),
	};

	/* A device that dies must fail a request, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
