// SPDX-License-Identifier: MIT
/*
 * BARs in guest physical memory.  The VMM assigns addresses the way
 * firmware does (natural alignment, largest first) and follows the guest
 * when it reprograms a BAR or flips memory decoding.  A live BAR is an
 * MMIO range (accesses exit and become region reads/writes) with its
 * mappable areas laid over it as KVM memory slots, so that guest loads
 * and stores there never leave the guest.  The MSI-X table and PBA pages
 * are kept out of the slots: they must trap, for the client's emulation.
 *
 * BARs smaller than a page are given a page of their own so that they
 * can still be a memory slot.  The device's doorbells in a live BAR are
 * KVM ioeventfds (doorbell.c).  I/O BARs get ports from 0xc000 up and,
 * while I/O decoding is on, are ranges on the port bus (io.c) whose
 * accesses all become region reads/writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vdev.h"

#define PAGE 4096ull

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(PAGE - 1);
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int find_msix(struct vdev *vd)
{
	struct uvfio_pci_cfg *cfg;
	uint8_t raw[UVFIO_PCI_CFG_SIZE], pos;
	uint32_t table, pba, entries;
	int ret;

	ret = vdev_dev_cfg(vd, 0, raw, sizeof(raw), false);
	if (ret)
		return ret;
	cfg = uvfio_pci_cfg_new();
	if (!cfg)
		return -ENOMEM;
	uvfio_pci_load(cfg, raw, sizeof(raw));
	pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX);
	if (pos && pos <= UVFIO_PCI_CFG_SIZE - PCI_CAP_MSIX_SIZEOF) {
		entries = (uvfio_pci_get16(cfg, pos + PCI_MSIX_FLAGS) &
			   PCI_MSIX_FLAGS_QSIZE) +
			  1;
		table = uvfio_pci_get32(cfg, pos + PCI_MSIX_TABLE);
		pba = uvfio_pci_get32(cfg, pos + PCI_MSIX_PBA);
		vd->msix_table = (struct msix_area){
			.present = (table & PCI_MSIX_TABLE_BIR) < 6,
			.bar = table & PCI_MSIX_TABLE_BIR,
			.off = table & PCI_MSIX_TABLE_OFFSET,
			.len = entries * (uint64_t)PCI_MSIX_ENTRY_SIZE,
		};
		vd->msix_pba = (struct msix_area){
			.present = (pba & PCI_MSIX_PBA_BIR) < 6,
			.bar = pba & PCI_MSIX_PBA_BIR,
			.off = pba & PCI_MSIX_PBA_OFFSET,
			.len = (entries + 63) / 64 * 8ull,
		};
	}
	uvfio_pci_cfg_free(cfg);
	return 0;
}

/* Adds [off, off + size) of the mapping at hva, minus the MSI-X pages. */
static void add_piece(struct vbar *b, uint64_t off, uint64_t size, uint8_t *hva)
{
	const struct msix_area *ex[2] = { &b->vd->msix_table,
					  &b->vd->msix_pba };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		uint64_t lo, hi;

		if (!ex[i]->present || ex[i]->bar != b->index || !ex[i]->len)
			continue;
		lo = ex[i]->off & ~(PAGE - 1);
		hi = page_up(ex[i]->off + ex[i]->len);
		if (hi <= off || lo >= off + size)
			continue;
		if (lo > off)
			add_piece(b, off, lo - off, hva);
		if (hi < off + size)
			add_piece(b, hi, off + size - hi, hva + (hi - off));
		return;
	}
	if (b->nr_maps < VBAR_MAX_MAPS)
		b->maps[b->nr_maps++] = (struct vmap){
			.off = off,
			.size = size,
			.hva = hva,
			.slot = -1,
		};
}

/* Maps the region's mappable areas; what cannot be mapped stays trapped. */
static void probe_maps(struct vbar *b, const struct uvfio_region *r)
{
	struct vdev *vd = b->vd;
	unsigned int k, n = r->nr_areas ? r->nr_areas : 1;

	for (k = 0; k < n && k < UVFIO_CLIENT_MAX_AREAS; k++) {
		uint64_t off = r->nr_areas ? r->areas[k].offset : 0;
		uint64_t len = r->nr_areas ? r->areas[k].size : r->size;
		size_t got;
		void *p;

		/* Slots need whole pages; a sub-page tail rounds up. */
		if (off % PAGE || off > b->size || len > b->size - off ||
		    (len % PAGE && off + len != b->size)) {
			vmm_err("device %u BAR%u: area [%#llx, +%#llx) cannot "
				"be mapped; it traps",
				vd->index, b->index, (unsigned long long)off,
				(unsigned long long)len);
			continue;
		}
		p = uvfio_client_region_mmap(vd->c, b->index,
					     r->nr_areas ? (int)k : -1, &got);
		if (!p || got < len) {
			vmm_err("device %u BAR%u: mmap of area %u: %s; it traps",
				vd->index, b->index, k,
				p ? "short" : strerror(errno));
			continue;
		}
		add_piece(b, off, page_up(len), p);
	}
}

static int probe_one(struct vdev *vd, unsigned int i)
{
	struct vbar *b = &vd->bars[i];
	const struct uvfio_region *r;
	uint32_t reg;
	int ret;

	ret = uvfio_client_region_info(vd->c, i, &r);
	if (ret == -ECONNRESET)
		return ret;
	if (ret < 0 || !r->size)
		return 0;
	ret = vdev_dev_cfg(vd, PCI_BASE_ADDRESS_0 + 4 * i, &reg, 4, false);
	if (ret)
		return ret;
	b->io = reg & PCI_BASE_ADDRESS_SPACE_IO;
	b->mem64 = !b->io && i < 5 &&
		   (reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
			   PCI_BASE_ADDRESS_MEM_TYPE_64;
	b->prefetch = !b->io && (reg & PCI_BASE_ADDRESS_MEM_PREFETCH);
	if (!pow2(r->size) || r->size < (b->io ? 4 : 16) ||
	    r->size > (b->io	? 256 :
		       b->mem64 ? 1ull << 40 :
				  1ull << 31)) {
		vmm_err("device %u BAR%u: size %#llx is not a valid BAR size; "
			"BAR left out",
			vd->index, i, (unsigned long long)r->size);
		return 0;
	}
	b->size = r->size;
	if (b->mem64)
		vd->bars[i + 1].upper = true;
	if (!b->io && (r->flags & VFIO_REGION_INFO_FLAG_MMAP))
		probe_maps(b, r);
	vdoor_probe(b);
	return 0;
}

int vbar_probe(struct vdev *vd)
{
	unsigned int i;
	int ret;

	for (i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		vd->bars[i].vd = vd;
		vd->bars[i].index = i;
	}
	ret = find_msix(vd);
	for (i = 0; !ret && i < UVFIO_PCI_NUM_BARS; i++)
		if (!vd->bars[i].upper)
			ret = probe_one(vd, i);
	return ret;
}

/* I/O BARs (4 to 256 bytes, aligned to their size) from *next_io up. */
static void assign_io(struct vdev *vd, uint64_t *next_io)
{
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		struct vbar *b = &vd->bars[i];
		uint64_t at;

		if (!b->size || !b->io)
			continue;
		at = (*next_io + b->size - 1) & ~(b->size - 1);
		if (at + b->size > PCI_IOBAR_END) {
			vmm_err("device %u BAR%u: no room in the I/O window; "
				"left unassigned",
				vd->index, i);
			continue;
		}
		b->addr = at;
		*next_io = at + b->size;
	}
}

void vbar_assign(struct vdev *vd, uint64_t *next, uint64_t *next64)
{
	const uint64_t end64 = ram_mmio64_base(&vd->vm->ram) + PCI_MMIO64_SIZE;
	bool done[UVFIO_PCI_NUM_BARS] = { false };
	unsigned int n, i;

	for (n = 0; n < UVFIO_PCI_NUM_BARS; n++) {
		struct vbar *big = NULL;
		uint64_t align, at, *at_next, end;

		for (i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
			struct vbar *b = &vd->bars[i];

			if (!done[i] && b->size && !b->io &&
			    (!big || b->size > big->size))
				big = b;
		}
		if (!big)
			break;
		done[big->index] = true;
		/* 64-bit BARs above 4 GiB, as OVMF places them. */
		at_next = big->mem64 ? next64 : next;
		end = big->mem64 ? end64 : PCI_MMIO_END;
		align = big->size > PAGE ? big->size : PAGE;
		at = (*at_next + align - 1) & ~(align - 1);
		if (at < *at_next || at > end || align > end - at) {
			vmm_err("device %u BAR%u: no room in the %s PCI window; "
				"left unassigned",
				vd->index, big->index,
				big->mem64 ? "64-bit" : "32-bit");
			continue;
		}
		big->addr = at;
		*at_next = at + align;
	}
	assign_io(vd, &vd->vm->pci_next_io);
}

uint32_t vbar_reg_read(struct vdev *vd, unsigned int i)
{
	struct vbar *b = &vd->bars[i];
	uint32_t v;

	if (b->upper)
		return (uint32_t)(vd->bars[i - 1].addr >> 32);
	if (!b->size)
		return 0;
	v = (uint32_t)b->addr;
	if (b->io)
		return v | PCI_BASE_ADDRESS_SPACE_IO;
	if (b->mem64)
		v |= PCI_BASE_ADDRESS_MEM_TYPE_64;
	if (b->prefetch)
		v |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	return v;
}

static void unmap(struct vbar *b)
{
	struct vm *vm = b->vd->vm;
	unsigned int k;

	for (k = 0; k < b->nr_maps; k++) {
		if (b->maps[k].slot >= 0)
			vm_slot_unmap(vm, b->maps[k].slot);
		b->maps[k].slot = -1;
	}
	vdoor_unbind(b);
	p2p_bar_unmap(b);
	if (b->mmio.live)
		mmio_del(b->io ? &vm->pio : &vm->mmio, &b->mmio);
	b->live = false;
}

static int bar_mmio(void *opaque, uint64_t off, void *data, uint32_t len,
		    bool write)
{
	struct vbar *b = opaque;

	__atomic_fetch_add(&b->exits, 1, __ATOMIC_RELAXED);
	return vdev_dev_bar(b->vd, b->index, off, data, len, write);
}

static void map(struct vbar *b)
{
	struct vdev *vd = b->vd;
	struct vm *vm = vd->vm;
	unsigned int k;
	int ret;

	b->mmio.fn = bar_mmio;
	b->mmio.opaque = b;
	ret = mmio_add(b->io ? &vm->pio : &vm->mmio, &b->mmio, b->addr,
		       b->size);
	if (ret)
		vmm_err("device %u BAR%u at %#llx overlaps another BAR: %s",
			vd->index, b->index, (unsigned long long)b->addr,
			strerror(-ret));
	if (b->io) {
		/* Ports: nothing to map, ring or reach by DMA. */
		b->live = true;
		b->live_addr = b->addr;
		return;
	}
	for (k = 0; k < b->nr_maps; k++) {
		struct vmap *m = &b->maps[k];

		ret = vm_slot_map(vm, b->addr + m->off, m->size, m->hva);
		if (ret < 0)
			vmm_info(vm,
				 "device %u BAR%u: [%#llx, +%#llx) at "
				 "%#llx not mapped (%s); it traps",
				 vd->index, b->index,
				 (unsigned long long)m->off,
				 (unsigned long long)m->size,
				 (unsigned long long)b->addr, strerror(-ret));
		m->slot = ret < 0 ? -1 : ret;
	}
	vdoor_bind(b, b->addr);
	b->live = true;
	b->live_addr = b->addr;
	p2p_bar_map(b);
}

static void update(struct vbar *b)
{
	uint16_t decode = b->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	bool want = b->size && b->addr && (b->vd->command & decode) &&
		    b->addr + b->size > b->addr &&
		    (!b->io || b->addr + b->size <= PCI_IOBAR_END);

	if (b->live && (!want || b->live_addr != b->addr))
		unmap(b);
	if (want && !b->live)
		map(b);
}

void vbar_reg_write(struct vdev *vd, unsigned int i, uint32_t val)
{
	struct vbar *b = &vd->bars[i];
	uint64_t a;

	if (b->upper) {
		b = &vd->bars[i - 1];
		a = (b->addr & 0xffffffffull) | (uint64_t)val << 32;
	} else {
		a = (b->addr & ~0xffffffffull) | (val & (b->io ? ~3u : ~0xfu));
	}
	if (!b->size)
		return;
	b->addr = a & ~(b->size - 1);
	update(b);
}

void vbar_update_all(struct vdev *vd)
{
	unsigned int i;

	for (i = 0; i < UVFIO_PCI_NUM_BARS; i++)
		update(&vd->bars[i]);
}

void vbar_release(struct vdev *vd)
{
	unsigned int i;

	for (i = 0; i < UVFIO_PCI_NUM_BARS; i++)
		if (vd->bars[i].live)
			unmap(&vd->bars[i]);
}

void vbar_print(const struct vdev *vd)
{
	unsigned int i, k;

	for (i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		const struct vbar *b = &vd->bars[i];
		uint64_t mapped = 0;

		if (!b->size)
			continue;
		for (k = 0; k < b->nr_maps; k++)
			mapped += b->maps[k].size;
		vmm_info(vd->vm,
			 "00:%02x.0 BAR%u %s at %#llx size %#llx mapped %#llx",
			 vd->index + 1, i,
			 b->io	  ? "io" :
			 b->mem64 ? "mem64" :
				    "mem32",
			 (unsigned long long)b->addr,
			 (unsigned long long)b->size,
			 (unsigned long long)mapped);
	}
}
