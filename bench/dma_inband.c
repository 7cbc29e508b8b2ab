// SPDX-License-Identifier: MIT
/*
 * In-band DMA throughput without a twin socket: a device process moves
 * 1 MiB at a time with uvfio_dma_write (to the client) and uvfio_dma_read
 * (from it) through a window the client mapped without an fd, from a
 * device thread, while its dispatch thread serves the main socket and
 * uvfio's client answers from its own thread.  The floor, in the same
 * run, between the same two processes over a raw socketpair: the same
 * messages exchanged the same way (a 32-byte request, a reply of 32 bytes
 * plus 1 MiB for a read; 32 bytes plus 1 MiB, and a 32-byte reply, for a
 * write), each received whole into a buffer, with nothing else done.  A
 * plain stream of the bytes without any exchange is printed too.  Rounds
 * alternate.
 *
 * usage: dma_inband [MiB per round]
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#include "stats.h"

#define MIB (1u << 20)
#define ROUNDS 12
#define IOVA 0x100000000ull

enum {
	FLOOR_TO_CLIENT = 'W',  /* exchanges as a DMA_WRITE */
	FLOOR_FROM_CLIENT = 'R', /* as a DMA_READ */
	STREAM_TO_CLIENT = 'w', /* the bytes alone */
	STREAM_FROM_CLIENT = 'r',
	QUIT = 'Q',
};
#define HDR 32u /* header and addr/count of each message */

static void xfer_all(int fd, void *buf, size_t n, bool out)
{
	for (size_t done = 0; done < n;) {
		ssize_t r = out ? send(fd, (char *)buf + done, n - done,
				       MSG_NOSIGNAL) :
				  recv(fd, (char *)buf + done, n - done, 0);

		if (r <= 0) {
			perror("floor");
			exit(1);
		}
		done += (size_t)r;
	}
}

/* Client side of the floor: answers as the client answers DMA. */
static void *floor_peer(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *buf = malloc(HDR + MIB);
	uint32_t cmd[2];

	while (buf) {
		xfer_all(fd, cmd, sizeof(cmd), false);
		if (cmd[0] == QUIT)
			break;
		for (uint32_t i = 0; i < cmd[1]; i++) {
			switch (cmd[0]) {
			case FLOOR_TO_CLIENT:
				xfer_all(fd, buf, HDR + MIB, false);
				xfer_all(fd, buf, HDR, true);
				break;
			case FLOOR_FROM_CLIENT:
				xfer_all(fd, buf, HDR, false);
				xfer_all(fd, buf, HDR + MIB, true);
				break;
			case STREAM_TO_CLIENT:
			case STREAM_FROM_CLIENT:
				xfer_all(fd, buf, MIB,
					 cmd[0] == STREAM_FROM_CLIENT);
			}
		}
		if (cmd[0] == STREAM_TO_CLIENT)
			xfer_all(fd, cmd, 1, true); /* all of it arrived */
	}
	free(buf);
	return NULL;
}

/* Device side of the floor: n MiB one way; returns ns. */
static uint64_t floor_round(int fd, uint8_t *buf, uint32_t n, int how)
{
	uint32_t cmd[2] = { (uint32_t)how, n };
	uint64_t t = bench_now_ns();

	xfer_all(fd, cmd, sizeof(cmd), true);
	for (uint32_t i = 0; i < n; i++) {
		switch (how) {
		case FLOOR_TO_CLIENT:
			xfer_all(fd, buf, HDR + MIB, true);
			xfer_all(fd, buf, HDR, false);
			break;
		case FLOOR_FROM_CLIENT:
			xfer_all(fd, buf, HDR, true);
			xfer_all(fd, buf, HDR + MIB, false);
			break;
		default:
			xfer_all(fd, buf, MIB, how == STREAM_TO_CLIENT);
		}
	}
	if (how == STREAM_TO_CLIENT)
		xfer_all(fd, cmd, 1, false);
	return bench_now_ns() - t;
}

static uint64_t dma_round(struct uvfio_dev *dev, uint8_t *buf, uint32_t n,
			  bool wr)
{
	uint64_t t = bench_now_ns();

	for (uint32_t i = 0; i < n; i++) {
		int err = wr ? uvfio_dma_write(dev, IOVA, buf, MIB) :
			       uvfio_dma_read(dev, IOVA, buf, MIB);

		if (err) {
			fprintf(stderr, "dma: %s\n", strerror(-err));
			exit(1);
		}
	}
	return bench_now_ns() - t;
}

static void *dispatch(void *dev)
{
	uvfio_dev_run(dev, true);
	return NULL;
}

static double mbs(uint64_t bytes, uint64_t ns)
{
	return (double)bytes / ((double)ns / 1e9) / 1e6;
}

/* The device process: results go to out as 4 totals of ns. */
static int device(int sock, int floor_fd, uint32_t n, int out)
{
	struct uvfio_pci_ids ids = { .vendor_id = 0x1af4, .device_id = 0x10ff };
	struct uvfio_dev_opts o = { .no_twin_socket = true };
	struct uvfio_dev *dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE,
						 NULL, NULL, &o);
	uint64_t ns[6] = { 0 };
	uint8_t *buf = malloc(HDR + MIB);
	pthread_t t;
	uint32_t win = 0;

	if (!dev || !buf || uvfio_dev_attach_fd(dev, sock))
		return 1;
	memset(buf, 0x5a, MIB);
	pthread_create(&t, NULL, dispatch, dev);
	/* The client maps its window once negotiated. */
	while (uvfio_dma_stats(dev, &win, NULL) == 0 && !win)
		usleep(1000);
	dma_round(dev, buf, 4, true); /* warm up */
	dma_round(dev, buf, 4, false);
	floor_round(floor_fd, buf, 4, FLOOR_TO_CLIENT);
	floor_round(floor_fd, buf, 4, FLOOR_FROM_CLIENT);
	for (int r = 0; r < ROUNDS; r++) {
		ns[0] += dma_round(dev, buf, n, true);
		ns[1] += floor_round(floor_fd, buf, n, FLOOR_TO_CLIENT);
		ns[2] += dma_round(dev, buf, n, false);
		ns[3] += floor_round(floor_fd, buf, n, FLOOR_FROM_CLIENT);
		ns[4] += floor_round(floor_fd, buf, n, STREAM_TO_CLIENT);
		ns[5] += floor_round(floor_fd, buf, n, STREAM_FROM_CLIENT);
	}
	uint32_t q[2] = { QUIT, 0 };

	xfer_all(floor_fd, q, sizeof(q), true);
	if (write(out, ns, sizeof(ns)) != sizeof(ns))
		return 1;
	uvfio_dev_stop(dev);
	pthread_join(t, NULL);
	uvfio_dev_destroy(dev);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 64;
	struct uvfio_client_opts o = { .flags = UVFIO_CLIENT_NO_TWIN };
	int sv[2], fl[2], res[2], st;
	struct uvfio_client *c;
	uint64_t ns[6];
	pthread_t ft;
	uint8_t *guest;
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	if (!n || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fl) ||
	    pipe(res))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		close(fl[1]);
		close(res[0]);
		_exit(device(sv[0], fl[0], n, res[1]));
	}
	close(sv[0]);
	close(fl[0]);
	close(res[1]);
	/* Guest memory the device cannot map: every transfer is in-band. */
	guest = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c = uvfio_client_attach_fd(sv[1], &o);
	if (guest == MAP_FAILED || !c) {
		perror("client");
		kill(pid, SIGKILL);
		return 1;
	}
	pthread_create(&ft, NULL, floor_peer, &fl[1]);
	if (uvfio_client_dma_map(c, IOVA, MIB,
				 UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				 guest, -1, 0)) {
		fprintf(stderr, "dma_map failed\n");
		kill(pid, SIGKILL);
		return 1;
	}
	if (read(res[0], ns, sizeof(ns)) != sizeof(ns)) {
		fprintf(stderr, "the device process failed\n");
		return 1;
	}
	pthread_join(ft, NULL);
	uvfio_client_close(c);
	waitpid(pid, &st, 0);

	uint64_t bytes = (uint64_t)n * MIB * ROUNDS;
	double w = mbs(bytes, ns[0]), fw = mbs(bytes, ns[1]);
	double r = mbs(bytes, ns[2]), fr = mbs(bytes, ns[3]);
	double all = mbs(2 * bytes, ns[0] + ns[2]);
	double fall = mbs(2 * bytes, ns[1] + ns[3]);
	double stream = mbs(2 * bytes, ns[4] + ns[5]);

	printf("DMA_WRITE (device to client): %.0f MB/s, floor %.0f MB/s, "
	       "ratio %.2f\n", w, fw, w / fw);
	printf("DMA_READ  (client to device): %.0f MB/s, floor %.0f MB/s, "
	       "ratio %.2f\n", r, fr, r / fr);
	printf("raw stream of the bytes alone: %.0f MB/s (ours %.2f of it)\n",
	       stream, all / stream);
	printf("dma_inband: %.0f MB/s, floor %.0f MB/s, ratio %.2f\n", all,
	       fall, all / fall);
	return 0;
}
