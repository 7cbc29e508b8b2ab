// SPDX-License-Identifier: MIT
/*
 * uvfio_dev_stop() from another thread while a client comes and goes.
 * Stop shuts down the client's socket while the dispatch thread may be
 * closing it (the client left: conn_drop()) or just taking it (accept):
 * uvfio_dev_run() must return every time, promptly, and a TSan build
 * (meson setup build-tsan -Db_sanitize=thread) must see no race.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#define ROUNDS 300
#define DEADLINE_S 5

struct round {
	struct uvfio_dev *dev;
	const char *path;
	pthread_barrier_t go;
	unsigned int spin; /* how long the stopper waits: varies the race */
	atomic_bool connected;
};

static void *run_main(void *arg)
{
	struct round *r = arg;

	return (void *)(intptr_t)uvfio_dev_run(r->dev, false);
}

static void *client_main(void *arg)
{
	struct uvfio_client_opts o = { .flags = UVFIO_CLIENT_NO_TWIN |
						UVFIO_CLIENT_NO_THREAD };
	struct round *r = arg;
	struct uvfio_client *c;

	pthread_barrier_wait(&r->go);
	/* Refused or cut short once the device has stopped: both fine. */
	c = uvfio_client_connect(r->path, &o);
	if (c)
		atomic_store(&r->connected, true);
	uvfio_client_close(c);
	return NULL;
}

static void *stop_main(void *arg)
{
	struct round *r = arg;
	volatile unsigned int n = 0;

	pthread_barrier_wait(&r->go);
	while (n < r->spin)
		n++;
	uvfio_dev_stop(r->dev);
	return NULL;
}

static int join_by(pthread_t t, void **ret)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_S;
	return pthread_timedjoin_np(t, ret, &ts);
}

static void test_stop_while_client_moves(void **state)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1af4,
						  .device_id = 0x10fe };
	struct uvfio_dev_opts o = { .no_twin_socket = true };
	char dir[] = "/tmp/uvfio-stop-XXXXXX", path[64];
	unsigned int served = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	for (unsigned int i = 0; i < ROUNDS; i++) {
		struct round r = { .path = path,
				   .spin = (i * 7919u) % 300 * 30000 };
		pthread_t run, client, stopper;
		void *ret;

		r.dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, NULL,
					 &o);
		assert_non_null(r.dev);
		assert_int_equal(uvfio_dev_listen(r.dev, path), 0);
		assert_int_equal(pthread_barrier_init(&r.go, NULL, 2), 0);
		assert_int_equal(pthread_create(&run, NULL, run_main, &r), 0);
		assert_int_equal(pthread_create(&client, NULL, client_main, &r),
				 0);
		assert_int_equal(pthread_create(&stopper, NULL, stop_main, &r),
				 0);
		/* Stopped, whatever the client was doing: run returns. */
		assert_int_equal(join_by(stopper, NULL), 0);
		assert_int_equal(join_by(run, &ret), 0);
		assert_int_equal((intptr_t)ret, 0);
		/* A client still queued on the listener is refused here. */
		uvfio_dev_destroy(r.dev);
		assert_int_equal(join_by(client, NULL), 0);
		pthread_barrier_destroy(&r.go);
		served += atomic_load(&r.connected);
	}
	rmdir(dir);
	printf("stop race: %u rounds, %u with a client served before the "
	       "stop\n",
	       ROUNDS, served);
	/* Both orders happened, or the test did not test the race. */
	assert_true(served > 0 && served < ROUNDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_while_client_moves),
	};

	return cmocka_run_group_tests_name("integration_stop_race", tests, NULL,
					   NULL);
}
