// SPDX-License-Identifier: MIT
/*
 * Reprogramming under load.  uvfio-testdev raises one MSI-X vector over
 * and over, one interrupt at a time: the next is raised once the last
 * was delivered, so each delivery belongs to exactly one raise.  Another
 * thread meanwhile rewrites the vector's address and data (in place while
 * live, or masked around separate dword writes) and masks and unmasks it
 * (vector mask and function mask) at random.  Every message generation
 * has its own address and data, so a delivery tells which one it
 * carried.  Checked: every raise is delivered exactly once (pending while
 * masked, delivered on unmask), nothing arrives that was not raised, and
 * each delivery carries a message that was live at some point between
 * its raise and its delivery.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>

#include "regs.h"
#include "testdev_proc.h"

#define VEC 7u
#define RUN_MS 2500
#define MAX_RAISES 3000u
#define LOST_MS 5000
#define ENT (TESTDEV_MSIX_TABLE_OFF + VEC * 16)
#define GEN_ADDR(g) \
	(0xfee00000ull | ((uint64_t)(g)&0xff) << 12 | (uint64_t)(g) << 32)
#define GEN_DATA(g) (0x10000u + (g))

struct load {
	struct testdev_proc dev;
	struct uvfio_client *c;
	struct uvfio_irq_router *r;
	uint8_t msix;
	unsigned int seed;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t outstanding; /* the raise waiting for delivery, 0: none */
	uint32_t win_lo; /* oldest generation live since the raise */
	uint32_t gen_started; /* newest generation being written */
	uint32_t gen_done; /* newest generation written */
	uint32_t delivered;
	uint32_t unraised; /* deliveries with no raise outstanding */
	uint32_t stale; /* deliveries with a message not live */
	bool stop;

	/* Reprogrammer's and firer's tallies. */
	uint32_t reprograms, vmasks, maskalls, pending_seen;
};

static void deliver(void *opaque, uint64_t address, uint32_t data)
{
	struct load *l = opaque;
	uint32_t g = data - GEN_DATA(0);

	pthread_mutex_lock(&l->lock);
	if (!l->outstanding) {
		l->unraised++;
	} else {
		if (address != GEN_ADDR(g) || g < l->win_lo ||
		    g > l->gen_started)
			l->stale++;
		l->outstanding = 0;
		l->delivered++;
	}
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Pacing for the reprogrammer's stress loop; it synchronises nothing. */
static void sleep_us(unsigned int us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static void w32(struct load *l, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_bar_write(l->c, 0, off, &v, 4), 0);
}

static void msix_flags(struct load *l, uint16_t set, uint16_t clear)
{
	uint16_t fl;

	assert_int_equal(
		uvfio_client_cfg_read(l->c, l->msix + PCI_MSIX_FLAGS, &fl, 2),
		0);
	fl = (uint16_t)((fl | set) & ~clear);
	assert_int_equal(
		uvfio_client_cfg_write(l->c, l->msix + PCI_MSIX_FLAGS, &fl, 2),
		0);
}

static uint32_t gen_begin(struct load *l)
{
	uint32_t g;

	pthread_mutex_lock(&l->lock);
	g = ++l->gen_started;
	pthread_mutex_unlock(&l->lock);
	return g;
}

static void gen_end(struct load *l, uint32_t g)
{
	pthread_mutex_lock(&l->lock);
	l->gen_done = g;
	pthread_mutex_unlock(&l->lock);
}

/* Address and data in one access: one route update. */
static void reprogram_live(struct load *l)
{
	uint32_t g = gen_begin(l);
	uint64_t a = GEN_ADDR(g);
	uint32_t e[3] = { (uint32_t)a, (uint32_t)(a >> 32), GEN_DATA(g) };

	assert_int_equal(uvfio_client_bar_write(l->c, 0, ENT, e, sizeof(e)), 0);
	gen_end(l, g);
}

/* As a guest does it: mask, dword by dword, unmask. */
static void reprogram_masked(struct load *l, unsigned int us)
{
	uint32_t g;
	uint64_t a;

	w32(l, ENT + 12, 1);
	g = gen_begin(l);
	a = GEN_ADDR(g);
	w32(l, ENT, (uint32_t)a);
	w32(l, ENT + 4, (uint32_t)(a >> 32));
	w32(l, ENT + 8, GEN_DATA(g));
	gen_end(l, g);
	sleep_us(us);
	w32(l, ENT + 12, 0);
}

static bool stopping(struct load *l)
{
	bool s;

	pthread_mutex_lock(&l->lock);
	s = l->stop;
	pthread_mutex_unlock(&l->lock);
	return s;
}

static void *reprogrammer(void *arg)
{
	struct load *l = arg;
	unsigned int seed = l->seed;

	while (!stopping(l)) {
		unsigned int op = rand_r(&seed) % 100;
		unsigned int us = rand_r(&seed) % 2000;

		if (op < 35) {
			reprogram_live(l);
			l->reprograms++;
		} else if (op < 55) {
			reprogram_masked(l, us);
			l->reprograms++;
		} else if (op < 80) {
			w32(l, ENT + 12, 1);
			sleep_us(us);
			w32(l, ENT + 12, 0);
			l->vmasks++;
		} else {
			msix_flags(l, PCI_MSIX_FLAGS_MASKALL, 0);
			sleep_us(us);
			msix_flags(l, 0, PCI_MSIX_FLAGS_MASKALL);
			l->maskalls++;
		}
		sleep_us(rand_r(&seed) % 300);
	}
	return NULL;
}

static bool pba(struct load *l)
{
	uint64_t q = 0;

	assert_int_equal(
		uvfio_client_bar_read(l->c, 0, TESTDEV_MSIX_PBA_OFF, &q, 8), 0);
	return q >> VEC & 1;
}

static void raise_vec(struct load *l)
{
	w32(l, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	w32(l, TESTDEV_REG_IRQ_NUMBER, VEC + 1);
	w32(l, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSIX);
}

/* Waits for the delivery of raise seq; false if it never came. */
static bool wait_delivered(struct load *l)
{
	int64_t end = now_ms() + LOST_MS;
	bool ok;

	pthread_mutex_lock(&l->lock);
	while (l->outstanding && now_ms() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->cond, &l->lock, &ts);
	}
	ok = !l->outstanding;
	pthread_mutex_unlock(&l->lock);
	return ok;
}

static void test_reprogram_under_load(void **state)
{
	struct load *l = *state;
	uint32_t raised = 0;
	int64_t end;
	pthread_t t;

	/* Generation 0, live and unmasked. */
	uint64_t a = GEN_ADDR(0);
	uint32_t e[4] = { (uint32_t)a, (uint32_t)(a >> 32), GEN_DATA(0), 0 };

	assert_int_equal(uvfio_client_bar_write(l->c, 0, ENT, e, sizeof(e)), 0);
	msix_flags(l, PCI_MSIX_FLAGS_ENABLE, 0);

	assert_int_equal(pthread_create(&t, NULL, reprogrammer, l), 0);
	end = now_ms() + RUN_MS;
	while (now_ms() < end && raised < MAX_RAISES) {
		pthread_mutex_lock(&l->lock);
		l->outstanding = ++raised;
		l->win_lo = l->gen_done;
		pthread_mutex_unlock(&l->lock);
		raise_vec(l);
		/* Raised while masked: the bit is up before the write returns. */
		if (pba(l)) {
			pthread_mutex_lock(&l->lock);
			l->pending_seen++;
			pthread_mutex_unlock(&l->lock);
		}
		if (!wait_delivered(l))
			fail_msg("raise %u lost (pba %d)", raised, pba(l));
	}
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_mutex_unlock(&l->lock);
	pthread_join(t, NULL);
	/*
	 * Everything unmasked now.  testdev raised each before answering,
	 * and after the flush the router has handled every one: a late or
	 * doubled delivery would be counted below.
	 */
	assert_int_equal(uvfio_irq_router_flush(l->r), 0);

	print_message("seed %u: %u raises, %u reprograms, %u vector masks, "
		      "%u function masks, %u seen pending\n",
		      l->seed, raised, l->reprograms, l->vmasks, l->maskalls,
		      l->pending_seen);
	pthread_mutex_lock(&l->lock);
	assert_int_equal(l->delivered, raised);
	assert_int_equal(l->unraised, 0);
	assert_int_equal(l->stale, 0);
	pthread_mutex_unlock(&l->lock);
	assert_false(pba(l));
	assert_true(raised >= 200);
	assert_true(l->reprograms > 0);
	assert_true(l->pending_seen > 0);
}

static int setup(void **state)
{
	struct load *l = calloc(1, sizeof(*l));
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	uint8_t raw[UVFIO_PCI_CFG_SIZE];

	assert_non_null(l);
	l->seed = (unsigned int)time(NULL);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	assert_int_equal(testdev_start(&l->dev, NULL), 0);
	l->c = uvfio_client_connect(l->dev.sock, NULL);
	assert_non_null(l->c);
	l->r = uvfio_irq_router_new_user(deliver, l, 0);
	assert_non_null(l->r);
	assert_int_equal(uvfio_client_irq_attach(l->c, l->r), 0);
	assert_int_equal(uvfio_client_cfg_read(l->c, 0, raw, sizeof(raw)), 0);
	assert_non_null(cfg);
	uvfio_pci_load(cfg, raw, sizeof(raw));
	l->msix = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX);
	uvfio_pci_cfg_free(cfg);
	assert_true(l->msix > 0);
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	struct load *l = *state;

	uvfio_client_irq_detach(l->c);
	uvfio_irq_router_free(l->r);
	uvfio_client_close(l->c);
	assert_int_equal(testdev_stop(&l->dev), 0);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reprogram_under_load,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
