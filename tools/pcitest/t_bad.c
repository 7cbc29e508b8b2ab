// SPDX-License-Identifier: MIT
/*
 * What a driver bug looks like to the device: unmapped and wrapping
 * addresses, transfers running off a window's end, sizes 0 and huge,
 * irq numbers that name no armed vector.  Each must fail cleanly with
 * the right status bits, and the device must work normally afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/crc32.h"
#include "pcitest.h"

#define UNMAPPED 0x300000000ull

struct bad {
	const char *name;
	uint32_t command;
	bool src_bad;           /* else src is valid shared memory */
	bool dst_bad;
	uint64_t addr;          /* the bad address */
	uint32_t size;
	uint32_t must;          /* status bits that must be set */
	uint32_t mustnot;
};

static int run_bad(struct pt *t, const struct bad *b, char *why, size_t len)
{
	const uint64_t mid = t->shared.iova + t->shared.size / 2;
	struct pt_cmd cmd = {
		.command = b->command,
		.src = b->src_bad ? b->addr : t->shared.iova,
		.dst = b->dst_bad ? b->addr : mid,
		.size = b->size,
		.irq_type = TESTDEV_IRQ_MSIX,
		.irq_number = 1,
		.expect_irq = true,
	};
	struct pt_result res;
	char reason[200];
	uint32_t must = b->must | TESTDEV_STATUS_IRQ_RAISED;

	if (b->command == TESTDEV_CMD_READ)
		cmd.checksum = crc32_le(~0u, t->shared.mem, 16);
	if (pt_run_cmd(t, &cmd, &res, reason, sizeof(reason))) {
		snprintf(why, len, "%s: %s", b->name, reason);
		return -EIO;
	}
	if ((res.status & must) != must || (res.status & b->mustnot)) {
		snprintf(why, len, "%s: status %#x, want %#x set and %#x clear",
			 b->name, res.status, must, b->mustnot);
		return -EIO;
	}
	pt_note(t, "%s: status %#x", b->name, res.status);
	return 0;
}

static int run_table(struct pt *t, char *why, size_t len)
{
	const uint64_t shared_end = t->shared.iova + t->shared.size;
	const uint64_t inband_end = t->inband.iova + t->inband.size;
	const uint32_t rd_fail = TESTDEV_STATUS_READ_FAIL;
	const uint32_t wr_fail = TESTDEV_STATUS_WRITE_FAIL;
	const uint32_t cp_fail = TESTDEV_STATUS_COPY_FAIL;
	const uint32_t src_inv = TESTDEV_STATUS_SRC_INVALID;
	const uint32_t dst_inv = TESTDEV_STATUS_DST_INVALID;
	const uint32_t rd_ok = TESTDEV_STATUS_READ_OK;
	const uint32_t wr_ok = TESTDEV_STATUS_WRITE_OK;
	const uint32_t cp_ok = TESTDEV_STATUS_COPY_OK;
	const struct bad table[] = {
		{ "read from unmapped src", TESTDEV_CMD_READ, true, false,
		  UNMAPPED, 4096, rd_fail | src_inv, rd_ok },
		{ "write to unmapped dst", TESTDEV_CMD_WRITE, false, true,
		  UNMAPPED, 4096, wr_fail | dst_inv, wr_ok },
		{ "copy from unmapped src", TESTDEV_CMD_COPY, true, false,
		  UNMAPPED, 4096, cp_fail | src_inv, cp_ok | dst_inv },
		{ "copy to unmapped dst", TESTDEV_CMD_COPY, false, true,
		  UNMAPPED, 4096, cp_fail | dst_inv, cp_ok | src_inv },
		{ "read past the shared window", TESTDEV_CMD_READ, true, false,
		  shared_end - 100, 4096, rd_fail, rd_ok },
		{ "write past the shared window", TESTDEV_CMD_WRITE, false,
		  true, shared_end - 100, 4096, wr_fail, wr_ok },
		{ "read past the in-band window", TESTDEV_CMD_READ, true, false,
		  inband_end - 100, 4096, rd_fail, rd_ok },
		{ "write past the in-band window", TESTDEV_CMD_WRITE, false,
		  true, inband_end - 100, 4096, wr_fail, wr_ok },
		{ "read wrapping at 2^64", TESTDEV_CMD_READ, true, false,
		  0xfffffffffffff000ull, 0x2000, rd_fail, rd_ok },
		{ "read of size 0", TESTDEV_CMD_READ, false, false, 0, 0,
		  rd_fail, rd_ok },
		{ "write of size 0", TESTDEV_CMD_WRITE, false, false, 0, 0,
		  wr_fail, wr_ok },
		{ "copy of size 0", TESTDEV_CMD_COPY, false, false, 0, 0,
		  cp_fail, cp_ok },
		{ "read of 4 GiB - 1", TESTDEV_CMD_READ, false, false, 0,
		  0xffffffffu, rd_fail, rd_ok },
		{ "write of 4 GiB - 1", TESTDEV_CMD_WRITE, false, false, 0,
		  0xffffffffu, wr_fail, wr_ok },
		{ "copy of 4 GiB - 1", TESTDEV_CMD_COPY, false, false, 0,
		  0xffffffffu, cp_fail, cp_ok },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (run_bad(t, &table[i], why, len))
			return -EIO;
	return 0;
}

/* A huge WRITE must not have scribbled over the valid start of dst. */
static int check_untouched(struct pt *t, char *why, size_t len)
{
	const uint8_t *dst = t->shared.mem + t->shared.size / 2;
	uint8_t ref[64];

	memset(ref, 0x3c, sizeof(ref));
	if (memcmp(dst, ref, sizeof(ref))) {
		snprintf(why, len, "a refused WRITE changed the destination");
		return -EIO;
	}
	return 0;
}

/* Irq numbers that name no armed vector must raise nothing we hold. */
static int silent_irqs(struct pt *t, char *why, size_t len)
{
	const uint32_t numbers[] = { 0, t->msix_vecs + 1, TESTDEV_MSIX_VECTORS,
				     TESTDEV_MSIX_VECTORS + 1, 0xffffffffu };
	struct pt_cmd cmd = {
		.command = TESTDEV_CMD_RAISE_MSIX,
		.irq_type = TESTDEV_IRQ_MSIX,
	};
	struct pt_result res;
	char reason[200];
	size_t i;

	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		cmd.irq_number = numbers[i];
		if (pt_run_cmd(t, &cmd, &res, reason, sizeof(reason))) {
			snprintf(why, len, "MSI-X number %u: %s", numbers[i],
				 reason);
			return -EIO;
		}
	}
	/* An irq type the device does not know: nothing either. */
	cmd.command = TESTDEV_CMD_READ;
	cmd.irq_type = 7;
	cmd.irq_number = 1;
	if (pt_run_cmd(t, &cmd, &res, reason, sizeof(reason))) {
		snprintf(why, len, "irq type 7: %s", reason);
		return -EIO;
	}
	if (res.status & TESTDEV_STATUS_IRQ_RAISED) {
		snprintf(why, len, "irq type 7: status %#x claims an irq",
			 res.status);
		return -EIO;
	}
	pt_note(t, "irq numbers naming no armed vector stay silent");
	return 0;
}

/* After all that, an ordinary READ still works. */
static int still_alive(struct pt *t, char *why, size_t len)
{
	struct pt_cmd cmd = {
		.command = TESTDEV_CMD_READ,
		.src = t->shared.iova + 4096,
		.size = 65536,
		.irq_type = TESTDEV_IRQ_MSIX,
		.irq_number = 2,
		.expect_irq = true,
	};
	struct pt_result res;
	char reason[200];

	pt_fill_random(t, t->shared.mem + 4096, cmd.size);
	cmd.checksum = crc32_le(~0u, t->shared.mem + 4096, cmd.size);
	if (pt_run_cmd(t, &cmd, &res, reason, sizeof(reason))) {
		snprintf(why, len, "READ afterwards: %s", reason);
		return -EIO;
	}
	if (res.status !=
	    (TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_IRQ_RAISED)) {
		snprintf(why, len, "READ afterwards: status %#x", res.status);
		return -EIO;
	}
	return 0;
}

int pt_test_bad(struct pt *t, char *why, size_t len)
{
	memset(t->shared.mem + t->shared.size / 2, 0x3c, 64);
	if (run_table(t, why, len) || check_untouched(t, why, len) ||
	    silent_irqs(t, why, len) || still_alive(t, why, len))
		return -EIO;
	return 0;
}
