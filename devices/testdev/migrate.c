// SPDX-License-Identifier: MIT
/*
 * testdev's migration: everything a guest can observe.  BAR1..5 are
 * pre-copied while the device runs (the client may write them through
 * its mappings, so what changed is found by comparing with a shadow of
 * what was sent); STOP_COPY sends the registers (a command not started
 * yet is among them) and the pages that changed since.  A command under
 * way is never cut: its DMA is one transaction (testdev.c), which the
 * library lets finish before the device stops.  Interrupts held pending
 * and config space are the library's to migrate.
 *
 * A record is a sequence of items: REGS (the whole register file) or
 * PAGE (bar, offset, up to 4 KiB of its bytes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testdev_priv.h"

#define PAGE 4096u
enum { ITEM_REGS = 1, ITEM_PAGE = 2 };

static const uint64_t bar_size[] = TESTDEV_BAR_SIZES;

struct page_item {
	uint8_t type;
	uint8_t bar;
	uint16_t pad;
	uint32_t off;
	uint32_t len;
} __attribute__((packed));

static uint8_t *bar_mem(struct testdev *td, unsigned int bar)
{
	return uvfio_dev_region_mem(td->dev, VFIO_PCI_BAR0_REGION_INDEX + bar);
}

static uint32_t page_len(unsigned int bar, uint64_t off)
{
	return (uint32_t)(bar_size[bar] - off < PAGE ? bar_size[bar] - off :
						       PAGE);
}

/* Whether a page differs from what was last sent. */
static bool changed(struct testdev *td, unsigned int bar, uint64_t off)
{
	return !td->shadow_valid ||
	       memcmp(bar_mem(td, bar) + off, td->shadow[bar] + off,
		      page_len(bar, off));
}

static void save_begin(struct uvfio_dev *dev, void *priv)
{
	struct testdev *td = priv;

	td->shadow_valid = false;
}

static int save(struct uvfio_dev *dev, void *priv, struct uvfio_mig_out *out,
		bool final)
{
	struct testdev *td = priv;
	int err = 0;

	if (final) {
		struct testdev_regfile rf;
		uint8_t type = ITEM_REGS;

		pthread_mutex_lock(&td->lock);
		rf = td->rf;
		pthread_mutex_unlock(&td->lock);
		err = uvfio_mig_write(out, &type, sizeof(type));
		if (!err)
			err = uvfio_mig_write(out, &rf, sizeof(rf));
	}
	for (unsigned int b = 1; !err && b < UVFIO_PCI_NUM_BARS; b++) {
		if (!bar_mem(td, b) || !td->shadow[b])
			continue;
		for (uint64_t off = 0; !err && off < bar_size[b]; off += PAGE) {
			struct page_item it = {
				.type = ITEM_PAGE,
				.bar = (uint8_t)b,
				.off = (uint32_t)off,
				.len = page_len(b, off),
			};

			if (!changed(td, b, off))
				continue;
			/* Send the copy: the client may write meanwhile. */
			memcpy(td->shadow[b] + off, bar_mem(td, b) + off,
			       it.len);
			err = uvfio_mig_write(out, &it, sizeof(it));
			if (!err)
				err = uvfio_mig_write(out, td->shadow[b] + off,
						      it.len);
		}
	}
	if (!err)
		td->shadow_valid = true;
	return err;
}

static uint64_t pending(struct uvfio_dev *dev, void *priv, bool final)
{
	struct testdev *td = priv;
	uint64_t n = final ? 1 + sizeof(struct testdev_regfile) : 0;

	for (unsigned int b = 1; b < UVFIO_PCI_NUM_BARS; b++)
		for (uint64_t off = 0; bar_mem(td, b) && td->shadow[b] &&
				       off < bar_size[b];
		     off += PAGE)
			if (changed(td, b, off))
				n += sizeof(struct page_item) +
				     page_len(b, off);
	return n;
}

static void save_end(struct uvfio_dev *dev, void *priv)
{
	struct testdev *td = priv;

	td->shadow_valid = false;
}

static int load(struct uvfio_dev *dev, void *priv, const void *data,
		size_t len, bool final)
{
	struct testdev *td = priv;
	const uint8_t *p = data, *end = p + len;

	while (p < end) {
		struct page_item it;

		if (*p == ITEM_REGS) {
			struct testdev_regfile rf;

			if ((size_t)(end - p) < 1 + sizeof(rf))
				return -EINVAL;
			memcpy(&rf, p + 1, sizeof(rf));
			pthread_mutex_lock(&td->lock);
			td->rf = rf;
			td->gen++;
			pthread_mutex_unlock(&td->lock);
			p += 1 + sizeof(rf);
			continue;
		}
		if (*p != ITEM_PAGE || (size_t)(end - p) < sizeof(it))
			return -EINVAL;
		memcpy(&it, p, sizeof(it));
		p += sizeof(it);
		if (!it.bar || it.bar >= UVFIO_PCI_NUM_BARS ||
		    !bar_mem(td, it.bar) || it.off % PAGE ||
		    it.off >= bar_size[it.bar] ||
		    it.len != page_len(it.bar, it.off) ||
		    (size_t)(end - p) < it.len)
			return -EINVAL;
		memcpy(bar_mem(td, it.bar) + it.off, p, it.len);
		p += it.len;
	}
	return 0;
}

/* Stopped commands start again: a pending one may have migrated in. */
static int run(struct uvfio_dev *dev, void *priv)
{
	testdev_kick(priv);
	return 0;
}

int testdev_mig_setup(struct testdev *td)
{
	static const struct uvfio_mig_ops ops = {
		.flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			 VFIO_MIGRATION_PRE_COPY,
		.run = run,
		.unquiesce = run,
		.save_begin = save_begin,
		.save = save,
		.pending = pending,
		.save_end = save_end,
		.load = load,
	};

	for (unsigned int b = 1; b < UVFIO_PCI_NUM_BARS; b++) {
		if (!bar_mem(td, b))
			continue;
		td->shadow[b] = malloc(bar_size[b]);
		if (!td->shadow[b])
			return -ENOMEM;
	}
	return uvfio_dev_set_migration(td->dev, &ops, td);
}

void testdev_mig_free(struct testdev *td)
{
	for (unsigned int b = 0; b < UVFIO_PCI_NUM_BARS; b++) {
		free(td->shadow[b]);
		td->shadow[b] = NULL;
	}
}
