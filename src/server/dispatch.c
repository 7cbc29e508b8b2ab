// SPDX-License-Identifier: MIT
/*
 * Dispatch of client messages.  Checks shared by every command (type,
 * negotiation, fds the command may carry) live here so each handler sees
 * a message that is already plausible; each handler validates its own
 * payload.
 */
#include <errno.h>
#include <unistd.h>

#include "priv.h"
#include "proto/hot.h"

typedef int (*handler_fn)(struct uvfio_dev *dev, struct uvfio_msg *msg);

static int handle_reset(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	int err;

	if (msg->size)
		return -EINVAL;
	/* A migrating device resets out of ERROR even without ops.reset. */
	if (!dev->ops.reset && !dev->mig)
		return -ENOTSUP;
	err = dev->ops.reset ? dev->ops.reset(dev, dev->priv) : 0;
	if (err)
		return err;
	mig_reset(dev, false);
	/* As a function reset: the command register and interrupt enables. */
	uvfio_pci_set16(&dev->cfg, PCI_COMMAND, 0);
	uint8_t pos = uvfio_pci_find_cap(&dev->cfg, PCI_CAP_ID_MSI);

	if (pos)
		uvfio_pci_set16(&dev->cfg, pos + PCI_MSI_FLAGS,
				uvfio_pci_get16(&dev->cfg, pos + PCI_MSI_FLAGS) &
					(uint16_t) ~(PCI_MSI_FLAGS_ENABLE |
						     PCI_MSI_FLAGS_QSIZE));
	pos = uvfio_pci_find_cap(&dev->cfg, PCI_CAP_ID_MSIX);
	if (pos)
		uvfio_pci_set16(&dev->cfg, pos + PCI_MSIX_FLAGS,
				uvfio_pci_get16(&dev->cfg,
						pos + PCI_MSIX_FLAGS) &
					(uint16_t) ~(PCI_MSIX_FLAGS_ENABLE |
						     PCI_MSIX_FLAGS_MASKALL));
	return 0;
}

static const handler_fn handlers[VFIO_USER_MAX_COMMAND] = {
	[VFIO_USER_VERSION] = handle_version,
	[VFIO_USER_DMA_MAP] = handle_dma_map,
	[VFIO_USER_DMA_UNMAP] = handle_dma_unmap,
	[VFIO_USER_DEVICE_GET_INFO] = handle_device_info,
	[VFIO_USER_DEVICE_GET_REGION_INFO] = handle_region_info,
	[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = handle_io_fds,
	[VFIO_USER_DEVICE_GET_IRQ_INFO] = handle_irq_info,
	[VFIO_USER_DEVICE_SET_IRQS] = handle_set_irqs,
	[VFIO_USER_REGION_READ] = handle_region_read,
	[VFIO_USER_REGION_WRITE] = handle_region_write,
	[VFIO_USER_DEVICE_RESET] = handle_reset,
	[VFIO_USER_REGION_WRITE_MULTI] = handle_write_multi,
	[VFIO_USER_DEVICE_FEATURE] = handle_feature,
	[VFIO_USER_MIG_DATA_READ] = handle_mig_data_read,
	[VFIO_USER_MIG_DATA_WRITE] = handle_mig_data_write,
};

/* How many fds a command may carry; handlers check the exact number. */
HOT static unsigned int fds_allowed(struct uvfio_dev *dev, uint16_t cmd)
{
	switch (cmd) {
	case VFIO_USER_DMA_MAP:
		return 1;
	case VFIO_USER_DEVICE_SET_IRQS:
		return dev->caps.max_msg_fds;
	default:
		return 0;
	}
}

HOT static int check(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	const struct vfio_user_header *h = &msg->hdr;

	if (msg->oversize)
		return -EMSGSIZE;
	if ((h->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
	    (h->flags & ~(VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY)))
		return -EINVAL;
	if (h->cmd >= VFIO_USER_MAX_COMMAND || !handlers[h->cmd])
		return -ENOSYS;
	if (!dev->negotiated && h->cmd != VFIO_USER_VERSION)
		return -EINVAL;
	if (msg->fds_truncated && !msg->nfds) {
		/* The kernel had no fd number left to give us. */
		dev_log(dev, EMFILE,
			"%s refused: its fds were dropped on receipt; this "
			"process is at its fd limit (RLIMIT_NOFILE)",
			vfio_user_command_name(h->cmd));
		return -EMFILE;
	}
	if (msg->fds_truncated || msg->nfds > fds_allowed(dev, h->cmd))
		return -EINVAL;
	return 0;
}

/*
 * Returns 0 when the message was handled (its reply, error or not, is
 * sent), or a negative errno when the connection cannot go on.
 *
 * A handler returns a negative errno (the reply is that error), 0 (the
 * reply is the header alone), or > 0 when it sent its reply itself.
 */
HOT int dispatch(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	int r;

	/* A reply: to our request, or to nothing (late, or a mistake). */
	if ((msg->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
	    VFIO_USER_F_TYPE_REPLY) {
		s2c_route(dev, msg);
		return 0;
	}
	r = check(dev, msg);
	if (!r) {
		dev->in_handler = true;
		r = handlers[msg->hdr.cmd](dev, msg);
		dev->in_handler = false;
	}
	if (r < 0)
		r = reply_err(dev, &msg->hdr, r);
	else if (r == 0)
		r = reply(dev, &msg->hdr, NULL, 0, NULL, 0);
	else
		r = 0;
	/* Work the handler queued starts now that the reply is out. */
	if (dev->work_held) {
		dev->work_held = false;
		work_release_held(dev);
	}
	return r == -EPIPE || r == -ECONNRESET ? r : 0;
}

HOT int reply(struct uvfio_dev *dev, const struct vfio_user_header *req,
	      const void *p, size_t n, const int *fds, unsigned int nfds)
{
	if (req->flags & VFIO_USER_F_NO_REPLY)
		return 0;
	if (n > UINT32_MAX - sizeof(*req))
		return -EINVAL;
	struct vfio_user_header h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.msg_size = (uint32_t)(sizeof(h) + n),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	struct iovec iov = { (void *)p, n };

	return dev_send(dev, &h, &iov, 1, fds, nfds);
}

HOT int reply_err(struct uvfio_dev *dev, const struct vfio_user_header *req,
		  int err)
{
	struct vfio_user_header h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.msg_size = sizeof(h),
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error_no = (uint32_t)(err < 0 ? -err : err),
	};

	if (req->flags & VFIO_USER_F_NO_REPLY)
		return 0;
	return dev_send(dev, &h, NULL, 0, NULL, 0);
}
