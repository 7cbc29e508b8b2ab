// SPDX-License-Identifier: MIT
/*
 * uvfio's client against the real libvfio-user samples, when they are
 * installed: $UVFIO_LVU_SAMPLES names a directory holding samples/server
 * and gpio-pci-idio-16 built from libvfio-user (this repository builds
 * neither).  Without it the test reports itself skipped, with the reason.
 *
 * samples/server: region info (sparse BAR1 with its fd), config space,
 * reset, two DMA windows (the first without fd, so its DMA comes in-band),
 * INTx, then the 8-byte BAR0 write that makes the server DMA a second
 * later: 'A'..'D' written to both windows (directly to the mapped one,
 * by DMA_WRITE to the other), read back by DMA_READ, then INTx.
 * gpio-pci-idio-16: negotiation, info and its I/O BAR.  Then a
 * samples/server device migrated to a second samples/server process.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "check.h"

#define PAGE 4096u

static pid_t start(const char *dir, const char *prog, const char *sock,
		   bool verbose)
{
	char path[512];
	struct stat st;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", dir, prog);
	unlink(sock);
	pid = fork();
	if (pid == 0) {
		if (verbose)
			execl(path, prog, "-v", sock, (char *)NULL);
		else
			execl(path, prog, sock, (char *)NULL);
		_exit(127);
	}
	/* The path appears just before the server listens: connect_retry(). */
	for (int i = 0; i < 500 && stat(sock, &st); i++)
		usleep(10000);
	return pid;
}

static struct uvfio_client *connect_retry(const char *sock, uint32_t flags)
{
	struct uvfio_client_opts o = { .flags = flags };
	struct uvfio_client *c = NULL;

	for (int i = 0; i < 50 && !c; i++) {
		c = uvfio_client_connect(sock, &o);
		if (!c)
			usleep(20000);
	}
	return c;
}

static void stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void samples_server(const char *dir, const char *sock, uint32_t flags)
{
	pid_t pid = start(dir, "server", sock, true);
	struct uvfio_client *c = connect_retry(sock, flags);
	const struct uvfio_region *reg;
	struct pollfd p;
	uint8_t cfg[4], *mem;
	uint64_t when;
	int efd, memfd;

	CHECK(c, "connect to samples/server: %s", strerror(errno));
	if (!c) {
		stop(pid);
		return;
	}
	CHECK(uvfio_client_caps(c)->twin_socket == !flags, "twin socket");
	CHECK(uvfio_client_region_info(c, 1, &reg) == 0 && reg->fd >= 0 &&
		      reg->nr_areas == 2,
	      "BAR1: sparse areas and fd");
	CHECK(uvfio_client_cfg_read(c, 0, cfg, 4) == 0 && cfg[0] == 0xad &&
		      cfg[3] == 0xbe,
	      "config space");
	CHECK(uvfio_client_reset(c) == 0, "reset");
	memfd = memfd_create("dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, 2 * PAGE))
		exit(99);
	mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	/* The server uses windows in map order: in-band first, then mapped. */
	CHECK(uvfio_client_dma_map(c, 0x10000, PAGE, 3, mem, -1, 0) == 0,
	      "DMA_MAP without fd");
	CHECK(uvfio_client_dma_map(c, 0x20000, PAGE, 3, mem + PAGE, memfd,
				   PAGE) == 0,
	      "DMA_MAP with fd");
	efd = eventfd(0, EFD_CLOEXEC);
	CHECK(uvfio_client_set_irqs(c, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
					    VFIO_IRQ_SET_ACTION_TRIGGER,
				    0, 1, &efd) == 0,
	      "SET_IRQS");
	when = (uint64_t)time(NULL) + 1;
	CHECK(uvfio_client_region_write(c, 0, 0, &when, 8, 0) == 0, "BAR0");
	/*
	 * Idle while the client's thread answers the DMA (the server raises
	 * INTx first, then DMAs; without a twin socket it would take a
	 * request of ours for the reply it waits for: its issue #279).
	 */
	p = (struct pollfd){ .fd = efd, .events = POLLIN };
	CHECK(poll(&p, 1, 10000) == 1, "no INTx");
	struct uvfio_client_stats st;

	for (int ms = 0; ms < 10000; ms++) {
		uvfio_client_stats(c, &st);
		if (st.dma_writes >= 4 && st.dma_reads >= 2)
			break;
		usleep(1000);
	}
	for (int i = 0; i < 4; i++) {
		CHECK(mem[i * 1024] == 'A' + i, "in-band DMA_WRITE %d", i);
		CHECK(mem[PAGE + i * 1024] == 'A' + i, "mapped DMA %d", i);
	}
	CHECK(uvfio_client_dma_unmap(c, 0x10000, PAGE) == 0, "DMA_UNMAP");
	CHECK(uvfio_client_dma_unmap_all(c) == 0, "DMA_UNMAP all");
	printf("samples/server (%s twin socket): %llu DMA_WRITE, %llu "
	       "DMA_READ answered, INTx delivered\n",
	       flags ? "without" : "with", (unsigned long long)st.dma_writes,
	       (unsigned long long)st.dma_reads);
	CHECK(st.dma_writes >= 4 && st.dma_reads >= 2, "DMA counts");
	uvfio_client_close(c);
	munmap(mem, 2 * PAGE);
	close(memfd);
	close(efd);
	stop(pid);
}

static void gpio(const char *dir, const char *sock)
{
	pid_t pid = start(dir, "gpio-pci-idio-16", sock, false);
	struct uvfio_client *c = connect_retry(sock, 0);
	const struct uvfio_region *reg;
	uint8_t v = 0;

	CHECK(c, "connect to gpio-pci-idio-16: %s", strerror(errno));
	if (c) {
		CHECK(uvfio_client_region_info(c, 2, &reg) == 0 &&
			      reg->size == 256,
		      "gpio BAR2");
		CHECK(uvfio_client_region_read(c, 2, 0, &v, 1) == 0,
		      "gpio BAR2 read");
		printf("gpio-pci-idio-16: BAR2 read %#x\n", v);
		uvfio_client_close(c);
	}
	stop(pid);
}

/*
 * A samples/server device moved to a second samples/server process by
 * uvfio's migration driver: BAR1 and the BAR0 timer go across, and the
 * destination runs.  Without pre-copy: this sample's STOP_COPY data
 * starts over rather than continuing its pre-copy data (its own client
 * drops the pre-copy data), so a VFIO-style stream would not load.
 */
static void migrate(const char *dir, const char *sock)
{
	char sock2[80];
	struct uvfio_mig_driver_opts o = { .no_precopy = true };
	uint8_t pat[PAGE], got[PAGE];
	struct uvfio_client *src, *dst;
	enum uvfio_mig_state st = UVFIO_MIG_ERROR;
	time_t when = time(NULL) + 60;
	pid_t p1, p2;
	int fd = memfd_create("lvu-migration", MFD_CLOEXEC);

	snprintf(sock2, sizeof(sock2), "%s.dst", sock);
	p1 = start(dir, "server", sock, false);
	p2 = start(dir, "server", sock2, false);
	src = connect_retry(sock, 0);
	dst = connect_retry(sock2, 0);
	CHECK(src && dst && fd >= 0, "two samples/server: %s", strerror(errno));
	if (src && dst && fd >= 0) {
		for (unsigned int i = 0; i < PAGE; i++)
			pat[i] = (uint8_t)(i * 13 + 1);
		CHECK(uvfio_client_region_write(src, 0, 0, &when, 8, 0) == 0 &&
			      uvfio_client_region_write(src, 1, 0, pat, PAGE,
							0) == 0,
		      "BAR0/BAR1 writes");
		CHECK(uvfio_client_migrate_out(&src, 1, fd, &o) == 0,
		      "migrate_out");
		CHECK(lseek(fd, 0, SEEK_SET) == 0 &&
			      uvfio_client_migrate_in(&dst, 1, fd) == 0,
		      "migrate_in");
		CHECK(uvfio_client_region_read(dst, 1, 0, got, PAGE) == 0 &&
			      !memcmp(got, pat, PAGE),
		      "BAR1 at the destination");
		CHECK(uvfio_client_mig_get_state(dst, &st) == 0 &&
			      st == UVFIO_MIG_RUNNING,
		      "destination state %d", st);
		printf("samples/server migrated to a second process: BAR1 "
		       "%s, state %d\n",
		       memcmp(got, pat, PAGE) ? "differs" : "the same", st);
	}
	if (src)
		uvfio_client_close(src);
	if (dst)
		uvfio_client_close(dst);
	if (fd >= 0)
		close(fd);
	stop(p1);
	stop(p2);
	unlink(sock2);
}

int main(void)
{
	const char *dir = getenv("UVFIO_LVU_SAMPLES");
	char sock[64], path[512];

	if (!dir || !*dir) {
		printf("SKIP: set UVFIO_LVU_SAMPLES to a directory with "
		       "libvfio-user's samples (server, gpio-pci-idio-16)\n");
		return 77;
	}
	snprintf(path, sizeof(path), "%s/server", dir);
	if (access(path, X_OK)) {
		printf("SKIP: no libvfio-user samples/server at %s\n", path);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "/tmp/uvfio-lvu-%d.sock", (int)getpid());
	samples_server(dir, sock, 0);
	samples_server(dir, sock, UVFIO_CLIENT_NO_TWIN);
	gpio(dir, sock);
	migrate(dir, sock);
	unlink(sock);
	return failures ? 1 : 0;
}
