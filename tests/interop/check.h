/* SPDX-License-Identifier: MIT */
/*
 * Checks of the interop programs: a failed one is printed with its line
 * and counted, and the program goes on, so one run lists every mismatch
 * with a peer, not only the first.
 */
#ifndef UVFIO_TESTS_INTEROP_CHECK_H
#define UVFIO_TESTS_INTEROP_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                       \
			fprintf(stderr, "\n");                              \
			failures++;                                         \
		}                                                           \
	} while (0)

#endif
