// SPDX-License-Identifier: MIT
/*
 * Device raise to VMM delivery through the userspace router: an
 * in-process device (one MSI-X vector, served by its own thread over a
 * socketpair) raises with uvfio_dev_irq_trigger(); the client's MSI-X
 * emulation has routed the vector on the userspace router, whose thread
 * calls the delivery callback.  One interrupt at a time; the raiser spins
 * until the callback has run.  The floor is the router's own primitive:
 * an eventfd write waking a thread blocked reading it, which then flags
 * the spinning writer the same way.  A second, informational floor has
 * the woken thread blocked in epoll_wait() and then reading, which is
 * what a router watching many eventfds must do.  Rounds alternate.
 *
 * usage: irq_user [iterations]
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
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "dev.h"
#include "floor.h"
#include "stats.h"

#define ROUNDS 40
#define TABLE_OFF 0x0
#define PBA_OFF 0x800
#define BAR_SIZE 0x1000

struct bench {
	struct uvfio_dev *dev;
	pthread_t dev_thread;
	struct uvfio_client *c;
	struct uvfio_irq_router *r;
	atomic_uint_fast64_t seen; /* callbacks */
	struct bench_floor floor, ep;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "irq_user: %s: %s\n", what, strerror(err));
	exit(1);
}

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct bench *b = opaque;

	atomic_fetch_add_explicit(&b->seen, 1, memory_order_release);
}

static void make_dev(struct bench *b, int fd)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1234,
						  .device_id = 0x0001 };
	struct uvfio_region_desc rd = { .size = BAR_SIZE,
					.flags = UVFIO_REGION_RW,
					.access = bench_zero_bar };
	int r;

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
		r = uvfio_dev_attach_fd(b->dev, fd);
	if (r < 0)
		die("device", -r);
	r = pthread_create(&b->dev_thread, NULL, bench_dev_main, b->dev);
	if (r)
		die("pthread_create", r);
}

static void setup(struct bench *b)
{
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair", errno);
	make_dev(b, sv[0]);
	b->c = uvfio_client_attach_fd(sv[1], NULL);
	if (!b->c)
		die("client", errno);
	b->r = uvfio_irq_router_new_user(deliver, b, 0);
	if (!b->r)
		die("router", errno);
	r = uvfio_client_irq_attach(b->c, b->r);
	if (r < 0)
		die("irq_attach", -r);
	r = bench_msix_enable_one(b->c, TABLE_OFF, 0xfee00000, 0x31);
	if (r < 0)
		die("MSI-X enable", -r);

	bench_floor_start(&b->floor, false);
	bench_floor_start(&b->ep, true);
}

static void real_round(struct bench *b, uint64_t *lat, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bench_gap();
		uint64_t want = atomic_load(&b->seen) + 1, t0 = bench_now_ns();
		int r = uvfio_dev_irq_trigger(b->dev, VFIO_PCI_MSIX_IRQ_INDEX,
					      0);

		if (r < 0)
			die("uvfio_dev_irq_trigger", -r);
		bench_wait_for(&b->seen, want);
		lat[i] = bench_now_ns() - t0;
	}
}

static void teardown(struct bench *b)
{
	uvfio_client_irq_detach(b->c);
	uvfio_irq_router_free(b->r);
	uvfio_client_close(b->c);
	pthread_join(b->dev_thread, NULL);
	uvfio_dev_destroy(b->dev);
	bench_floor_stop(&b->floor);
	bench_floor_stop(&b->ep);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 40000;
	uint64_t *lat, *all_real, *all_floor, *all_ep;
	struct bench *b = calloc(1, sizeof(*b));
	size_t per;

	if (n < ROUNDS) {
		fprintf(stderr, "usage: %s [iterations >= %d]\n", argv[0],
			ROUNDS);
		return 2;
	}
	per = n / ROUNDS;
	lat = calloc(per, sizeof(*lat));
	all_real = calloc(per * ROUNDS, sizeof(*all_real));
	all_floor = calloc(per * ROUNDS, sizeof(*all_floor));
	all_ep = calloc(per * ROUNDS, sizeof(*all_ep));
	if (!b || !lat || !all_real || !all_floor || !all_ep)
		die("calloc", ENOMEM);
	setup(b);

	real_round(b, all_real, per); /* warm up all */
	bench_efd_round(b->floor.fd, &b->floor.seen, all_floor, per);
	bench_efd_round(b->ep.fd, &b->ep.seen, all_ep, per);
	for (int r = 0; r < ROUNDS; r++) {
		bench_efd_round(b->floor.fd, &b->floor.seen,
				all_floor + r * per, per);
		real_round(b, all_real + r * per, per);
		bench_efd_round(b->ep.fd, &b->ep.seen, all_ep + r * per, per);
	}
	for (int r = 0; r < ROUNDS; r += ROUNDS / 4) {
		memcpy(lat, all_floor + r * per, per * sizeof(*lat));
		printf("round %2d: floor %llu ns", r,
		       (unsigned long long)bench_median(lat, per));
		memcpy(lat, all_real + r * per, per * sizeof(*lat));
		printf(", irq %llu ns", (unsigned long long)bench_median(lat, per));
		memcpy(lat, all_ep + r * per, per * sizeof(*lat));
		printf(", epoll floor %llu ns\n",
		       (unsigned long long)bench_median(lat, per));
	}
	teardown(b);

	uint64_t mr = bench_median(all_real, per * ROUNDS);
	uint64_t mf = bench_median(all_floor, per * ROUNDS);
	uint64_t me = bench_median(all_ep, per * ROUNDS);

	printf("irq_user: epoll floor %llu ns, ratio to it %.2f\n",
	       (unsigned long long)me, (double)mr / (double)me);
	printf("irq_user: %llu ns, floor %llu ns, ratio %.2f\n",
	       (unsigned long long)mr, (unsigned long long)mf,
	       (double)mr / (double)mf);
	free(lat);
	free(all_real);
	free(all_floor);
	free(all_ep);
	free(b);
	return 0;
}
