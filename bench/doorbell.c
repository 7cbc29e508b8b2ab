// SPDX-License-Identifier: MIT
/*
 * A doorbell's device half, without KVM: an in-process device (served by
 * its own thread over a socketpair) declares a doorbell on its register
 * BAR; the client gets its eventfd (GET_REGION_IO_FDS) and writes it, as
 * KVM does on a guest's matching write, and spins until the device's
 * region callback has seen the write.  Against, from the same run:
 *
 * - trapped: the same write as a REGION_WRITE round trip through the
 *   client (the callback runs before the reply), what a VMM without
 *   doorbells pays after its exit;
 * - floor: an eventfd write waking a thread blocked reading it, which
 *   flags the spinning writer the same way;
 * - epoll floor (informational): the woken thread blocked in
 *   epoll_wait() and then reading, which a device watching several
 *   doorbells must do.
 *
 * Each sample starts with the device thread asleep.  Rounds alternate.
 * Everything is pinned to CPU 0 (BENCH_NOPIN=1: not), so a wake-up is a
 * switch on that CPU, not a placement lottery between two busy ones.
 *
 * The guest half (with /dev/kvm): uvfio-vmm's VM code runs
 * guest/bench/doorbell.c, which makes one 32-bit store where the host
 * tells it (through a mailbox in guest RAM) to:
 *
 * - doorbell: the device's doorbell, bound with KVM_IOEVENTFD to its
 *   eventfd: KVM signals it without leaving the kernel, the device's
 *   doorbell thread wakes and runs the region callback;
 * - trapped: a page that exits to the VMM (MMIO exit, the vCPU thread
 *   sends the REGION_WRITE, the callback runs before the reply);
 * - floor: a bare eventfd bound with KVM_IOEVENTFD, a thread of ours
 *   blocked in read() on it.
 *
 * Each consumer stamps CLOCK_MONOTONIC when it sees the write; a sample
 * is that stamp minus the host's just before it bumped the mailbox, so
 * the guest's wait on the mailbox is in every path alike.  The vCPU
 * spins on the mailbox; nothing here is pinned.  Last line:
 * doorbell: <ns> ns, trapped <ns> ns, floor <ns> ns, ratio <r>.
 *
 * usage: doorbell [iterations [GUEST_ELF]]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <uvfio/client.h>
#include <uvfio/server.h>

#include "dev.h"
#include "floor.h"
#include "guest_vm.h"
#include "mailbox.h"
#include "stats.h"
#include "vmm.h"

#define ROUNDS 40
#define BAR_SIZE 0x1000
#define DOORBELL 0x40
#define VALUE 1u

struct bench {
	struct uvfio_dev *dev;
	pthread_t dev_thread;
	struct uvfio_client *c;
	struct uvfio_doorbell db;
	atomic_uint_fast64_t seen; /* doorbell writes the device saw */
	atomic_uint_fast64_t seen_ns; /* when it saw the last one */
	struct bench_floor floor, ep;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "doorbell: %s: %s\n", what, strerror(err));
	exit(1);
}

static ssize_t regs(struct uvfio_dev *dev, void *priv, uint64_t off,
		    void *buf, size_t count, bool is_write)
{
	struct bench *b = priv;
	uint32_t v = 0;

	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	memcpy(&v, buf, count < 4 ? count : 4);
	if (off == DOORBELL && v == VALUE) {
		atomic_store_explicit(&b->seen_ns, bench_now_ns(),
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&b->seen, 1, memory_order_release);
	}
	return (ssize_t)count;
}

static void setup(struct bench *b)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1234,
						  .device_id = 0x0002 };
	struct uvfio_region_desc rd = { .size = BAR_SIZE,
					.flags = UVFIO_REGION_RW,
					.access = regs,
					.priv = b };
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair", errno);
	b->dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, b, NULL);
	if (!b->dev)
		die("uvfio_dev_create", errno);
	r = uvfio_dev_add_region(b->dev, VFIO_PCI_BAR0_REGION_INDEX, &rd);
	if (r >= 0)
		r = uvfio_dev_add_doorbell(b->dev, VFIO_PCI_BAR0_REGION_INDEX,
					   DOORBELL, 4,
					   UVFIO_DOORBELL_DATAMATCH, VALUE);
	if (r >= 0)
		r = uvfio_dev_attach_fd(b->dev, sv[0]);
	if (r < 0)
		die("device", -r);
	r = pthread_create(&b->dev_thread, NULL, bench_dev_main, b->dev);
	if (r)
		die("pthread_create", r);
	b->c = uvfio_client_attach_fd(sv[1], NULL);
	if (!b->c)
		die("client", errno);
	r = uvfio_client_region_doorbells(b->c, VFIO_PCI_BAR0_REGION_INDEX,
					  &b->db, 1);
	if (r != 1)
		die("doorbells", r < 0 ? -r : EPROTO);

	bench_floor_start(&b->floor, false);
	bench_floor_start(&b->ep, true);
}

static void trapped_round(struct bench *b, uint64_t *lat, size_t n)
{
	const uint32_t v = VALUE;

	for (size_t i = 0; i < n; i++) {
		bench_gap();
		uint64_t want = atomic_load(&b->seen) + 1, t0 = bench_now_ns();
		int r = uvfio_client_region_write(b->c,
						  VFIO_PCI_BAR0_REGION_INDEX,
						  DOORBELL, &v, sizeof(v), 0);

		if (r < 0)
			die("REGION_WRITE", -r);
		/* Already seen: the callback ran before the reply. */
		bench_wait_for(&b->seen, want);
		lat[i] = bench_now_ns() - t0;
	}
}

static void teardown(struct bench *b)
{
	close(b->db.fd);
	uvfio_client_close(b->c);
	pthread_join(b->dev_thread, NULL);
	uvfio_dev_destroy(b->dev);
	bench_floor_stop(&b->floor);
	bench_floor_stop(&b->ep);
}

/* The guest half. */

#define G_DB_GPA 0xc0000000ull /* the doorbell's BAR, as a VMM places it */
#define G_TRAP_GPA 0xc0010000ull /* a page that exits, to the same BAR */
#define G_FLOOR_GPA 0xc0020000ull /* a bare ioeventfd */
#define G_SAMPLES 2000
#define G_TIMEOUT_NS 2000000000ull

enum { G_DOORBELL, G_TRAPPED, G_FLOOR, G_PATHS };

struct guest_half {
	struct bench *b;
	struct vm vm;
	struct vm_config cfg;
	volatile uint32_t *mb;
	struct mmio_range trap;
	int floor_efd;
	pthread_t floor_thread;
	atomic_uint_fast64_t floor_seen, floor_ns;
	atomic_bool quit;
	uint32_t go;
};

static void *g_floor_main(void *arg)
{
	struct guest_half *g = arg;
	uint64_t v;

	while (read(g->floor_efd, &v, sizeof(v)) == sizeof(v) &&
	       !atomic_load(&g->quit)) {
		atomic_store(&g->floor_ns, bench_now_ns());
		atomic_fetch_add(&g->floor_seen, 1);
	}
	return NULL;
}

/* The trapped page: what a VMM does with a BAR access that exits. */
static int g_trap(void *opaque, uint64_t off, void *data, uint32_t len,
		  bool write)
{
	struct bench *b = opaque;

	if (!write) {
		memset(data, 0, len);
		return 0;
	}
	return uvfio_client_bar_write(b->c, VFIO_PCI_BAR0_REGION_INDEX, off,
				      data, len) < 0 ?
		       -EIO :
		       0;
}

static void g_ioeventfd(struct guest_half *g, uint64_t gpa, int fd, bool match)
{
	struct kvm_ioeventfd io = {
		.datamatch = VALUE,
		.addr = gpa,
		.len = 4,
		.fd = fd,
		.flags = match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0,
	};

	if (ioctl(g->vm.fd, KVM_IOEVENTFD, &io) < 0)
		die("KVM_IOEVENTFD", errno);
}

static void g_start(struct guest_half *g, const char *guest)
{
	uint64_t entry = bench_guest_load(&g->vm, &g->cfg, guest, &g->mb);
	int r;

	g->floor_efd = eventfd(0, EFD_CLOEXEC);
	if (g->floor_efd < 0)
		die("eventfd", errno);
	/* The doorbell as uvfio-vmm binds it (vmm/doorbell.c). */
	g_ioeventfd(g, G_DB_GPA + g->b->db.offset, g->b->db.fd,
		    g->b->db.flags & UVFIO_DOORBELL_DATAMATCH);
	g_ioeventfd(g, G_FLOOR_GPA, g->floor_efd, false);
	g->trap.fn = g_trap;
	g->trap.opaque = g->b;
	r = mmio_add(&g->vm.mmio, &g->trap, G_TRAP_GPA, BAR_SIZE);
	if (r)
		die("mmio_add", -r);
	if (pthread_create(&g->floor_thread, NULL, g_floor_main, g))
		die("pthread_create", EAGAIN);
	g->go = g->mb[BENCH_DB_GO / 4];
	bench_guest_run(&g->vm, entry, g->mb);
}

/* One store by the guest on path p: ns from the mailbox bump to seen. */
static uint64_t g_sample(struct guest_half *g, int p)
{
	static const uint64_t addr[G_PATHS] = { G_DB_GPA + DOORBELL,
						G_TRAP_GPA + DOORBELL,
						G_FLOOR_GPA };
	atomic_uint_fast64_t *seen =
		p == G_FLOOR ? &g->floor_seen : &g->b->seen;
	atomic_uint_fast64_t *when =
		p == G_FLOOR ? &g->floor_ns : &g->b->seen_ns;
	uint64_t before = atomic_load(seen), t0, end;

	g->mb[BENCH_DB_ADDR_LO / 4] = (uint32_t)addr[p];
	g->mb[BENCH_DB_ADDR_HI / 4] = (uint32_t)(addr[p] >> 32);
	g->mb[BENCH_DB_VALUE / 4] = VALUE;
	bench_gap(); /* every consumer asleep */
	t0 = bench_now_ns();
	__atomic_store_n(&g->mb[BENCH_DB_GO / 4], ++g->go, __ATOMIC_RELEASE);
	end = t0 + G_TIMEOUT_NS;
	while (atomic_load(seen) == before ||
	       __atomic_load_n(&g->mb[BENCH_DB_DONE / 4], __ATOMIC_ACQUIRE) !=
		       g->go) {
		if (bench_now_ns() > end || vm_stopping(&g->vm))
			die("the guest's write never arrived", ETIMEDOUT);
		usleep(50);
	}
	if (atomic_load(seen) != before + 1)
		die("a write arrived twice", EPROTO);
	return atomic_load(when) - t0;
}

static void g_stop(struct guest_half *g)
{
	static const uint64_t one = 1;

	vm_stop(&g->vm, 0);
	vcpu_join(&g->vm.cpus[0]);
	atomic_store(&g->quit, true);
	if (write(g->floor_efd, &one, sizeof(one)) != sizeof(one))
		die("stopping the floor", errno);
	pthread_join(g->floor_thread, NULL);
	mmio_del(&g->vm.mmio, &g->trap);
	vm_destroy(&g->vm); /* its ioeventfds go with it */
	close(g->floor_efd);
}

/* The guest half's line, or why it was skipped. */
static void guest_half(struct bench *b, const char *guest)
{
	static struct guest_half g;
	uint64_t *lat[G_PATHS], m[G_PATHS];

	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("doorbell: skipped: the guest half needs /dev/kvm: "
		       "%s\n",
		       strerror(errno));
		return;
	}
	g.b = b;
	g_start(&g, guest);
	for (int p = 0; p < G_PATHS; p++) {
		lat[p] = calloc(G_SAMPLES, sizeof(uint64_t));
		if (!lat[p])
			die("calloc", ENOMEM);
	}
	for (int i = 0; i < 50; i++) /* warm up */
		for (int p = 0; p < G_PATHS; p++)
			g_sample(&g, p);
	for (int i = 0; i < G_SAMPLES; i++)
		for (int k = 0; k < G_PATHS; k++) {
			int p = (i + k) % G_PATHS;

			lat[p][i] = g_sample(&g, p);
		}
	g_stop(&g);
	for (int p = 0; p < G_PATHS; p++) {
		m[p] = bench_median(lat[p], G_SAMPLES);
		free(lat[p]);
	}
	printf("doorbell: %llu ns, trapped %llu ns, floor %llu ns, ratio "
	       "%.2f\n",
	       (unsigned long long)m[G_DOORBELL],
	       (unsigned long long)m[G_TRAPPED], (unsigned long long)m[G_FLOOR],
	       (double)m[G_DOORBELL] / (double)m[G_FLOOR]);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000;
	struct bench *b = calloc(1, sizeof(*b));
	uint64_t *ours, *trap, *flr, *ep;
	size_t per;

	if (n < ROUNDS) {
		fprintf(stderr, "usage: %s [iterations >= %d]\n", argv[0],
			ROUNDS);
		return 2;
	}
	per = n / ROUNDS;
	if (!getenv("BENCH_NOPIN"))
		bench_pin_cpu0();
	ours = calloc(per * ROUNDS, sizeof(*ours));
	trap = calloc(per * ROUNDS, sizeof(*trap));
	flr = calloc(per * ROUNDS, sizeof(*flr));
	ep = calloc(per * ROUNDS, sizeof(*ep));
	if (!b || !ours || !trap || !flr || !ep)
		die("calloc", ENOMEM);
	setup(b);
	/* Warm up everything once. */
	bench_efd_round(b->db.fd, &b->seen, ours, per);
	trapped_round(b, trap, per);
	bench_efd_round(b->floor.fd, &b->floor.seen, flr, per);
	bench_efd_round(b->ep.fd, &b->ep.seen, ep, per);
	for (int r = 0; r < ROUNDS; r++) {
		bench_efd_round(b->floor.fd, &b->floor.seen, flr + r * per,
				per);
		bench_efd_round(b->db.fd, &b->seen, ours + r * per, per);
		bench_efd_round(b->ep.fd, &b->ep.seen, ep + r * per, per);
		trapped_round(b, trap + r * per, per);
	}
	teardown(b);

	uint64_t mo = bench_median(ours, per * ROUNDS);
	uint64_t mt = bench_median(trap, per * ROUNDS);
	uint64_t mf = bench_median(flr, per * ROUNDS);
	uint64_t me = bench_median(ep, per * ROUNDS);

	printf("doorbell_device against the epoll floor %llu ns: ratio %.2f\n",
	       (unsigned long long)me, (double)mo / (double)me);
	printf("doorbell_device: %llu ns, trapped %llu ns, floor %llu ns, "
	       "ratio %.2f\n",
	       (unsigned long long)mo, (unsigned long long)mt,
	       (unsigned long long)mf, (double)mo / (double)mf);
	free(ours);
	free(trap);
	free(flr);
	free(ep);
	/* The device again, for the guest: unpinned, see above. */
	if (!getenv("BENCH_NOPIN"))
		bench_unpin();
	setup(b);
	guest_half(b, argc > 2 ? argv[2] :
				 bench_build_path(
					 "guest/guest_bench_doorbell.elf"));
	teardown(b);
	free(b);
	return 0;
}
