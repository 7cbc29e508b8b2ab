// SPDX-License-Identifier: MIT
/* The capdev device model and its serving loops (see capdev.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/server.h>

#include "capdev.h"

#define EXIT_SETUP 10
#define EXIT_SERVE 11

struct capdev {
	struct uvfio_dev *dev;
	int notify_fd;
	int release_fd;
	uint64_t scratch;
	uint64_t last_off, last_len, last_wr, last_data;
	uint64_t traps, area_hits;
	uint64_t peek_sel;
	uint64_t attached;
	int64_t huge_add;
	/* Set by the dispatch thread before the worker starts. */
	uint64_t dma_iova, dma_len, dma_access, marker, hold_ms;
	_Atomic int64_t dma_result;
	atomic_uint dma_status;
	pthread_t worker;
	bool worker_started;
	uint8_t devreg[CAPDEV_DEVREG_SIZE];
};

/*
 * A signal handler reaches nothing but statics: this is how SIGTERM gets
 * to uvfio_dev_stop() in the uvfio_dev_run() modes.
 */
static struct uvfio_dev *_Atomic term_dev;

static void on_term(int sig)
{
	struct uvfio_dev *dev = atomic_load(&term_dev);

	if (dev)
		uvfio_dev_stop(dev);
}

static void note(struct capdev *s, char c)
{
	if (write(s->notify_fd, &c, 1) != 1)
		s->last_data = ~0ull; /* visible, and never expected */
}

static void record(struct capdev *s, uint64_t off, const void *buf,
		   size_t count, bool wr)
{
	s->last_off = off;
	s->last_len = count;
	s->last_wr = wr;
	if (wr) {
		s->last_data = 0;
		memcpy(&s->last_data, buf, count < 8 ? count : 8);
	}
	s->traps++;
}

static bool inside_area(uint64_t off, size_t count)
{
	return (off >= CAPDEV_AREA0_OFF &&
		off + count <= CAPDEV_AREA0_OFF + CAPDEV_AREA0_SIZE) ||
	       (off >= CAPDEV_AREA1_OFF &&
		off + count <= CAPDEV_AREA1_OFF + CAPDEV_AREA1_SIZE);
}

static ssize_t bar2_access(struct uvfio_dev *dev, void *priv, uint64_t off,
			   void *buf, size_t count, bool wr)
{
	struct capdev *s = priv;

	record(s, off, buf, count, wr);
	if (inside_area(off, count))
		s->area_hits++;
	switch (off) {
	case CAPDEV_OFF_EIO:
		return -EIO;
	case CAPDEV_OFF_EACCES:
		return -EACCES;
	case CAPDEV_OFF_SHORT:
		return (ssize_t)count - 1;
	case CAPDEV_OFF_ZERO:
		return 0;
	case CAPDEV_OFF_LONG:
		return (ssize_t)count + 1;
	}
	if (!wr)
		for (size_t i = 0; i < count; i++)
			((uint8_t *)buf)[i] = capdev_pattern(off + i);
	return (ssize_t)count;
}

static ssize_t devreg_access(struct uvfio_dev *dev, void *priv, uint64_t off,
			     void *buf, size_t count, bool wr)
{
	struct capdev *s = priv;

	if (off > sizeof(s->devreg) || count > sizeof(s->devreg) - off)
		return -EFAULT; /* the server let a bad access through */
	record(s, off, buf, count, wr);
	if (wr)
		memcpy(s->devreg + off, buf, count);
	else
		memcpy(buf, s->devreg + off, count);
	return (ssize_t)count;
}

/* Region memory at PEEK_SEL, 8 bytes, or NULL. */
static uint8_t *peek_ptr(struct capdev *s)
{
	uint32_t idx = (uint32_t)(s->peek_sel >> 32);
	uint64_t off = (uint32_t)s->peek_sel, size;
	uint8_t *mem = uvfio_dev_region_mem(s->dev, idx);

	if (idx == 2)
		size = CAPDEV_BAR2_SIZE;
	else if (idx == 4)
		size = CAPDEV_BAR4_SIZE;
	else
		return NULL;
	if (!mem || off + 8 > size)
		return NULL;
	return mem + off;
}

static void *hold_worker(void *arg)
{
	struct capdev *s = arg;
	struct uvfio_dma_ref ref;
	/* Without a release fd (-1), poll() only waits out hold_ms. */
	struct pollfd p = { .fd = s->release_fd, .events = POLLIN };
	int r;

	r = uvfio_dma_get(s->dev, s->dma_iova, sizeof(s->marker),
			  UVFIO_DMA_WRITE, &ref);
	atomic_store(&s->dma_result, r);
	if (r) {
		atomic_store(&s->dma_status, CAPDEV_ST_FAILED | CAPDEV_ST_DONE);
		return NULL;
	}
	atomic_store(&s->dma_status, CAPDEV_ST_HOLDING);
	/* Until the test says so, or hold_ms as a cap. */
	while (poll(&p, 1, (int)s->hold_ms) < 0 && errno == EINTR)
		;
	memcpy(ref.ptr, &s->marker, sizeof(s->marker));
	atomic_fetch_or(&s->dma_status, CAPDEV_ST_RELEASED);
	uvfio_dma_put(s->dev, &ref);
	atomic_fetch_or(&s->dma_status, CAPDEV_ST_DONE);
	return NULL;
}

static int dma_cmd(struct capdev *s, uint64_t cmd)
{
	struct uvfio_dma_ref ref;
	sigset_t set, old;
	int r;

	if (cmd == CAPDEV_CMD_PROBE) {
		r = uvfio_dma_get(s->dev, s->dma_iova, s->dma_len,
				  (uint32_t)s->dma_access, &ref);
		if (!r)
			uvfio_dma_put(s->dev, &ref);
		atomic_store(&s->dma_result, r);
		return 0;
	}
	if (cmd != CAPDEV_CMD_HOLD)
		return -EINVAL;
	if (s->worker_started) {
		if (!(atomic_load(&s->dma_status) & CAPDEV_ST_DONE))
			return -EBUSY;
		pthread_join(s->worker, NULL);
		s->worker_started = false;
	}
	atomic_store(&s->dma_status, 0);
	/* SIGTERM is for the serving thread: the worker starts with it off. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	r = -pthread_create(&s->worker, NULL, hold_worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	s->worker_started = !r;
	return r;
}

static int reg_read(struct capdev *s, uint64_t off, uint64_t *v)
{
	uint32_t windows;
	uint64_t bytes;
	uint8_t *p;

	switch (off) {
	case CAPDEV_REG_SCRATCH:
		*v = s->scratch;
		break;
	case CAPDEV_REG_LAST_OFF:
		*v = s->last_off;
		break;
	case CAPDEV_REG_LAST_LEN:
		*v = s->last_len;
		break;
	case CAPDEV_REG_LAST_WR:
		*v = s->last_wr;
		break;
	case CAPDEV_REG_LAST_DATA:
		*v = s->last_data;
		break;
	case CAPDEV_REG_TRAPS:
		*v = s->traps;
		break;
	case CAPDEV_REG_AREA_HITS:
		*v = s->area_hits;
		break;
	case CAPDEV_REG_PEEK_SEL:
		*v = s->peek_sel;
		break;
	case CAPDEV_REG_DMA_RESULT:
		*v = (uint64_t)atomic_load(&s->dma_result);
		break;
	case CAPDEV_REG_DMA_STATUS:
		*v = atomic_load(&s->dma_status);
		break;
	case CAPDEV_REG_HUGE_ADD:
		*v = (uint64_t)s->huge_add;
		break;
	case CAPDEV_REG_ATTACHED:
		*v = s->attached;
		break;
	case CAPDEV_REG_PEEK:
		p = peek_ptr(s);
		if (!p)
			return -EINVAL;
		memcpy(v, p, sizeof(*v));
		break;
	case CAPDEV_REG_DMA_WINDOWS:
	case CAPDEV_REG_DMA_BYTES:
		if (uvfio_dma_stats(s->dev, &windows, &bytes))
			return -EIO;
		*v = off == CAPDEV_REG_DMA_WINDOWS ? windows : bytes;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int reg_write(struct capdev *s, uint64_t off, uint64_t v)
{
	uint8_t *p;

	switch (off) {
	case CAPDEV_REG_SCRATCH:
		s->scratch = v;
		break;
	case CAPDEV_REG_PEEK_SEL:
		s->peek_sel = v;
		break;
	case CAPDEV_REG_DMA_IOVA:
		s->dma_iova = v;
		break;
	case CAPDEV_REG_DMA_LEN:
		s->dma_len = v;
		break;
	case CAPDEV_REG_DMA_ACCESS:
		s->dma_access = v;
		break;
	case CAPDEV_REG_DMA_MARKER:
		s->marker = v;
		break;
	case CAPDEV_REG_HOLD_MS:
		s->hold_ms = v;
		break;
	case CAPDEV_REG_DMA_CMD:
		return dma_cmd(s, v);
	case CAPDEV_REG_IRQ:
		return uvfio_dev_irq_trigger(s->dev, VFIO_PCI_MSIX_IRQ_INDEX,
					     (uint32_t)v);
	case CAPDEV_REG_POKE:
		p = peek_ptr(s);
		if (!p)
			return -EINVAL;
		memcpy(p, &v, sizeof(v));
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static ssize_t regs_access(struct uvfio_dev *dev, void *priv, uint64_t off,
			   void *buf, size_t count, bool wr)
{
	struct capdev *s = priv;
	uint64_t v = 0;
	int r;

	if (count != sizeof(v) || off % sizeof(v))
		return -EINVAL;
	if (wr) {
		memcpy(&v, buf, sizeof(v));
		r = reg_write(s, off, v);
	} else {
		r = reg_read(s, off, &v);
		memcpy(buf, &v, sizeof(v));
	}
	return r ? r : (ssize_t)count;
}

static void on_attached(struct uvfio_dev *dev, void *priv)
{
	((struct capdev *)priv)->attached++;
}

static void on_detached(struct uvfio_dev *dev, void *priv)
{
	note(priv, CAPDEV_NOTE_DETACHED);
}

static const struct uvfio_mmap_area bar2_areas[] = {
	{ CAPDEV_AREA0_OFF, CAPDEV_AREA0_SIZE },
	{ CAPDEV_AREA1_OFF, CAPDEV_AREA1_SIZE },
};

/* Region 3 with n areas, all of it: only the count is unusual. */
static int64_t add_huge(struct uvfio_dev *dev, uint32_t n)
{
	struct uvfio_mmap_area *a = calloc(n, sizeof(*a));
	struct uvfio_region_desc d = {
		.size = 0x1000,
		.flags = UVFIO_REGION_MEM | UVFIO_REGION_RW,
		.areas = a,
		.nr_areas = n,
	};
	int r;

	if (!a)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		a[i] = (struct uvfio_mmap_area){ 0, 0x1000 };
	r = uvfio_dev_add_region(dev, CAPDEV_HUGE_INDEX, &d);
	free(a);
	return r;
}

static int describe(struct capdev *s, const struct capdev_params *p)
{
	const struct uvfio_region_desc bar0 = {
		.size = CAPDEV_BAR0_SIZE,
		.flags = UVFIO_REGION_RW,
		.access = regs_access,
		.priv = s,
	};
	const struct uvfio_region_desc bar2 = {
		.size = CAPDEV_BAR2_SIZE,
		.flags = UVFIO_REGION_MEM | UVFIO_REGION_RW,
		.access = bar2_access,
		.priv = s,
		.areas = bar2_areas,
		.nr_areas = 2,
	};
	const struct uvfio_region_desc bar4 = {
		.size = CAPDEV_BAR4_SIZE,
		.flags = UVFIO_REGION_MEM | UVFIO_REGION_RW,
	};
	const struct uvfio_region_desc devreg = {
		.size = CAPDEV_DEVREG_SIZE,
		.flags = UVFIO_REGION_RW,
		.access = devreg_access,
		.priv = s,
		.type = CAPDEV_DEVREG_TYPE,
		.subtype = CAPDEV_DEVREG_SUBTYPE,
	};

	if (uvfio_dev_add_region(s->dev, 0, &bar0) ||
	    uvfio_dev_add_region(s->dev, 2, &bar2) ||
	    uvfio_dev_add_region(s->dev, 4, &bar4) ||
	    uvfio_dev_add_region(s->dev, CAPDEV_DEVREG_INDEX, &devreg) ||
	    uvfio_dev_set_irq_count(s->dev, VFIO_PCI_INTX_IRQ_INDEX, 1) ||
	    uvfio_dev_set_irq_count(s->dev, VFIO_PCI_MSIX_IRQ_INDEX,
				    CAPDEV_MSIX_VECTORS))
		return -EINVAL;
	if (p->huge_areas)
		s->huge_add = add_huge(s->dev, p->huge_areas);
	return 0;
}

/* The caller's own loop: the device's poll fd and a signalfd for SIGTERM. */
static int serve_embedded(struct capdev *s, const char *path)
{
	struct pollfd pf[2];
	sigset_t set;
	int sfd, r;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return -errno;
	r = uvfio_dev_listen(s->dev, path);
	pf[0] = (struct pollfd){ .fd = uvfio_dev_get_poll_fd(s->dev),
				 .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	if (!r && pf[0].fd < 0)
		r = pf[0].fd;
	if (!r)
		note(s, CAPDEV_NOTE_READY);
	while (!r) {
		if (poll(pf, 2, -1) < 0) {
			r = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (pf[1].revents)
			break;
		if (pf[0].revents) {
			r = uvfio_dev_process(s->dev);
			r = r < 0 ? r : 0;
		}
	}
	close(sfd);
	return r;
}

static int serve(struct capdev *s, const struct capdev_params *p)
{
	struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART */
	int r;

	if (p->mode == CAPDEV_EMBED)
		return serve_embedded(s, p->path);
	atomic_store(&term_dev, s->dev);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		return -errno;
	if (p->mode == CAPDEV_FD_ONCE)
		r = uvfio_dev_attach_fd(s->dev, p->fd);
	else
		r = uvfio_dev_listen(s->dev, p->path);
	if (r)
		return r;
	note(s, CAPDEV_NOTE_READY);
	return uvfio_dev_run(s->dev, p->mode != CAPDEV_LISTEN);
}

int capdev_main(const struct capdev_params *p)
{
	const struct uvfio_pci_ids ids = {
		.vendor_id = 0x1234,
		.device_id = 0xcafe,
		.class_code = 0xff0000,
		.irq_pin = 1,
	};
	const struct uvfio_dev_ops ops = {
		.attached = on_attached,
		.detached = on_detached,
	};
	struct uvfio_dev_opts opts = { .dma_limit = p->dma_limit };
	struct capdev *s = calloc(1, sizeof(*s));
	sigset_t set;
	int status = 0;

	if (!s)
		return EXIT_SETUP;
	s->notify_fd = p->notify_fd;
	s->release_fd = p->release_fd;
	s->hold_ms = 300;
	/* Embedded, SIGTERM comes through a signalfd: keep it blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	s->dev = uvfio_dev_create(&ids, UVFIO_PCIE_CFG_SIZE, &ops, s, &opts);
	if (!s->dev || describe(s, p)) {
		status = EXIT_SETUP;
	} else {
		if (p->mode != CAPDEV_EMBED)
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		if (serve(s, p))
			status = EXIT_SERVE;
	}
	atomic_store(&term_dev, NULL);
	if (s->worker_started)
		pthread_join(s->worker, NULL);
	uvfio_dev_destroy(s->dev);
	free(s);
	return status;
}
