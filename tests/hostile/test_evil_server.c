// SPDX-License-Identifier: MIT
/*
 * The client against a hostile server (evil_server.h).  A bad reply must
 * give a clear error (the server's errno, -EPROTO for a reply that does
 * not fit, -ECONNRESET for a lost link), never a crash, a hang or a leaked
 * fd or byte; a server's DMA request is answered from the shared windows
 * only, and refused with EFAULT/EINVAL/EACCES/ENOSYS otherwise.
 *
 * Each case spoils one thing.  The fixtures give every case a fresh server
 * and client, a time limit, and check the process's fd count at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "evil_cases.h"

void evil_suite_add(struct evil_suite *s, const char *name,
		    CMUnitTestFunction f, const struct evil_cfg *cfg)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->t = realloc(s->t, s->cap * sizeof(*s->t));
		s->names = realloc(s->names, s->cap * sizeof(*s->names));
		if (!s->t || !s->names)
			abort();
	}
	s->names[s->n] = strdup(name);
	if (!s->names[s->n])
		abort();
	s->t[s->n] = (struct CMUnitTest){
		.name = s->names[s->n],
		.test_func = f,
		.setup_func = evil_setup,
		.teardown_func = evil_teardown,
		/* cmocka's state is not const; the fixtures only read it. */
		.initial_state = (void *)cfg,
	};
	s->n++;
}

int main(void)
{
	struct evil_suite s = { 0 };
	int r;

	evil_init();
	evil_add_version_tests(&s);
	evil_add_reply_tests(&s);
	evil_add_region_tests(&s);
	evil_add_dma_tests(&s);
	evil_add_iofd_tests(&s);
	r = _cmocka_run_group_tests("evil_server", s.t, s.n, NULL, NULL);
	for (size_t i = 0; i < s.n; i++)
		free(s.names[i]);
	free(s.names);
	free(s.t);
	return r;
}
