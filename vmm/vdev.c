// SPDX-License-Identifier: MIT
/*
 * A vfio-user device in a PCI slot: the connection, its DMA window over
 * all of guest RAM, its interrupts, and the guest's configuration space
 * accesses.
 *
 * The VMM emulates the BAR registers (addresses are the VMM's business,
 * as with vfio-pci) and watches the command register's decode enables;
 * every other config byte goes to the device.  All guest accesses meet
 * the device in exactly two functions, vdev_dev_cfg() and vdev_dev_bar(),
 * and both go through the client's interrupt emulation, which the device
 * is attached to (on the VM's router) once it is open: that is how MSI
 * and MSI-X capability writes and the MSI-X table and PBA (which vbar.c
 * keeps out of memory slots, so they always trap) become routes.
 *
 * INTx is on from the start, as vfio-pci has it for a device with a pin:
 * the emulation takes it down while MSI or MSI-X is on.
 *
 * A device process that dies is waited for (--reconnect-ms): the access
 * that finds it gone reconnects, gives it back the command register and
 * interrupt line, and is made again; the guest only sees it stall.  One
 * that does not come back fails for good and reads as all ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vdev.h"

static bool lost(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN ||
	       err == -ESHUTDOWN;
}

static bool has_failed(struct vdev *vd)
{
	return __atomic_load_n(&vd->failed, __ATOMIC_ACQUIRE);
}

/*
 * A device that is gone for good reads as all ones, as one surprise-
 * removed: the mapped parts of its BARs too, which get anonymous pages
 * of ones in place of the dead device's (guest writes land there).
 */
static void fail(struct vdev *vd, int err)
{
	vmm_err("device %u (%s) failed: %s; the guest reads all ones from it",
		vd->index, vd->socket, strerror(-err));
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++) {
		const struct vbar *b = &vd->bars[i];

		for (unsigned int k = 0; k < b->nr_maps; k++) {
			void *p = mmap(b->maps[k].hva, b->maps[k].size,
				       PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				       -1, 0);

			if (p != MAP_FAILED)
				memset(p, 0xff, b->maps[k].size);
		}
	}
	__atomic_store_n(&vd->failed, true, __ATOMIC_RELEASE);
}

/* What the guest set that the restarted device does not know. */
static int restore(struct vdev *vd)
{
	uint16_t cmd = __atomic_load_n(&vd->command, __ATOMIC_RELAXED);
	uint8_t line = vd->intx_pin ? (uint8_t)vd->intx_gsi : 0xff;
	int ret;

	ret = uvfio_client_cfg_write(vd->c, PCI_COMMAND, &cmd, sizeof(cmd));
	if (ret >= 0)
		ret = uvfio_client_cfg_write(vd->c, PCI_INTERRUPT_LINE, &line,
					     1);
	return ret < 0 ? ret : 0;
}

/*
 * The device went away during an access made on connection gen: the
 * first to get here reconnects (uvfio_client_reconnect() gives the new
 * device process the DMA windows, interrupt eventfds and BAR mappings),
 * the others wait for it.  0: try the access again.
 */
static int recover(struct vdev *vd, unsigned int gen)
{
	unsigned int ms = vd->vm->cfg->reconnect_ms;
	int ret = 0;

	pthread_rwlock_wrlock(&vd->conn);
	if (has_failed(vd)) {
		ret = -ENODEV;
	} else if (vd->gen == gen) {
		vmm_err("device %u (%s) disconnected; waiting %u ms for it to "
			"come back",
			vd->index, vd->socket, ms);
		ret = ms ? uvfio_client_reconnect(vd->c, -1, ms) : -ETIMEDOUT;
		if (!ret)
			ret = restore(vd);
		if (ret) {
			fail(vd, ret);
		} else {
			vdoor_renew(vd);
			__atomic_store_n(&vd->p2p_stale, true,
					 __ATOMIC_RELEASE);
			vd->gen++;
			vmm_info(vd->vm, "device %u (%s) reconnected",
				 vd->index, vd->socket);
		}
	}
	pthread_rwlock_unlock(&vd->conn);
	return ret;
}

/*
 * Every guest access meets the device here.  A device that refuses one
 * access gives what a master abort gives (reads of all ones, writes
 * dropped) and the guest runs on; so does one that is gone.
 */
static int dev_access(struct vdev *vd, int bar, uint64_t off, void *data,
		      uint32_t len, bool write)
{
	char what[8] = "config";
	unsigned int gen;
	int ret;

	for (int tries = 0;; tries++) {
		pthread_rwlock_rdlock(&vd->conn);
		gen = vd->gen;
		if (has_failed(vd))
			ret = -ENODEV;
		else if (bar < 0)
			ret = write ? uvfio_client_cfg_write(vd->c, off, data,
							     len) :
				      uvfio_client_cfg_read(vd->c, off, data,
							    len);
		else
			ret = write ? uvfio_client_bar_write(vd->c, bar, off,
							     data, len) :
				      uvfio_client_bar_read(vd->c, bar, off,
							    data, len);
		pthread_rwlock_unlock(&vd->conn);
		/*
		 * Config accesses renew under the vd->lock they hold.  A BAR
		 * access holds the MMIO bus lock, which BAR moves take under
		 * vd->lock: only a trylock here, or the two could deadlock;
		 * a busy lock leaves it to the next access.
		 */
		if (bar >= 0 &&
		    __atomic_load_n(&vd->p2p_stale, __ATOMIC_ACQUIRE) &&
		    !pthread_mutex_trylock(&vd->lock)) {
			p2p_renew(vd);
			pthread_mutex_unlock(&vd->lock);
		}
		if (ret >= 0)
			return 0;
		/* Opening: a device lost now is an open that fails. */
		if (lost(ret) && !vd->opened)
			return ret;
		if (!lost(ret) || tries || recover(vd, gen))
			break;
	}
	if (bar >= 0)
		snprintf(what, sizeof(what), "BAR%d", bar);
	if (ret != -ENODEV && !lost(ret))
		vmm_err("device %u (%s): %s %s at %#llx failed: %s", vd->index,
			vd->socket, what, write ? "write" : "read",
			(unsigned long long)off, strerror(-ret));
	if (!write)
		memset(data, 0xff, len);
	return 0;
}

int vdev_dev_cfg(struct vdev *vd, uint32_t off, void *data, uint32_t len,
		 bool write)
{
	if (off > vd->cfg_size || len > vd->cfg_size - off) {
		if (!write)
			memset(data, 0xff, len);
		return 0;
	}
	return dev_access(vd, -1, off, data, len, write);
}

int vdev_dev_bar(struct vdev *vd, unsigned int bar, uint64_t off, void *data,
		 uint32_t len, bool write)
{
	return dev_access(vd, (int)bar, off, data, len, write);
}

void vdev_set_command(struct vdev *vd, uint16_t cmd)
{
	const uint16_t decode = PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
	uint16_t was = vd->command & decode;

	/* restore() reads it without vd->lock. */
	__atomic_store_n(&vd->command, cmd, __ATOMIC_RELAXED);
	if (was != (cmd & decode))
		vbar_update_all(vd);
}

static bool is_bar_reg(uint32_t dw)
{
	return dw >= PCI_BASE_ADDRESS_0 && dw <= PCI_BASE_ADDRESS_5;
}

/* Accesses arrive within one dword (the host bridge sees to it). */
int vdev_cfg_access(struct vdev *vd, uint32_t off, void *data, uint32_t len,
		    bool write)
{
	uint32_t dw = off & ~3u, byte = off & 3, v;
	uint16_t cmd;
	int ret = 0;

	if (has_failed(vd)) {
		if (!write)
			memset(data, 0xff, len);
		return 0;
	}
	pthread_mutex_lock(&vd->lock);
	if (is_bar_reg(dw) || dw == PCI_ROM_ADDRESS) {
		/* No expansion ROM is offered: that register reads 0. */
		v = dw == PCI_ROM_ADDRESS ?
			    0 :
			    vbar_reg_read(vd, (dw - PCI_BASE_ADDRESS_0) / 4);
		if (!write) {
			memcpy(data, (uint8_t *)&v + byte, len);
		} else if (dw != PCI_ROM_ADDRESS) {
			memcpy((uint8_t *)&v + byte, data, len);
			vbar_reg_write(vd, (dw - PCI_BASE_ADDRESS_0) / 4, v);
		}
		goto out;
	}
	ret = vdev_dev_cfg(vd, off, data, len, write);
	if (ret || !write || off >= PCI_COMMAND + 2 || off + len <= PCI_COMMAND)
		goto out;
	cmd = vd->command;
	if (off <= PCI_COMMAND && off + len > PCI_COMMAND)
		cmd = (cmd & 0xff00) | ((uint8_t *)data)[PCI_COMMAND - off];
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND + 1)
		cmd = (uint16_t)((cmd & 0x00ff) |
				 ((uint8_t *)data)[PCI_COMMAND + 1 - off] << 8);
	vdev_set_command(vd, cmd);
out:
	p2p_renew(vd);
	pthread_mutex_unlock(&vd->lock);
	return ret;
}

uint64_t vdev_bar_exits(const struct vdev *vd, unsigned int bar)
{
	if (bar >= UVFIO_PCI_NUM_BARS)
		return 0;
	return __atomic_load_n(&vd->bars[bar].exits, __ATOMIC_RELAXED);
}

static int check_device(struct vdev *vd)
{
	const struct uvfio_region *r;
	struct uvfio_device_info info;
	int ret;

	ret = uvfio_client_device_info(vd->c, &info);
	if (ret < 0) {
		vmm_err("device %u (%s): device info: %s", vd->index,
			vd->socket, strerror(-ret));
		return ret;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		vmm_err("device %u (%s): not a PCI device with config space",
			vd->index, vd->socket);
		return -ENODEV;
	}
	ret = uvfio_client_region_info(vd->c, VFIO_PCI_CONFIG_REGION_INDEX, &r);
	if (ret < 0 || r->size < UVFIO_PCI_CFG_SIZE) {
		vmm_err("device %u (%s): config region: %s", vd->index,
			vd->socket, ret < 0 ? strerror(-ret) : "too small");
		return ret < 0 ? ret : -EPROTO;
	}
	vd->cfg_size = r->size;
	/* Start from power-on state, whatever an earlier client left. */
	if (info.flags & VFIO_DEVICE_FLAGS_RESET) {
		ret = uvfio_client_reset(vd->c);
		if (ret < 0) {
			vmm_err("device %u (%s): reset: %s", vd->index,
				vd->socket, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Firmware leaves memory decoding on; bus mastering is the driver's. */
static int enable_decoding(struct vdev *vd)
{
	uint16_t cmd;
	int ret;

	ret = vdev_dev_cfg(vd, PCI_COMMAND, &cmd, sizeof(cmd), false);
	if (ret)
		return ret;
	/* As firmware leaves it: each space with a BAR in it decodes. */
	cmd |= PCI_COMMAND_MEMORY;
	for (unsigned int i = 0; i < UVFIO_PCI_NUM_BARS; i++)
		if (vd->bars[i].io && vd->bars[i].addr)
			cmd |= PCI_COMMAND_IO;
	ret = vdev_dev_cfg(vd, PCI_COMMAND, &cmd, sizeof(cmd), true);
	if (ret)
		return ret;
	pthread_mutex_lock(&vd->lock);
	vd->command = 0;
	vdev_set_command(vd, cmd);
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

static int map_ram(struct vdev *vd)
{
	struct guest_ram *ram = &vd->vm->ram;
	int ret;

	ret = uvfio_client_dma_map(vd->c, 0, ram->low,
				   UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
				   ram->hva, ram->fd, 0);
	if (ret >= 0 && ram->size > ram->low)
		ret = uvfio_client_dma_map(
			vd->c, GPA_HIGH_RAM, ram->size - ram->low,
			UVFIO_DMA_PROT_READ | UVFIO_DMA_PROT_WRITE,
			ram->hva + ram->low, ram->fd, ram->low);
	if (ret < 0)
		vmm_err("device %u (%s): DMA map of guest RAM: %s", vd->index,
			vd->socket, strerror(-ret));
	return ret < 0 ? ret : 0;
}

unsigned int vdev_intx_gsi(unsigned int index, unsigned int intpin)
{
	return 16 + (index + 1 + intpin - 1) % 8;
}

/*
 * Firmware's part for INTx: wire the pin to an IOAPIC input and say so in
 * PCI_INTERRUPT_LINE.  A device whose INTx cannot be enabled still runs
 * (MSI and MSI-X may work); its line then reads 0xff, "not connected".
 */
static int wire_intx(struct vdev *vd)
{
	uint8_t pin, line = 0xff;
	unsigned int gsi;
	int ret;

	ret = vdev_dev_cfg(vd, PCI_INTERRUPT_PIN, &pin, 1, false);
	if (ret)
		return ret;
	if (pin >= 1 && pin <= 4) {
		gsi = vdev_intx_gsi(vd->index, pin);
		ret = uvfio_client_intx_enable(vd->c, gsi);
		if (lost(ret))
			return ret;
		if (ret < 0) {
			vmm_err("device %u (%s): INTx%c on GSI %u: %s; it has "
				"no INTx",
				vd->index, vd->socket, 'A' + pin - 1, gsi,
				strerror(-ret));
		} else {
			vd->intx_pin = pin;
			vd->intx_gsi = gsi;
			line = (uint8_t)gsi;
		}
	} else if (pin) {
		vmm_err("device %u (%s): interrupt pin %u does not exist",
			vd->index, vd->socket, pin);
	}
	return vdev_dev_cfg(vd, PCI_INTERRUPT_LINE, &line, 1, true);
}

static int attach_irqs(struct vdev *vd)
{
	int ret;

	ret = uvfio_client_irq_attach(vd->c, vd->vm->router);
	if (ret < 0) {
		vmm_err("device %u (%s): interrupt emulation: %s", vd->index,
			vd->socket, strerror(-ret));
		return ret;
	}
	vd->irq_attached = true;
	return wire_intx(vd);
}

struct vdev *vdev_open(struct vm *vm, const char *socket, unsigned int index)
{
	/* Keeps what a reconnect to a restarted device gives it again. */
	const struct uvfio_client_opts copts = {
		.flags = UVFIO_CLIENT_RECONNECT,
	};
	struct vdev *vd;
	int ret;

	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return NULL;
	vd->vm = vm;
	vd->socket = socket;
	vd->index = index;
	pthread_mutex_init(&vd->lock, NULL);
	pthread_rwlock_init(&vd->conn, NULL);
	pthread_mutex_init(&vd->db_lock, NULL);
	vd->c = uvfio_client_connect(socket, &copts);
	if (!vd->c) {
		ret = -errno;
		vmm_err("device %u: cannot connect to %s: %s", index, socket,
			strerror(errno));
		goto err;
	}
	ret = check_device(vd);
	if (!ret)
		ret = vdev_dev_cfg(vd, PCI_VENDOR_ID, &vd->vendor, 2, false);
	if (!ret)
		ret = vdev_dev_cfg(vd, PCI_DEVICE_ID, &vd->device, 2, false);
	if (!ret)
		ret = vbar_probe(vd);
	if (!ret)
		ret = map_ram(vd);
	if (ret)
		goto err;
	vbar_assign(vd, &vm->pci_next, &vm->pci_next64);
	ret = enable_decoding(vd);
	if (!ret)
		ret = attach_irqs(vd);
	if (ret)
		goto err;
	vd->opened = true;
	p2p_add_device(vd);
	return vd;
err:
	vdev_close(vd);
	errno = -ret;
	return NULL;
}

void vdev_close(struct vdev *vd)
{
	if (!vd)
		return;
	p2p_remove_device(vd);
	if (vd->irq_attached)
		uvfio_client_irq_detach(vd->c);
	pthread_mutex_lock(&vd->lock);
	vbar_release(vd);
	pthread_mutex_unlock(&vd->lock);
	vdoor_release(vd);
	if (vd->c)
		uvfio_client_close(vd->c);
	pthread_mutex_destroy(&vd->lock);
	pthread_rwlock_destroy(&vd->conn);
	pthread_mutex_destroy(&vd->db_lock);
	free(vd);
}

void vdev_print(const struct vdev *vd)
{
	vmm_info(vd->vm, "00:%02x.0 %04x:%04x %s", vd->index + 1, vd->vendor,
		 vd->device, vd->socket);
	if (vd->intx_gsi)
		vmm_info(vd->vm, "00:%02x.0 INT%c on IOAPIC pin %u",
			 vd->index + 1, 'A' + vd->intx_pin - 1, vd->intx_gsi);
	vbar_print(vd);
}
