// SPDX-License-Identifier: MIT
/*
 * Device raise to guest handler, in a real KVM guest: uvfio-vmm's VM
 * code runs guest/bench/irq.c on one vCPU, halted; its handlers count
 * arrivals in a RAM mailbox that this process polls through its mapping
 * of guest RAM.  Three paths to the same vCPU, alternating round by
 * round, one interrupt in flight at a time:
 *
 *  - device: an in-process vfio-user device (socketpair, its own thread)
 *    raises MSI-X vector 0 with uvfio_dev_irq_trigger(), which is one
 *    write() to the eventfd the client handed it with SET_IRQS; the
 *    client's MSI-X emulation bound that eventfd to a KVM irqfd on the
 *    MSI route the guest's table entry asked for (the bench programs the
 *    entry through the client's config and BAR calls, as a guest would).
 *  - floor: a bare eventfd of our own bound to an irqfd on an MSI route,
 *    written directly.  The route entry itself goes through the router's
 *    table, because KVM_SET_GSI_ROUTING replaces the whole table and
 *    the router owns it; nothing of uvfio is on the path at run time.
 *  - relay: an eventfd read by a thread of ours, which then injects
 *    with KVM_SIGNAL_MSI: what a VMM without irqfd would do.
 *
 * Each sample is CLOCK_MONOTONIC from just before the raise to the poll
 * that sees the count move; between samples the guest gets time to halt
 * and the vCPU to go to sleep, so every sample includes a full wake-up.
 * The guest handler is a few instructions, but here they are emulated,
 * so every path carries the same guest-side constant.
 *
 * usage: guest_irq GUEST_ELF [rounds]
 * Last line: guest_irq: <p50> ns, floor <p50> ns, ratio <r>, relay <p50> ns
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "dev.h"
#include "stats.h"

#include "guest_vm.h"
#include "mailbox.h"
#include "vmm.h"

#define ROUNDS 1000
#define WARMUP 20
/*
 * Between samples: past KVM's halt polling (halt_poll_ns, 200 us by
 * default), so that every sample wakes a vCPU that really sleeps,
 * rather than some a polling one and some not.
 */
#define SETTLE_NS 500000ull
#define TIMEOUT_NS 1000000000ull
#define TABLE_OFF 0x0
#define PBA_OFF 0x800
#define BAR_SIZE 0x1000
#define MSI_ADDR 0xfee00000u /* APIC ID 0 */

enum path { DEVICE, FLOOR, RELAY };
static const char *const path_name[BENCH_NR_PATHS] = { "device", "floor",
						       "relay" };

struct bench {
	struct vm vm;
	struct vm_config cfg;
	volatile uint32_t *mb;
	struct uvfio_dev *dev;
	pthread_t dev_thread;
	bool dev_started;
	struct uvfio_client *c;
	int floor_efd;
	int floor_route;
	int relay_efd;
	pthread_t relay_thread;
	bool relay_started;
	atomic_bool relay_quit;
	uint64_t *ns[BENCH_NR_PATHS];
	unsigned int n[BENCH_NR_PATHS];
	unsigned int lost;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "guest_irq: %s: %s\n", what, strerror(err));
	exit(1);
}

static uint32_t mb_read(struct bench *b, unsigned int off)
{
	return __atomic_load_n(&b->mb[off / 4], __ATOMIC_ACQUIRE);
}

static void *relay_main(void *arg)
{
	struct bench *b = arg;
	struct kvm_msi msi = { .address_lo = MSI_ADDR,
			       .data = BENCH_VEC_BASE + RELAY };
	uint64_t cnt;

	while (read(b->relay_efd, &cnt, sizeof(cnt)) == sizeof(cnt)) {
		if (atomic_load(&b->relay_quit))
			break;
		if (ioctl(b->vm.fd, KVM_SIGNAL_MSI, &msi) < 0)
			fprintf(stderr, "guest_irq: KVM_SIGNAL_MSI: %s\n",
				strerror(errno));
	}
	return NULL;
}

static void start_vm(struct bench *b, const char *guest)
{
	uint64_t entry = bench_guest_load(&b->vm, &b->cfg, guest, &b->mb);

	bench_guest_run(&b->vm, entry, b->mb);
}

static void make_dev(struct bench *b)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1234,
						  .device_id = 0x0002 };
	struct uvfio_region_desc rd = { .size = BAR_SIZE,
					.flags = UVFIO_REGION_RW,
					.access = bench_zero_bar };
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair", errno);
	b->dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, b, NULL);
	if (!b->dev)
		die("uvfio_dev_create", errno);
	r = uvfio_pci_add_cap_msix(uvfio_dev_pci(b->dev), 1, 0, TABLE_OFF, 0,
				   PBA_OFF);
	if (r >= 0)
		r = uvfio_dev_add_region(b->dev, VFIO_PCI_BAR0_REGION_INDEX,
					 &rd);
	if (r >= 0)
		r = uvfio_dev_set_irq_count(b->dev, VFIO_PCI_MSIX_IRQ_INDEX, 1);
	if (r >= 0)
		r = uvfio_dev_attach_fd(b->dev, sv[0]);
	if (r < 0)
		die("device", -r);
	r = pthread_create(&b->dev_thread, NULL, bench_dev_main, b->dev);
	if (r)
		die("pthread_create", r);
	b->dev_started = true;
	b->c = uvfio_client_attach_fd(sv[1], NULL);
	if (!b->c)
		die("client", errno);
	r = uvfio_client_irq_attach(b->c, b->vm.router);
	if (r < 0)
		die("uvfio_client_irq_attach", -r);
}

static void make_floor_and_relay(struct bench *b)
{
	const struct uvfio_msi_msg msg = { MSI_ADDR, BENCH_VEC_BASE + FLOOR };
	int r;

	b->floor_efd = eventfd(0, EFD_CLOEXEC);
	b->relay_efd = eventfd(0, EFD_CLOEXEC);
	if (b->floor_efd < 0 || b->relay_efd < 0)
		die("eventfd", errno);
	b->floor_route = uvfio_irq_route_add(b->vm.router, &msg);
	r = b->floor_route;
	if (r >= 0)
		r = uvfio_irq_router_commit(b->vm.router);
	if (r >= 0)
		r = uvfio_irq_bind(b->vm.router, b->floor_route, b->floor_efd,
				   -1);
	if (r < 0)
		die("floor route", -r);
	r = pthread_create(&b->relay_thread, NULL, relay_main, b);
	if (r)
		die("pthread_create", r);
	b->relay_started = true;
}

static void raise_on(struct bench *b, enum path p)
{
	static const uint64_t one = 1;
	int r = 0;

	switch (p) {
	case DEVICE:
		r = uvfio_dev_irq_trigger(b->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0);
		break;
	case FLOOR:
		r = write(b->floor_efd, &one, sizeof(one)) == sizeof(one) ?
			    0 :
			    -errno;
		break;
	case RELAY:
		r = write(b->relay_efd, &one, sizeof(one)) == sizeof(one) ?
			    0 :
			    -errno;
		break;
	}
	if (r < 0)
		die(path_name[p], -r);
}

static void settle(void)
{
	uint64_t t0 = bench_now_ns();

	while (bench_now_ns() - t0 < SETTLE_NS)
		;
}

/* One sample; false if the interrupt never came. */
static bool sample(struct bench *b, enum path p, bool keep)
{
	uint32_t before[BENCH_NR_PATHS], s;
	uint64_t t0, t1;
	unsigned int k;

	for (k = 0; k < BENCH_NR_PATHS; k++)
		before[k] = mb_read(b, BENCH_MB_SEQ(k));
	t0 = bench_now_ns();
	raise_on(b, p);
	do {
		s = mb_read(b, BENCH_MB_SEQ(p));
		t1 = bench_now_ns();
	} while (s == before[p] && t1 - t0 < TIMEOUT_NS);
	settle();
	for (k = 0; k < BENCH_NR_PATHS; k++)
		if (mb_read(b, BENCH_MB_SEQ(k)) != before[k] + (k == p))
			die("an interrupt came on the wrong vector or twice",
			    EPROTO);
	if (s == before[p])
		return false;
	if (keep)
		b->ns[p][b->n[p]++] = t1 - t0;
	return true;
}

static void run(struct bench *b, unsigned int rounds)
{
	unsigned int i, k;

	for (k = 0; k < BENCH_NR_PATHS; k++) {
		b->ns[k] = calloc(rounds, sizeof(uint64_t));
		if (!b->ns[k])
			die("calloc", ENOMEM);
	}
	for (i = 0; i < WARMUP + rounds; i++)
		for (k = 0; k < BENCH_NR_PATHS; k++)
			/* Rotate the order so no path always goes first. */
			if (!sample(b, (enum path)((i + k) % BENCH_NR_PATHS),
				    i >= WARMUP))
				b->lost++;
	if (b->lost)
		die("interrupts lost", ETIMEDOUT);
}

static void teardown(struct bench *b)
{
	static const uint64_t one = 1;

	if (b->relay_started) {
		atomic_store(&b->relay_quit, true);
		if (write(b->relay_efd, &one, sizeof(one)) != sizeof(one))
			die("stopping the relay", errno);
		pthread_join(b->relay_thread, NULL);
	}
	vm_stop(&b->vm, 0);
	vcpu_join(&b->vm.cpus[0]);
	uvfio_irq_unbind(b->vm.router, b->floor_route);
	uvfio_irq_route_release(b->vm.router, b->floor_route);
	uvfio_client_irq_detach(b->c);
	uvfio_client_close(b->c);
	if (b->dev_started) {
		uvfio_dev_stop(b->dev);
		pthread_join(b->dev_thread, NULL);
	}
	uvfio_dev_destroy(b->dev);
	vm_destroy(&b->vm);
	close(b->floor_efd);
	close(b->relay_efd);
	for (unsigned int k = 0; k < BENCH_NR_PATHS; k++)
		free(b->ns[k]);
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t p50[BENCH_NR_PATHS], p99[BENCH_NR_PATHS];
	unsigned int rounds = ROUNDS, k;
	int r;

	if (argc > 3) {
		fprintf(stderr, "usage: guest_irq [GUEST_ELF [rounds]]\n");
		return 2;
	}
	if (argc == 3) {
		rounds = (unsigned int)strtoul(argv[2], NULL, 10);
		if (rounds < 10 || rounds > 1000000) {
			fprintf(stderr, "guest_irq: rounds 10..1000000\n");
			return 2;
		}
	}
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("guest_irq: skipped: /dev/kvm: %s\n", strerror(errno));
		return 0;
	}
	start_vm(&b, argc > 1 ? argv[1] :
			 bench_build_path("guest/guest_bench_irq.elf"));
	make_dev(&b);
	r = bench_msix_enable_one(b.c, TABLE_OFF, MSI_ADDR,
				  BENCH_VEC_BASE + DEVICE);
	if (r < 0)
		die("MSI-X enable", -r);
	make_floor_and_relay(&b);
	run(&b, rounds);
	for (k = 0; k < BENCH_NR_PATHS; k++) {
		p50[k] = bench_pct(b.ns[k], b.n[k], 50);
		p99[k] = bench_pct(b.ns[k], b.n[k], 99);
		printf("guest_irq: %-6s p50 %6llu ns  p99 %6llu ns  "
		       "(p99/p50 %.2f, %u samples)\n",
		       path_name[k], (unsigned long long)p50[k],
		       (unsigned long long)p99[k],
		       (double)p99[k] / (double)p50[k], b.n[k]);
	}
	teardown(&b);
	printf("guest_irq: %llu ns, floor %llu ns, ratio %.2f, relay %llu ns\n",
	       (unsigned long long)p50[DEVICE], (unsigned long long)p50[FLOOR],
	       (double)p50[DEVICE] / (double)p50[FLOOR],
	       (unsigned long long)p50[RELAY]);
	return 0;
}
