// SPDX-License-Identifier: MIT
/* Creating and describing a device. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dirty.h"
#include "priv.h"
#include "proto/limits.h"
#include "proto/negotiate.h"

struct uvfio_dev *uvfio_dev_create(const struct uvfio_pci_ids *ids,
				   uint32_t cfg_size,
				   const struct uvfio_dev_ops *ops, void *priv,
				   const struct uvfio_dev_opts *opts)
{
	struct uvfio_dev *dev;
	int err = ENOMEM;

	if (!ids || (cfg_size != UVFIO_PCI_CFG_SIZE &&
		     cfg_size != UVFIO_PCIE_CFG_SIZE)) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->listen_fd = -1;
	atomic_init(&dev->stop_conn_fd, -1);
	atomic_init(&dev->stop_listen_fd, -1);
	dev->epfd = -1;
	dev->chan.fd = -1;
	dev->twin.fd = -1;
	if (ops)
		dev->ops = *ops;
	dev->priv = priv;
	if (opts)
		dev->opts = *opts;
	uvfio_pci_init(&dev->cfg, ids, cfg_size);

	uvfio_caps_default(&dev->caps);
	if (dev->opts.max_data_xfer_size)
		dev->caps.max_data_xfer_size = dev->opts.max_data_xfer_size;
	if (dev->caps.max_data_xfer_size > VFIO_USER_DEFAULT_MAX_DATA_XFER)
		dev->caps.max_data_xfer_size = VFIO_USER_DEFAULT_MAX_DATA_XFER;
	/* Room for any reply that is not data: region info with its caps. */
	if (dev->caps.max_data_xfer_size < 4096)
		dev->caps.max_data_xfer_size = 4096;
	dev->caps.max_msg_fds = dev->opts.max_msg_fds ?
					dev->opts.max_msg_fds :
					UVFIO_DEV_DEFAULT_MAX_MSG_FDS;
	if (dev->caps.max_msg_fds > UVFIO_CHAN_MAX_FDS)
		dev->caps.max_msg_fds = UVFIO_CHAN_MAX_FDS;
	if (dev->opts.max_dma_maps)
		dev->caps.max_dma_maps = dev->opts.max_dma_maps;
	if (dev->opts.pgsizes)
		dev->caps.pgsizes = dev->opts.pgsizes;
	dev->caps.twin_socket = !dev->opts.no_twin_socket;
	dev->caps.write_multiple = !dev->opts.no_write_multi;

	dev->nregions = VFIO_PCI_NUM_REGIONS;
	dev->regions = calloc(dev->nregions, sizeof(*dev->regions));
	dev->xfer = malloc(dev->caps.max_data_xfer_size);
	if (!dev->regions || !dev->xfer)
		goto fail;
	dev->regions[VFIO_PCI_CONFIG_REGION_INDEX] = (struct region){
		.present = true,
		.size = cfg_size,
		.flags = UVFIO_REGION_RW,
		.memfd = -1,
	};
	for (uint32_t i = 0; i < dev->nregions; i++)
		if (i != VFIO_PCI_CONFIG_REGION_INDEX)
			dev->regions[i].memfd = -1;
	err = -dma_init(&dev->dma, dev->caps.max_dma_maps,
			dev->opts.dma_limit);
	if (err)
		goto fail;
	s2c_init(dev);
	work_init(&dev->work);
	return dev;
fail:
	free(dev->regions);
	free(dev->xfer);
	free(dev);
	errno = err;
	return NULL;
}

void uvfio_dev_destroy(struct uvfio_dev *dev)
{
	if (!dev)
		return;
	if (dev->connected)
		conn_drop(dev);
	/* After the client: a running item's in-band DMA has failed. */
	work_fini(dev);
	/* Its thread writes to regions: it goes before they do. */
	doorbell_free(dev);
	if (dev->listen_fd >= 0) {
		stop_fd_set(dev, &dev->stop_listen_fd, -1);
		close(dev->listen_fd);
		if (dev->path)
			unlink(dev->path);
	}
	if (dev->epfd >= 0)
		close(dev->epfd);
	free(dev->path);
	for (uint32_t i = 0; i < dev->nregions; i++)
		region_free(&dev->regions[i]);
	free(dev->regions);
	irq_free(dev);
	dirty_fini(dev);
	mig_free(dev);
	dma_fini(&dev->dma);
	s2c_fini(dev);
	free(dev->xfer);
	free(dev);
}

void dev_log(struct uvfio_dev *dev, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!dev->ops.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dev->ops.log(dev, dev->priv, err < 0 ? -err : err, msg);
}

void *uvfio_dev_priv(struct uvfio_dev *dev)
{
	return dev->priv;
}

struct uvfio_pci_cfg *uvfio_dev_pci(struct uvfio_dev *dev)
{
	return &dev->cfg;
}

static int check_areas(const struct uvfio_region_desc *d)
{
	if (!(d->flags & UVFIO_REGION_MEM) || (d->nr_areas && !d->areas))
		return d->nr_areas ? -EINVAL : 0;
	/* The sparse capability must fit a region info reply. */
	if (d->nr_areas > UVFIO_MAX_AREAS)
		return -E2BIG;
	for (unsigned int i = 0; i < d->nr_areas; i++) {
		const struct uvfio_mmap_area *a = &d->areas[i];
		long pg = sysconf(_SC_PAGESIZE);

		if (!a->size || a->offset % (uint64_t)pg ||
		    a->size % (uint64_t)pg || a->offset > d->size ||
		    a->size > d->size - a->offset)
			return -EINVAL;
	}
	return 0;
}

static int region_alloc_mem(struct region *r, uint64_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t len = (size + (uint64_t)pg - 1) & ~((uint64_t)pg - 1);

	r->memfd = memfd_create("uvfio-region",
				MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->memfd < 0)
		return -errno;
	/* The client gets this fd: it must not be able to resize it. */
	if (ftruncate(r->memfd, (off_t)len) < 0 ||
	    fcntl(r->memfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	r->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->memfd, 0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		goto fail;
	}
	return 0;
fail:
	close(r->memfd);
	r->memfd = -1;
	return -errno;
}

int uvfio_dev_add_region(struct uvfio_dev *dev, unsigned int index,
			 const struct uvfio_region_desc *d)
{
	struct region r = { .memfd = -1 };
	int err;

	if (dev->connected || !d || !d->size ||
	    index == VFIO_PCI_CONFIG_REGION_INDEX || index > 64 ||
	    !(d->flags & UVFIO_REGION_RW) || (!d->access &&
					      !(d->flags & UVFIO_REGION_MEM)))
		return -EINVAL;
	err = check_areas(d);
	if (err)
		return err;
	if (index <= VFIO_PCI_BAR5_REGION_INDEX) {
		err = uvfio_pci_set_bar(&dev->cfg, index, d->size,
					d->bar_flags);
		if (err)
			return err;
	}
	if (index >= dev->nregions) {
		struct region *nr = realloc(dev->regions,
					    (index + 1) * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		for (uint32_t i = dev->nregions; i <= index; i++)
			nr[i] = (struct region){ .memfd = -1 };
		dev->regions = nr;
		dev->nregions = index + 1;
	}
	if (dev->regions[index].present)
		return -EEXIST;
	r.present = true;
	r.size = d->size;
	r.flags = d->flags;
	r.access = d->access;
	r.priv = d->priv;
	r.type = d->type;
	r.subtype = d->subtype;
	if (d->flags & UVFIO_REGION_MEM) {
		err = region_alloc_mem(&r, d->size);
		if (err)
			return err;
	}
	if (d->nr_areas) {
		r.areas = calloc(d->nr_areas, sizeof(*r.areas));
		if (!r.areas) {
			region_free(&r);
			return -ENOMEM;
		}
		memcpy(r.areas, d->areas, d->nr_areas * sizeof(*r.areas));
		r.nr_areas = d->nr_areas;
	}
	dev->regions[index] = r;
	return 0;
}

void *uvfio_dev_region_mem(struct uvfio_dev *dev, unsigned int index)
{
	if (index >= dev->nregions)
		return NULL;
	return dev->regions[index].mem;
}

int uvfio_dev_set_irq_count(struct uvfio_dev *dev, unsigned int index,
			    uint32_t count)
{
	if (dev->connected || index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	if ((index == VFIO_PCI_ERR_IRQ_INDEX ||
	     index == VFIO_PCI_REQ_IRQ_INDEX ||
	     index == VFIO_PCI_INTX_IRQ_INDEX) && count > 1)
		return -EINVAL;
	if ((index == VFIO_PCI_MSI_IRQ_INDEX && count > 32) ||
	    (index == VFIO_PCI_MSIX_IRQ_INDEX && count > 2048))
		return -EINVAL;
	return irq_init(dev, index, count);
}
