// SPDX-License-Identifier: MIT
/*
 * Live migration downtime of a whole VM: a 64 MiB guest that keeps
 * writing a 1 MiB working set (guest/bench/dirty.c) with one
 * uvfio-testdev, moved by uvfio-vmm's own code to a second VM with a
 * second testdev, both VMs in this process (vm_run() on two threads,
 * the stream over a unix socket, as --migrate-to and --incoming do).
 *
 * Downtime: from the source's vCPUs parking (after the devices reached
 * RUNNING_P2P) to the destination starting its vCPUs, CLOCK_MONOTONIC in
 * one process.  Floor: the time to move the final dirty set alone (the
 * pages sent after the vCPUs stopped) through a socketpair into a
 * buffer, measured in the same run; the device state, the vCPU state
 * and the devices' state changes are what the ratio adds.
 *
 * usage: vm_migrate [GUEST_ELF]
 * Last line: vm_migrate: downtime <us> us, floor <us> us, ratio <r>
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dev.h"
#include "stats.h"
#include "vmm.h"

#define RAM (64ull << 20)
#define MIGRATE_AFTER_MS 500
#define WAIT_MS 20000
#define FLOOR_ROUNDS 11

struct side {
	struct vm_config cfg;
	struct vm vm;
	pthread_t t;
	int status;
	volatile bool done;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "vm_migrate: %s: %s\n", what, strerror(err));
	exit(1);
}

static void *run_side(void *arg)
{
	struct side *s = arg;

	s->status = vm_run(&s->vm);
	s->done = true;
	return NULL;
}

static bool wait_until(volatile bool *flag, volatile uint64_t *v)
{
	uint64_t end = bench_now_ns() + WAIT_MS * 1000000ull;

	while (bench_now_ns() < end) {
		if ((flag && *flag) || (v && *v))
			return true;
		usleep(1000);
	}
	return false;
}

struct sink {
	int fd;
	size_t len;
	uint8_t *buf;
};

static void *drain(void *arg)
{
	struct sink *k = arg;

	for (;;) {
		size_t got = 0;

		while (got < k->len) {
			ssize_t n = read(k->fd, k->buf + got, k->len - got);

			if (n <= 0)
				return NULL;
			got += (size_t)n;
		}
		if (write(k->fd, "", 1) != 1)
			return NULL;
	}
}

/* The final dirty set alone: len bytes from RAM to a reader's buffer. */
static uint64_t floor_ns(const uint8_t *ram, size_t len)
{
	uint64_t best[FLOOR_ROUNDS];
	struct sink k = { .len = len };
	pthread_t t;
	int sv[2];
	char ack;

	if (!len)
		return 0;
	k.buf = malloc(len);
	if (!k.buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("floor set-up", errno ? errno : ENOMEM);
	k.fd = sv[1];
	if (pthread_create(&t, NULL, drain, &k))
		die("floor thread", EAGAIN);
	for (int r = 0; r < FLOOR_ROUNDS; r++) {
		uint64_t t0 = bench_now_ns();
		size_t off = 0;

		while (off < len) {
			ssize_t n = write(sv[0], ram + off, len - off);

			if (n <= 0)
				die("floor write", errno);
			off += (size_t)n;
		}
		if (read(sv[0], &ack, 1) != 1)
			die("floor ack", errno);
		best[r] = bench_now_ns() - t0;
	}
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	free(k.buf);
	return bench_median(best, FLOOR_ROUNDS);
}

int main(int argc, char **argv)
{
	static struct side src, dst;
	char dir[] = "/tmp/vm_migrate.XXXXXX", sock[2][PATH_MAX], mig[PATH_MAX],
	     bin[PATH_MAX], guest[PATH_MAX];
	pid_t dev[2];
	uint64_t down, fl;
	sigset_t set;

	if (argc > 2) {
		fprintf(stderr, "usage: vm_migrate [GUEST_ELF]\n");
		return 2;
	}
	/* bench_build_path()'s buffer is reused by the next call. */
	snprintf(guest, sizeof(guest), "%s",
		 argc > 1 ? argv[1] :
			    bench_build_path("guest/guest_bench_dirty.elf"));
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("vm_migrate: skipped: /dev/kvm: %s\n", strerror(errno));
		return 0;
	}
	/* vm_run() takes these through its signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(bin, sizeof(bin), "%s",
		 getenv("UVFIO_TESTDEV") ?:
			 bench_build_path("devices/testdev/uvfio-testdev"));
	for (int i = 0; i < 2; i++) {
		snprintf(sock[i], sizeof(sock[i]), "%s/dev%d", dir, i);
		dev[i] = bench_start_testdev(bin, sock[i]);
		if (dev[i] < 0)
			die("uvfio-testdev", -dev[i]);
	}
	snprintf(mig, sizeof(mig), "%s/mig", dir);

	dst.cfg = (struct vm_config){ .ram_size = RAM,
				      .nr_cpus = 1,
				      .sockets = { sock[1] },
				      .nr_devs = 1,
				      .reconnect_ms = 0,
				      .mig_in = mig,
				      .migrate_after_ms = -1 };
	src.cfg = (struct vm_config){ .ram_size = RAM,
				      .nr_cpus = 1,
				      .guest = guest,
				      .sockets = { sock[0] },
				      .nr_devs = 1,
				      .reconnect_ms = 0,
				      .mig_out = mig,
				      .migrate_after_ms = MIGRATE_AFTER_MS };
	if (vm_init(&dst.vm, &dst.cfg) ||
	    pthread_create(&dst.t, NULL, run_side, &dst))
		die("destination VM", EIO);
	while (access(mig, F_OK))
		usleep(1000);
	if (vm_init(&src.vm, &src.cfg) ||
	    pthread_create(&src.t, NULL, run_side, &src))
		die("source VM", EIO);
	if (!wait_until(&src.done, NULL)) {
		vm_stop(&src.vm, 1);
		vm_stop(&dst.vm, 1);
		die("the source never moved", ETIMEDOUT);
	}
	pthread_join(src.t, NULL);
	if (src.status || !src.vm.mig.paused_at_ns)
		die("the move failed", EIO);
	if (!wait_until(NULL, &dst.vm.started_ns)) {
		vm_stop(&dst.vm, 1);
		die("the destination never ran", ETIMEDOUT);
	}
	usleep(100000); /* it runs the guest on */
	vm_stop(&dst.vm, 0);
	pthread_join(dst.t, NULL);

	down = dst.vm.started_ns - src.vm.mig.paused_at_ns;
	fl = floor_ns(src.vm.ram.hva, src.vm.mig.final_pages * 4096);
	printf("vm_migrate: %u pre-copy rounds, %llu pages sent, %llu after "
	       "the vCPUs stopped\n",
	       src.vm.mig.rounds, (unsigned long long)src.vm.mig.pages,
	       (unsigned long long)src.vm.mig.final_pages);
	vm_destroy(&src.vm);
	vm_destroy(&dst.vm);
	for (int i = 0; i < 2; i++) {
		kill(dev[i], SIGTERM);
		waitpid(dev[i], NULL, 0);
		unlink(sock[i]);
	}
	rmdir(dir);
	printf("vm_migrate: downtime %llu us, floor %llu us, ratio %.2f\n",
	       (unsigned long long)(down / 1000),
	       (unsigned long long)(fl / 1000),
	       fl ? (double)down / (double)fl : 0.0);
	return 0;
}
