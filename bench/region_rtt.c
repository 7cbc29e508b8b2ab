// SPDX-License-Identifier: MIT
/*
 * Trapped 4-byte REGION_READ round trip between a client and uvfio-testdev,
 * both pinned to one CPU, against a raw socketpair ping-pong of the same
 * message sizes (32-byte request, 36-byte reply) between two processes
 * pinned the same way.  Rounds of both alternate so drift hits both alike.
 *
 * usage: region_rtt TESTDEV_BINARY [iterations]
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "dev.h"
#include "stats.h"

#define TESTDEV "devices/testdev/uvfio-testdev"

/* Many short alternating rounds: drift on a shared host hits both. */
#define ROUNDS 40
#define REQ_SIZE 32
#define REP_SIZE 36

/* The floor: the same bytes bounced by a process that does nothing else. */
static int floor_start(pid_t *pid)
{
	char rep[REP_SIZE] = { 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("socketpair");
		exit(1);
	}
	*pid = fork();
	if (*pid == 0) {
		char b[REQ_SIZE];

		close(sv[0]);
		while (recv(sv[1], b, sizeof(b), MSG_WAITALL) == sizeof(b))
			if (send(sv[1], rep, sizeof(rep), MSG_NOSIGNAL) !=
			    sizeof(rep))
				break;
		_exit(0);
	}
	close(sv[1]);
	return sv[0];
}

static void floor_round(int fd, uint64_t *lat, size_t n)
{
	char req[REQ_SIZE] = { 0 };

	for (size_t i = 0; i < n; i++) {
		char b[REP_SIZE];
		uint64_t t = bench_now_ns();

		if (send(fd, req, sizeof(req), 0) != sizeof(req) ||
		    recv(fd, b, sizeof(b), MSG_WAITALL) != sizeof(b)) {
			perror("floor");
			exit(1);
		}
		lat[i] = bench_now_ns() - t;
	}
}

static void real_round(struct uvfio_client *c, uint64_t *lat, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t v;
		uint64_t t = bench_now_ns();
		int err = uvfio_client_region_read(c, 0, 0, &v, sizeof(v));

		lat[i] = bench_now_ns() - t;
		if (err) {
			fprintf(stderr, "region_read: %s\n", strerror(-err));
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 0) : 40000;
	char dir[] = "/tmp/uvfio-bench-XXXXXX", sock[64];
	uint64_t *lat, *all_real, *all_floor;
	struct uvfio_client *c;
	pid_t dev;

	if (n < ROUNDS) {
		fprintf(stderr, "usage: %s [TESTDEV_BINARY [iterations]]\n",
			argv[0]);
		return 2;
	}
	lat = calloc(n, sizeof(*lat));
	all_real = calloc(n, sizeof(*all_real));
	all_floor = calloc(n, sizeof(*all_floor));
	if (!lat || !all_real || !all_floor || !mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/dev.sock", dir);
	bench_pin_cpu0();
	dev = bench_start_testdev(
		argc > 1 ? argv[1] : bench_build_path(TESTDEV), sock);
	c = uvfio_client_connect(sock, NULL);
	if (!c) {
		perror("connect");
		kill(dev, SIGKILL);
		return 1;
	}
	size_t per = n / ROUNDS;
	pid_t fpid;
	int ffd = floor_start(&fpid);

	real_round(c, all_real, per);    /* warm up both */
	floor_round(ffd, all_floor, per);
	for (int r = 0; r < ROUNDS; r++) {
		floor_round(ffd, all_floor + r * per, per);
		real_round(c, all_real + r * per, per);
	}
	close(ffd);
	waitpid(fpid, NULL, 0);
	for (int r = 0; r < ROUNDS; r += ROUNDS / 4) {
		memcpy(lat, all_floor + r * per, per * sizeof(*lat));
		printf("round %2d: floor %llu ns", r,
		       (unsigned long long)bench_median(lat, per));
		memcpy(lat, all_real + r * per, per * sizeof(*lat));
		printf(", region_read %llu ns\n",
		       (unsigned long long)bench_median(lat, per));
	}
	uvfio_client_close(c);
	kill(dev, SIGTERM);
	waitpid(dev, NULL, 0);
	unlink(sock);
	rmdir(dir);

	uint64_t mr = bench_median(all_real, per * ROUNDS);
	uint64_t mf = bench_median(all_floor, per * ROUNDS);

	printf("region_rtt: %llu ns, floor %llu ns, ratio %.2f\n",
	       (unsigned long long)mr, (unsigned long long)mf,
	       (double)mr / (double)mf);
	free(lat);
	free(all_real);
	free(all_floor);
	return 0;
}
