/* SPDX-License-Identifier: MIT */
/*
 * The cases of hostile_evil_server, one file per concern, each adding its
 * tests (with evil_server.h's fixtures) to the suite main() runs.
 */
#ifndef UVFIO_TESTS_HOSTILE_EVIL_CASES_H
#define UVFIO_TESTS_HOSTILE_EVIL_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "evil_server.h"

#define PAGE 4096u
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct evil_suite {
	struct CMUnitTest *t;
	size_t n, cap;
	char **names;
};

/* A test f under name, on a server and client made from cfg. */
void evil_suite_add(struct evil_suite *s, const char *name,
		    CMUnitTestFunction f, const struct evil_cfg *cfg);

void evil_add_version_tests(struct evil_suite *s);
void evil_add_reply_tests(struct evil_suite *s);
void evil_add_region_tests(struct evil_suite *s);
void evil_add_dma_tests(struct evil_suite *s);
void evil_add_iofd_tests(struct evil_suite *s);

static inline struct evil_env *evil_env(void **state)
{
	struct evil_env *e = *state;

	return e;
}

#endif
