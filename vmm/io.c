// SPDX-License-Identifier: MIT
/*
 * Port I/O: the debug console, the exit port, the statistics port and
 * the PCI host bridge.  Ports nobody decodes read as all ones and ignore
 * writes, as on a PC.
 *
 *   0xe9   console: each byte written goes to stdout; reads give 0xe9
 *          (the Bochs convention, so a guest can probe for it)
 *   0xf4   exit: the value written (any size) ends the VM and becomes
 *          the VMM's exit status; values above 255 become 255
 *   0xf8   statistics: a dword write selects a counter (STAT_* in
 *          vmm.h), a dword read gives its low 32 bits, 0xfc the high
 *   0xcf8  PCI configuration address, 0xcfc-0xcff data
 *   0xc000-0xffff  the devices' I/O BARs (vbar.c), while decoding
 */
#include <stdio.h>
#include <string.h>

#include "vmm.h"

static uint32_t get_le(const void *data, uint32_t len)
{
	const uint8_t *b = data;
	uint32_t v = 0, i;

	for (i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void put_le(void *data, uint32_t len, uint32_t v)
{
	uint8_t *b = data;
	uint32_t i;

	for (i = 0; i < len; i++)
		b[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0xff;
}

static void exit_port(struct vcpu *cpu, uint32_t value)
{
	int status = (int)(value > 255 ? 255 : value);

	if (value > 255)
		vmm_err("guest exit value %u does not fit an exit status; "
			"exiting with 255",
			value);
	vmm_info(cpu->vm, "vCPU %u: guest exits with %u", cpu->index, value);
	vm_stop(cpu->vm, status);
}

static void stats_port(struct vcpu *cpu, uint16_t port, void *data,
		       uint32_t len, bool write)
{
	uint64_t v;

	if (write) {
		if (port == PORT_STATS_SEL && len == 4)
			cpu->stats_sel = get_le(data, len);
		return;
	}
	if (len != 4 || stats_get(cpu->vm, cpu->stats_sel, &v)) {
		put_le(data, len, ~0u);
		return;
	}
	put_le(data, len, (uint32_t)(port == PORT_STATS_SEL ? v : v >> 32));
}

int io_dispatch(struct vcpu *cpu, uint16_t port, void *data, uint32_t len,
		bool write)
{
	if (port >= PORT_PCI_ADDR && port < PORT_PCI_DATA + 4)
		return pcihost_io(cpu->vm, port, data, len, write);
	switch (port) {
	case PORT_CONSOLE:
		if (write)
			fwrite(data, 1, len, stdout);
		else
			put_le(data, len, PORT_CONSOLE);
		return 0;
	case PORT_EXIT:
		if (write)
			exit_port(cpu, get_le(data, len));
		else
			put_le(data, len, ~0u);
		return 0;
	case PORT_STATS_SEL:
	case PORT_STATS_HI:
		stats_port(cpu, port, data, len, write);
		return 0;
	}
	/* An I/O BAR, or nothing: all ones. */
	if (mmio_dispatch(&cpu->vm->pio, port, data, len, write) <= 0 &&
	    !write)
		put_le(data, len, ~0u);
	return 0;
}
