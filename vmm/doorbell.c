// SPDX-License-Identifier: MIT
/*
 * A device's doorbells (GET_REGION_IO_FDS) bound with KVM_IOEVENTFD at
 * their guest address while their BAR decodes: a guest write there costs
 * one exit into KVM, which signals the device's eventfd, and no trip
 * through this process or the socket.  Writes the device did not ask for
 * (another value, another size) still exit to us and go by REGION_WRITE.
 *
 * The bindings follow the BAR (bind when it goes live, unbind when it
 * moves or stops decoding, under vd->lock) and the device: after a
 * reconnect the new device process has new eventfds, bound in place of
 * the old.  vd->db_lock covers them, because a reconnect does not hold
 * vd->lock (the access that found the device gone may).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vdev.h"

static int ioeventfd(struct vm *vm, const struct uvfio_doorbell *d,
		     uint64_t addr, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = d->datamatch,
		.addr = addr + d->offset,
		.len = (uint32_t)d->size,
		.fd = d->fd,
		.flags = (d->flags & KVM_IOEVENTFD_FLAG_DATAMATCH) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (vm->fd < 0)
		return 0; /* vm_init_bare(): no guest to exit */
	return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static void bind_locked(struct vbar *b, uint64_t addr)
{
	struct vdev *vd = b->vd;

	for (unsigned int i = 0; i < b->nr_db; i++) {
		int r = ioeventfd(vd->vm, &b->db[i], addr, true);

		/* Unbound, it still works: the write traps. */
		if (r)
			vmm_err("device %u BAR%u: doorbell at %#llx: "
				"KVM_IOEVENTFD: %s; it traps",
				vd->index, b->index,
				(unsigned long long)b->db[i].offset,
				strerror(-r));
		b->db_bound[i] = !r;
	}
	b->db_addr = addr;
	b->db_live = true;
}

static void unbind_locked(struct vbar *b)
{
	for (unsigned int i = 0; b->db_live && i < b->nr_db; i++)
		if (b->db_bound[i])
			ioeventfd(b->vd->vm, &b->db[i], b->db_addr, false);
	memset(b->db_bound, 0, sizeof(b->db_bound));
	b->db_live = false;
}

static void drop_locked(struct vbar *b)
{
	for (unsigned int i = 0; i < b->nr_db; i++)
		close(b->db[i].fd);
	b->nr_db = 0;
}

/* Only memory BARs: the VMM has no I/O window. */
static void probe_locked(struct vbar *b)
{
	int n;

	if (!b->size || b->io || b->upper)
		return;
	n = uvfio_client_region_doorbells(b->vd->c, b->index, b->db,
					  VBAR_MAX_DOORBELLS);
	/* Many devices have none, or do not know the request: no error. */
	if (n < 0)
		vmm_info(b->vd->vm, "device %u BAR%u: no doorbells (%s)",
			 b->vd->index, b->index, strerror(-n));
	/* Ones past what we hold trap, which is as correct, if slower. */
	b->nr_db = n < 0 ? 0 :
		   n > VBAR_MAX_DOORBELLS ? VBAR_MAX_DOORBELLS :
					    (unsigned int)n;
}

void vdoor_probe(struct vbar *b)
{
	pthread_mutex_lock(&b->vd->db_lock);
	probe_locked(b);
	pthread_mutex_unlock(&b->vd->db_lock);
}

void vdoor_bind(struct vbar *b, uint64_t addr)
{
	pthread_mutex_lock(&b->vd->db_lock);
	unbind_locked(b);
	bind_locked(b, addr);
	pthread_mutex_unlock(&b->vd->db_lock);
}

void vdoor_unbind(struct vbar *b)
{
	pthread_mutex_lock(&b->vd->db_lock);
	unbind_locked(b);
	pthread_mutex_unlock(&b->vd->db_lock);
}

/*
 * Rung while the device was away (KVM signalled the dead device's
 * eventfd, which nobody reads): rung again on the new one, once, as a
 * trapped write made then is made again after the reconnect.
 */
static void carry(const struct vbar *b, const struct uvfio_doorbell *old)
{
	uint64_t n, one = 1;

	/* The device made it non-blocking; our dup shares that. */
	if (read(old->fd, &n, sizeof(n)) != sizeof(n))
		return;
	for (unsigned int i = 0; i < b->nr_db; i++) {
		const struct uvfio_doorbell *d = &b->db[i];

		if (d->offset == old->offset && d->size == old->size &&
		    d->flags == old->flags && d->datamatch == old->datamatch) {
			if (write(d->fd, &one, sizeof(one)) != sizeof(one))
				vmm_err("device %u BAR%u: doorbell at %#llx "
					"rung during the restart is lost: %s",
					b->vd->index, b->index,
					(unsigned long long)d->offset,
					strerror(errno));
			return;
		}
	}
}

void vdoor_renew(struct vdev *vd)
{
	pthread_mutex_lock(&vd->db_lock);
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		struct vbar *b = &vd->bars[i];
		struct uvfio_doorbell old[VBAR_MAX_DOORBELLS];
		unsigned int n = b->nr_db;
		bool live = b->db_live;

		unbind_locked(b);
		memcpy(old, b->db, sizeof(old));
		b->nr_db = 0;
		probe_locked(b);
		if (live)
			bind_locked(b, b->db_addr);
		for (unsigned int k = 0; k < n; k++) {
			carry(b, &old[k]);
			close(old[k].fd);
		}
	}
	pthread_mutex_unlock(&vd->db_lock);
}

void vdoor_release(struct vdev *vd)
{
	pthread_mutex_lock(&vd->db_lock);
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		unbind_locked(&vd->bars[i]);
		drop_locked(&vd->bars[i]);
	}
	pthread_mutex_unlock(&vd->db_lock);
}
