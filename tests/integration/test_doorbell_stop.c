// SPDX-License-Identifier: MIT
/*
 * A doorbell is a posted write: one rung before the device is stopped
 * for migration is done before its stop callback runs, as a trapped
 * write made then would be.  An in-process device counts doorbell
 * writes; the first one blocks in the callback until the test lets it
 * go, so a second signal waits in the eventfd while a client thread asks
 * for STOP.  The stop callback must see both writes: the arc waits for
 * the running one, then runs the one still pending.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

#define DB_OFF 0x10
#define WAIT_MS 5000

static atomic_uint writes;
static atomic_uint at_stop = UINT32_MAX;
static atomic_bool in_first;
static int gate[2]; /* the first write waits for a byte here */

static ssize_t regs(struct uvfio_dev *dev, void *priv, uint64_t off,
		    void *buf, size_t count, bool is_write)
{
	char c;

	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	if (off == DB_OFF && atomic_fetch_add(&writes, 1) == 0) {
		atomic_store(&in_first, true);
		if (read(gate[0], &c, 1) != 1)
			return -EIO;
	}
	return (ssize_t)count;
}

static int stop(struct uvfio_dev *dev, void *priv)
{
	atomic_store(&at_stop, atomic_load(&writes));
	return 0;
}

static int nop(struct uvfio_dev *dev, void *priv)
{
	return 0;
}

static int save(struct uvfio_dev *dev, void *priv, struct uvfio_mig_out *out,
		bool final)
{
	return 0;
}

static atomic_int serve_tid;

static void *serve(void *arg)
{
	atomic_store(&serve_tid, (int)syscall(SYS_gettid));
	uvfio_dev_run(arg, true);
	return NULL;
}

/* The dispatch thread waits on a lock (futex): the arc waits for us. */
static bool dispatcher_blocked(void)
{
	char path[64], line[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall",
		 atomic_load(&serve_tid));
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return atoi(line) == SYS_futex;
}

static void *ask_stop(void *arg)
{
	intptr_t r = uvfio_client_mig_set_state(arg, UVFIO_MIG_STOP);

	return (void *)r;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_drain_before_stop(void **state)
{
	static const struct uvfio_pci_ids ids = { .vendor_id = 0x1234,
						  .device_id = 0x0003 };
	static const struct uvfio_mig_ops ops = {
		.flags = VFIO_MIGRATION_STOP_COPY,
		.stop = stop,
		.run = nop,
		.save = save,
	};
	const struct uvfio_region_desc rd = { .size = 4096,
					      .flags = UVFIO_REGION_RW,
					      .access = regs };
	struct uvfio_doorbell db;
	struct uvfio_dev *dev;
	struct uvfio_client *c;
	pthread_t t, asker;
	uint64_t one = 1;
	void *ret;
	int64_t end;
	int sv[2];

	assert_int_equal(pipe(gate), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv),
			 0);
	dev = uvfio_dev_create(&ids, UVFIO_PCI_CFG_SIZE, NULL, NULL, NULL);
	assert_non_null(dev);
	assert_int_equal(uvfio_dev_add_region(dev, 0, &rd), 0);
	assert_int_equal(uvfio_dev_add_doorbell(dev, 0, DB_OFF, 4, 0, 0), 0);
	assert_int_equal(uvfio_dev_set_migration(dev, &ops, NULL), 0);
	assert_int_equal(uvfio_dev_attach_fd(dev, sv[0]), 0);
	assert_int_equal(pthread_create(&t, NULL, serve, dev), 0);
	c = uvfio_client_attach_fd(sv[1], NULL);
	assert_non_null(c);
	assert_int_equal(uvfio_client_region_doorbells(c, 0, &db, 1), 1);

	/* The first write: the doorbell thread blocks inside it. */
	assert_int_equal(write(db.fd, &one, sizeof(one)), sizeof(one));
	end = now_ms() + WAIT_MS;
	while (!atomic_load(&in_first) && now_ms() < end)
		usleep(100);
	assert_true(atomic_load(&in_first));
	/* The second waits in the eventfd; STOP is asked meanwhile. */
	assert_int_equal(write(db.fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(pthread_create(&asker, NULL, ask_stop, c), 0);
	/*
	 * Let the first go once the arc is waiting for it (or, were it not
	 * to wait, once the device has stopped without it).
	 */
	end = now_ms() + WAIT_MS;
	while (!dispatcher_blocked() && atomic_load(&at_stop) == UINT32_MAX &&
	       now_ms() < end)
		usleep(100);
	assert_int_equal(atomic_load(&at_stop), UINT32_MAX);
	assert_true(dispatcher_blocked());
	assert_int_equal(write(gate[1], "x", 1), 1);
	assert_int_equal(pthread_join(asker, &ret), 0);
	assert_int_equal((intptr_t)ret, 0);
	/* Both writes happened before the device stopped. */
	assert_int_equal(atomic_load(&at_stop), 2);
	assert_int_equal(atomic_load(&writes), 2);

	close(db.fd);
	uvfio_client_close(c);
	pthread_join(t, NULL);
	uvfio_dev_destroy(dev);
	close(gate[0]);
	close(gate[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drain_before_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
