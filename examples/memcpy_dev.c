// SPDX-License-Identifier: MIT
/*
 * A small DMA engine written with libuvfio: the device of
 * docs/first-device.md.  One BAR of registers; the host gives a source,
 * a destination and a length in its DMA space and writes GO; the device
 * copies, sets DONE (or ERROR) and raises MSI-X vector 0, or INTx when
 * the host did not enable MSI-X.
 *
 * usage: memcpy_dev --socket PATH
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/server.h>

/* BAR0 */
#define REG_SRC 0x00    /* u64: source IOVA */
#define REG_DST 0x08    /* u64: destination IOVA */
#define REG_LEN 0x10    /* u32: bytes, at most MAX_LEN */
#define REG_CMD 0x14    /* u32: write CMD_GO to start */
#define REG_STATUS 0x18 /* u32: STATUS_*; the host clears it */
#define CMD_GO 1u
#define STATUS_DONE 1u
#define STATUS_ERROR 2u
#define BAR0_SIZE 0x1000
#define MSIX_TABLE 0x800 /* the client emulates table and PBA */
#define MSIX_PBA 0xc00
#define MAX_LEN (1u << 20)

struct engine {
	struct uvfio_dev *dev;
	struct uvfio_work *work; /* the copy, run after the GO reply */
	pthread_mutex_t lock;
	uint8_t regs[0x20];
	uint8_t buf[MAX_LEN];
};

static uint64_t reg(struct engine *e, unsigned int off, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, e->regs + off, n);
	return v;
}

/* The work thread: move the data, then tell the host. */
static void run_copy(struct uvfio_dev *dev, void *arg)
{
	struct engine *e = arg;
	uint64_t src, dst;
	uint32_t len, status = STATUS_DONE;

	pthread_mutex_lock(&e->lock);
	src = reg(e, REG_SRC, 8);
	dst = reg(e, REG_DST, 8);
	len = (uint32_t)reg(e, REG_LEN, 4);
	pthread_mutex_unlock(&e->lock);
	/* Mapped windows are copied directly, others in-band: same calls. */
	if (len > MAX_LEN || uvfio_dma_read(dev, src, e->buf, len) ||
	    uvfio_dma_write(dev, dst, e->buf, len))
		status = STATUS_ERROR;
	pthread_mutex_lock(&e->lock);
	memcpy(e->regs + REG_STATUS, &status, 4);
	pthread_mutex_unlock(&e->lock);
	if (uvfio_dev_irq_mode(dev) == VFIO_PCI_MSIX_IRQ_INDEX)
		uvfio_dev_irq_trigger(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0);
	else
		uvfio_dev_irq_trigger(dev, VFIO_PCI_INTX_IRQ_INDEX, 0);
}

/* BAR0 accesses the client forwards: on the dispatch thread. */
static ssize_t bar0(struct uvfio_dev *dev, void *priv, uint64_t off,
		    void *buf, size_t count, bool is_write)
{
	struct engine *e = priv;

	if (off >= sizeof(e->regs) || count > sizeof(e->regs) - off) {
		if (!is_write)
			memset(buf, 0, count); /* unused space reads 0 */
		return (ssize_t)count;
	}
	pthread_mutex_lock(&e->lock);
	if (is_write)
		memcpy(e->regs + off, buf, count);
	else
		memcpy(buf, e->regs + off, count);
	pthread_mutex_unlock(&e->lock);
	/* DMA waits for the client, which waits for this reply: queue it. */
	if (is_write && off == REG_CMD && count == 4 &&
	    reg(e, REG_CMD, 4) == CMD_GO)
		uvfio_work_queue(e->work);
	return (ssize_t)count;
}

static int describe(struct engine *e)
{
	struct uvfio_pci_cfg *cfg = uvfio_dev_pci(e->dev);
	struct uvfio_region_desc bar = {
		.size = BAR0_SIZE,
		.flags = UVFIO_REGION_RW,
		.access = bar0,
		.priv = e,
	};
	int r;

	r = uvfio_pci_add_cap_msix(cfg, 1, 0, MSIX_TABLE, 0, MSIX_PBA);
	if (r < 0)
		return r;
	r = uvfio_dev_add_region(e->dev, VFIO_PCI_BAR0_REGION_INDEX, &bar);
	if (!r)
		r = uvfio_dev_set_irq_count(e->dev, VFIO_PCI_INTX_IRQ_INDEX, 1);
	if (!r)
		r = uvfio_dev_set_irq_count(e->dev, VFIO_PCI_MSIX_IRQ_INDEX, 1);
	return r;
}

static struct uvfio_dev *the_dev;

static void on_signal(int sig)
{
	uvfio_dev_stop(the_dev); /* async-signal-safe */
}

int main(int argc, char **argv)
{
	const struct uvfio_pci_ids ids = {
		.vendor_id = 0x1af4, .device_id = 0x10ff,
		.class_code = 0xff0000, .irq_pin = 1,
	};
	struct engine *e = calloc(1, sizeof(*e));
	int r;

	if (argc != 3 || strcmp(argv[1], "--socket")) {
		bool help = argc == 2 && !strcmp(argv[1], "--help");

		fprintf(help ? stdout : stderr,
			"usage: %s --socket PATH\n"
			"  --socket PATH  serve vfio-user on this UNIX socket\n"
			"  --help         show this help\n",
			argv[0]);
		return help ? 0 : 2;
	}
	if (!e)
		return 1;
	pthread_mutex_init(&e->lock, NULL);
	e->dev = uvfio_dev_create(&ids, 256, NULL, e, NULL);
	if (!e->dev)
		return 1;
	e->work = uvfio_work_new(e->dev, run_copy, e);
	r = e->work ? describe(e) : -ENOMEM;
	if (!r)
		r = uvfio_dev_listen(e->dev, argv[2]);
	if (r) {
		fprintf(stderr, "memcpy_dev: %s\n", strerror(-r));
		return 1;
	}
	the_dev = e->dev;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	r = uvfio_dev_run(e->dev, false);
	uvfio_dev_destroy(e->dev); /* frees the work item too */
	free(e);
	return r < 0 ? 1 : 0;
}
