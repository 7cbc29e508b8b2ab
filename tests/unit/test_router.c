// SPDX-License-Identifier: MIT
/*
 * The interrupt router on its userspace backend: handles, staging and
 * commit, the direct policy's limits, eventfd delivery through the
 * router's thread, masking and pending bits (nothing lost, nothing
 * doubled), and teardown.  Also the GSI allocator, which the KVM backend
 * uses, on its own.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "irq/priv.h"
#include "uvfio/irq.h"

#define MAX_SEEN 4096
#define WAIT_MS 2000

struct seen {
	uint64_t address;
	uint32_t data;
};

struct rec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int n;
	struct seen v[MAX_SEEN];
	struct uvfio_irq_router *r; /* to call back into the router */
	/* Holds the callback of gate_data until the gate opens. */
	bool gate_closed, in_gate;
	uint32_t gate_data;
};

static void rec_deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct rec *c = opaque;
	struct uvfio_irq_router_stats st;

	/* The router's lock is not held: calling back must not deadlock. */
	if (c->r)
		uvfio_irq_router_stats(c->r, &st);
	pthread_mutex_lock(&c->lock);
	if (c->gate_closed && data == c->gate_data) {
		c->in_gate = true;
		pthread_cond_broadcast(&c->cond);
		while (c->gate_closed)
			pthread_cond_wait(&c->cond, &c->lock);
	}
	if (c->n < MAX_SEEN) {
		c->v[c->n].address = address;
		c->v[c->n].data = data;
	}
	c->n++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static unsigned int rec_count(struct rec *c)
{
	unsigned int n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Waits until at least n callbacks happened; returns the count. */
static unsigned int rec_wait(struct rec *c, unsigned int n, int ms)
{
	struct timespec dl;
	unsigned int got;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	while (c->n < n)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &dl))
			break;
	got = c->n;
	pthread_mutex_unlock(&c->lock);
	return got;
}

/*
 * The router's thread has handled every event written so far: what the
 * record and the pending bits show now is final.
 */
static void quiet(struct uvfio_irq_router *r)
{
	assert_int_equal(uvfio_irq_router_flush(r), 0);
}

static void fire(int efd)
{
	uint64_t one = 1;

	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
}

struct fixture {
	struct rec rec;
	struct uvfio_irq_router *r;
	int efd[4];
};

static int setup_flags(void **state, uint32_t flags)
{
	struct fixture *f = calloc(1, sizeof(*f));
	unsigned int i;

	if (!f)
		return -1;
	pthread_mutex_init(&f->rec.lock, NULL);
	pthread_cond_init(&f->rec.cond, NULL);
	f->r = uvfio_irq_router_new_user(rec_deliver, &f->rec, flags);
	if (!f->r)
		return -1;
	f->rec.r = f->r;
	for (i = 0; i < 4; i++)
		f->efd[i] = eventfd(0, EFD_CLOEXEC);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_flags(state, 0);
}

static int setup_direct(void **state)
{
	return setup_flags(state, UVFIO_ROUTER_DIRECT);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unsigned int i;

	uvfio_irq_router_free(f->r);
	for (i = 0; i < 4; i++)
		close(f->efd[i]);
	pthread_cond_destroy(&f->rec.cond);
	pthread_mutex_destroy(&f->rec.lock);
	free(f);
	return 0;
}

static const struct uvfio_msi_msg msg_a = { 0xfee00000, 0x41 };
static const struct uvfio_msi_msg msg_b = { 0xfee01000, 0x4242 };

/* A route on msg, bound to efd, committed. */
static int bound_route(struct fixture *f, const struct uvfio_msi_msg *m,
		       int efd)
{
	int h = uvfio_irq_route_add(f->r, m);

	assert_true(h >= 0);
	assert_int_equal(uvfio_irq_bind(f->r, h, efd, -1), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	return h;
}

static void test_constructors(void **state)
{
	struct rec c;

	errno = 0;
	assert_null(uvfio_irq_router_new_user(NULL, NULL, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(uvfio_irq_router_new_user(rec_deliver, &c, 0x80));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(uvfio_irq_router_new_kvm(-1, 0));
	assert_int_equal(errno, EBADF);
	/* Not a VM: KVM_CHECK_EXTENSION fails, so no capability. */
	errno = 0;
	assert_null(uvfio_irq_router_new_kvm(STDIN_FILENO, 0));
	assert_int_equal(errno, ENOTSUP);
	uvfio_irq_router_free(NULL);
}

static void test_handles(void **state)
{
	struct fixture *f = *state;
	struct uvfio_irq_router_stats st;
	int h0, h1, h2, p;

	h0 = uvfio_irq_route_add(f->r, &msg_a);
	h1 = uvfio_irq_route_add(f->r, &msg_a);
	h2 = uvfio_irq_route_add(f->r, &msg_b);
	assert_int_equal(h0, 0);
	assert_int_equal(h1, 1);
	assert_int_equal(h2, 2);
	assert_int_equal(uvfio_irq_route_release(f->r, h1), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, h1), -EINVAL);
	/* The freed handle, lowest first. */
	assert_int_equal(uvfio_irq_route_add(f->r, &msg_b), 1);
	assert_int_equal(uvfio_irq_route_add(f->r, &msg_b), 3);
	p = uvfio_irq_route_pin(f->r, 23);
	assert_int_equal(p, 4);
	assert_int_equal(uvfio_irq_route_pin(f->r, 24), -EINVAL);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.routes, 5);

	/* Bad handles and arguments everywhere. */
	assert_int_equal(uvfio_irq_route_add(f->r, NULL), -EINVAL);
	assert_int_equal(uvfio_irq_route_add(NULL, &msg_a), -EINVAL);
	assert_int_equal(uvfio_irq_route_update(f->r, 99, &msg_a), -EINVAL);
	assert_int_equal(uvfio_irq_route_update(f->r, -1, &msg_a), -EINVAL);
	assert_int_equal(uvfio_irq_route_update(f->r, h0, NULL), -EINVAL);
	/* A pin route has no message to change. */
	assert_int_equal(uvfio_irq_route_update(f->r, p, &msg_a), -EINVAL);
	assert_int_equal(uvfio_irq_route_release(f->r, 1000000), -EINVAL);
	assert_int_equal(uvfio_irq_bind(f->r, 99, f->efd[0], -1), -EINVAL);
	assert_int_equal(uvfio_irq_unbind(f->r, 99), -EINVAL);
	assert_int_equal(uvfio_irq_mask(f->r, 99), -EINVAL);
	assert_int_equal(uvfio_irq_unmask(f->r, -5), -EINVAL);
	assert_int_equal(uvfio_irq_pending(f->r, 99), -EINVAL);
	assert_int_equal(uvfio_irq_clear_pending(f->r, 99), -EINVAL);
	assert_int_equal(uvfio_irq_signal(f->r, 99), -EINVAL);
	assert_int_equal(uvfio_irq_router_commit(NULL), -EINVAL);

	/* Every release frees its handle. */
	assert_int_equal(uvfio_irq_route_release(f->r, 0), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, 1), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, 2), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, 3), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, p), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.routes, 0);
	assert_int_equal(uvfio_irq_route_add(f->r, &msg_a), 0);
}

static void test_direct_limits(void **state)
{
	struct fixture *f = *state;
	struct uvfio_msi_msg m = { 0xfee00000, 0xffff };
	int a, b;

	a = uvfio_irq_route_add(f->r, &m);
	assert_true(a >= 0);
	m.data = 0x10000;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -ERANGE);
	m.data = UINT32_MAX;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -ERANGE);
	m.data = 0xffff;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -EEXIST);
	/* Another address does not make another interrupt number. */
	m.address = 0xfee0f000;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -EEXIST);
	m.data = 0;
	b = uvfio_irq_route_add(f->r, &m);
	assert_true(b >= 0);

	/* Updates are held to the same limits and leave the route alone. */
	m.data = 0xffff;
	assert_int_equal(uvfio_irq_route_update(f->r, b, &m), -EEXIST);
	m.data = 0x10000;
	assert_int_equal(uvfio_irq_route_update(f->r, b, &m), -ERANGE);
	/* Same data, new address: no move, no conflict with itself. */
	m.data = 0;
	m.address = 0xfee00000;
	assert_int_equal(uvfio_irq_route_update(f->r, b, &m), 0);

	/* A move frees the old number and takes the new one. */
	m.data = 0x1234;
	assert_int_equal(uvfio_irq_route_update(f->r, a, &m), 0);
	m.data = 0xffff;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), 2);
	m.data = 0x1234;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -EEXIST);
	/* Release frees it too. */
	assert_int_equal(uvfio_irq_route_release(f->r, a), 0);
	assert_int_equal(uvfio_irq_route_add(f->r, &m), a);
}

static void test_direct_move_delivers(void **state)
{
	struct fixture *f = *state;
	struct uvfio_msi_msg m = { 0xfee00000, 0x100 };
	int h = bound_route(f, &m, f->efd[0]);

	fire(f->efd[0]);
	assert_int_equal(rec_wait(&f->rec, 1, WAIT_MS), 1);
	assert_int_equal(f->rec.v[0].data, 0x100);
	/* The handle stays; the binding follows the route to its number. */
	m.data = 0x200;
	assert_int_equal(uvfio_irq_route_update(f->r, h, &m), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	fire(f->efd[0]);
	assert_int_equal(rec_wait(&f->rec, 2, WAIT_MS), 2);
	assert_int_equal(f->rec.v[1].data, 0x200);
	assert_int_equal(uvfio_irq_unbind(f->r, h), 0);
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
}

static void test_deliver(void **state)
{
	struct fixture *f = *state;
	struct uvfio_irq_router_stats st;
	int h;

	h = bound_route(f, &msg_b, f->efd[0]);
	fire(f->efd[0]);
	assert_int_equal(rec_wait(&f->rec, 1, WAIT_MS), 1);
	assert_int_equal(f->rec.v[0].address, msg_b.address);
	assert_int_equal(f->rec.v[0].data, msg_b.data);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	/* One delivery per interrupt, each in turn. */
	fire(f->efd[0]);
	assert_int_equal(rec_wait(&f->rec, 2, WAIT_MS), 2);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 2);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.delivered, 2);
}

static void test_uncommitted(void **state)
{
	struct fixture *f = *state;
	int h;

	/* Bound before its first commit: the interrupt waits for it. */
	h = uvfio_irq_route_add(f->r, &msg_a);
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
	fire(f->efd[0]);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(rec_count(&f->rec), 1);
	assert_int_equal(f->rec.v[0].data, msg_a.data);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 1);
}

static void test_update_while_bound(void **state)
{
	struct fixture *f = *state;
	int h = bound_route(f, &msg_a, f->efd[1]);

	assert_int_equal(uvfio_irq_route_update(f->r, h, &msg_b), 0);
	/* Staged: the old message until the commit. */
	fire(f->efd[1]);
	assert_int_equal(rec_wait(&f->rec, 1, WAIT_MS), 1);
	assert_int_equal(f->rec.v[0].address, msg_a.address);
	assert_int_equal(f->rec.v[0].data, msg_a.data);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	fire(f->efd[1]);
	assert_int_equal(rec_wait(&f->rec, 2, WAIT_MS), 2);
	assert_int_equal(f->rec.v[1].address, msg_b.address);
	assert_int_equal(f->rec.v[1].data, msg_b.data);
}

static void test_mask(void **state)
{
	struct fixture *f = *state;
	int h = bound_route(f, &msg_a, f->efd[0]);

	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	fire(f->efd[0]);
	quiet(f->r); /* read by the thread, not by the pending call */
	assert_int_equal(rec_count(&f->rec), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	/* More interrupts while masked coalesce in the one bit. */
	fire(f->efd[0]);
	fire(f->efd[0]);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	/* Masking twice changes nothing. */
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	/* Unmask delivers before it returns, exactly once. */
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	assert_int_equal(rec_count(&f->rec), 1);
	assert_int_equal(f->rec.v[0].data, msg_a.data);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 1);
	/* And the route delivers again. */
	fire(f->efd[0]);
	assert_int_equal(rec_wait(&f->rec, 2, WAIT_MS), 2);
}

static unsigned int count_data(struct rec *c, uint32_t data)
{
	unsigned int i, n = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n && i < MAX_SEEN; i++)
		n += c->v[i].data == data;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/*
 * Pending bit set and a count in the eventfd, both from while masked:
 * unmask delivers one interrupt, not two.  The thread is held in a
 * callback of another route so that the count stays unread until the
 * unmask.
 */
static void test_unmask_coalesces(void **state)
{
	struct fixture *f = *state;
	int a = bound_route(f, &msg_a, f->efd[0]);
	int b = bound_route(f, &msg_b, f->efd[1]);

	assert_int_equal(uvfio_irq_mask(f->r, b), 0);
	pthread_mutex_lock(&f->rec.lock);
	f->rec.gate_data = msg_a.data;
	f->rec.gate_closed = true;
	pthread_mutex_unlock(&f->rec.lock);
	fire(f->efd[0]);
	pthread_mutex_lock(&f->rec.lock);
	while (!f->rec.in_gate)
		pthread_cond_wait(&f->rec.cond, &f->rec.lock);
	pthread_mutex_unlock(&f->rec.lock);

	assert_int_equal(uvfio_irq_signal(f->r, b), 0);
	fire(f->efd[1]);
	assert_int_equal(uvfio_irq_unmask(f->r, b), 0);
	assert_int_equal(count_data(&f->rec, msg_b.data), 1);

	pthread_mutex_lock(&f->rec.lock);
	f->rec.gate_closed = false;
	pthread_cond_broadcast(&f->rec.cond);
	pthread_mutex_unlock(&f->rec.lock);
	assert_int_equal(rec_wait(&f->rec, 2, WAIT_MS), 2);
	quiet(f->r);
	assert_int_equal(count_data(&f->rec, msg_b.data), 1);
	assert_int_equal(count_data(&f->rec, msg_a.data), 1);
	assert_int_equal(uvfio_irq_pending(f->r, a), 0);
	assert_int_equal(uvfio_irq_pending(f->r, b), 0);
}

static void test_mask_nothing_pending(void **state)
{
	struct fixture *f = *state;
	int h = bound_route(f, &msg_a, f->efd[0]);

	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 0);
	/* Masking an unbound route works the same. */
	h = uvfio_irq_route_add(f->r, &msg_b);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	assert_int_equal(rec_count(&f->rec), 0);
}

static void test_clear_pending(void **state)
{
	struct fixture *f = *state;
	int h = bound_route(f, &msg_a, f->efd[0]);

	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	fire(f->efd[0]);
	/* Cleared whether or not the thread has read it yet. */
	assert_int_equal(uvfio_irq_clear_pending(f->r, h), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	quiet(f->r);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 0);
}

static void test_bind_errors(void **state)
{
	struct fixture *f = *state;
	int a, b, p, fd;

	a = uvfio_irq_route_add(f->r, &msg_a);
	b = uvfio_irq_route_add(f->r, &msg_b);
	p = uvfio_irq_route_pin(f->r, 3);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_bind(f->r, a, -1, -1), -EBADF);
	fd = eventfd(0, 0);
	close(fd);
	assert_int_equal(uvfio_irq_bind(f->r, a, fd, -1), -EBADF);
	/* A resample fd is for level-triggered pin routes only. */
	assert_int_equal(uvfio_irq_bind(f->r, a, f->efd[0], f->efd[1]),
			 -EINVAL);
	assert_int_equal(uvfio_irq_bind(f->r, p, f->efd[0], fd), -EBADF);
	assert_int_equal(uvfio_irq_unbind(f->r, a), -ENOENT);

	assert_int_equal(uvfio_irq_bind(f->r, a, f->efd[0], -1), 0);
	assert_int_equal(uvfio_irq_bind(f->r, a, f->efd[1], -1), -EBUSY);
	/* One eventfd, one route. */
	assert_int_equal(uvfio_irq_bind(f->r, b, f->efd[0], -1), -EBUSY);
	assert_int_equal(uvfio_irq_bind(f->r, b, f->efd[1], -1), 0);
	assert_int_equal(uvfio_irq_bind(f->r, p, f->efd[2], f->efd[3]), 0);

	/* Unbind stops delivery; the eventfd is free for another route. */
	assert_int_equal(uvfio_irq_unbind(f->r, a), 0);
	assert_int_equal(uvfio_irq_unbind(f->r, a), -ENOENT);
	fire(f->efd[0]);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 0);
	assert_int_equal(uvfio_irq_pending(f->r, a), 0);
	/* The count written while unbound is the binder's business. */
	assert_int_equal(irqr_efd_drain(f->efd[0]), 1);
	assert_int_equal(uvfio_irq_bind(f->r, b, f->efd[0], -1), -EBUSY);
	assert_int_equal(uvfio_irq_unbind(f->r, b), 0);
	assert_int_equal(uvfio_irq_bind(f->r, b, f->efd[0], -1), 0);
	/* Release unbinds. */
	assert_int_equal(uvfio_irq_route_release(f->r, b), 0);
	fire(f->efd[0]);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 0);
}

static void test_pin(void **state)
{
	struct fixture *f = *state;
	int p = uvfio_irq_route_pin(f->r, 11);

	assert_true(p >= 0);
	/* Pin routes need no commit: their GSI is always routed. */
	assert_int_equal(uvfio_irq_bind(f->r, p, f->efd[0], f->efd[1]), 0);
	fire(f->efd[0]);
	assert_int_equal(rec_wait(&f->rec, 1, WAIT_MS), 1);
	assert_true(f->rec.v[0].address == UINT64_MAX);
	assert_int_equal(f->rec.v[0].data, 11);
	/* Shared lines: a pin may have several routes. */
	assert_true(uvfio_irq_route_pin(f->r, 11) >= 0);
	assert_int_equal(uvfio_irq_signal(f->r, p), 0);
	assert_int_equal(rec_count(&f->rec), 2);
	assert_int_equal(f->rec.v[1].data, 11);
}

static void test_signal(void **state)
{
	struct fixture *f = *state;
	int h = uvfio_irq_route_add(f->r, &msg_a);

	/* Not yet committed: it waits as pending. */
	assert_int_equal(uvfio_irq_signal(f->r, h), 0);
	assert_int_equal(rec_count(&f->rec), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(rec_count(&f->rec), 1);
	/* Unbound routes signal too, once per call, synchronously. */
	assert_int_equal(uvfio_irq_signal(f->r, h), 0);
	assert_int_equal(rec_count(&f->rec), 2);
	assert_int_equal(f->rec.v[1].address, msg_a.address);
	assert_int_equal(f->rec.v[1].data, msg_a.data);
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	assert_int_equal(uvfio_irq_signal(f->r, h), 0);
	assert_int_equal(uvfio_irq_signal(f->r, h), 0);
	assert_int_equal(rec_count(&f->rec), 2);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	assert_int_equal(rec_count(&f->rec), 3);
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), 3);
}

static void test_stats_commits(void **state)
{
	struct fixture *f = *state;
	struct uvfio_irq_router_stats st;
	int h;

	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 0);
	h = uvfio_irq_route_add(f->r, &msg_a);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 1);
	/* The same message again is no change. */
	assert_int_equal(uvfio_irq_route_update(f->r, h, &msg_a), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 1);
	/* Pins are always in the table: no change either. */
	assert_true(uvfio_irq_route_pin(f->r, 4) >= 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.routes, 2);
	assert_int_equal(uvfio_irq_route_update(f->r, h, &msg_b), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, h), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 2);
	assert_int_equal(st.routes, 1);
	assert_int_equal(st.delivered, 0);
}

static void test_enospc(void **state)
{
	struct fixture *f = *state;
	struct uvfio_msi_msg m = { 0xfee00000, 0 };
	unsigned int i;

	for (i = 0; i <= IRQR_DIRECT_MAX; i++)
		assert_int_equal(uvfio_irq_route_add(f->r, &m), (int)i);
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -ENOSPC);
	assert_int_equal(uvfio_irq_route_release(f->r, 777), 0);
	assert_int_equal(uvfio_irq_route_add(f->r, &m), 777);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
}

/* Races the thread against mask and unmask: one delivery per write. */
static void test_race_mask(void **state)
{
	struct fixture *f = *state;
	int h = bound_route(f, &msg_a, f->efd[0]);
	unsigned int i, n = 2000;

	for (i = 0; i < n; i++) {
		fire(f->efd[0]);
		assert_int_equal(uvfio_irq_mask(f->r, h), 0);
		assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
		assert_int_equal(rec_wait(&f->rec, i + 1, WAIT_MS), i + 1);
	}
	quiet(f->r);
	assert_int_equal(rec_count(&f->rec), n);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * The flush is a barrier: once it returns, every event written before it
 * has been delivered (unmasked) or made pending (masked), with no wait
 * and without the catch-up uvfio_irq_pending() does by itself.
 */
static void test_flush(void **state)
{
	struct fixture *f = *state;
	int h[4], i;
	bool pending;

	for (i = 0; i < 4; i++)
		h[i] = bound_route(f, &msg_a, f->efd[i]);
	assert_int_equal(uvfio_irq_mask(f->r, h[3]), 0);
	for (i = 0; i < 300; i++) {
		fire(f->efd[0]);
		fire(f->efd[1]);
		fire(f->efd[2]);
		fire(f->efd[3]);
		assert_int_equal(uvfio_irq_router_flush(f->r), 0);
		assert_int_equal(rec_count(&f->rec), 3u * (unsigned int)(i + 1));
		pthread_mutex_lock(&f->r->lock);
		pending = f->r->routes[h[3]].pending;
		f->r->routes[h[3]].pending = false;
		pthread_mutex_unlock(&f->r->lock);
		assert_true(pending);
	}
	assert_int_equal(uvfio_irq_router_flush(NULL), -EINVAL);
}

static void test_free_bound(void **state)
{
	int fds0 = count_dir("/proc/self/fd");
	int tasks0 = count_dir("/proc/self/task");
	struct uvfio_irq_router *r;
	struct rec c = { .n = 0 };
	int efd[3], h, i;

	assert_true(fds0 > 0 && tasks0 > 0);
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	for (i = 0; i < 3; i++)
		efd[i] = eventfd(0, 0);
	r = uvfio_irq_router_new_user(rec_deliver, &c, 0);
	assert_non_null(r);
	assert_int_equal(count_dir("/proc/self/task"), tasks0 + 1);
	for (i = 0; i < 3; i++) {
		h = uvfio_irq_route_add(r, &msg_a);
		assert_int_equal(uvfio_irq_bind(r, h, efd[i], -1), 0);
	}
	assert_int_equal(uvfio_irq_mask(r, 1), 0);
	assert_int_equal(uvfio_irq_router_commit(r), 0);
	fire(efd[0]);
	assert_int_equal(rec_wait(&c, 1, WAIT_MS), 1);
	uvfio_irq_router_free(r);
	assert_int_equal(count_dir("/proc/self/task"), tasks0);
	assert_int_equal(count_dir("/proc/self/fd"), fds0 + 3);
	for (i = 0; i < 3; i++)
		close(efd[i]);
	assert_int_equal(count_dir("/proc/self/fd"), fds0);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
}

static void test_gsi_alloc(void **state)
{
	struct irqr_gsi_map m;
	int i;

	assert_int_equal(irqr_gsi_init(&m, 25, 10), -EINVAL);
	assert_int_equal(irqr_gsi_init(&m, 24, 200), 0);
	for (i = 24; i < 200; i++)
		assert_int_equal(irqr_gsi_alloc(&m), i);
	assert_int_equal(irqr_gsi_alloc(&m), -ENOSPC);
	/* Freed numbers come back lowest first, across words. */
	irqr_gsi_free(&m, 150);
	irqr_gsi_free(&m, 70);
	irqr_gsi_free(&m, 130);
	assert_int_equal(irqr_gsi_alloc(&m), 70);
	assert_int_equal(irqr_gsi_alloc(&m), 130);
	assert_int_equal(irqr_gsi_alloc(&m), 150);
	assert_int_equal(irqr_gsi_alloc(&m), -ENOSPC);
	/* Reserved and out-of-range numbers are never handed out. */
	irqr_gsi_free(&m, 3);
	irqr_gsi_free(&m, 500);
	assert_int_equal(irqr_gsi_alloc(&m), -ENOSPC);
	assert_int_equal(irqr_gsi_claim(&m, 3), -EEXIST);
	assert_int_equal(irqr_gsi_claim(&m, 200), -ERANGE);
	assert_int_equal(irqr_gsi_claim(&m, 100), -EEXIST);
	irqr_gsi_free(&m, 100);
	assert_int_equal(irqr_gsi_claim(&m, 100), 0);
	irqr_gsi_free(&m, 63);
	irqr_gsi_free(&m, 64);
	assert_int_equal(irqr_gsi_claim(&m, 64), 0);
	assert_int_equal(irqr_gsi_alloc(&m), 63);
	irqr_gsi_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constructors),
		cmocka_unit_test(test_gsi_alloc),
		cmocka_unit_test_setup_teardown(test_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_limits,
						setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_direct_move_delivers,
						setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uncommitted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_update_while_bound, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmask_coalesces, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mask_nothing_pending,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bind_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_commits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_mask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test(test_free_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
