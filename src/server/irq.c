// SPDX-License-Identifier: MIT
/*
 * SET_IRQS and raising interrupts.  This covers eventfd assignment and
 * release per vector, disabling an index, and loopback triggers; masking
 * is refused until the interrupt frontend implements it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "priv.h"

int irq_init(struct uvfio_dev *dev, unsigned int index, uint32_t count)
{
	struct irq_index *q = &dev->irqs[index];
	_Atomic int *efd = NULL;

	if (count) {
		efd = calloc(count, sizeof(*efd));
		if (!efd)
			return -ENOMEM;
		for (uint32_t i = 0; i < count; i++)
			atomic_init(&efd[i], -1);
	}
	free((void *)q->efd);
	q->efd = efd;
	q->count = count;
	return 0;
}

static void release(struct irq_index *q, uint32_t start, uint32_t count)
{
	for (uint32_t i = start; i < start + count; i++) {
		int fd = atomic_exchange(&q->efd[i], -1);

		if (fd >= 0)
			close(fd);
	}
}

void irq_release_all(struct uvfio_dev *dev)
{
	for (unsigned int i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		release(&dev->irqs[i], 0, dev->irqs[i].count);
}

void irq_free(struct uvfio_dev *dev)
{
	irq_release_all(dev);
	for (unsigned int i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		free((void *)dev->irqs[i].efd);
		dev->irqs[i].efd = NULL;
		dev->irqs[i].count = 0;
	}
}

static int signal_fd(int fd)
{
	uint64_t one = 1;

	if (fd < 0)
		return -ENOENT;
	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int uvfio_dev_irq_trigger(struct uvfio_dev *dev, unsigned int index,
			  uint32_t vector)
{
	if (index >= VFIO_PCI_NUM_IRQS || vector >= dev->irqs[index].count)
		return -EINVAL;
	return signal_fd(atomic_load(&dev->irqs[index].efd[vector]));
}

int uvfio_dev_irq_mode(struct uvfio_dev *dev)
{
	for (unsigned int i = VFIO_PCI_INTX_IRQ_INDEX;
	     i <= VFIO_PCI_MSIX_IRQ_INDEX; i++)
		for (uint32_t v = 0; v < dev->irqs[i].count; v++)
			if (atomic_load(&dev->irqs[i].efd[v]) >= 0)
				return (int)i;
	return -1;
}

/* An irq fd must be an eventfd: the kernel names its inode so. */
static bool is_eventfd(int fd)
{
	char path[32], link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT; /* no /proc: cannot tell */
	link[n] = 0;
	return !strcmp(link, "anon_inode:[eventfd]");
}

static int assign(struct irq_index *q, struct vfio_irq_set *s,
		  struct uvfio_msg *msg)
{
	/* No fds: release the range (the spec's de-assign). */
	if (!msg->nfds) {
		release(q, s->start, s->count);
		return 0;
	}
	if (msg->nfds != s->count)
		return -EINVAL;
	for (uint32_t i = 0; i < s->count; i++)
		if (!is_eventfd(msg->fds[i]))
			return -EINVAL;
	for (uint32_t i = 0; i < s->count; i++) {
		int old = atomic_exchange(&q->efd[s->start + i], msg->fds[i]);

		msg->fds[i] = -1;
		if (old >= 0)
			close(old);
	}
	return 0;
}

int handle_set_irqs(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_irq_set s;
	struct irq_index *q;
	uint32_t data = 0, action, datalen;
	const uint8_t *bools;

	if (msg->size < sizeof(s))
		return -EINVAL;
	memcpy(&s, msg->payload, sizeof(s));
	data = s.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	if (s.argsz < sizeof(s) ||
	    s.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK |
			VFIO_IRQ_SET_ACTION_TYPE_MASK) ||
	    __builtin_popcount(data) != 1 || __builtin_popcount(action) != 1 ||
	    s.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	q = &dev->irqs[s.index];
	datalen = data == VFIO_IRQ_SET_DATA_BOOL ? s.count : 0;
	if (msg->size != sizeof(s) + datalen)
		return -EINVAL;
	if (data != VFIO_IRQ_SET_DATA_EVENTFD && msg->nfds)
		return -EINVAL;
	if (!s.count) {
		if (data != VFIO_IRQ_SET_DATA_NONE ||
		    action != VFIO_IRQ_SET_ACTION_TRIGGER || s.start)
			return -EINVAL;
		release(q, 0, q->count);
		return 0;
	}
	if (s.start >= q->count || s.count > q->count - s.start)
		return -EINVAL;
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -ENOTSUP;
	if (data == VFIO_IRQ_SET_DATA_EVENTFD)
		return assign(q, &s, msg);
	bools = (const uint8_t *)msg->payload + sizeof(s);
	for (uint32_t i = 0; i < s.count; i++)
		if (data == VFIO_IRQ_SET_DATA_NONE || bools[i])
			signal_fd(atomic_load(&q->efd[s.start + i]));
	return 0;
}
