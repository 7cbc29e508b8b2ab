// SPDX-License-Identifier: MIT
/*
 * VFIO_USER_DEVICE_SET_IRQS with Linux vfio-pci's semantics (and its
 * errnos: EINVAL for bad ranges, flags and states it refuses, ENOTTY for
 * actions it has no handler for), with these differences:
 *
 *  - Eventfds come as SCM_RIGHTS: count fds assign, no fds de-assign
 *    (vfio-pci's fd -1); any other number is refused.
 *  - An action field with no or several bits is EINVAL (vfio-pci falls
 *    through to ENOTTY); the spec calls the actions mutually exclusive.
 *  - MSI and MSI-X take MASK/UNMASK with DATA_NONE/BOOL (vfio-pci:
 *    ENOTTY), so the device's raises honour the client's masks: masked,
 *    a raise stays pending until UNMASK.  With DATA_EVENTFD: ENOTTY.
 *  - MSI-X grows on demand, as vfio-pci with dynamic MSI-X: any vector
 *    below the count may be assigned once it is enabled.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "irq.h"

#define DATA_MASK VFIO_IRQ_SET_DATA_TYPE_MASK
#define ACTION_MASK VFIO_IRQ_SET_ACTION_TYPE_MASK

struct set_req {
	struct vfio_irq_set h;
	uint32_t data;
	uint32_t action;
	const uint8_t *bools;
	struct uvfio_msg *msg; /* its fds: none, or h.count eventfds */
};

/* An irq fd must be an eventfd: the kernel names its inode so. */
/*
 * Every fd must be an eventfd: the kernel names its inode so in
 * /proc/self/fd.  The directory is opened once per message, so each fd
 * costs one readlinkat() (this runs for all 2048 vectors of an MSI-X
 * enable).
 */
static int are_eventfds(const int *fds, unsigned int n)
{
	int dir = n ? open("/proc/self/fd", O_RDONLY | O_DIRECTORY |
						     O_CLOEXEC)
		    : -1;
	bool ok = true;

	/* No /proc: cannot tell.  Out of fds: say so, not EINVAL. */
	if (n && dir < 0)
		return errno == ENOENT ? 0 : -errno;
	for (unsigned int i = 0; i < n && ok; i++) {
		char name[16], link[32];
		ssize_t len;

		snprintf(name, sizeof(name), "%d", fds[i]);
		len = readlinkat(dir, name, link, sizeof(link) - 1);
		if (len < 0) {
			ok = false;
			break;
		}
		link[len] = 0;
		ok = !strcmp(link, "anon_inode:[eventfd]");
	}
	if (dir >= 0)
		close(dir);
	return ok ? 0 : -EINVAL;
}

static int parse(struct uvfio_dev *dev, struct uvfio_msg *msg,
		 struct set_req *r)
{
	struct vfio_irq_set *h = &r->h;
	uint32_t n;
	size_t need;

	if (msg->size < sizeof(*h))
		return -EINVAL;
	memcpy(h, msg->payload, sizeof(*h));
	r->data = h->flags & DATA_MASK;
	r->action = h->flags & ACTION_MASK;
	if ((h->flags & ~(DATA_MASK | ACTION_MASK)) ||
	    __builtin_popcount(r->data) != 1 ||
	    __builtin_popcount(r->action) != 1 || h->index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	/* vfio_set_irqs_validate_and_prepare(): the same overflow rule. */
	n = dev->irqs[h->index].count;
	if (h->count >= UINT32_MAX - h->start || h->start >= n ||
	    h->start + h->count > n)
		return -EINVAL;
	need = sizeof(*h) + (r->data == VFIO_IRQ_SET_DATA_BOOL ? h->count : 0);
	if (msg->size != need || h->argsz < need)
		return -EINVAL;
	if (r->data != VFIO_IRQ_SET_DATA_EVENTFD)
		return msg->nfds ? -EINVAL : 0;
	if (msg->nfds && msg->nfds != h->count)
		return -EINVAL;
	return are_eventfds(msg->fds, msg->nfds);
}

static bool want(const struct set_req *r, uint32_t i)
{
	return r->data == VFIO_IRQ_SET_DATA_NONE || r->bools[i];
}

/*
 * Takes the i-th fd from the message (-1 when it carries none).  Made
 * non-blocking: a client that fills its own eventfd's counter or drains
 * it under us must not be able to stall a device thread.
 */
static int take_fd(struct set_req *r, uint32_t i)
{
	int fd, fl;

	if (!r->msg->nfds)
		return -1;
	fd = r->msg->fds[i];
	r->msg->fds[i] = -1;
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return fd;
}

static int intx_trigger(struct uvfio_dev *dev, struct irq_index *q,
			struct set_req *r)
{
	int mode = irq_mode_get(dev);
	bool on = mode == VFIO_PCI_INTX_IRQ_INDEX;

	if (on && !r->h.count && r->data == VFIO_IRQ_SET_DATA_NONE) {
		irq_disable(q);
		return 0;
	}
	if ((!on && mode >= 0) || r->h.start || r->h.count != 1)
		return -EINVAL;
	if (r->data == VFIO_IRQ_SET_DATA_EVENTFD) {
		/* Without an fd this still enables INTx, as vfio-pci. */
		if (!on)
			irq_enable(q, 1);
		vec_set_fd(q, 0, take_fd(r, 0));
		return 0;
	}
	if (!on)
		return -EINVAL;
	if (want(r, 0))
		vec_loopback(q, 0);
	return 0;
}

/* MASK and UNMASK of INTx; the unmask eventfd is vfio-pci's resample. */
static int intx_mask(struct uvfio_dev *dev, struct irq_index *q,
		     struct set_req *r)
{
	bool mask = r->action == VFIO_IRQ_SET_ACTION_MASK;

	if (irq_mode_get(dev) != VFIO_PCI_INTX_IRQ_INDEX || r->h.start ||
	    r->h.count != 1)
		return -EINVAL;
	if (r->data == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (mask)
			return -ENOTTY;
		if (!r->msg->nfds)
			return irq_watch_set(dev, -1);
		/* vfio_virqfd_enable(): one at a time. */
		if (irq_watch_active(dev))
			return -EBUSY;
		return irq_watch_set(dev, take_fd(r, 0));
	}
	if (!want(r, 0))
		return 0;
	if (mask)
		vec_block(q, 0, VEC_MASKED);
	else
		vec_unblock(q, 0, VEC_MASKED);
	return 0;
}

/*
 * Assigns or de-assigns [start, start + count).  MSI cannot grow past
 * what it was enabled with: like vfio_msi_set_block(), that unwinds what
 * this request did so far, the vectors' old eventfds included.
 */
static int set_block(struct irq_index *q, struct set_req *r)
{
	for (uint32_t i = 0; i < r->h.count; i++) {
		uint32_t j = r->h.start + i;

		if (r->msg->nfds && j >= q->nvec) {
			for (uint32_t k = r->h.start; k < j; k++)
				vec_set_fd(q, k, -1);
			return -EINVAL;
		}
		vec_set_fd(q, j, take_fd(r, i));
	}
	return 0;
}

static int msi_trigger(struct uvfio_dev *dev, struct irq_index *q,
		       struct set_req *r)
{
	int mode = irq_mode_get(dev), err;
	bool on = mode == (int)q->index;
	uint32_t end = r->h.start + r->h.count;

	if (on && !r->h.count && r->data == VFIO_IRQ_SET_DATA_NONE) {
		irq_disable(q);
		return 0;
	}
	if (!on && mode >= 0)
		return -EINVAL;
	if (r->data == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (!on) {
			/* vfio_msi_enable(start + count): none is no set. */
			if (!end)
				return -EINVAL;
			irq_enable(q, q->index == VFIO_PCI_MSIX_IRQ_INDEX ?
					      q->count :
					      end);
		}
		err = set_block(q, r);
		if (err && !on)
			irq_disable(q);
		return err;
	}
	if (!on)
		return -EINVAL;
	for (uint32_t i = 0; i < r->h.count; i++)
		if (want(r, i))
			vec_loopback(q, r->h.start + i);
	return 0;
}

static int msi_mask(struct uvfio_dev *dev, struct irq_index *q,
		    struct set_req *r)
{
	if (r->data == VFIO_IRQ_SET_DATA_EVENTFD)
		return -ENOTTY;
	if (irq_mode_get(dev) != (int)q->index)
		return -EINVAL;
	for (uint32_t i = 0; i < r->h.count; i++) {
		if (!want(r, i))
			continue;
		if (r->action == VFIO_IRQ_SET_ACTION_MASK)
			vec_block(q, r->h.start + i, VEC_MASKED);
		else
			vec_unblock(q, r->h.start + i, VEC_MASKED);
	}
	return 0;
}

/* ERR and REQ: vfio_pci_set_ctx_trigger_single(), errnos included. */
static int single_trigger(struct irq_index *q, struct set_req *r)
{
	bool has = atomic_load(&q->vec[0].state) & VEC_FD;

	switch (r->data) {
	case VFIO_IRQ_SET_DATA_NONE:
		if (!has)
			return -EINVAL;
		if (r->h.count)
			vec_loopback(q, 0);
		else
			vec_set_fd(q, 0, -1);
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (!r->h.count)
			return -EINVAL;
		if (r->bools[0] && has)
			vec_loopback(q, 0);
		return 0;
	default:
		if (!r->h.count)
			return -EINVAL;
		vec_set_fd(q, 0, take_fd(r, 0));
		return 0;
	}
}

static int set_irqs(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct set_req r = { .msg = msg };
	struct irq_index *q;
	int err;

	err = parse(dev, msg, &r);
	if (err)
		return err;
	r.bools = (const uint8_t *)msg->payload + sizeof(r.h);
	q = &dev->irqs[r.h.index];
	switch (r.h.index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (r.action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return intx_trigger(dev, q, &r);
		return intx_mask(dev, q, &r);
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (r.action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return msi_trigger(dev, q, &r);
		return msi_mask(dev, q, &r);
	default:
		if (r.action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return -ENOTTY;
		return single_trigger(q, &r);
	}
}

int handle_set_irqs(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	int err = set_irqs(dev, msg);

	/* Interrupts migrated in pending go out once their vector is wired. */
	if (err >= 0)
		mig_irq_wired(dev);
	return err;
}
