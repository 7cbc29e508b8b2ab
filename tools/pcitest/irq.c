// SPDX-License-Identifier: MIT
/*
 * Interrupts as vfio-pci hands them out: one eventfd per vector, and
 * only one of INTx, MSI and MSI-X enabled at a time, so switching mode
 * means disabling the old index (count 0) before arming the new one.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "pcitest.h"

#define PT_NFDS (2 + PT_MSIX_VECS)

/* Every eventfd we own, in a fixed order: INTx, MSI, MSI-X 1..N. */
static unsigned int all_fds(const struct pt *t, int *fds)
{
	unsigned int n = 0, i;

	fds[n++] = t->intx_fd;
	fds[n++] = t->msi_fd;
	for (i = 0; i < t->msix_vecs; i++)
		fds[n++] = t->msix_fd[i];
	return n;
}

int pt_irq_setup(struct pt *t)
{
	struct vfio_irq_info info;
	unsigned int i;
	int ret;

	t->irq_mode = -1;
	t->intx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	t->msi_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (i = 0; i < PT_MSIX_VECS; i++)
		t->msix_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->intx_fd < 0 || t->msi_fd < 0 ||
	    t->msix_fd[PT_MSIX_VECS - 1] < 0) {
		perror("pcitest: eventfd");
		return -errno;
	}

	ret = uvfio_client_irq_info(t->c, VFIO_PCI_MSIX_IRQ_INDEX, &info);
	if (ret < 0) {
		fprintf(stderr, "pcitest: MSI-X info: %s\n", strerror(-ret));
		return ret;
	}
	if (!(info.flags & VFIO_IRQ_INFO_EVENTFD) || !info.count) {
		fprintf(stderr, "pcitest: no MSI-X eventfd vectors\n");
		return -ENODEV;
	}
	t->msix_vecs = info.count < PT_MSIX_VECS ? info.count : PT_MSIX_VECS;

	ret = uvfio_client_irq_info(t->c, VFIO_PCI_INTX_IRQ_INDEX, &info);
	if (ret < 0) {
		fprintf(stderr, "pcitest: INTx info: %s\n", strerror(-ret));
		return ret;
	}
	t->intx_automasked = info.flags & VFIO_IRQ_INFO_AUTOMASKED;
	return 0;
}

static int disable(struct pt *t, int index)
{
	return uvfio_client_set_irqs(t->c, (uint32_t)index,
				     VFIO_IRQ_SET_DATA_NONE |
					     VFIO_IRQ_SET_ACTION_TRIGGER,
				     0, 0, NULL);
}

void pt_irq_teardown(struct pt *t)
{
	int fds[PT_NFDS];
	unsigned int n, i;

	if (t->c && t->irq_mode >= 0)
		disable(t, t->irq_mode);
	t->irq_mode = -1;
	n = all_fds(t, fds);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* MSI-X fds past msix_vecs were created too. */
	for (i = t->msix_vecs; i < PT_MSIX_VECS; i++)
		if (t->msix_fd[i] >= 0)
			close(t->msix_fd[i]);
}

static int type_index(uint32_t type)
{
	switch (type) {
	case TESTDEV_IRQ_INTX:
		return VFIO_PCI_INTX_IRQ_INDEX;
	case TESTDEV_IRQ_MSI:
		return VFIO_PCI_MSI_IRQ_INDEX;
	case TESTDEV_IRQ_MSIX:
		return VFIO_PCI_MSIX_IRQ_INDEX;
	default:
		return -EINVAL;
	}
}

/* Hands index's eventfds to the device behind c. */
static int wire(struct pt *t, struct uvfio_client *c, int index)
{
	const uint32_t flags =
		VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;

	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return uvfio_client_set_irqs(c, (uint32_t)index, flags, 0, 1,
					     &t->intx_fd);
	case VFIO_PCI_MSI_IRQ_INDEX:
		return uvfio_client_set_irqs(c, (uint32_t)index, flags, 0, 1,
					     &t->msi_fd);
	default:
		return uvfio_client_set_irqs(c, (uint32_t)index, flags, 0,
					     t->msix_vecs, t->msix_fd);
	}
}

int pt_irq_attach(struct pt *t, struct uvfio_client *c)
{
	return t->irq_mode < 0 ? 0 : wire(t, c, t->irq_mode);
}

int pt_irq_use(struct pt *t, uint32_t type)
{
	int index = type_index(type);
	int ret;

	if (index < 0 || index == t->irq_mode)
		return index < 0 ? index : 0;
	if (t->irq_mode >= 0) {
		ret = disable(t, t->irq_mode);
		if (ret < 0)
			return ret;
		t->irq_mode = -1;
	}
	ret = wire(t, t->c, index);
	if (ret < 0)
		return ret;
	t->irq_mode = index;
	return 0;
}

int pt_irq_fd(const struct pt *t, uint32_t type, uint32_t number)
{
	switch (type) {
	case TESTDEV_IRQ_INTX:
		return t->intx_fd;
	case TESTDEV_IRQ_MSI:
		return number == 1 ? t->msi_fd : -1;
	case TESTDEV_IRQ_MSIX:
		return number >= 1 && number <= t->msix_vecs ?
			       t->msix_fd[number - 1] :
			       -1;
	default:
		return -1;
	}
}

const char *pt_irq_fd_name(const struct pt *t, int fd, char *buf,
			   size_t len)
{
	unsigned int i;

	if (fd == t->intx_fd)
		return "INTx";
	if (fd == t->msi_fd)
		return "MSI 1";
	for (i = 0; i < t->msix_vecs; i++) {
		if (fd == t->msix_fd[i]) {
			snprintf(buf, len, "MSI-X %u", i + 1);
			return buf;
		}
	}
	return "?";
}

/* Consumes fd's count; returns it (0 when nothing was pending). */
static uint64_t consume(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

void pt_irq_drain(struct pt *t)
{
	int fds[PT_NFDS];
	unsigned int n, i;

	n = all_fds(t, fds);
	for (i = 0; i < n; i++)
		consume(fds[i]);
}

/*
 * Polls every eventfd for up to ms; then consumes them all.  Returns
 * whether want fired, and the first other fd that did in *stray.
 */
static bool watch(struct pt *t, int want, int ms, int *stray)
{
	struct pollfd pfd[PT_NFDS];
	int fds[PT_NFDS];
	unsigned int n, i;
	bool hit = false;

	n = all_fds(t, fds);
	for (i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	*stray = -1;
	while (poll(pfd, n, ms) < 0 && errno == EINTR)
		;
	for (i = 0; i < n; i++) {
		if (!consume(fds[i]))
			continue;
		if (fds[i] == want)
			hit = true;
		else if (*stray < 0)
			*stray = fds[i];
	}
	return hit;
}

int pt_irq_wait(struct pt *t, int fd, int ms, int *stray)
{
	bool hit = watch(t, fd, ms, stray);

	if (*stray >= 0)
		return -EBADE;
	return hit ? 0 : -ETIMEDOUT;
}

int pt_irq_quiet(struct pt *t, int ms, int *stray)
{
	watch(t, -1, ms, stray);
	return *stray >= 0 ? -EBADE : 0;
}

int pt_irq_intx_done(struct pt *t)
{
	if (!t->intx_automasked)
		return 0;
	return uvfio_client_set_irqs(t->c, VFIO_PCI_INTX_IRQ_INDEX,
				     VFIO_IRQ_SET_DATA_NONE |
					     VFIO_IRQ_SET_ACTION_UNMASK,
				     0, 1, NULL);
}
