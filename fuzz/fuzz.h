/* SPDX-License-Identifier: MIT */
/* What every harness shares: the libFuzzer entry point and a failure. */
#ifndef UVFIO_FUZZ_H
#define UVFIO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: abort so the fuzzer keeps the input. */
static inline void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz: invariant broken: %s\n", why);
	abort();
}

#endif
