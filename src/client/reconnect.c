// SPDX-License-Identifier: MIT
/*
 * What a reconnect re-establishes, kept as the client goes (only with
 * UVFIO_CLIENT_RECONNECT): each DMA window's file, as one dup per file
 * (deduplicated by device and inode, so a guest's thousands of windows of
 * one memfd cost one fd) and offset; the eventfds SET_IRQS gave each
 * vector last (dups); the MSI and MSI-X vectors the client masked; INTx's
 * unmask eventfd (dup); the region mappings the caller holds.
 * cl_replay() gives a new connection all of it.  Everything is under
 * c->lock.
 *
 * INTx's own mask is not kept: every delivery sets it in the device, so
 * the client cannot know it, and a device that restarted has its line
 * down and open, as after a reset.
 */
#include "priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int keep_file(struct uvfio_client *c, int fd)
{
	struct cl_kept_file *f;
	struct stat st;
	int slot = -1, d;

	if (fstat(fd, &st))
		return -errno;
	for (unsigned int i = 0; i < c->nfiles; i++) {
		f = &c->files[i];
		if (f->fd < 0) {
			slot = slot < 0 ? (int)i : slot;
			continue;
		}
		if (f->dev == st.st_dev && f->ino == st.st_ino) {
			f->windows++;
			return (int)i;
		}
	}
	if (slot < 0) {
		f = realloc(c->files, (c->nfiles + 1) * sizeof(*f));
		if (!f)
			return -ENOMEM;
		c->files = f;
		slot = (int)c->nfiles++;
		c->files[slot].fd = -1;
	}
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0)
		return -errno;
	c->files[slot] = (struct cl_kept_file){ st.st_dev, st.st_ino, d, 1 };
	return slot;
}

int cl_keep_window(struct uvfio_client *c, int fd, uint64_t offset,
		   uint32_t prot, struct cl_kept_win **out)
{
	struct cl_kept_win *k;

	*out = NULL;
	if (!c->keep)
		return 0;
	k = malloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->prot = prot;
	k->offset = offset;
	k->file = -1;
	if (fd >= 0) {
		k->file = keep_file(c, fd);
		if (k->file < 0) {
			int r = k->file;

			free(k);
			return r;
		}
	}
	*out = k;
	return 0;
}

void cl_drop_window(struct uvfio_client *c, struct cl_kept_win *k)
{
	if (!k)
		return;
	if (k->file >= 0 && !--c->files[k->file].windows) {
		close(c->files[k->file].fd);
		c->files[k->file].fd = -1;
	}
	free(k);
}

static void set_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
}

/* Disabling an index drops its eventfds and masks in the device too. */
static void irqs_clear(struct uvfio_client *c, uint32_t index)
{
	for (uint32_t i = 0; i < c->irq_n[index]; i++)
		set_fd(&c->irq_fds[index][i], -1);
	set_fd(&c->irq_unmask_fd[index], -1);
	free(c->irq_fds[index]);
	free(c->irq_masked[index]);
	c->irq_fds[index] = NULL;
	c->irq_masked[index] = NULL;
	c->irq_n[index] = 0;
}

/* Makes room for vectors [0, n) of index; false when out of memory. */
static bool irqs_grow(struct uvfio_client *c, uint32_t index, uint32_t n)
{
	uint32_t old = c->irq_n[index];
	int *v;
	uint8_t *m;

	if (n <= old)
		return true;
	v = realloc(c->irq_fds[index], n * sizeof(*v));
	if (!v)
		return false;
	c->irq_fds[index] = v;
	m = realloc(c->irq_masked[index], n);
	if (!m)
		return false;
	c->irq_masked[index] = m;
	for (uint32_t i = old; i < n; i++) {
		v[i] = -1;
		m[i] = 0;
	}
	c->irq_n[index] = n;
	return true;
}

/* fds NULL: the index was disabled.  A dup that fails keeps -1. */
void cl_keep_irqs(struct uvfio_client *c, uint32_t index, uint32_t start,
		  uint32_t count, const int *fds)
{
	if (!c->keep || index >= VFIO_PCI_NUM_IRQS)
		return;
	if (!fds) {
		irqs_clear(c, index);
		return;
	}
	if (!irqs_grow(c, index, start + count))
		return;
	for (uint32_t i = 0; i < count; i++)
		set_fd(&c->irq_fds[index][start + i], fds[i]);
}

void cl_keep_irq_mask(struct uvfio_client *c, uint32_t index, uint32_t flags,
		      uint32_t start, uint32_t count, const void *data)
{
	uint32_t dt = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	bool mask = (flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) ==
		    VFIO_IRQ_SET_ACTION_MASK;
	const uint8_t *want = data;

	if (!c->keep || index >= VFIO_PCI_NUM_IRQS)
		return;
	if (index == VFIO_PCI_INTX_IRQ_INDEX) {
		if (dt == VFIO_IRQ_SET_DATA_EVENTFD && !mask && count == 1)
			set_fd(&c->irq_unmask_fd[index], *(const int *)data);
		return;
	}
	if ((index != VFIO_PCI_MSI_IRQ_INDEX &&
	     index != VFIO_PCI_MSIX_IRQ_INDEX) ||
	    dt == VFIO_IRQ_SET_DATA_EVENTFD ||
	    !irqs_grow(c, index, start + count))
		return;
	for (uint32_t i = 0; i < count; i++)
		if (dt == VFIO_IRQ_SET_DATA_NONE || want[i])
			c->irq_masked[index][start + i] = mask;
}

void cl_keep_fini(struct uvfio_client *c)
{
	for (unsigned int i = 0; i < c->nfiles; i++)
		if (c->files[i].fd >= 0)
			close(c->files[i].fd);
	free(c->files);
	c->files = NULL;
	c->nfiles = 0;
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		irqs_clear(c, i);
	free(c->path);
	c->path = NULL;
}

static int replay_window(const struct itree_hit *h, void *arg)
{
	struct uvfio_client *c = arg;
	const struct cl_kept_win *k = h->val;
	int fd = k->file >= 0 ? c->files[k->file].fd : -1;

	return cl_dma_map_send(c, h->start, h->last - h->start + 1, k->prot,
			       fd, k->offset);
}

/* The area of reg that m mapped: -1 for the whole region, or its index. */
static int area_of(const struct uvfio_region *reg, const struct cl_mapping *m)
{
	if (m->off == 0 && m->size == reg->size)
		return -1;
	for (unsigned int i = 0; i < reg->nr_areas; i++)
		if (reg->areas[i].offset == m->off &&
		    reg->areas[i].size == m->size)
			return (int)i;
	return -2;
}

/*
 * The caller's pointer must stay valid: the new device's pages go where
 * the old ones were, or, when it offers none there, anonymous memory
 * does and the reconnect reports -ENODEV.
 */
static int replay_mapping(struct uvfio_client *c, const struct cl_mapping *m)
{
	const struct uvfio_region *reg;
	size_t size = m->size;
	int r, area;

	r = cl_region_locked(c, m->index, &reg);
	area = r < 0 ? -2 : area_of(reg, m);
	if (area > -2 && cl_map_region(c, m->index, area, &size, m->addr))
		return 0;
	mmap(m->addr, m->size, m->prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
	     -1, 0);
	return -ENODEV;
}

/* Triggers first: they turn the index on, which masks need. */
static int replay_irqs(struct uvfio_client *c, uint32_t index)
{
	uint32_t n = c->irq_n[index];
	int r = 0;

	if (!n)
		return 0;
	r = cl_set_eventfds(c, index, 0, n, c->irq_fds[index]);
	for (uint32_t i = 0; i < n && !r; i++) {
		uint32_t j = i;

		if (!c->irq_masked[index][i])
			continue;
		while (j + 1 < n && c->irq_masked[index][j + 1])
			j++;
		r = cl_set_irqs_none(c, index, VFIO_IRQ_SET_ACTION_MASK, i,
				     j - i + 1);
		i = j;
	}
	if (!r && c->irq_unmask_fd[index] >= 0)
		r = cl_set_unmask_fd(c, index, c->irq_unmask_fd[index]);
	return r;
}

int cl_replay(struct uvfio_client *c)
{
	int r, err = 0;

	r = itree_walk(&c->win, replay_window, c);
	if (r)
		return r;
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		r = replay_irqs(c, i);
		if (r)
			return r;
	}
	for (unsigned int i = 0; i < c->nmaps; i++) {
		r = replay_mapping(c, &c->maps[i]);
		err = err ?: r;
	}
	return err;
}
