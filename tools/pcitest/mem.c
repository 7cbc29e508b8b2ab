// SPDX-License-Identifier: MIT
/*
 * Guest memory.  The shared window is a memfd the server maps, so the
 * device touches it directly; the in-band window is private memory, so
 * every device access becomes a DMA_READ/DMA_WRITE message the client
 * library answers.  Both live far above 4 GiB to exercise the high
 * address registers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "pcitest.h"

#define SHARED_IOVA 0x100000000ull
#define SHARED_SIZE (8u << 20)
#define INBAND_IOVA 0x200000000ull
#define INBAND_SIZE (4u << 20)

static int map_window(struct uvfio_client *c, struct pt_window *w)
{
	int ret;

	ret = uvfio_client_dma_map(c, w->iova, w->size,
				   UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				   w->mem, w->fd, 0);
	if (ret < 0)
		fprintf(stderr, "pcitest: DMA_MAP of the %s window: %s\n",
			w->name, strerror(-ret));
	return ret < 0 ? ret : 0;
}

static int setup_shared(struct pt *t)
{
	struct pt_window *w = &t->shared;

	w->name = "shared";
	w->iova = SHARED_IOVA;
	w->size = SHARED_SIZE;
	w->fd = memfd_create("uvfio-pcitest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	/* A device refuses files that could shrink under its mapping. */
	if (w->fd < 0 || ftruncate(w->fd, (off_t)w->size) < 0 ||
	    fcntl(w->fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		perror("pcitest: memfd");
		return -errno;
	}
	w->mem = mmap(NULL, w->size, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
		      0);
	if (w->mem == MAP_FAILED) {
		w->mem = NULL;
		perror("pcitest: mmap memfd");
		return -errno;
	}
	return map_window(t->c, w);
}

static int setup_inband(struct pt *t)
{
	struct pt_window *w = &t->inband;

	w->name = "in-band";
	w->iova = INBAND_IOVA;
	w->size = INBAND_SIZE;
	w->fd = -1;
	w->mem = mmap(NULL, w->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->mem == MAP_FAILED) {
		w->mem = NULL;
		perror("pcitest: mmap");
		return -errno;
	}
	return map_window(t->c, w);
}

int pt_mem_setup(struct pt *t)
{
	struct timespec ts;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->rng = ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec ^
		  (uint64_t)getpid() << 16) | 1;
	t->shared.fd = -1;
	t->inband.fd = -1;
	ret = setup_shared(t);
	if (!ret)
		ret = setup_inband(t);
	return ret;
}

int pt_mem_attach(struct pt *t, struct uvfio_client *c)
{
	int ret = map_window(c, &t->shared);

	return ret ? ret : map_window(c, &t->inband);
}

static void release(struct pt_window *w)
{
	if (w->mem)
		munmap(w->mem, w->size);
	if (w->fd >= 0)
		close(w->fd);
	w->mem = NULL;
	w->fd = -1;
}

void pt_mem_teardown(struct pt *t)
{
	if (t->c)
		uvfio_client_dma_unmap_all(t->c);
	release(&t->shared);
	release(&t->inband);
}

/* xorshift64: the data only has to be unpredictable to the device. */
uint64_t pt_rand(struct pt *t)
{
	uint64_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	return x;
}

void pt_fill_random(struct pt *t, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t v;

	while (len >= sizeof(v)) {
		v = pt_rand(t);
		memcpy(p, &v, sizeof(v));
		p += sizeof(v);
		len -= sizeof(v);
	}
	if (len) {
		v = pt_rand(t);
		memcpy(p, &v, len);
	}
}
