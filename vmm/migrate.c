// SPDX-License-Identifier: MIT
/*
 * Live migration of the whole VM: guest RAM, the devices, the vCPUs.
 *
 * The client library's driver moves the devices (pre-copy rounds, the
 * P2P quiesce, STOP_COPY) and calls back here at each step, so that the
 * VMM's own state travels in the same stream, in frames of its own:
 *
 *   round 0       header, then all of RAM (pages of zeros skipped: the
 *                 destination's RAM is a new file); KVM's dirty log of
 *                 RAM and each device's DMA log run from just before it
 *   round n > 0   the pages written since the last round, as both logs
 *                 report them; a round that leaves more than
 *                 MIG_DIRTY_MAX pages asks for another
 *   quiesce       every P2P device has stopped initiating: the vCPUs
 *                 park, their last exits completed
 *   stopped       every device is in STOP: the last dirty pages (a
 *                 device that cannot log its DMA makes them all of RAM),
 *                 each device's VMM-side state, then the vCPUs, the
 *                 in-kernel PIC and IOAPIC and the KVM clock
 *
 * The destination has opened its own devices and created its vCPUs but
 * runs nothing; it checks every frame (it is the source's word) and
 * loads the VMM-side device state once the devices have loaded theirs,
 * before they run.  Host byte order: x86-64 to x86-64.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cpustate.h"
#include "vdev.h"

#define PAGE 4096ull
/* Pages left dirty that end the pre-copy rounds: about 0.1 ms to copy. */
#define MIG_DIRTY_MAX 64u
/* Pages per RAM frame at most. */
#define RUN_MAX 256u

enum {
	VMF_HEAD = 1,
	VMF_RAM,
	VMF_DEV,
	VMF_CPU,
	VMF_CHIP,
};

#define MIG_MAGIC "uvfiovm1"

struct mig_head {
	char magic[8];
	uint32_t nr_cpus; /* 0: no KVM state follows (a VM without KVM) */
	uint32_t nr_devs;
	uint64_t ram_size;
	struct {
		uint16_t vendor;
		uint16_t device;
	} dev[VMM_MAX_DEVS];
};

struct mig_dev_head {
	uint32_t index;
	uint32_t pad;
};

struct out_ctx {
	struct vm *vm;
	const struct vm_mig_opts *o;
	struct vm_mig_stats st;
	uint64_t *dirty;
	size_t words;
	bool kvm_log;
	bool dma_all; /* a device whose DMA is not logged: send all */
	bool dma_log[VMM_MAX_DEVS];
	uint64_t t_pause;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int put(int fd, uint32_t type, const void *h, size_t hlen,
	       const void *data, size_t len)
{
	struct uvfio_mig_frame f = { UVFIO_MIG_FRAME_USER_BASE + type, 0,
				     hlen + len };
	int r = write_full(fd, &f, sizeof(f));

	r = r ?: write_full(fd, h, hlen);
	return r ?: write_full(fd, data, len);
}

/* n pages of the RAM file from page first, all in one part of RAM. */
static int put_run(struct out_ctx *x, int fd, uint64_t first, uint64_t n)
{
	const struct guest_ram *ram = &x->vm->ram;
	uint64_t gpa = ram_gpa(ram, first * PAGE);

	x->st.pages += n;
	return put(fd, VMF_RAM, &gpa, sizeof(gpa), ram->hva + first * PAGE,
		   (size_t)(n * PAGE));
}

/* Sends the pages set in x->dirty, in runs, and clears them. */
static int put_dirty(struct out_ctx *x, int fd)
{
	uint64_t pages = x->vm->ram.size / PAGE, run = 0, first = 0;
	uint64_t split = x->vm->ram.low / PAGE;
	int r = 0;

	for (uint64_t p = 0; p < pages && !r; p++) {
		bool d = x->dirty[p / 64] >> (p % 64) & 1;

		/* A run never spans the two parts of RAM. */
		if (run && p == split) {
			r = put_run(x, fd, first, run);
			run = 0;
		}
		if (d && !run)
			first = p;
		if (d)
			run++;
		if (!r && run && (!d || run == RUN_MAX)) {
			r = put_run(x, fd, first, run);
			run = 0;
		}
	}
	if (!r && run)
		r = put_run(x, fd, first, run);
	memset(x->dirty, 0, x->words * sizeof(uint64_t));
	return r;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	for (unsigned int i = 0; i < PAGE / 8; i++)
		acc |= w[i];
	return !acc;
}

/*
 * Every page of RAM with something in it, for round 0 (zeros: pages of
 * zeros are skipped too, the destination's RAM is a new file) or for a
 * stop after DMA nobody logged (every page written since, even one that
 * went back to zeros).  The file's holes (SEEK_DATA/SEEK_HOLE: pages
 * never written) are skipped unread, so a large, mostly untouched guest
 * costs what it holds.
 */
static int put_data(struct out_ctx *x, int fd, uint64_t pages, bool zeros)
{
	const struct guest_ram *ram = &x->vm->ram;
	off_t at = 0;

	while ((uint64_t)at < ram->size) {
		off_t from = ram->fd >= 0 ? lseek(ram->fd, at, SEEK_DATA) : at;
		off_t to = from >= 0 && ram->fd >= 0 ?
				   lseek(ram->fd, from, SEEK_HOLE) :
				   (off_t)ram->size;

		if (from < 0 && errno == ENXIO)
			break; /* no data past at */
		if (from < 0 || to < 0) {
			/* No hole search here: every page is read. */
			from = at;
			to = (off_t)ram->size;
		}
		for (uint64_t p = (uint64_t)from / PAGE;
		     p < pages && p * PAGE < (uint64_t)to; p++)
			if (!zeros || !page_zero(ram->hva + p * PAGE))
				x->dirty[p / 64] |= 1ull << (p % 64);
		at = (to + (off_t)PAGE - 1) & ~(off_t)(PAGE - 1);
		if (to <= from)
			break;
	}
	/* In runs, as the later rounds send theirs. */
	return put_dirty(x, fd);
}

/* What the logs hold now, into x->dirty; the number of pages set. */
static int collect(struct out_ctx *x, uint64_t *count)
{
	struct vm *vm = x->vm;
	uint64_t n = 0;
	int r = 0;

	if (x->kvm_log)
		r = vm_ram_dirty_get(vm, x->dirty);
	for (unsigned int i = 0; i < vm->nr_devs && !r; i++) {
		if (!x->dma_log[i])
			continue;
		r = uvfio_client_dirty_merge(vm->devs[i]->c, 0, vm->ram.low,
					     PAGE, x->dirty);
		if (!r && vm->ram.size > vm->ram.low)
			r = uvfio_client_dirty_merge(
				vm->devs[i]->c, GPA_HIGH_RAM,
				vm->ram.size - vm->ram.low, PAGE,
				x->dirty + vm->ram.low / PAGE / 64);
	}
	if (r)
		return r;
	for (size_t i = 0; i < x->words; i++)
		n += (uint64_t)__builtin_popcountll(x->dirty[i]);
	*count = n;
	return 0;
}

static int put_head(struct out_ctx *x, int fd)
{
	struct vm *vm = x->vm;
	struct mig_head h;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, MIG_MAGIC, sizeof(h.magic));
	h.nr_cpus = vm->fd >= 0 ? vm->nr_cpus : 0;
	h.nr_devs = vm->nr_devs;
	h.ram_size = vm->ram.size;
	for (unsigned int i = 0; i < vm->nr_devs; i++) {
		h.dev[i].vendor = vm->devs[i]->vendor;
		h.dev[i].device = vm->devs[i]->device;
	}
	return put(fd, VMF_HEAD, &h, sizeof(h), NULL, 0);
}

static int on_round(void *arg, int fd, unsigned int round, bool *more)
{
	struct out_ctx *x = arg;
	uint64_t pages = x->vm->ram.size / PAGE, left;
	int r = 0;

	if (round == 0) {
		r = put_head(x, fd);
		r = r ?: put_data(x, fd, pages, true);
	} else {
		r = put_dirty(x, fd);
	}
	x->st.rounds++;
	if (!r && x->o && x->o->round_done)
		x->o->round_done(x->o->arg, round);
	if (!r)
		r = collect(x, &left);
	if (!r)
		*more = left > MIG_DIRTY_MAX;
	return r;
}

static int on_quiesce(void *arg)
{
	struct out_ctx *x = arg;

	int r = vm_pause(x->vm);

	x->t_pause = now_ns();
	x->st.paused_at_ns = x->t_pause;
	return r;
}

static void on_resume(void *arg)
{
	vm_resume(((struct out_ctx *)arg)->vm);
}

static int put_devs(struct out_ctx *x, int fd)
{
	struct vm *vm = x->vm;
	int r = 0;

	for (unsigned int i = 0; i < vm->nr_devs && !r; i++) {
		struct mig_dev_head h = { i, 0 };
		void *blob;
		size_t len;

		r = vdev_mig_save(vm->devs[i], &blob, &len);
		if (r)
			break;
		r = put(fd, VMF_DEV, &h, sizeof(h), blob, len);
		free(blob);
	}
	return r;
}

static int put_kvm(struct out_ctx *x, int fd)
{
	struct vm *vm = x->vm;
	struct vm_chip_state chip;
	struct vcpu_state *st;
	int r = 0;

	if (vm->fd < 0)
		return 0;
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_cpus && !r; i++) {
		r = vcpu_state_save(&vm->cpus[i], st);
		if (!r)
			r = put(fd, VMF_CPU, st, sizeof(*st), NULL, 0);
	}
	free(st);
	if (!r)
		r = vm_chip_save(vm, &chip);
	return r ?: put(fd, VMF_CHIP, &chip, sizeof(chip), NULL, 0);
}

static int on_stopped(void *arg, int fd)
{
	struct out_ctx *x = arg;
	uint64_t n;
	int r = collect(x, &n);

	if (!r) {
		uint64_t before = x->st.pages;

		/* Unlogged DMA may have written any page that holds data. */
		r = x->dma_all ?
			    put_data(x, fd, x->vm->ram.size / PAGE, false) :
			    put_dirty(x, fd);
		x->st.final_pages = x->st.pages - before;
	}
	r = r ?: put_devs(x, fd);
	r = r ?: put_kvm(x, fd);
	x->st.stopped_ns = now_ns() - x->t_pause;
	return r;
}

/* Starts both logs; a device that cannot log its DMA sends all RAM. */
static int logs_start(struct out_ctx *x)
{
	struct vm *vm = x->vm;
	struct uvfio_iova_range all[2] = {
		{ 0, vm->ram.low },
		{ GPA_HIGH_RAM, vm->ram.size - vm->ram.low },
	};
	int r;

	if (vm->fd >= 0) {
		r = vm_ram_dirty_log(vm, true);
		if (r)
			return r;
		x->kvm_log = true;
	}
	for (unsigned int i = 0; i < vm->nr_devs; i++) {
		uint64_t pg = PAGE;

		r = x->o && x->o->no_dma_log ?
			    -ENOTSUP :
			    uvfio_client_dirty_start(
				    vm->devs[i]->c, &pg, all,
				    vm->ram.size > vm->ram.low ? 2 : 1);
		if (!r && pg != PAGE) {
			uvfio_client_dirty_stop(vm->devs[i]->c);
			r = -EINVAL;
		}
		if (r) {
			vmm_info(vm,
				 "device %u logs no DMA (%s): all of RAM "
				 "goes again at the stop",
				 i, strerror(-r));
			x->dma_all = true;
			continue;
		}
		x->dma_log[i] = true;
	}
	return 0;
}

static void logs_stop(struct out_ctx *x)
{
	struct vm *vm = x->vm;

	for (unsigned int i = 0; i < vm->nr_devs; i++)
		if (x->dma_log[i])
			uvfio_client_dirty_stop(vm->devs[i]->c);
	if (x->kvm_log)
		vm_ram_dirty_log(vm, false);
}

static void clients(struct vm *vm, struct uvfio_client **c)
{
	for (unsigned int i = 0; i < vm->nr_devs; i++)
		c[i] = vm->devs[i]->c;
}

int vm_migrate_out(struct vm *vm, int fd, const struct vm_mig_opts *o)
{
	struct out_ctx x = { .vm = vm, .o = o };
	const struct uvfio_mig_hooks h = {
		.arg = &x,
		.round = on_round,
		.quiesce = on_quiesce,
		.stopped = on_stopped,
		.resume = on_resume,
	};
	const struct uvfio_mig_driver_opts dopts = { .hooks = &h };
	struct uvfio_client *c[VMM_MAX_DEVS];
	int r;

	x.words = (vm->ram.size / PAGE + 63) / 64;
	x.dirty = calloc(x.words, sizeof(uint64_t));
	if (!x.dirty)
		return -ENOMEM;
	r = logs_start(&x);
	clients(vm, c);
	if (!r)
		r = uvfio_client_migrate_out(c, vm->nr_devs, fd, &dopts);
	logs_stop(&x);
	free(x.dirty);
	if (o && o->stats)
		*o->stats = x.st;
	return r;
}

/* Destination */

struct in_ctx {
	struct vm *vm;
	bool head;
	bool chip;
	void *dev_blob[VMM_MAX_DEVS];
	size_t dev_len[VMM_MAX_DEVS];
	uint64_t cpus_loaded; /* bit per vCPU */
};

static int take_head(struct in_ctx *x, int fd, uint64_t len)
{
	struct vm *vm = x->vm;
	uint32_t want_cpus = vm->fd >= 0 ? vm->nr_cpus : 0;
	struct mig_head h;
	int r;

	if (x->head || len != sizeof(h))
		return -EBADMSG;
	r = read_full(fd, &h, sizeof(h));
	if (r)
		return r;
	if (memcmp(h.magic, MIG_MAGIC, sizeof(h.magic))) {
		vmm_err("migration: not a uvfio-vmm stream");
		return -EBADMSG;
	}
	if (h.ram_size != vm->ram.size || h.nr_cpus != want_cpus ||
	    h.nr_devs != vm->nr_devs) {
		vmm_err("migration: the source has %llu bytes of RAM, %u "
			"vCPUs and %u devices; this VM %llu, %u and %u",
			(unsigned long long)h.ram_size, h.nr_cpus, h.nr_devs,
			(unsigned long long)vm->ram.size, want_cpus,
			vm->nr_devs);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < vm->nr_devs; i++) {
		if (h.dev[i].vendor != vm->devs[i]->vendor ||
		    h.dev[i].device != vm->devs[i]->device) {
			vmm_err("migration: device %u is %04x:%04x at the "
				"source, %04x:%04x here",
				i, h.dev[i].vendor, h.dev[i].device,
				vm->devs[i]->vendor, vm->devs[i]->device);
			return -EINVAL;
		}
	}
	x->head = true;
	return 0;
}

static int take_ram(struct in_ctx *x, int fd, uint64_t len)
{
	uint64_t gpa;
	void *p;
	int r;

	if (len < sizeof(gpa) + PAGE || (len - sizeof(gpa)) % PAGE)
		return -EBADMSG;
	r = read_full(fd, &gpa, sizeof(gpa));
	if (r)
		return r;
	len -= sizeof(gpa);
	p = gpa % PAGE ? NULL : ram_ptr(&x->vm->ram, gpa, len);
	return p ? read_full(fd, p, (size_t)len) : -EBADMSG;
}

static int take_dev(struct in_ctx *x, int fd, uint64_t len)
{
	struct mig_dev_head h;
	void *blob;
	int r;

	/* A device's state is a header and its MSI-X table at most. */
	if (len < sizeof(h) || len > sizeof(h) + (1u << 20))
		return -EBADMSG;
	r = read_full(fd, &h, sizeof(h));
	if (r)
		return r;
	if (h.index >= x->vm->nr_devs || x->dev_blob[h.index])
		return -EBADMSG;
	len -= sizeof(h);
	blob = malloc(len ? (size_t)len : 1);
	if (!blob)
		return -ENOMEM;
	r = read_full(fd, blob, (size_t)len);
	if (r) {
		free(blob);
		return r;
	}
	x->dev_blob[h.index] = blob;
	x->dev_len[h.index] = (size_t)len;
	return 0;
}

static int take_cpu(struct in_ctx *x, int fd, uint64_t len)
{
	struct vm *vm = x->vm;
	struct vcpu_state *st;
	int r;

	if (vm->fd < 0 || len != sizeof(*st))
		return -EBADMSG;
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	r = read_full(fd, st, sizeof(*st));
	if (!r && (st->index >= vm->nr_cpus || x->cpus_loaded >> st->index & 1))
		r = -EBADMSG;
	if (!r)
		r = vcpu_state_load(&vm->cpus[st->index], st);
	if (!r)
		x->cpus_loaded |= 1ull << st->index;
	free(st);
	return r;
}

static int take_chip(struct in_ctx *x, int fd, uint64_t len)
{
	struct vm_chip_state chip;
	int r;

	if (x->vm->fd < 0 || x->chip || len != sizeof(chip))
		return -EBADMSG;
	r = read_full(fd, &chip, sizeof(chip));
	r = r ?: vm_chip_load(x->vm, &chip);
	if (!r)
		x->chip = true;
	return r;
}

static int on_frame(void *arg, int fd, const struct uvfio_mig_frame *f)
{
	struct in_ctx *x = arg;
	uint32_t type = f->index - UVFIO_MIG_FRAME_USER_BASE;

	if (f->flags || (!x->head && type != VMF_HEAD))
		return -EBADMSG;
	switch (type) {
	case VMF_HEAD:
		return take_head(x, fd, f->length);
	case VMF_RAM:
		return take_ram(x, fd, f->length);
	case VMF_DEV:
		return take_dev(x, fd, f->length);
	case VMF_CPU:
		return take_cpu(x, fd, f->length);
	case VMF_CHIP:
		return take_chip(x, fd, f->length);
	}
	return -EBADMSG;
}

static int on_loaded(void *arg)
{
	struct in_ctx *x = arg;
	struct vm *vm = x->vm;
	uint64_t all = vm->nr_cpus >= 64 ? ~0ull : (1ull << vm->nr_cpus) - 1;
	int r = 0;

	if (!x->head || (vm->fd >= 0 && (!x->chip || x->cpus_loaded != all)))
		return -ENODATA;
	for (unsigned int i = 0; i < vm->nr_devs; i++)
		if (!x->dev_blob[i])
			return -ENODATA;
	for (unsigned int i = 0; i < vm->nr_devs && !r; i++) {
		r = vdev_mig_load(vm->devs[i], x->dev_blob[i], x->dev_len[i]);
		if (r)
			vmm_err("migration: device %u's VMM state: %s", i,
				strerror(-r));
	}
	return r;
}

int vm_migrate_in(struct vm *vm, int fd)
{
	struct in_ctx x = { .vm = vm };
	const struct uvfio_mig_hooks h = {
		.arg = &x,
		.frame = on_frame,
		.loaded = on_loaded,
	};
	struct uvfio_client *c[VMM_MAX_DEVS];
	int r;

	clients(vm, c);
	r = uvfio_client_migrate_in_hooks(c, vm->nr_devs, fd, &h);
	for (unsigned int i = 0; i < VMM_MAX_DEVS; i++)
		free(x.dev_blob[i]);
	return r;
}
