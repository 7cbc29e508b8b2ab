// SPDX-License-Identifier: MIT
/*
 * Deferred work: one thread per device runs queued items in order.  An
 * item queued by a handler on the dispatch thread is held until that
 * handler's reply is out (work_release_held), so a doorbell write is
 * answered before the work it starts can send the client a request.
 */
#include <errno.h>
#include <stdlib.h>

#include "priv.h"

struct uvfio_work {
	struct uvfio_dev *dev;
	uvfio_work_fn fn;
	void *arg;
	struct uvfio_work *next;        /* on the run or held list */
	struct uvfio_work *all_next;
	bool queued;
	bool running;
};

void work_init(struct work_queue *q)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->tail = &q->head;
}

static void *work_main(void *arg)
{
	struct uvfio_dev *dev = arg;
	struct work_queue *q = &dev->work;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct uvfio_work *w;

		while (!q->quit && !q->head)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->quit)
			break;
		w = q->head;
		q->head = w->next;
		if (!q->head)
			q->tail = &q->head;
		w->queued = false;
		w->running = true;
		pthread_mutex_unlock(&q->lock);
		w->fn(dev, w->arg);
		pthread_mutex_lock(&q->lock);
		w->running = false;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct uvfio_work *uvfio_work_new(struct uvfio_dev *dev, uvfio_work_fn fn,
				  void *arg)
{
	struct work_queue *q = &dev->work;
	struct uvfio_work *w;
	int err = 0;

	if (!fn) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->dev = dev;
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_lock(&q->lock);
	if (!q->started) {
		err = pthread_create(&q->thread, NULL, work_main, dev);
		q->started = !err;
	}
	if (!err) {
		w->all_next = q->all;
		q->all = w;
	}
	pthread_mutex_unlock(&q->lock);
	if (err) {
		free(w);
		errno = err;
		return NULL;
	}
	return w;
}

int uvfio_work_queue(struct uvfio_work *w)
{
	struct uvfio_dev *dev = w->dev;
	struct work_queue *q = &dev->work;

	pthread_mutex_lock(&q->lock);
	if (w->queued) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	w->queued = true;
	/* in_handler is the dispatcher's own: only it can read it true. */
	if (dev_on_dispatcher(dev) &&
	    dev->in_handler) {
		w->next = q->held;
		q->held = w;
		dev->work_held = true;
	} else {
		w->next = NULL;
		*q->tail = w;
		q->tail = &w->next;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return 1;
}

void work_release_held(struct uvfio_dev *dev)
{
	struct work_queue *q = &dev->work;
	struct uvfio_work *w, *rev = NULL;

	pthread_mutex_lock(&q->lock);
	/* held is newest first: put it back in queueing order. */
	while ((w = q->held)) {
		q->held = w->next;
		w->next = rev;
		rev = w;
	}
	if (rev) {
		*q->tail = rev;
		while (rev->next)
			rev = rev->next;
		q->tail = &rev->next;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
}

/* Takes w off whichever list holds it; the caller holds q->lock. */
static void unqueue(struct work_queue *q, struct uvfio_work *w)
{
	struct uvfio_work **p;

	if (!w->queued)
		return;
	for (p = &q->held; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			w->queued = false;
			return;
		}
	for (p = &q->head; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			if (!*p)
				q->tail = p;
			w->queued = false;
			return;
		}
}

void uvfio_work_flush(struct uvfio_work *w)
{
	struct work_queue *q = &w->dev->work;

	pthread_mutex_lock(&q->lock);
	/* A held item is released when the handler's reply is out. */
	while (w->queued || w->running)
		pthread_cond_wait(&q->cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

void uvfio_work_free(struct uvfio_work *w)
{
	struct work_queue *q;
	struct uvfio_work **p;

	if (!w)
		return;
	q = &w->dev->work;
	pthread_mutex_lock(&q->lock);
	unqueue(q, w);
	while (w->running)
		pthread_cond_wait(&q->cond, &q->lock);
	for (p = &q->all; *p; p = &(*p)->all_next)
		if (*p == w) {
			*p = w->all_next;
			break;
		}
	pthread_mutex_unlock(&q->lock);
	free(w);
}

void work_fini(struct uvfio_dev *dev)
{
	struct work_queue *q = &dev->work;

	pthread_mutex_lock(&q->lock);
	q->quit = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	while (q->all) {
		struct uvfio_work *w = q->all;

		q->all = w->all_next;
		free(w);
	}
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}
