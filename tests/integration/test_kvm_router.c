// SPDX-License-Identifier: MIT
/*
 * The interrupt router's KVM backend against a real /dev/kvm VM with an
 * in-kernel irqchip.  One vCPU is created but never run: its local APIC
 * is software-enabled through KVM_SET_LAPIC, and an MSI that reaches it
 * shows as a bit in its IRR (KVM_GET_LAPIC).  That proves delivery
 * through the committed routes and irqfds without guest code.  Without
 * /dev/kvm every test is skipped and the program exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "uvfio/irq.h"

#define MSI_ADDR 0xfee00000u /* APIC ID 0, physical destination */
#define APIC_SVR 0xf0
#define APIC_SVR_ENABLE 0x100u
#define APIC_IRR 0x200
#define WAIT_MS 1000

struct env {
	int kvm; /* -1 when /dev/kvm is missing */
};

struct fx {
	int kvm, vm, vcpu;
	struct uvfio_irq_router *r;
	int efd[4];
};

static uint32_t apic_reg(const struct kvm_lapic_state *s, unsigned int off)
{
	uint32_t v;

	memcpy(&v, s->regs + off, sizeof(v));
	return v;
}

static void apic_set(struct kvm_lapic_state *s, unsigned int off, uint32_t v)
{
	memcpy(s->regs + off, &v, sizeof(v));
}

static bool irr(struct fx *f, unsigned int vec)
{
	struct kvm_lapic_state s;

	assert_int_equal(ioctl(f->vcpu, KVM_GET_LAPIC, &s), 0);
	return apic_reg(&s, APIC_IRR + vec / 32 * 0x10) & (1u << (vec % 32));
}

static void irr_clear(struct fx *f)
{
	struct kvm_lapic_state s;
	unsigned int i;

	assert_int_equal(ioctl(f->vcpu, KVM_GET_LAPIC, &s), 0);
	for (i = 0; i < 8; i++)
		apic_set(&s, APIC_IRR + i * 0x10, 0);
	assert_int_equal(ioctl(f->vcpu, KVM_SET_LAPIC, &s), 0);
}

static bool wait_irr(struct fx *f, unsigned int vec)
{
	int i;

	for (i = 0; i < WAIT_MS; i++) {
		if (irr(f, vec))
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * What the router's thread read is delivered or pending.  KVM needs no
 * wait: an assigned irqfd takes the count in the writer's wake-up, and
 * KVM_SIGNAL_MSI sets the IRR before the ioctl returns.
 */
static void quiet(struct fx *f)
{
	assert_int_equal(uvfio_irq_router_flush(f->r), 0);
}

static void fire(int efd)
{
	uint64_t one = 1;

	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Waits until someone (KVM or the router's thread) consumed efd. */
static void wait_consumed(int efd)
{
	int i;

	for (i = 0; i < WAIT_MS && readable(efd); i++)
		usleep(1000);
	assert_false(readable(efd));
}

static struct uvfio_msi_msg msi(unsigned int vec)
{
	struct uvfio_msi_msg m = { .address = MSI_ADDR, .data = vec };

	return m;
}

static int group_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (e->kvm < 0)
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
	else if (ioctl(e->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return -1;
	*state = e;
	return 0;
}

static int group_teardown(void **state)
{
	struct env *e = *state;

	if (e->kvm >= 0)
		close(e->kvm);
	free(e);
	return 0;
}

/* A VM with an irqchip and one vCPU whose APIC accepts interrupts. */
static int setup_flags(void **state, uint32_t flags)
{
	struct env *e = *state;
	struct kvm_lapic_state s;
	struct fx *f;
	int i;

	if (e->kvm < 0) {
		*state = NULL; /* the test skips */
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->kvm = e->kvm;
	f->vm = ioctl(e->kvm, KVM_CREATE_VM, 0);
	if (f->vm < 0 || ioctl(f->vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return -1;
	f->vcpu = ioctl(f->vm, KVM_CREATE_VCPU, 0);
	if (f->vcpu < 0 || ioctl(f->vcpu, KVM_GET_LAPIC, &s) < 0)
		return -1;
	apic_set(&s, APIC_SVR, apic_reg(&s, APIC_SVR) | APIC_SVR_ENABLE);
	if (ioctl(f->vcpu, KVM_SET_LAPIC, &s) < 0)
		return -1;
	f->r = uvfio_irq_router_new_kvm(f->vm, flags);
	if (!f->r)
		return -1;
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
	struct fx *f = *state;
	int i;

	if (!f)
		return 0;
	uvfio_irq_router_free(f->r);
	for (i = 0; i < 4; i++)
		close(f->efd[i]);
	close(f->vcpu);
	close(f->vm);
	free(f);
	return 0;
}

#define FX(state)                         \
	({                                \
		struct fx *f_ = *(state); \
		if (!f_)                  \
			skip();           \
		f_;                       \
	})

static int add(struct fx *f, unsigned int vec)
{
	struct uvfio_msi_msg m = msi(vec);
	int h = uvfio_irq_route_add(f->r, &m);

	assert_true(h >= 0);
	return h;
}

static void test_constructor(void **state)
{
	struct fx *f = FX(state);

	errno = 0;
	assert_null(uvfio_irq_router_new_kvm(f->vm, 0x100));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(uvfio_irq_router_new_kvm(f->efd[0], 0));
	assert_int_equal(errno, ENOTSUP);
}

static void test_2048_one_commit(void **state)
{
	struct fx *f = FX(state);
	struct uvfio_irq_router_stats st;
	int i, h[2048];

	for (i = 0; i < 2048; i++)
		h[i] = add(f, 0x30 + i % 0xc0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 0);
	assert_int_equal(st.routes, 2048);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 1);

	/* Route 2000 carries vector 0x30 + 2000 % 0xc0 = 0x80. */
	assert_int_equal(uvfio_irq_bind(f->r, h[2000], f->efd[0], -1), 0);
	assert_false(irr(f, 0x80));
	fire(f->efd[0]);
	assert_true(wait_irr(f, 0x80));
	wait_consumed(f->efd[0]);
	assert_int_equal(uvfio_irq_pending(f->r, h[2000]), 0);
}

static void test_full_table(void **state)
{
	struct fx *f = FX(state);
	struct uvfio_irq_router_stats st;
	int n = 0, h;

	while ((h = uvfio_irq_route_add(
			f->r, &(struct uvfio_msi_msg){ MSI_ADDR, 0x40 })) >= 0)
		n++;
	assert_int_equal(h, -ENOSPC);
	assert_true(n >= 2048);
	/* The largest table the router builds is one KVM accepts. */
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, n / 2), 0);
	assert_int_equal(add(f, 0x41), n / 2);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 2);
	assert_int_equal(st.routes, n);
}

static void test_gsi_reuse(void **state)
{
	struct fx *f = FX(state);
	struct uvfio_irq_router_stats st;
	int round, i;

	/* 4 x 2048 GSIs without reuse: more than KVM has. */
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 2048; i++)
			assert_int_equal(add(f, 0x40 + round), i);
		assert_int_equal(uvfio_irq_router_commit(f->r), 0);
		for (i = 0; i < 2048; i++)
			assert_int_equal(uvfio_irq_route_release(f->r, i), 0);
		assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	}
	uvfio_irq_router_stats(f->r, &st);
	assert_int_equal(st.commits, 8);
	assert_int_equal(st.routes, 0);
}

static void test_irqfd(void **state)
{
	struct fx *f = FX(state);
	int h = add(f, 0x55), p1, p2, dup_fd;

	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
	assert_int_equal(uvfio_irq_unbind(f->r, h), 0);
	/* Deassigned: KVM no longer consumes the eventfd. */
	fire(f->efd[0]);
	quiet(f);
	assert_true(readable(f->efd[0]));
	assert_false(irr(f, 0x55));
	/* Assigning an already signalled eventfd delivers it. */
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
	assert_true(wait_irr(f, 0x55));
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);

	/* KVM refuses one eventfd on two irqfds; the bind fails cleanly. */
	p1 = uvfio_irq_route_pin(f->r, 5);
	p2 = uvfio_irq_route_pin(f->r, 5);
	assert_true(p1 >= 0 && p2 >= 0);
	assert_int_equal(uvfio_irq_bind(f->r, p1, f->efd[1], -1), 0);
	dup_fd = dup(f->efd[1]);
	assert_int_equal(uvfio_irq_bind(f->r, p2, dup_fd, -1), -EBUSY);
	assert_int_equal(uvfio_irq_unbind(f->r, p2), -ENOENT);
	assert_int_equal(uvfio_irq_bind(f->r, p2, f->efd[2], -1), 0);
	/* Same fd number on two routes: refused by the router. */
	assert_int_equal(uvfio_irq_bind(f->r, p2, f->efd[1], -1), -EBUSY);
	assert_int_equal(uvfio_irq_unbind(f->r, p1), 0);
	assert_int_equal(uvfio_irq_bind(f->r, p1, dup_fd, -1), 0);
	assert_int_equal(uvfio_irq_route_release(f->r, p1), 0);
	close(dup_fd);
}

static void test_resample(void **state)
{
	struct fx *f = FX(state);
	int p = uvfio_irq_route_pin(f->r, 10), h = add(f, 0x60), pfd[2];

	assert_true(p >= 0);
	assert_int_equal(uvfio_irq_bind(f->r, p, f->efd[0], f->efd[1]), 0);
	assert_int_equal(uvfio_irq_unbind(f->r, p), 0);
	assert_int_equal(uvfio_irq_bind(f->r, p, f->efd[0], f->efd[1]), 0);
	/* An MSI is edge-triggered: no resample. */
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[2], f->efd[3]),
			 -EINVAL);
	/* KVM wants an eventfd to resample into; the bind fails cleanly. */
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(uvfio_irq_unbind(f->r, p), 0);
	assert_true(uvfio_irq_bind(f->r, p, f->efd[0], pfd[0]) < 0);
	assert_int_equal(uvfio_irq_unbind(f->r, p), -ENOENT);
	assert_int_equal(uvfio_irq_bind(f->r, p, f->efd[0], f->efd[1]), 0);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_mask(void **state)
{
	struct fx *f = FX(state);
	int h = add(f, 0x51);

	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	fire(f->efd[0]);
	/* The router's thread reads it, not KVM. */
	wait_consumed(f->efd[0]);
	quiet(f);
	assert_false(irr(f, 0x51));
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	fire(f->efd[0]);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	assert_true(wait_irr(f, 0x51));
	assert_false(readable(f->efd[0]));

	/* Unmasked, the irqfd is back. */
	irr_clear(f);
	fire(f->efd[0]);
	assert_true(wait_irr(f, 0x51));
	wait_consumed(f->efd[0]);

	/* Nothing pending, nothing delivered. */
	irr_clear(f);
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	quiet(f);
	assert_false(irr(f, 0x51));
	/* Cleared while masked: not delivered on unmask. */
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	fire(f->efd[0]);
	assert_int_equal(uvfio_irq_clear_pending(f->r, h), 0);
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	quiet(f);
	assert_false(irr(f, 0x51));
	assert_false(readable(f->efd[0]));
}

static void test_update_armed(void **state)
{
	struct fx *f = FX(state);
	int h = add(f, 0xa0);
	struct uvfio_msi_msg m = msi(0xa1);

	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
	/* Bound before its commit: waits, then delivers once. */
	fire(f->efd[0]);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	assert_false(irr(f, 0xa0));
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_true(wait_irr(f, 0xa0));
	assert_int_equal(uvfio_irq_pending(f->r, h), 0);
	irr_clear(f);

	/* A new message reaches KVM at commit, the irqfd stays. */
	assert_int_equal(uvfio_irq_route_update(f->r, h, &m), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	fire(f->efd[0]);
	assert_true(wait_irr(f, 0xa1));
	assert_false(irr(f, 0xa0));
}

static void test_direct(void **state)
{
	struct fx *f = FX(state);
	struct uvfio_msi_msg m = msi(0x40);
	int limit = ioctl(f->vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	int h;

	h = uvfio_irq_route_add(f->r, &m);
	assert_true(h >= 0);
	m.data = 5; /* an IOAPIC pin's GSI */
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -EEXIST);
	m.data = 0x40;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -EEXIST);
	m.data = 0x10000;
	assert_int_equal(uvfio_irq_route_add(f->r, &m), -ERANGE);
	if (limit > 0 && limit <= 0xffff) {
		m.data = (uint32_t)limit; /* past KVM's table */
		assert_int_equal(uvfio_irq_route_add(f->r, &m), -ERANGE);
	}
	assert_int_equal(uvfio_irq_bind(f->r, h, f->efd[0], -1), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	fire(f->efd[0]);
	assert_true(wait_irr(f, 0x40));
	irr_clear(f);

	/* The route moves to GSI 0x61; its irqfd moves with it. */
	m.data = 0x61;
	assert_int_equal(uvfio_irq_route_update(f->r, h, &m), 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	fire(f->efd[0]);
	assert_true(wait_irr(f, 0x61));
	assert_false(irr(f, 0x40));
	wait_consumed(f->efd[0]);
	m.data = 0x40;
	assert_true(uvfio_irq_route_add(f->r, &m) >= 0);
	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
}

static void test_signal(void **state)
{
	struct fx *f = FX(state);
	int h = add(f, 0x70), p = uvfio_irq_route_pin(f->r, 9);

	assert_int_equal(uvfio_irq_router_commit(f->r), 0);
	assert_int_equal(uvfio_irq_signal(f->r, h), 0);
	assert_true(wait_irr(f, 0x70));
	assert_int_equal(uvfio_irq_signal(f->r, p), 0);
	irr_clear(f);
	assert_int_equal(uvfio_irq_mask(f->r, h), 0);
	assert_int_equal(uvfio_irq_signal(f->r, h), 0);
	assert_int_equal(uvfio_irq_pending(f->r, h), 1);
	quiet(f);
	assert_false(irr(f, 0x70));
	assert_int_equal(uvfio_irq_unmask(f->r, h), 0);
	assert_true(wait_irr(f, 0x70));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_constructor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_2048_one_commit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gsi_reuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_irqfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resample, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_armed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_direct, setup_direct,
						teardown),
		cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
	};
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int ret;

	ret = cmocka_run_group_tests(tests, group_setup, group_teardown);
	/* Everything skipped: tell meson. */
	if (kvm < 0)
		return ret ? ret : 77;
	close(kvm);
	return ret;
}
