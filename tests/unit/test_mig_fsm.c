// SPDX-License-Identifier: MIT
/*
 * The migration state machine's paths, for every pair of states and
 * every set of optional features, against the arcs and combination
 * paths that <linux/vfio.h> and the kernel's vfio core define.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <linux/vfio.h>

#include "proto/wire.h"
#include "server/mig_fsm.h"

#define SC_ VFIO_MIGRATION_STOP_COPY
#define P2P_ VFIO_MIGRATION_P2P
#define PRE_ VFIO_MIGRATION_PRE_COPY
#define N UVFIO_MIG_NUM_STATES

static const char *const names[N] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static int state_of(const char *s, size_t n)
{
	for (int i = 0; i < N; i++)
		if (strlen(names[i]) == n && !strncmp(names[i], s, n))
			return i;
	return -1;
}

/* The arcs a driver implements (the uAPI comment), by feature set. */
static bool direct(uint64_t f, int a, int b)
{
	static const char *const base[] = {
		"STOP STOP_COPY", "STOP_COPY STOP", "STOP RESUMING",
		"RESUMING STOP",
	};
	static const char *const p2p[] = {
		"RUNNING RUNNING_P2P", "RUNNING_P2P RUNNING",
		"RUNNING_P2P STOP", "STOP RUNNING_P2P",
	};
	static const char *const nop2p[] = { "RUNNING STOP", "STOP RUNNING" };
	static const char *const pre[] = {
		"RUNNING PRE_COPY", "PRE_COPY RUNNING",
	};
	static const char *const pre_p2p[] = {
		"PRE_COPY PRE_COPY_P2P", "PRE_COPY_P2P PRE_COPY",
		"RUNNING_P2P PRE_COPY_P2P", "PRE_COPY_P2P RUNNING_P2P",
		"PRE_COPY_P2P STOP_COPY",
	};
	static const char *const pre_nop2p[] = { "PRE_COPY STOP_COPY" };
	char want[40];

	snprintf(want, sizeof(want), "%s %s", names[a], names[b]);
#define HAS(tab)                                                  \
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) \
		if (!strcmp(tab[i], want))                        \
			return true;
	HAS(base);
	if (f & P2P_) {
		HAS(p2p);
	} else {
		HAS(nop2p);
	}
	if (f & PRE_) {
		HAS(pre);
		if (f & P2P_) {
			HAS(pre_p2p);
		} else {
			HAS(pre_nop2p);
		}
	}
#undef HAS
	return false;
}

static bool saving(int s)
{
	return s == VFIO_DEVICE_STATE_STOP_COPY ||
	       s == UVFIO_MIG_STATE_PRE_COPY ||
	       s == UVFIO_MIG_STATE_PRE_COPY_P2P;
}

/* Walks cur -> target; returns the number of steps or -errno. */
static int walk(uint64_t f, int cur, int target, int *path)
{
	int n = 0;

	path[n++] = cur;
	for (;;) {
		int next = mig_fsm_next(f, (uint32_t)cur, (uint32_t)target);

		if (next < 0)
			return next;
		if (next == cur)
			break;
		assert_true(n < N);
		assert_true(direct(f, cur, next));
		cur = next;
		path[n++] = cur;
	}
	assert_int_equal(cur, target);
	return n - 1;
}

/* Shortest path by the rule, by breadth-first search over the arcs. */
static int shortest(uint64_t f, int from, int to)
{
	int dist[N], q[N], h = 0, t = 0;

	for (int i = 0; i < N; i++)
		dist[i] = -1;
	dist[from] = 0;
	q[t++] = from;
	while (h < t) {
		int s = q[h++];

		/* An interior saving state only inside a saving session. */
		if (s != from && saving(s) && !(saving(from) && saving(to)))
			continue;
		for (int n = 1; n < N; n++)
			if (dist[n] < 0 && mig_fsm_has(f, (uint32_t)n) &&
			    direct(f, s, n)) {
				dist[n] = dist[s] + 1;
				q[t++] = n;
			}
	}
	return dist[to];
}

static void every_pair(void **state)
{
	static const uint64_t sets[] = {
		SC_, SC_ | P2P_, SC_ | PRE_, SC_ | P2P_ | PRE_,
	};

	for (size_t k = 0; k < 4; k++) {
		uint64_t f = sets[k];

		for (int a = 0; a < N; a++) {
			for (int b = 0; b < N; b++) {
				int path[N + 1], n;
				bool ok = mig_fsm_has(f, (uint32_t)a) &&
					  mig_fsm_has(f, (uint32_t)b) &&
					  !(a == VFIO_DEVICE_STATE_STOP_COPY &&
					    (b == UVFIO_MIG_STATE_PRE_COPY ||
					     b == UVFIO_MIG_STATE_PRE_COPY_P2P));

				n = walk(f, a, b, path);
				if (!ok) {
					assert_int_equal(n, -EINVAL);
					continue;
				}
				assert_true(n >= 0);
				assert_int_equal(n, shortest(f, a, b));
				for (int i = 1; i < n; i++)
					assert_true(!saving(path[i]) ||
						    (saving(a) && saving(b)));
			}
		}
	}
}

/* The combination paths the kernel lists for a device with everything. */
static void kernel_paths(void **state)
{
	static const char *const paths[] = {
		"PRE_COPY PRE_COPY_P2P STOP_COPY",
		"PRE_COPY RUNNING RUNNING_P2P",
		"PRE_COPY RUNNING RUNNING_P2P STOP",
		"PRE_COPY RUNNING RUNNING_P2P STOP RESUMING",
		"PRE_COPY_P2P RUNNING_P2P RUNNING",
		"PRE_COPY_P2P RUNNING_P2P STOP",
		"PRE_COPY_P2P RUNNING_P2P STOP RESUMING",
		"RESUMING STOP RUNNING_P2P",
		"RESUMING STOP RUNNING_P2P PRE_COPY_P2P",
		"RESUMING STOP RUNNING_P2P RUNNING",
		"RESUMING STOP RUNNING_P2P RUNNING PRE_COPY",
		"RESUMING STOP STOP_COPY",
		"RUNNING RUNNING_P2P PRE_COPY_P2P",
		"RUNNING RUNNING_P2P STOP",
		"RUNNING RUNNING_P2P STOP RESUMING",
		"RUNNING RUNNING_P2P STOP STOP_COPY",
		"RUNNING_P2P RUNNING PRE_COPY",
		"RUNNING_P2P STOP RESUMING",
		"RUNNING_P2P STOP STOP_COPY",
		"STOP RUNNING_P2P PRE_COPY_P2P",
		"STOP RUNNING_P2P RUNNING",
		"STOP RUNNING_P2P RUNNING PRE_COPY",
		"STOP_COPY STOP RESUMING",
		"STOP_COPY STOP RUNNING_P2P",
		"STOP_COPY STOP RUNNING_P2P RUNNING",
	};
	uint64_t f = SC_ | P2P_ | PRE_;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int want[N + 1], got[N + 1], n = 0, m;
		const char *p = paths[i];

		while (*p) {
			size_t l = strcspn(p, " ");

			want[n] = state_of(p, l);
			assert_true(want[n] >= 0);
			n++;
			p += l + (p[l] == ' ');
		}
		m = walk(f, want[0], want[n - 1], got);
		assert_int_equal(m, n - 1);
		assert_memory_equal(want, got, sizeof(int) * (size_t)n);
	}
}

static void refusals(void **state)
{
	uint64_t all = SC_ | P2P_ | PRE_;

	/* Unknown states, ERROR either way, states not offered. */
	assert_int_equal(mig_fsm_next(all, 2, 8), -EINVAL);
	assert_int_equal(mig_fsm_next(all, 2, 0), -EINVAL);
	assert_int_equal(mig_fsm_next(all, 0, 2), -EINVAL);
	assert_int_equal(mig_fsm_next(SC_, 2, 5), -EINVAL);
	assert_int_equal(mig_fsm_next(SC_, 2, 6), -EINVAL);
	assert_int_equal(mig_fsm_next(SC_ | P2P_, 2, 7), -EINVAL);
	assert_int_equal(mig_fsm_next(all, 3, 6), -EINVAL);
	assert_int_equal(mig_fsm_next(all, 3, 7), -EINVAL);
	assert_int_equal(mig_fsm_next(0, 2, 1), -EINVAL);
	/* Staying put is a path of no steps. */
	assert_int_equal(mig_fsm_next(all, 4, 4), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_pair),
		cmocka_unit_test(kernel_paths),
		cmocka_unit_test(refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
