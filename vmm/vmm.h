/* SPDX-License-Identifier: MIT */
/*
 * uvfio-vmm internals: the VM and what hangs off it.  Each .c file owns
 * one concern; this header is the map between them.
 *
 * Guest physical layout (identity mapped, so also the guest's virtual
 * layout):
 *   0x0000_0000  page 0, RAM but not mapped (catches NULL)
 *   0x0000_1000  GDT and TSS               (boot.c)
 *   0x0000_2000  page tables of the low 4 GiB (boot.c)
 *   0x0002_0000  page directories above 4 GiB (boot.c)
 *   0x0010_0000  guest ELF segments, up to the stacks
 *   low RAM end  per-vCPU stacks, 64 KiB each, vCPU 0 at the top
 *   0xc000_0000  PCI memory window, 32-bit BARs assigned here (vdev.c)
 *   0xfe00_0000  ECAM: bus 0's configuration spaces, 1 MiB (pcihost.c)
 *   0xfec0_0000  IOAPIC, 0xfee0_0000 LAPIC (in-kernel irqchip)
 *   0xfeff_c000  KVM identity map page and TSS pages (vm.c)
 *   4 GiB        RAM past the first 3 GiB, if any
 *   then         the 64-bit PCI window (1 GiB aligned, PCI_MMIO64_SIZE):
 *                64-bit BARs assigned here
 *
 * Guest entry ABI: 64-bit mode, CPL 0, paging on (all of RAM and both
 * PCI windows identity mapped), interrupts off; RDI = vCPU index, RSI =
 * number of vCPUs, RDX = bytes of RAM at 0, R8 = bytes of RAM at 4 GiB,
 * RSP = top of the vCPU's stack (16-byte aligned).
 *
 * Ports: 0xe9 console (bytes out), 0xf4 exit (value out becomes the
 * VMM's exit status), 0xf8/0xfc statistics (see stats.c), 0xcf8/0xcfc
 * PCI configuration mechanism #1 (and ECAM at PCI_ECAM_BASE).
 *
 * Interrupts: the in-kernel irqchip (LAPIC, IOAPIC, PIC).  MSI and MSI-X
 * go through the router's KVM MSI routes; a device's INTx pin is wired
 * to an IOAPIC input (vdev_intx_gsi(), level-triggered, with resample),
 * which the VMM writes into the device's PCI_INTERRUPT_LINE as firmware
 * would.
 */
#ifndef UVFIO_VMM_H
#define UVFIO_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include <uvfio/irq.h>

#define PROG "uvfio-vmm"

/* Exit status for the VMM's own failures (guests should not use it). */
#define VMM_EXIT_ERROR 125

#define VMM_MAX_CPUS 64
#define VMM_MAX_DEVS 31 /* PCI devices 1..31 on bus 0 */

#define GPA_GDT 0x1000ull
#define GPA_TSS 0x1800ull
#define GPA_PML4 0x2000ull
#define GPA_PDPT 0x3000ull
#define GPA_PD 0x4000ull /* 4 pages: 0..4 GiB in 2 MiB pages */
#define GPA_PT0 0x8000ull /* 4 KiB pages of the first 2 MiB */
#define GPA_PD_HIGH 0x20000ull /* one page per GiB above 4 GiB */
#define GPA_BOOT_END 0x100000ull /* the page tables end below it */
#define GPA_LOAD_MIN 0x100000ull
#define GUEST_STACK_SIZE 0x10000ull

#define PCI_MMIO_BASE 0xc0000000ull
#define PCI_ECAM_BASE 0xfe000000ull
#define PCI_ECAM_SIZE (1ull << 20) /* bus 0: 32 devices x 8 functions */
#define PCI_MMIO_END PCI_ECAM_BASE
/* I/O BARs, where PC firmware puts them; the fixed ports are below. */
#define PCI_IOBAR_BASE 0xc000u
#define PCI_IOBAR_END 0x10000u
#define KVM_IDMAP_GPA 0xfeffc000ull
#define KVM_TSS_GPA 0xfeffd000ull

#define GPA_HIGH_RAM (4ull << 30)
#define PCI_MMIO64_SIZE (16ull << 30)

#define RAM_MIN (4ull << 20)
#define RAM_LOW_MAX PCI_MMIO_BASE /* the rest goes to GPA_HIGH_RAM */
#define RAM_MAX (64ull << 30)

#define PORT_CONSOLE 0xe9
#define PORT_EXIT 0xf4
#define PORT_STATS_SEL 0xf8
#define PORT_STATS_HI 0xfc
#define PORT_PCI_ADDR 0xcf8
#define PORT_PCI_DATA 0xcfc

struct vm;
struct vdev;

/*
 * mem.c: guest RAM, one sealed memfd: its first low bytes at GPA 0 (up
 * to the PCI window at 3 GiB), the rest at GPA_HIGH_RAM.  File offsets
 * and host addresses run through both parts in order.
 */
struct guest_ram {
	int fd;
	uint8_t *hva;
	uint64_t size; /* all of it */
	uint64_t low; /* at GPA 0; size - low at GPA_HIGH_RAM */
	int slot;
	int slot_high; /* -1: no RAM above 4 GiB */
};
int ram_init(struct vm *vm, uint64_t size);
void ram_destroy(struct guest_ram *ram);
/* Host pointer for [gpa, gpa + len) in one part of RAM, or NULL. */
void *ram_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len);
/* The guest address of the byte at offset off of the RAM file. */
static inline uint64_t ram_gpa(const struct guest_ram *ram, uint64_t off)
{
	return off < ram->low ? off : GPA_HIGH_RAM + (off - ram->low);
}
/* Where the 64-bit PCI window starts: past high RAM, 1 GiB aligned. */
static inline uint64_t ram_mmio64_base(const struct guest_ram *ram)
{
	uint64_t end = GPA_HIGH_RAM + (ram->size - ram->low);

	return (end + (1ull << 30) - 1) & ~((1ull << 30) - 1);
}

/* stats.c: exit counters.  Each vCPU writes only its own. */
struct exit_stats {
	uint64_t exits;
	uint64_t io;
	uint64_t mmio;
	uint64_t mmio_unassigned;
	uint64_t hlt;
	uint64_t intr;
	uint64_t other;
};
void stats_inc(uint64_t *counter);
uint64_t stats_read(const uint64_t *counter);
/* Selector values for the stats port. */
#define STAT_EXITS 0
#define STAT_IO 1
#define STAT_MMIO 2
#define STAT_MMIO_UNASSIGNED 3
#define STAT_HLT 4
#define STAT_TSC_KHZ 5 /* not a counter: the guest's TSC rate */
#define STAT_MIGRATED 6 /* not a counter: 1 once the VM came in moving */
#define STAT_DEV_BAR(dev, bar) (0x100 + (dev)*8 + (bar))
int stats_get(struct vm *vm, uint32_t sel, uint64_t *val);
void stats_print(struct vm *vm);

/* mmio.c: guest physical ranges that exit, dispatched to handlers. */
typedef int (*mmio_fn)(void *opaque, uint64_t off, void *data, uint32_t len,
		       bool write);
struct mmio_range {
	uint64_t base;
	uint64_t size;
	mmio_fn fn;
	void *opaque;
	struct mmio_range *next;
	bool live;
	bool fixed; /* never removed while vCPUs run (see mmio.c) */
};
struct mmio_bus {
	pthread_rwlock_t lock;
	struct mmio_range *head;
};
void mmio_init(struct mmio_bus *bus);
void mmio_destroy(struct mmio_bus *bus);
/* Adds r (owned by the caller) at [base, base + size). */
int mmio_add(struct mmio_bus *bus, struct mmio_range *r, uint64_t base,
	     uint64_t size);
void mmio_del(struct mmio_bus *bus, struct mmio_range *r);
/* 1 if handled, 0 if nothing is there, or a negative errno. */
int mmio_dispatch(struct mmio_bus *bus, uint64_t gpa, void *data, uint32_t len,
		  bool write);

/* pcihost.c: configuration mechanism #1, bus 0. */
struct pci_host {
	pthread_mutex_t lock;
	uint32_t addr; /* last dword written to 0xcf8 */
	struct mmio_range ecam;
};
void pcihost_init(struct pci_host *h);
/* Puts ECAM on the VM's MMIO bus. */
int pcihost_ecam_init(struct vm *vm);
void pcihost_destroy(struct pci_host *h);
int pcihost_io(struct vm *vm, uint16_t port, void *data, uint32_t len,
	       bool write);

/* io.c: port I/O of one vCPU. */
struct vcpu;
int io_dispatch(struct vcpu *cpu, uint16_t port, void *data, uint32_t len,
		bool write);

/* elf.c: loads a guest into RAM; *entry is where it starts. */
int elf_load(struct guest_ram *ram, const char *path, uint64_t load_end,
	     uint64_t *entry);

/*
 * boot.c: GDT, TSS and identity page tables in guest RAM, mapping the
 * low 4 GiB, RAM above it and the 64-bit PCI window.
 */
int boot_build(struct guest_ram *ram);

/* cpu.c: vCPUs, each on its own thread. */
struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint32_t stats_sel; /* this vCPU's stats port selector */
	struct exit_stats stats;
};
int vcpu_create(struct vm *vm, struct vcpu *cpu, unsigned int index,
		uint64_t entry);
int vcpu_start(struct vcpu *cpu);
/* Makes a running KVM_RUN return; caller holds the VM's stop_lock. */
void vcpu_kick(struct vcpu *cpu);
void vcpu_join(struct vcpu *cpu);
void vcpu_destroy(struct vcpu *cpu);
int vcpu_signal_init(void);

/* vm.c */
struct vm_config {
	uint64_t ram_size;
	unsigned int nr_cpus;
	const char *guest;
	const char *sockets[VMM_MAX_DEVS];
	unsigned int nr_devs;
	bool stats;
	bool verbose;
	/* How long a lost device has to come back (0: it fails at once). */
	unsigned int reconnect_ms;
	/*
	 * Migration: mig_in ("unix:PATH" to listen on, or a file) replaces
	 * loading the guest; mig_out is where SIGUSR2, or migrate_after_ms
	 * after the start, sends the running VM.
	 */
	const char *mig_in;
	const char *mig_out;
	bool mig_in_file;
	bool mig_out_file;
	int migrate_after_ms; /* -1: on SIGUSR2 only */
};

/* migrate.c: what a move of the whole VM did. */
struct vm_mig_stats {
	unsigned int rounds; /* of RAM pre-copy */
	uint64_t pages; /* of RAM sent, all rounds */
	uint64_t final_pages; /* sent after the vCPUs stopped */
	uint64_t stopped_ns; /* vCPUs parked -> last frame written */
	uint64_t paused_at_ns; /* CLOCK_MONOTONIC when the vCPUs parked */
};

#define VM_MAX_SLOTS 512

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int fd;
	size_t run_size;
	struct guest_ram ram;
	/* Memory slots: slot 0 is RAM; BAR mappings come and go. */
	pthread_mutex_t slot_lock;
	uint32_t nr_slots;
	uint64_t slot_used[VM_MAX_SLOTS / 64];
	struct mmio_bus mmio;
	struct mmio_bus pio; /* I/O BARs, by port */
	struct pci_host host;
	struct uvfio_irq_router *router; /* KVM MSI routes and irqfds */
	struct vdev *devs[VMM_MAX_DEVS];
	unsigned int nr_devs;
	uint64_t pci_next; /* BAR allocator in the PCI window */
	uint64_t pci_next64; /* and in the 64-bit one (ram_mmio64_base()) */
	uint64_t pci_next_io; /* and in the I/O window */
	struct vcpu cpus[VMM_MAX_CPUS];
	unsigned int nr_cpus;
	/* Stop: first status wins; stop_fd wakes the main thread. */
	pthread_mutex_t stop_lock;
	bool stopping;
	int status;
	int stop_fd;
	bool migrated_in; /* the VM came in by --incoming or --restore */
	uint64_t started_ns; /* CLOCK_MONOTONIC as vm_run() starts vCPUs */
	struct vm_mig_stats mig; /* of the last move out that succeeded */
	/* Pause (migration), under stop_lock: parked vCPUs wait on park. */
	bool paused;
	unsigned int parked;
	pthread_cond_t park;
};

int vm_init(struct vm *vm, const struct vm_config *cfg);
/*
 * A VM without KVM, for tests of the device side on machines without
 * /dev/kvm: RAM, the PCI bus and a user-space router that calls fn for
 * each MSI; memory slots are only counted, nothing runs.
 */
int vm_init_bare(struct vm *vm, const struct vm_config *cfg,
		 uvfio_irq_deliver_fn fn, void *opaque);
void vm_destroy(struct vm *vm);
/* Maps hva at [gpa, gpa + size); returns the slot number or -errno. */
int vm_slot_map(struct vm *vm, uint64_t gpa, uint64_t size, void *hva);
void vm_slot_unmap(struct vm *vm, int slot);
/* Ends the VM with status (the first call wins) and kicks every vCPU. */
void vm_stop(struct vm *vm, int status);
bool vm_stopping(struct vm *vm);
/*
 * Parks every started vCPU outside KVM_RUN, its last exit completed (a
 * KVM_RUN with immediate_exit finishes a pending MMIO or port read), so
 * that its state can be read; -ECANCELED if the VM is stopping.
 */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* Called by a vCPU whose KVM_RUN was interrupted: parks it if paused. */
void vm_park(struct vm *vm, struct vcpu *cpu);
/* KVM's dirty log of guest RAM (its slots); -ENOTSUP without KVM. */
int vm_ram_dirty_log(struct vm *vm, bool on);
/*
 * ORs the pages written since the last call into bitmap, a bit per page
 * of the RAM file (low part, then high), and clears the log.
 */
int vm_ram_dirty_get(struct vm *vm, uint64_t *bitmap);
/* Runs the guest to its end; returns the exit status. */
int vm_run(struct vm *vm);

/* migrate.c (the calls are below struct vm). */
struct vm_mig_opts {
	/* Tests: after round's RAM went out, before the logs are read. */
	void (*round_done)(void *arg, unsigned int round);
	void *arg;
	struct vm_mig_stats *stats;
	/* Tests: treat every device as one that cannot log its DMA. */
	bool no_dma_log;
};
/*
 * Source: 0 leaves the vCPUs parked and the devices in STOP (the VM is
 * done); on error everything runs again.
 */
int vm_migrate_out(struct vm *vm, int fd, const struct vm_mig_opts *o);
/* Destination: devices opened, vCPUs created, nothing running. */
int vm_migrate_in(struct vm *vm, int fd);

/* migsock.c: the stream's ends, as the configuration names them. */
int mig_open_in(const struct vm_config *cfg);
int mig_open_out(const struct vm_config *cfg);

/* vdev.c: a vfio-user device, PCI device index + 1 on bus 0. */
struct vdev *vdev_open(struct vm *vm, const char *socket, unsigned int index);
void vdev_close(struct vdev *vd);
/* Guest configuration access to the device, any size 1, 2 or 4. */
int vdev_cfg_access(struct vdev *vd, uint32_t off, void *data, uint32_t len,
		    bool write);
uint64_t vdev_bar_exits(const struct vdev *vd, unsigned int bar);
/*
 * The IOAPIC input for INTx pin intpin (1 = INTA) of device index: GSIs
 * 16..23, swizzled by slot as a PC's PIRQ lines are, and clear of the
 * legacy ISA inputs 0..15 that the PIC shares.
 */
unsigned int vdev_intx_gsi(unsigned int index, unsigned int intpin);
void vdev_print(const struct vdev *vd);

void vmm_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vmm_info(const struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
