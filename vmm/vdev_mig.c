// SPDX-License-Identifier: MIT
/*
 * A device's VMM-side state across a migration.  The device carries its
 * own state (registers, config space) in its migration stream; the VMM
 * adds what only it knows: where the guest put the BARs (they are
 * emulated here, the device never sees their addresses), the command
 * register that decides whether they decode, and the client's MSI and
 * MSI-X emulation (table, masks, pending bits).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vdev.h"

#define VDEV_MIG_MAGIC 0x76646576u /* "vdev" */

struct vdev_mig_head {
	uint32_t magic;
	uint16_t vendor;
	uint16_t device;
	uint16_t command;
	uint16_t pad;
	uint32_t irq_len; /* bytes of irq state after this header */
	uint64_t bar_addr[UVFIO_PCI_NUM_BARS];
};

int vdev_mig_save(struct vdev *vd, void **blob, size_t *len)
{
	struct vdev_mig_head h = {
		.magic = VDEV_MIG_MAGIC,
		.vendor = vd->vendor,
		.device = vd->device,
	};
	ssize_t n = 0;
	uint8_t *b;

	if (vd->irq_attached) {
		n = uvfio_client_irq_save(vd->c, NULL, 0);
		if (n < 0)
			return (int)n;
	}
	b = malloc(sizeof(h) + (size_t)n);
	if (!b)
		return -ENOMEM;
	if (n) {
		n = uvfio_client_irq_save(vd->c, b + sizeof(h), (size_t)n);
		if (n < 0) {
			free(b);
			return (int)n;
		}
	}
	pthread_mutex_lock(&vd->lock);
	h.command = vd->command;
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++)
		h.bar_addr[i] = vd->bars[i].addr;
	pthread_mutex_unlock(&vd->lock);
	h.irq_len = (uint32_t)n;
	memcpy(b, &h, sizeof(h));
	*blob = b;
	*len = sizeof(h) + (size_t)n;
	return 0;
}

int vdev_mig_load(struct vdev *vd, const void *blob, size_t len)
{
	struct vdev_mig_head h;
	int ret = 0;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, blob, sizeof(h));
	if (h.magic != VDEV_MIG_MAGIC || h.vendor != vd->vendor ||
	    h.device != vd->device || h.irq_len != len - sizeof(h) ||
	    (h.irq_len && !vd->irq_attached))
		return -EINVAL;
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		const struct vbar *b = &vd->bars[i];

		/* The destination's device must be the source's kind. */
		if ((!b->size && h.bar_addr[i]) ||
		    (b->size && (h.bar_addr[i] & (b->size - 1))))
			return -EINVAL;
	}
	if (h.irq_len)
		ret = uvfio_client_irq_load(
			vd->c, (const uint8_t *)blob + sizeof(h), h.irq_len);
	if (ret)
		return ret;
	pthread_mutex_lock(&vd->lock);
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++)
		vd->bars[i].addr = h.bar_addr[i];
	vdev_set_command(vd, h.command);
	/* A BAR that decodes on both sides may still have moved. */
	vbar_update_all(vd);
	pthread_mutex_unlock(&vd->lock);
	return 0;
}
