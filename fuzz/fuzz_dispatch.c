// SPDX-License-Identifier: MIT
/*
 * The device side's dispatch of every command.  An input is a control
 * byte then a stream of vfio-user messages, sent one sendmsg() each to a
 * device served in this process: control bit 0 puts a valid VERSION
 * first (so later commands get past negotiation), bit 1 gives each
 * DMA_MAP a fresh memfd, bit 2 gives each SET_IRQS (bits 3-4) + 1
 * eventfds.  The client then leaves; the device must have answered
 * without crashing and be back where it started: no DMA window, no fd
 * left open, config space and registers as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/pci.h>
#include <uvfio/server.h>

#include "fuzz.h"
#include "proto/negotiate.h"
#include "proto/wire.h"

#define VENDOR 0x1af4
#define DEVICE 0x10f0
#define REGS 4096
#define MAX_FDS 4

static struct uvfio_dev *dev;
static uint8_t regs[REGS];

static ssize_t bar0(struct uvfio_dev *d, void *priv, uint64_t off, void *buf,
		    size_t count, bool wr)
{
	(void)d;
	(void)priv;
	if (off > REGS || count > REGS - off)
		return -EINVAL;
	if (wr)
		memcpy(regs + off, buf, count);
	else
		memcpy(buf, regs + off, count);
	return (ssize_t)count;
}

static int reset(struct uvfio_dev *d, void *priv)
{
	(void)d;
	(void)priv;
	return 0;
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

static void setup(void)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = VENDOR,
						  .device_id = DEVICE,
						  .irq_pin = 1 };
	static const struct uvfio_dev_ops ops = { .reset = reset };
	const struct uvfio_region_desc r0 = { .size = REGS,
					      .flags = UVFIO_REGION_RW,
					      .access = bar0 };
	const struct uvfio_region_desc r2 = { .size = 16384,
					      .flags = UVFIO_REGION_RW |
						       UVFIO_REGION_MEM };
	struct uvfio_pci_cfg *cfg;

	dev = uvfio_dev_create(&ids, UVFIO_PCIE_CFG_SIZE, &ops, NULL, NULL);
	if (!dev)
		abort();
	cfg = uvfio_dev_pci(dev);
	if (uvfio_dev_add_region(dev, 0, &r0) ||
	    uvfio_dev_add_region(dev, 2, &r2) ||
	    uvfio_pci_add_cap_pm(cfg) < 0 ||
	    uvfio_pci_add_cap_msi(cfg, 4, UVFIO_MSI_64BIT |
						  UVFIO_MSI_MASKABLE) < 0 ||
	    uvfio_pci_add_cap_msix(cfg, 8, 0, 0x800, 0, 0xc00) < 0 ||
	    uvfio_pci_add_cap_exp(cfg) < 0 ||
	    uvfio_pci_add_ecap_dsn(cfg, 0x1122334455667788ull) < 0 ||
	    uvfio_dev_set_irq_count(dev, 0, 1) ||
	    uvfio_dev_set_irq_count(dev, 1, 4) ||
	    uvfio_dev_set_irq_count(dev, 2, 8) ||
	    uvfio_dev_set_irq_count(dev, 3, 1) ||
	    uvfio_dev_set_irq_count(dev, 4, 1) ||
	    uvfio_dev_add_doorbell(dev, 0, 4, 4, UVFIO_DOORBELL_DATAMATCH, 1) ||
	    uvfio_dev_add_doorbell(dev, 0, 8, 2, 0, 0))
		abort();
}

static int make_fds(uint16_t cmd, uint8_t ctl, int *fds)
{
	int n = 0;

	if (cmd == VFIO_USER_DMA_MAP && (ctl & 2)) {
		fds[0] = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fds[0] >= 0 && ftruncate(fds[0], 65536) == 0)
			n = 1;
		else if (fds[0] >= 0)
			close(fds[0]);
	} else if (cmd == VFIO_USER_DEVICE_SET_IRQS && (ctl & 4)) {
		for (; n < ((ctl >> 3) & 3) + 1; n++) {
			fds[n] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (fds[n] < 0)
				break;
		}
	}
	return n;
}

/* false once the device has left: nothing more reaches it. */
static bool send_msg(int sock, const uint8_t *p, size_t len, const int *fds,
		     int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)] = { 0 };
	struct iovec iov = { (void *)p, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c = (struct cmsghdr *)cbuf;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	while (iov.iov_len) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return true;
}

static size_t version_msg(uint8_t *buf, size_t cap)
{
	struct vfio_user_header h = { .cmd = VFIO_USER_VERSION };
	struct uvfio_caps c;
	int n;

	uvfio_caps_default(&c);
	c.present = 0;
	n = uvfio_caps_format(&c, buf + sizeof(h), cap - sizeof(h));
	if (n < 0)
		abort();
	h.msg_size = (uint32_t)(sizeof(h) + (size_t)n);
	memcpy(buf, &h, sizeof(h));
	return h.msg_size;
}

static void *drain(void *arg)
{
	int sock = *(int *)arg;
	char buf[65536];

	while (read(sock, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

struct input {
	int sock;
	uint8_t ctl;
	const uint8_t *data;
	size_t size;
};

/* The client's side, on its own thread while the device serves. */
static void *send_all(void *arg)
{
	struct input *in = arg;
	const uint8_t *data = in->data;
	size_t size = in->size;
	bool alive = true;
	uint8_t ver[1024];
	int fds[MAX_FDS];

	if (in->ctl & 1)
		alive = send_msg(in->sock, ver, version_msg(ver, sizeof(ver)),
				 NULL, 0);
	while (alive && size) {
		struct vfio_user_header h = { 0 };
		size_t n = size;
		int nfds;

		/* Cut at each header's size, so fds go with their message. */
		if (size >= sizeof(h)) {
			memcpy(&h, data, sizeof(h));
			if (h.msg_size >= sizeof(h) && h.msg_size < size)
				n = h.msg_size;
		}
		nfds = make_fds(h.cmd, in->ctl, fds);
		alive = send_msg(in->sock, data, n, fds, nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		data += n;
		size -= n;
	}
	shutdown(in->sock, SHUT_WR);
	return NULL;
}

static void check_after(int free_fd)
{
	const struct uvfio_pci_cfg *cfg = uvfio_dev_pci(dev);
	uint32_t windows;
	uint64_t bytes;

	if (uvfio_pci_get16(cfg, PCI_VENDOR_ID) != VENDOR ||
	    uvfio_pci_get16(cfg, PCI_DEVICE_ID) != DEVICE)
		fuzz_fail("config space IDs changed");
	if (uvfio_dma_stats(dev, &windows, &bytes) || windows || bytes)
		fuzz_fail("DMA windows left after the client left");
	if (lowest_free_fd() != free_fd)
		fuzz_fail("an fd leaked");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	pthread_t tx, rx;
	int sv[2];

	int free_fd;

	if (!dev)
		setup();
	if (!size)
		return 0;
	/* The fuzzer's own fds come and go between inputs, not during one. */
	free_fd = lowest_free_fd();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	if (uvfio_dev_attach_fd(dev, sv[0]))
		abort();
	in = (struct input){ sv[1], data[0], data + 1, size - 1 };
	if (pthread_create(&tx, NULL, send_all, &in) ||
	    pthread_create(&rx, NULL, drain, &sv[1]))
		abort();
	uvfio_dev_run(dev, true);
	/* The device has left: a sender still at work gets EPIPE. */
	pthread_join(tx, NULL);
	pthread_join(rx, NULL);
	close(sv[1]);
	check_after(free_fd);
	return 0;
}
