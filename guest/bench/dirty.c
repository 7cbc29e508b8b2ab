// SPDX-License-Identifier: MIT
/*
 * Guest side of bench/vm_migrate: a steady writer.  It writes one word
 * in each page of a 1 MiB working set, round after round, for ever (the
 * bench ends the VM), so that every pre-copy round finds pages dirty
 * and the last dirty set is the working set at most.
 */
#include "guest.h"

#define WORKING_SET (1u << 20)

static volatile uint64_t ws[WORKING_SET / 8] __attribute__((aligned(4096)));

int main(void)
{
	printf("dirtying %u KiB\n", WORKING_SET / 1024);
	for (uint64_t round = 1;; round++)
		for (unsigned int p = 0; p < WORKING_SET / 4096; p++)
			ws[p * 512] = round;
	return 0;
}
