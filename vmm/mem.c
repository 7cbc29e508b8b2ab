// SPDX-License-Identifier: MIT
/*
 * Guest RAM: one memfd mapped shared, so that the same file can be
 * handed to every device for DMA.  The file is sealed against shrinking
 * (and growing, and further sealing) because devices refuse DMA files
 * that could shrink under them and fault on access.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"

int ram_init(struct vm *vm, uint64_t size)
{
	struct guest_ram *ram = &vm->ram;
	int ret;

	ram->fd =
		memfd_create("uvfio-vmm-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ram->fd < 0)
		return -errno;
	if (ftruncate(ram->fd, (off_t)size) < 0 ||
	    fcntl(ram->fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = -errno;
		goto err_fd;
	}
	ram->hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ram->fd,
			0);
	if (ram->hva == MAP_FAILED) {
		ret = -errno;
		goto err_fd;
	}
	ram->size = size;
	ram->low = size < RAM_LOW_MAX ? size : RAM_LOW_MAX;
	ret = vm_slot_map(vm, 0, ram->low, ram->hva);
	if (ret < 0)
		goto err_map;
	ram->slot = ret;
	ram->slot_high = -1;
	if (size > ram->low) {
		ret = vm_slot_map(vm, GPA_HIGH_RAM, size - ram->low,
				  ram->hva + ram->low);
		if (ret < 0) {
			vm_slot_unmap(vm, ram->slot);
			goto err_map;
		}
		ram->slot_high = ret;
	}
	vm->pci_next64 = ram_mmio64_base(ram);
	return 0;

err_map:
	munmap(ram->hva, size);
err_fd:
	close(ram->fd);
	ram->fd = -1;
	ram->hva = NULL;
	ram->size = 0;
	return ret;
}

void ram_destroy(struct guest_ram *ram)
{
	if (ram->hva)
		munmap(ram->hva, ram->size);
	if (ram->fd >= 0)
		close(ram->fd);
	ram->hva = NULL;
	ram->fd = -1;
}

void *ram_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
	uint64_t high = ram->size - ram->low;

	if (gpa <= ram->low && len <= ram->low - gpa)
		return ram->hva + gpa;
	if (gpa >= GPA_HIGH_RAM && gpa - GPA_HIGH_RAM <= high &&
	    len <= high - (gpa - GPA_HIGH_RAM))
		return ram->hva + ram->low + (gpa - GPA_HIGH_RAM);
	return NULL;
}
