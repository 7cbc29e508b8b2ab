// SPDX-License-Identifier: MIT
/*
 * MMIO dispatch: guest physical ranges whose accesses exit to userspace,
 * each with a handler.  Ranges move when the guest reprograms a BAR, so
 * the list is under a rwlock; a handler runs with the read side held,
 * which keeps its range (and opaque) alive for the duration.  Handlers
 * must not add or remove ranges, except those of fixed ranges (ECAM,
 * whose writes move BARs): they stay for the VM's life and run with the
 * lock dropped.
 */
#include <errno.h>

#include "vmm.h"

void mmio_init(struct mmio_bus *bus)
{
	pthread_rwlock_init(&bus->lock, NULL);
	bus->head = NULL;
}

void mmio_destroy(struct mmio_bus *bus)
{
	pthread_rwlock_destroy(&bus->lock);
}

static bool overlaps(const struct mmio_range *r, uint64_t base, uint64_t size)
{
	return base < r->base + r->size && r->base < base + size;
}

int mmio_add(struct mmio_bus *bus, struct mmio_range *r, uint64_t base,
	     uint64_t size)
{
	struct mmio_range *it;
	int ret = 0;

	if (!size || base + size < base || r->live)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	for (it = bus->head; it; it = it->next) {
		if (overlaps(it, base, size)) {
			ret = -EEXIST;
			break;
		}
	}
	if (!ret) {
		r->base = base;
		r->size = size;
		r->next = bus->head;
		r->live = true;
		bus->head = r;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

void mmio_del(struct mmio_bus *bus, struct mmio_range *r)
{
	struct mmio_range **pp;

	pthread_rwlock_wrlock(&bus->lock);
	for (pp = &bus->head; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->live = false;
	r->next = NULL;
	pthread_rwlock_unlock(&bus->lock);
}

int mmio_dispatch(struct mmio_bus *bus, uint64_t gpa, void *data, uint32_t len,
		  bool write)
{
	struct mmio_range *r;
	int ret = 0;

	pthread_rwlock_rdlock(&bus->lock);
	for (r = bus->head; r; r = r->next) {
		if (gpa < r->base || gpa - r->base >= r->size)
			continue;
		/* Straddling the end: as if nothing decoded it. */
		if (len > r->size - (gpa - r->base))
			break;
		if (r->fixed) {
			mmio_fn fn = r->fn;
			void *opaque = r->opaque;

			pthread_rwlock_unlock(&bus->lock);
			ret = fn(opaque, gpa - r->base, data, len, write);
			return ret < 0 ? ret : 1;
		}
		ret = r->fn(r->opaque, gpa - r->base, data, len, write);
		ret = ret < 0 ? ret : 1;
		break;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}
