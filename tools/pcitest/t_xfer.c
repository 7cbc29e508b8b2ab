// SPDX-License-Identifier: MIT
/*
 * READ, WRITE and COPY, as pcitest -r/-w/-c: sizes from one byte to
 * over a megabyte, odd sizes that end mid-chunk, unaligned addresses,
 * every interrupt type, and both windows (shared by fd and in-band).
 * Guard bytes around each destination catch writes past either end.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/crc32.h"
#include "pcitest.h"

#define GUARD 64
#define POISON 0xa5
#define MIB (1u << 20)

struct xcase {
	uint32_t size;
	uint32_t misalign;      /* added to both addresses */
	uint32_t irq_type;
	uint32_t irq_number;
	bool src_inband;
	bool dst_inband;
};

static const struct xcase cases[] = {
	{ 1, 0, TESTDEV_IRQ_MSIX, 1, false, false },
	{ 1024, 1, TESTDEV_IRQ_MSI, 1, false, false },
	{ MIB, 0, TESTDEV_IRQ_INTX, 1, false, false },
	{ 3, 3, TESTDEV_IRQ_MSIX, 2, false, false },
	{ 4097, 5, TESTDEV_IRQ_MSIX, 3, false, false },
	{ 65537, 7, TESTDEV_IRQ_MSI, 1, false, false },
	{ MIB + 13, 2, TESTDEV_IRQ_MSIX, 8, false, false },
	{ 1, 0, TESTDEV_IRQ_MSIX, 4, true, true },
	{ 4097, 1, TESTDEV_IRQ_INTX, 1, true, true },
	{ MIB, 0, TESTDEV_IRQ_MSIX, 5, true, true },
	{ 65540, 6, TESTDEV_IRQ_MSI, 1, true, true },
	/* Only COPY reads one window and writes the other. */
	{ 200000, 3, TESTDEV_IRQ_MSIX, 6, false, true },
	{ MIB, 0, TESTDEV_IRQ_MSIX, 7, true, false },
};

enum op { OP_READ, OP_WRITE, OP_COPY };

/* Source at the start of its window, destination in the second half. */
static uint8_t *src_of(struct pt *t, const struct xcase *x, uint64_t *iova)
{
	struct pt_window *w = x->src_inband ? &t->inband : &t->shared;

	*iova = w->iova + GUARD + x->misalign;
	return w->mem + GUARD + x->misalign;
}

static uint8_t *dst_of(struct pt *t, const struct xcase *x, uint64_t *iova)
{
	struct pt_window *w = x->dst_inband ? &t->inband : &t->shared;
	size_t off = w->size / 2 + GUARD + x->misalign;

	*iova = w->iova + off;
	return w->mem + off;
}

static int check_guards(const uint8_t *dst, uint32_t size, char *why,
			size_t len)
{
	unsigned int i;

	for (i = 1; i <= GUARD; i++) {
		if (dst[-(int)i] != POISON || dst[size + i - 1] != POISON) {
			snprintf(why, len, "device wrote outside the buffer");
			return -EIO;
		}
	}
	return 0;
}

static const char *irq_label(const struct xcase *x, char *buf, size_t len)
{
	static const char *const names[] = { "INTx", "MSI", "MSI-X" };

	snprintf(buf, len, "%s %u", names[x->irq_type], x->irq_number);
	return buf;
}

static const char *window_label(const struct xcase *x)
{
	if (x->src_inband == x->dst_inband)
		return x->src_inband ? "in-band" : "shared";
	return x->src_inband ? "in-band->shared" : "shared->in-band";
}

/* The status one good command leaves: its ok bit and the irq bit. */
static int check_status(uint32_t status, uint32_t ok, char *why, size_t len)
{
	uint32_t want = ok | TESTDEV_STATUS_IRQ_RAISED;

	if (status == want)
		return 0;
	snprintf(why, len, "status %#x, want %#x", status, want);
	return -EIO;
}

static int run_case(struct pt *t, enum op op, const struct xcase *x,
		    char *why, size_t len)
{
	struct pt_cmd cmd = {
		.size = x->size,
		.irq_type = x->irq_type,
		.irq_number = x->irq_number,
		.expect_irq = true,
	};
	struct pt_result res;
	uint8_t *src = src_of(t, x, &cmd.src);
	uint8_t *dst = dst_of(t, x, &cmd.dst);
	uint32_t ok;

	if (op != OP_WRITE) {
		pt_fill_random(t, src, x->size);
		cmd.checksum = crc32_le(~0u, src, x->size);
	}
	if (op != OP_READ)
		memset(dst - GUARD, POISON, x->size + 2 * GUARD);
	cmd.command = op == OP_READ    ? TESTDEV_CMD_READ :
		      op == OP_WRITE   ? TESTDEV_CMD_WRITE :
					 TESTDEV_CMD_COPY;
	ok = op == OP_READ    ? TESTDEV_STATUS_READ_OK :
	     op == OP_WRITE   ? TESTDEV_STATUS_WRITE_OK :
				TESTDEV_STATUS_COPY_OK;

	if (pt_run_cmd(t, &cmd, &res, why, len) ||
	    check_status(res.status, ok, why, len))
		return -EIO;
	if (op == OP_READ)
		return 0;
	if (check_guards(dst, x->size, why, len))
		return -EIO;
	if (op == OP_WRITE &&
	    crc32_le(~0u, dst, x->size) != res.checksum) {
		snprintf(why, len, "CRC of the data %#010x, device says %#010x",
			 crc32_le(~0u, dst, x->size), res.checksum);
		return -EIO;
	}
	if (op == OP_COPY && memcmp(src, dst, x->size)) {
		snprintf(why, len, "destination differs from source");
		return -EIO;
	}
	return 0;
}

/* Appends which case failed to the reason. */
static void blame(const struct xcase *x, char *why, size_t len)
{
	char reason[256], irq[16];

	snprintf(reason, sizeof(reason), "%s", why);
	snprintf(why, len, "size %u +%u %s %s: %s", x->size, x->misalign,
		 window_label(x), irq_label(x, irq, sizeof(irq)), reason);
}

static int run_all(struct pt *t, enum op op, char *why, size_t len)
{
	const struct xcase *x;
	char irq[16];

	for (x = cases; x < cases + sizeof(cases) / sizeof(cases[0]); x++) {
		if (op != OP_COPY && x->src_inband != x->dst_inband)
			continue;
		if (run_case(t, op, x, why, len)) {
			blame(x, why, len);
			return -EIO;
		}
		pt_note(t, "size %u +%u %s %s", x->size, x->misalign,
			window_label(x), irq_label(x, irq, sizeof(irq)));
	}
	return 0;
}

/* READ must also notice a wrong checksum, or it proves nothing. */
static int read_bad_crc(struct pt *t, char *why, size_t len)
{
	const struct xcase x = { 4096, 0, TESTDEV_IRQ_MSIX, 1, false, false };
	struct pt_cmd cmd = {
		.command = TESTDEV_CMD_READ,
		.size = x.size,
		.irq_type = x.irq_type,
		.irq_number = x.irq_number,
		.expect_irq = true,
	};
	struct pt_result res;
	uint8_t *src = src_of(t, &x, &cmd.src);

	pt_fill_random(t, src, x.size);
	cmd.checksum = crc32_le(~0u, src, x.size) ^ 1;
	if (pt_run_cmd(t, &cmd, &res, why, len))
		return -EIO;
	if (check_status(res.status, TESTDEV_STATUS_READ_FAIL, why, len)) {
		strncat(why, " for a wrong checksum", len - strlen(why) - 1);
		return -EIO;
	}
	pt_note(t, "wrong checksum refused");
	return 0;
}

int pt_test_read(struct pt *t, char *why, size_t len)
{
	if (run_all(t, OP_READ, why, len))
		return -EIO;
	return read_bad_crc(t, why, len);
}

int pt_test_write(struct pt *t, char *why, size_t len)
{
	return run_all(t, OP_WRITE, why, len);
}

int pt_test_copy(struct pt *t, char *why, size_t len)
{
	return run_all(t, OP_COPY, why, len);
}
