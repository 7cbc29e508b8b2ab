// SPDX-License-Identifier: MIT
/*
 * uvfio_client_irq_load() over any bytes: a migration stream comes from
 * another VMM, and a damaged or hostile one must be refused or loaded as
 * guest writes would be, never crash the destination.  The input is the
 * blob itself, or (control byte bit 0) the header of a valid blob for
 * this device followed by the input, so that the load gets past its
 * checks.  A device with MSI (4 vectors, 64-bit, maskable) and MSI-X (8
 * vectors) is served in this process; the client attaches its emulation
 * to a user-space router, loads, reads the state back as a guest would
 * (MSI-X table and PBA, MSI registers), and detaches.  Afterwards no fd
 * may be left open.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "fuzz.h"

#define BAR_SIZE 0x1000
#define TABLE_OFF 0x0
#define PBA_OFF 0x800
#define HDR 16

static struct uvfio_dev *dev;
static struct uvfio_client *c;
static struct uvfio_irq_router *router;
static uint8_t valid_hdr[HDR];

static ssize_t bar0(struct uvfio_dev *d, void *priv, uint64_t off, void *buf,
		    size_t count, bool wr)
{
	if (!wr)
		memset(buf, 0, count);
	return (ssize_t)count;
}

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
}

static void *serve(void *arg)
{
	uvfio_dev_run(arg, true);
	return NULL;
}

static void setup(void)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10f1 };
	const struct uvfio_region_desc r0 = { .size = BAR_SIZE,
					      .flags = UVFIO_REGION_RW,
					      .access = bar0 };
	struct uvfio_pci_cfg *cfg;
	pthread_t t;
	int sv[2];

	dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, NULL, NULL);
	if (!dev || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	cfg = uvfio_dev_pci(dev);
	if (uvfio_dev_add_region(dev, 0, &r0) ||
	    uvfio_pci_add_cap_msi(cfg, 4, UVFIO_MSI_64BIT |
						  UVFIO_MSI_MASKABLE) < 0 ||
	    uvfio_pci_add_cap_msix(cfg, 8, 0, TABLE_OFF, 0, PBA_OFF) < 0 ||
	    uvfio_dev_set_irq_count(dev, VFIO_PCI_MSI_IRQ_INDEX, 4) ||
	    uvfio_dev_set_irq_count(dev, VFIO_PCI_MSIX_IRQ_INDEX, 8) ||
	    uvfio_dev_attach_fd(dev, sv[0]) ||
	    pthread_create(&t, NULL, serve, dev))
		abort();
	pthread_detach(t);
	c = uvfio_client_attach_fd(sv[1], NULL);
	router = uvfio_irq_router_new_user(deliver, NULL, 0);
	if (!c || !router || uvfio_client_irq_attach(c, router))
		abort();
	/* The header of a blob this device accepts. */
	if (uvfio_client_irq_save(c, NULL, 0) < HDR)
		abort();
	{
		ssize_t n = uvfio_client_irq_save(c, NULL, 0);
		uint8_t *b = malloc((size_t)n);

		if (!b || uvfio_client_irq_save(c, b, (size_t)n) != n)
			abort();
		memcpy(valid_hdr, b, HDR);
		free(b);
	}
	uvfio_client_irq_detach(c);
}

static int fd_count(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	if (fd >= 0)
		close(fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[16 + PBA_OFF + BAR_SIZE];
	uint8_t *blob;
	size_t len;
	int before;

	if (!dev)
		setup();
	if (!size)
		return 0;
	blob = malloc(size + HDR);
	if (!blob)
		abort();
	if (data[0] & 1) {
		memcpy(blob, valid_hdr, HDR);
		memcpy(blob + HDR, data + 1, size - 1);
		len = HDR + size - 1;
	} else {
		memcpy(blob, data + 1, size - 1);
		len = size - 1;
	}
	before = fd_count();
	if (uvfio_client_irq_attach(c, router))
		fuzz_fail("attach to a well-behaved device failed");
	(void)uvfio_client_irq_load(c, blob, len);
	/* Read it back as a guest would; any values are fine. */
	(void)uvfio_client_bar_read(c, 0, TABLE_OFF, buf, 8 * 16);
	(void)uvfio_client_bar_read(c, 0, PBA_OFF, buf, 8);
	(void)uvfio_client_cfg_read(c, 0x40, buf, 0xc0);
	(void)uvfio_client_irq_save(c, buf, sizeof(buf));
	uvfio_client_irq_detach(c);
	if (uvfio_irq_router_flush(router))
		fuzz_fail("router flush failed");
	if (fd_count() != before)
		fuzz_fail("an fd stayed open after detach");
	free(blob);
	return 0;
}
