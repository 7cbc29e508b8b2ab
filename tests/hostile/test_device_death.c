// SPDX-License-Identifier: MIT
/*
 * The device dies at every point of a session, seen from the client
 * library: uvfio-testdev is SIGKILLed before each step of a full session
 * (and while each step waits on it, the device stopped first so the
 * request is in flight), with and without a twin socket.  Every later
 * call must fail with a clear errno, nothing may hang, the interrupt
 * router attached to the client must stop cleanly, and once the client
 * is closed this process must hold exactly the fds and mappings it had.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/pci_regs.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>

#include "procstat.h"
#include "proto/crc32.h"
#include "regs.h"
#include "testdev_proc.h"

#define IOVA_A 0x100000000ull /* memfd window */
#define IOVA_B 0x200000000ull /* fd-less: DMA_READ/DMA_WRITE */
#define WIN (1u << 20)
#define INBAND_LEN (256u << 10) /* four of testdev's chunks */
#define MAPPED_LEN 4096u
#define MSIX_ADDR 0xfee00000ull
#define MSIX_DATA 0x41u
#define WAIT_MS 5000
#define NOT_RUN 1 /* a step's prerequisite failed: it did nothing */

struct sess {
	struct testdev_proc dev;
	uint32_t flags; /* uvfio_client_opts */
	struct uvfio_client *c;
	struct uvfio_irq_router *r;
	int memfd, efd;
	uint8_t *mem, *anon;
	atomic_uint delivered;
	unsigned int seen; /* deliveries before the current transfer */
	uint8_t msix; /* MSI-X capability offset */
	bool mapped; /* window A */
	atomic_bool dead;
};

/* What a step may do once the device is gone. */
enum after {
	MUST_FAIL, /* it needs the device */
	MAY_PASS, /* it may be served from what the client has cached */
	SENT_PASS, /* sent, not waited for: passes if sent before death */
};

struct stage {
	const char *name;
	int (*fn)(struct sess *s);
	enum after after;
	bool waits_irq; /* it first waits for the device's interrupt */
};

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct sess *s = opaque;

	if (address == MSIX_ADDR && data == MSIX_DATA)
		atomic_fetch_add(&s->delivered, 1);
}

/* The transfer's interrupt came, or there is no device to send it. */
static bool delivered_or_dead(void *arg)
{
	struct sess *s = arg;

	return atomic_load(&s->delivered) > s->seen || atomic_load(&s->dead);
}

/*
 * A value read back is not what it should be.  Steps may run on a thread
 * of their own, where cmocka cannot fail: say it, return -EILSEQ.
 */
static int wrong(const char *what, uint32_t got, uint32_t want)
{
	print_error("%s: 0x%x, want 0x%x\n", what, got, want);
	return -EILSEQ;
}

static int st_connect(struct sess *s)
{
	struct uvfio_client_opts o = { .flags = s->flags };

	s->c = uvfio_client_connect(s->dev.sock, &o);
	return s->c ? 0 : -errno;
}

static int st_info(struct sess *s)
{
	struct uvfio_device_info di;
	struct vfio_irq_info ii;
	int r = uvfio_client_device_info(s->c, &di);

	for (uint32_t i = 0; !r && i < VFIO_PCI_NUM_IRQS; i++)
		r = uvfio_client_irq_info(s->c, i, &ii);
	return r;
}

static int st_region_info(struct sess *s)
{
	static const uint32_t idx[] = {
		VFIO_PCI_CONFIG_REGION_INDEX, 0, 1, 2, 3, 4, 5
	};
	const struct uvfio_region *ri;
	int r = 0;

	for (unsigned int i = 0; !r && i < sizeof(idx) / sizeof(idx[0]); i++)
		r = uvfio_client_region_info(s->c, idx[i], &ri);
	return r;
}

static int st_mmap(struct sess *s)
{
	size_t sz = 0;
	uint32_t *p = uvfio_client_region_mmap(s->c, 4, -1, &sz);

	if (!p)
		return -errno;
	/* The client owns the mapping; a store is all we may do. */
	p[0] = 0x600dcafe;
	return 0;
}

static int st_map_fd(struct sess *s)
{
	int r = uvfio_client_dma_map(s->c, IOVA_A, WIN,
				     UVFIO_DMA_READ | UVFIO_DMA_WRITE, s->mem,
				     s->memfd, 0);

	s->mapped = !r;
	return r;
}

static int st_map_anon(struct sess *s)
{
	return uvfio_client_dma_map(s->c, IOVA_B, WIN,
				    UVFIO_DMA_READ | UVFIO_DMA_WRITE, s->anon,
				    -1, 0);
}

static int st_attach(struct sess *s)
{
	uint8_t cfg[256];
	int r;

	s->r = uvfio_irq_router_new_user(deliver, s, 0);
	if (!s->r)
		return -errno;
	r = uvfio_client_irq_attach(s->c, s->r);
	if (r)
		return r;
	/* The MSI-X capability, from the device's config space. */
	r = uvfio_client_cfg_read(s->c, 0, cfg, sizeof(cfg));
	for (uint8_t p = cfg[PCI_CAPABILITY_LIST]; !r && p && !s->msix;
	     p = cfg[p + 1])
		if (cfg[p] == PCI_CAP_ID_MSIX)
			s->msix = p;
	return r;
}

static int st_command(struct sess *s)
{
	uint16_t v = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	return uvfio_client_cfg_write(s->c, PCI_COMMAND, &v, 2);
}

static int st_msix_entry(struct sess *s)
{
	uint32_t e[4] = { (uint32_t)MSIX_ADDR, MSIX_ADDR >> 32, MSIX_DATA, 0 };

	return uvfio_client_bar_write(s->c, 0, TESTDEV_MSIX_TABLE_OFF, e,
				      sizeof(e));
}

static int st_msix_enable(struct sess *s)
{
	uint16_t fl = PCI_MSIX_FLAGS_ENABLE;

	if (!s->msix)
		return NOT_RUN; /* attach failed: nothing to enable */
	return uvfio_client_cfg_write(s->c, s->msix + PCI_MSIX_FLAGS, &fl, 2);
}

static int reg_w(struct sess *s, uint32_t reg, uint32_t v)
{
	return uvfio_client_region_write(s->c, 0, reg, &v, 4, 0);
}

static int reg_r(struct sess *s, uint32_t reg, uint32_t *v)
{
	return uvfio_client_region_read(s->c, 0, reg, v, 4);
}

static int st_regs(struct sess *s)
{
	uint32_t v = 0;
	int r = reg_w(s, TESTDEV_REG_MAGIC, 0x1badcafe);

	if (!r)
		r = reg_r(s, TESTDEV_REG_MAGIC, &v);
	if (!r && v != 0x1badcafe)
		return wrong("magic register", v, 0x1badcafe);
	return r;
}

static int st_multi(struct sess *s)
{
	struct uvfio_write w[2] = {
		{ .index = 1, .count = 8, .offset = 16, .data = 0x1122334455 },
		{ .index = 0,
		  .count = 4,
		  .offset = TESTDEV_REG_IRQ_TYPE,
		  .data = TESTDEV_IRQ_MSIX },
	};

	return uvfio_client_region_write_multi(s->c, w, 2);
}

/* Registers of a transfer, then the doorbell; the device runs it after. */
static int start_cmd(struct sess *s, uint32_t cmd, uint64_t src, uint64_t dst,
		     uint32_t len, uint32_t csum)
{
	int r = reg_w(s, TESTDEV_REG_SRC_LO, (uint32_t)src);

	if (!r)
		r = reg_w(s, TESTDEV_REG_SRC_HI, (uint32_t)(src >> 32));
	if (!r)
		r = reg_w(s, TESTDEV_REG_DST_LO, (uint32_t)dst);
	if (!r)
		r = reg_w(s, TESTDEV_REG_DST_HI, (uint32_t)(dst >> 32));
	if (!r)
		r = reg_w(s, TESTDEV_REG_SIZE, len);
	if (!r)
		r = reg_w(s, TESTDEV_REG_CHECKSUM, csum);
	if (!r)
		r = reg_w(s, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	if (!r)
		r = reg_w(s, TESTDEV_REG_IRQ_NUMBER, 1);
	if (!r)
		r = reg_w(s, TESTDEV_REG_STATUS, 0);
	s->seen = atomic_load(&s->delivered);
	if (!r)
		r = reg_w(s, TESTDEV_REG_COMMAND, cmd);
	return r;
}

/* The interrupt (unless the device is known dead), then STATUS. */
static int finish_cmd(struct sess *s, uint32_t want)
{
	uint32_t st = 0;
	int r;

	if (!wait_cond(delivered_or_dead, s, WAIT_MS))
		return -ETIMEDOUT;
	r = reg_r(s, TESTDEV_REG_STATUS, &st);
	if (!r && st != (want | TESTDEV_STATUS_IRQ_RAISED))
		return wrong("status", st, want | TESTDEV_STATUS_IRQ_RAISED);
	return r;
}

static int st_inband_start(struct sess *s)
{
	for (uint32_t i = 0; i < INBAND_LEN; i++)
		s->anon[i] = (uint8_t)(i * 31 + (i >> 10));
	return start_cmd(s, TESTDEV_CMD_READ, IOVA_B, 0, INBAND_LEN,
			 crc32_le(~0u, s->anon, INBAND_LEN));
}

static int st_inband_finish(struct sess *s)
{
	return finish_cmd(s, TESTDEV_STATUS_READ_OK);
}

static int st_mapped_start(struct sess *s)
{
	return start_cmd(s, TESTDEV_CMD_WRITE, 0, IOVA_A + 64, MAPPED_LEN, 0);
}

static int st_mapped_finish(struct sess *s)
{
	uint32_t crc = 0;
	int r = finish_cmd(s, TESTDEV_STATUS_WRITE_OK);

	if (!r)
		r = reg_r(s, TESTDEV_REG_CHECKSUM, &crc);
	if (!r && crc != crc32_le(~0u, s->mem + 64, MAPPED_LEN))
		return wrong("checksum", crc,
			     crc32_le(~0u, s->mem + 64, MAPPED_LEN));
	return r;
}

static int st_err_irq(struct sess *s)
{
	return uvfio_client_set_irqs(s->c, VFIO_PCI_ERR_IRQ_INDEX,
				     VFIO_IRQ_SET_DATA_EVENTFD |
					     VFIO_IRQ_SET_ACTION_TRIGGER,
				     0, 1, &s->efd);
}

static int st_posted(struct sess *s)
{
	uint32_t v = 7;

	return uvfio_client_region_write(s->c, 2, 0, &v, 4, UVFIO_WRITE_POSTED);
}

static int st_reset(struct sess *s)
{
	return uvfio_client_reset(s->c);
}

static int st_unmap(struct sess *s)
{
	/* A window never mapped is the client's own -ENOENT. */
	int r = s->mapped ? uvfio_client_dma_unmap(s->c, IOVA_A, WIN) : 0;

	return r ? r : uvfio_client_dma_unmap_all(s->c);
}

static const struct stage stages[] = {
	{ "connect", st_connect, MUST_FAIL },
	{ "device and irq info", st_info, MUST_FAIL },
	{ "region info", st_region_info, MUST_FAIL },
	{ "mmap BAR4", st_mmap, MAY_PASS },
	{ "DMA_MAP memfd", st_map_fd, MUST_FAIL },
	{ "DMA_MAP no fd", st_map_anon, MUST_FAIL },
	{ "router attach", st_attach, MUST_FAIL },
	{ "config command", st_command, MUST_FAIL },
	{ "MSI-X table entry", st_msix_entry, MAY_PASS },
	{ "MSI-X enable", st_msix_enable, MUST_FAIL },
	{ "registers", st_regs, MUST_FAIL },
	{ "WRITE_MULTI", st_multi, MUST_FAIL },
	{ "in-band READ start", st_inband_start, MUST_FAIL },
	{ "in-band READ done", st_inband_finish, MUST_FAIL, true },
	{ "mapped WRITE start", st_mapped_start, MUST_FAIL },
	{ "mapped WRITE done", st_mapped_finish, MUST_FAIL, true },
	{ "SET_IRQS ERR", st_err_irq, MUST_FAIL },
	{ "posted write", st_posted, SENT_PASS },
	{ "reset", st_reset, MUST_FAIL },
	{ "DMA_UNMAP", st_unmap, MUST_FAIL },
};

#define NR_STAGES (sizeof(stages) / sizeof(stages[0]))

/* What losing the device may look like; anything else is unclear. */
static bool clear_errno(int r, bool connect)
{
	if (connect && (r == -ECONNREFUSED || r == -ENOENT))
		return true;
	return r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN ||
	       r == -ESHUTDOWN;
}

struct tally {
	unsigned int points, calls, leaks;
	unsigned int by_errno[8]; /* ECONNRESET, EPIPE, ENOTCONN, other */
};

static void count_errno(struct tally *t, int r)
{
	static const int known[] = { ECONNRESET, EPIPE,	       ENOTCONN,
				     ESHUTDOWN,	 ECONNREFUSED, ENOENT };
	unsigned int i = 0;

	while (i < 6 && -r != known[i])
		i++;
	t->by_errno[i]++;
}

static void kill_dev(struct sess *s)
{
	kill(s->dev.pid, SIGKILL);
	assert_int_equal(waitpid(s->dev.pid, NULL, 0), s->dev.pid);
	s->dev.pid = 0;
	atomic_store(&s->dead, true);
}

/*
 * Bytes we sent that no one has read yet, on any socket of ours.  Other
 * threads create fds meanwhile: only sockets are touched, found by their
 * /proc link, not by an fstat() of every fd.
 */
static bool request_in_flight(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char link[32];
		ssize_t len =
			readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		int n = 0;

		if (len < 0)
			continue;
		link[len] = 0;
		if (strncmp(link, "socket:", 7))
			continue;
		found = !ioctl(atoi(e->d_name), SIOCOUTQ, &n) && n > 0;
	}
	closedir(d);
	return found;
}

struct in_flight {
	struct sess *s;
	unsigned int i;
	int r;
	atomic_bool done;
};

static void *run_stage(void *arg)
{
	struct in_flight *f = arg;

	f->r = stages[f->i].fn(f->s);
	atomic_store(&f->done, true);
	return NULL;
}

static bool stage_waits(void *arg)
{
	struct in_flight *f = arg;

	return atomic_load(&f->done) || request_in_flight();
}

/* The warm-up runs a stage as kill_during() does: its stack is cached. */
static int run_on_thread(struct sess *s, unsigned int i)
{
	struct in_flight f = { .s = s, .i = i };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, run_stage, &f), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	return f.r;
}

static void check_dead_call(struct tally *t, unsigned int i, int r, bool during,
			    const char *when)
{
	if (r == NOT_RUN)
		return;
	t->calls++;
	if (!r && (stages[i].after == MAY_PASS ||
		   (stages[i].after == SENT_PASS && during)))
		return;
	count_errno(t, r);
	if (!clear_errno(r, i == 0))
		fail_msg("%s: \"%s\" returned %d (%s) after the device died",
			 when, stages[i].name, r, strerror(-r));
}

/*
 * Stage i runs while the device is stopped, and it dies meanwhile: once
 * the stage's request is in the socket, or at once for a stage that first
 * waits for the device's interrupt.
 */
static int kill_during(struct sess *s, unsigned int i)
{
	struct in_flight f = { .s = s, .i = i };
	pthread_t th;

	kill(s->dev.pid, SIGSTOP);
	assert_int_equal(pthread_create(&th, NULL, run_stage, &f), 0);
	if (!stages[i].waits_irq)
		assert_true(wait_cond(stage_waits, &f, WAIT_MS));
	kill_dev(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	return f.r;
}

static void session_open(struct sess *s, uint32_t flags)
{
	memset(s, 0, sizeof(*s));
	s->flags = flags;
	s->memfd = memfd_create("death", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(s->memfd >= 0);
	assert_int_equal(ftruncate(s->memfd, WIN), 0);
	s->mem = mmap(NULL, WIN, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd,
		      0);
	s->anon = mmap(NULL, WIN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(s->mem != MAP_FAILED && s->anon != MAP_FAILED);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(s->efd >= 0);
	assert_int_equal(testdev_start(&s->dev, NULL), 0);
}

/* Detach, free the router, close: all of it must return. */
static void session_close(struct sess *s)
{
	struct uvfio_irq_router_stats rs;
	unsigned int n;

	if (s->c && s->r)
		uvfio_client_irq_detach(s->c);
	if (s->r) {
		uvfio_irq_router_stats(s->r, &rs);
		assert_int_equal(rs.routes, 0);
		uvfio_irq_router_free(s->r);
	}
	/* No delivery after the router is gone. */
	n = atomic_load(&s->delivered);
	uvfio_client_close(s->c);
	assert_int_equal(atomic_load(&s->delivered), n);
	if (s->dev.pid > 0)
		kill_dev(s);
	/* A dead device leaves its socket file behind, as here. */
	unlink(s->dev.sock);
	rmdir(s->dev.dir);
	munmap(s->mem, WIN);
	munmap(s->anon, WIN);
	close(s->memfd);
	close(s->efd);
}

/*
 * One kill point: stages before k run on a live device; k runs while it
 * dies (during) or after it died (!during); every later stage must
 * fail clearly.
 */
static void kill_at(struct tally *t, uint32_t flags, unsigned int k,
		    bool during, int base_fds, int base_maps)
{
	struct sess *s = calloc(1, sizeof(*s));
	char when[96];
	int r, fds, maps;

	assert_non_null(s);
	session_open(s, flags);
	snprintf(when, sizeof(when), "%s, killed %s \"%s\"",
		 flags & UVFIO_CLIENT_NO_TWIN ? "no twin" : "twin",
		 during ? "during" : "before", stages[k].name);
	for (unsigned int i = 0; i < k; i++) {
		r = stages[i].fn(s);
		if (r)
			fail_msg("%s: \"%s\" failed before the kill: %s", when,
				 stages[i].name, strerror(-r));
	}
	if (during) {
		r = kill_during(s, k);
	} else {
		kill_dev(s);
		r = stages[k].fn(s);
	}
	check_dead_call(t, k, r, during, when);
	for (unsigned int i = k + 1; i < NR_STAGES && s->c; i++)
		check_dead_call(t, i, stages[i].fn(s), false, when);
	session_close(s);
	free(s);
	t->points++;
	fds = proc_fd_count(getpid());
	maps = proc_file_map_count(getpid());
	if (fds != base_fds || maps != base_maps) {
		print_error("%s: %d fds, %d mappings after close (baseline "
			    "%d, %d)\n",
			    when, fds, maps, base_fds, base_maps);
		t->leaks++;
	}
}

static void run_all(uint32_t flags)
{
	struct tally t = { 0 };
	struct sess *s = calloc(1, sizeof(*s));
	int base_fds, base_maps;

	/* A whole session first: lazy set-up (threads, stacks) happens. */
	assert_non_null(s);
	session_open(s, flags);
	for (unsigned int i = 0; i < NR_STAGES; i++)
		assert_int_equal(!strcmp(stages[i].name, "registers") ?
					 run_on_thread(s, i) :
					 stages[i].fn(s),
				 0);
	session_close(s);
	free(s);
	base_fds = proc_fd_count(getpid());
	base_maps = proc_file_map_count(getpid());

	for (unsigned int k = 0; k < NR_STAGES; k++) {
		kill_at(&t, flags, k, false, base_fds, base_maps);
		kill_at(&t, flags, k, true, base_fds, base_maps);
	}
	printf("device death (%s): %u kill points, %u calls after death: "
	       "%u ECONNRESET, %u EPIPE, %u ENOTCONN, %u ESHUTDOWN, "
	       "%u ECONNREFUSED, %u ENOENT, %u other; %u leaks\n",
	       flags & UVFIO_CLIENT_NO_TWIN ? "no twin" : "twin", t.points,
	       t.calls, t.by_errno[0], t.by_errno[1], t.by_errno[2],
	       t.by_errno[3], t.by_errno[4], t.by_errno[5], t.by_errno[6],
	       t.leaks);
	assert_int_equal(t.leaks, 0);
}

static void test_death_twin(void **state)
{
	(void)state;
	run_all(0);
}

static void test_death_no_twin(void **state)
{
	(void)state;
	run_all(UVFIO_CLIENT_NO_TWIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_death_twin),
		cmocka_unit_test(test_death_no_twin),
	};

	/* A write to a dead device's socket is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("hostile_device_death", tests, NULL,
					   NULL);
}
