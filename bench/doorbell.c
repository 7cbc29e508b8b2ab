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
 * The guest's exit into KVM is the same for a doorbell and its floor and
 * is not here: the figure with it (bench/doorbell under KVM, a guest
 * writing the doorbell) needs /dev/kvm.  Each sample starts with the
 * device thread asleep.  Rounds alternate.  Everything is pinned to CPU
 * 0 (BENCH_NOPIN=1: not), so a wake-up is a switch on that CPU, not a
 * placement lottery between two busy ones.
 *
 * usage: doorbell [iterations]
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

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "dev.h"
#include "floor.h"
#include "stats.h"

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
	if (off == DOORBELL && v == VALUE)
		atomic_fetch_add_explicit(&b->seen, 1, memory_order_release);
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
	printf("doorbell: skipped: a guest's write through KVM_IOEVENTFD "
	       "needs /dev/kvm (not written yet)\n");
	free(ours);
	free(trap);
	free(flr);
	free(ep);
	free(b);
	return 0;
}
