// SPDX-License-Identifier: MIT
/*
 * The INTx unmask eventfd (SET_IRQS UNMASK|DATA_EVENTFD, vfio-pci's
 * resample path): a small thread of the device waits on it and unmasks
 * INTx each time the client (or KVM's resampler) signals it.
 *
 * Only the dispatch thread changes the watched fd, and it does so by
 * stopping the thread (joined) before it closes or replaces the fd, so
 * the thread never polls a closed fd.  The unmask itself is the same
 * lock-free vector operation as a SET_IRQS UNMASK.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "irq.h"

struct irq_watch {
	pthread_t thread;
	int fd; /* the client's unmask eventfd */
	int wake; /* ours: tells the thread to stop */
	struct irq_index *q;
};

static void *watch_main(void *arg)
{
	struct irq_watch *w = arg;
	uint64_t n;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = w->fd, .events = POLLIN },
			{ .fd = w->wake, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		/* Non-blocking (see take_fd): a drained counter is no hang. */
		if (read(w->fd, &n, sizeof(n)) == sizeof(n))
			vec_unblock(w->q, 0, VEC_MASKED);
		else if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return NULL;
}

static void stop(struct irq_watch *w)
{
	uint64_t one = 1;

	while (write(w->wake, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(w->thread, NULL);
}

/* Signals go to the device's own threads, never to this one. */
static int start(struct irq_watch *w)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* Everything goes with the fd, so an idle device holds no extra fds. */
int irq_watch_set(struct uvfio_dev *dev, int fd)
{
	struct irq_watch *w = dev->irq_watch;
	int r;

	if (w) {
		stop(w);
		close(w->fd);
		close(w->wake);
		free(w);
		dev->irq_watch = NULL;
	}
	if (fd < 0)
		return 0;
	r = -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (!w)
		goto fail;
	w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake < 0) {
		r = -errno;
		goto fail;
	}
	w->fd = fd;
	w->q = &dev->irqs[VFIO_PCI_INTX_IRQ_INDEX];
	r = start(w);
	if (r) {
		close(w->wake);
		goto fail;
	}
	dev->irq_watch = w;
	return 0;
fail:
	free(w);
	close(fd);
	return r;
}

bool irq_watch_active(const struct uvfio_dev *dev)
{
	return dev->irq_watch;
}

void irq_watch_free(struct uvfio_dev *dev)
{
	irq_watch_set(dev, -1);
}
