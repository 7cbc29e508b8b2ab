/* SPDX-License-Identifier: MIT */
/* Device set-up shared by the benchmarks. */
#ifndef UVFIO_BENCH_DEV_H
#define UVFIO_BENCH_DEV_H

#include <stdint.h>
#include <sys/types.h>

#include <stdbool.h>

#include <uvfio/client.h>
#include <uvfio/server.h>

/* A BAR that reads zero and ignores writes. */
ssize_t bench_zero_bar(struct uvfio_dev *dev, void *priv, uint64_t off,
		       void *buf, size_t count, bool is_write);
/* Thread entry: serves the uvfio_dev given until its client leaves. */
void *bench_dev_main(void *dev);

/*
 * A file of the build tree, found from this program's place in it
 * (rel as from the build root, e.g. "devices/testdev/uvfio-testdev"),
 * so benchmarks run without arguments.  A static buffer.
 */
const char *bench_build_path(const char *rel);

/* Starts uvfio-testdev on sock and waits for the socket; exits on failure. */
pid_t bench_start_testdev(const char *bin, const char *sock);

/*
 * What a guest's driver does: programs MSI-X table entry 0 (at table_off
 * in BAR0) with (address, data), unmasked, then enables MSI-X through
 * the client's emulation.  Returns 0 or a negative errno.
 */
int bench_msix_enable_one(struct uvfio_client *c, uint64_t table_off,
			  uint64_t address, uint32_t data);

#endif
