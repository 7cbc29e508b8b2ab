/* SPDX-License-Identifier: MIT */
/*
 * libuvfio, device side: write a PCI device as a vfio-user server.
 *
 * A device is created, described (PCI IDs and capabilities through its
 * config-space model, regions, irq counts), then attached to a listening
 * socket path or a connected fd.  One thread dispatches client messages,
 * either in uvfio_dev_run() or through uvfio_dev_get_poll_fd() and
 * uvfio_dev_process() in the caller's own loop.  Functions return 0 (or a
 * count) on success and a negative errno on failure; constructors return
 * NULL and set errno.
 */
#ifndef UVFIO_SERVER_H
#define UVFIO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>

#include <uvfio/caps.h>
#include <uvfio/pci.h>

/* What this header declares is libuvfio's ABI (src/libuvfio.map). */
#ifdef __GNUC__
#pragma GCC visibility push(default)
#endif

struct uvfio_dev;

/*
 * A trapped region access.  offset is within the region, count is 1..the
 * client's transfer size.  Returns count, or a negative errno that the
 * client gets in its error reply.
 */
typedef ssize_t (*uvfio_region_access_fn)(struct uvfio_dev *dev, void *priv,
					  uint64_t offset, void *buf,
					  size_t count, bool is_write);

struct uvfio_mmap_area {
	uint64_t offset;
	uint64_t size;
};

/* Region flags. */
#define UVFIO_REGION_READ (1u << 0)
#define UVFIO_REGION_WRITE (1u << 1)
#define UVFIO_REGION_RW (UVFIO_REGION_READ | UVFIO_REGION_WRITE)
/* Backed by shared memory that the client may mmap (see areas). */
#define UVFIO_REGION_MEM (1u << 2)

struct uvfio_region_desc {
	uint64_t size;
	uint32_t flags;         /* UVFIO_REGION_* */
	uint32_t bar_flags;     /* UVFIO_BAR_* for BAR regions 0..5 */
	/*
	 * Trapped accesses.  With UVFIO_REGION_MEM and no callback, accesses
	 * outside the mappable areas go straight to the memory.
	 */
	uvfio_region_access_fn access;
	void *priv;
	/* Mappable parts of a MEM region; none given means all of it. */
	const struct uvfio_mmap_area *areas;
	unsigned int nr_areas;
	/* Device-specific regions (index >= 9): VFIO_REGION_INFO_CAP_TYPE. */
	uint32_t type;
	uint32_t subtype;
};

struct uvfio_dev_ops {
	/* VFIO_USER_DEVICE_RESET; NULL: reset is not offered. */
	int (*reset)(struct uvfio_dev *dev, void *priv);
	/* After a config-space write reached the model. */
	void (*cfg_written)(struct uvfio_dev *dev, void *priv, uint32_t off,
			    size_t len);
	/* A client came or went (device state is kept across clients). */
	void (*attached)(struct uvfio_dev *dev, void *priv);
	void (*detached)(struct uvfio_dev *dev, void *priv);
	/*
	 * Why a client's request was refused, or the library was misused,
	 * where an errno alone would not tell the person running the device
	 * (a DMA file that cannot be sealed, in-band DMA from the dispatch
	 * thread).  err is the errno given; msg has no newline.  NULL: quiet.
	 */
	void (*log)(struct uvfio_dev *dev, void *priv, int err,
		    const char *msg);
};

/*
 * The layout of in-band DMA messages.  The specification (and
 * libvfio-user) puts a u64 count at payload offset 8 and the data at 16;
 * QEMU 10.1's vfio-user client uses a u32 count and the data at 12.  AUTO
 * picks QEMU's for a client that proposes protocol version 0.0 (QEMU
 * does; libvfio-user and uvfio propose later minors) and the
 * specification's otherwise.
 */
enum uvfio_dma_layout {
	UVFIO_DMA_LAYOUT_AUTO = 0,
	UVFIO_DMA_LAYOUT_SPEC,
	UVFIO_DMA_LAYOUT_COUNT32,
};

struct uvfio_dev_opts {
	/* Offered in negotiation; 0 takes the protocol default. */
	uint32_t max_data_xfer_size;    /* 4096 .. 1 MiB */
	uint32_t max_msg_fds;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool no_twin_socket;    /* refuse twin-socket mode */
	bool no_write_multi;    /* do not offer REGION_WRITE_MULTI */
	uint64_t dma_limit;     /* cap on mapped DMA bytes; 0: none */
	/*
	 * DMA files must be sealed against shrinking (F_SEAL_SHRINK, which
	 * the device adds itself when sealing is open), or a client could
	 * truncate its file and crash the device with SIGBUS.  true also
	 * accepts files that cannot be sealed (disk or hugetlbfs files
	 * opened by path): only for clients the device trusts.
	 */
	bool allow_unsealed_dma;
	/* How DMA_READ/DMA_WRITE lay out their count (see below). */
	enum uvfio_dma_layout dma_layout;
};

struct uvfio_dev *uvfio_dev_create(const struct uvfio_pci_ids *ids,
				   uint32_t cfg_size,
				   const struct uvfio_dev_ops *ops, void *priv,
				   const struct uvfio_dev_opts *opts);
void uvfio_dev_destroy(struct uvfio_dev *dev);
void *uvfio_dev_priv(struct uvfio_dev *dev);

/* The config-space model, for adding capabilities before attaching. */
struct uvfio_pci_cfg *uvfio_dev_pci(struct uvfio_dev *dev);

/*
 * Regions: index VFIO_PCI_BAR0_REGION_INDEX..BAR5 declare BARs in config
 * space too; VFIO_PCI_CONFIG_REGION_INDEX is built in; indexes from
 * VFIO_PCI_NUM_REGIONS on are device-specific.
 */
int uvfio_dev_add_region(struct uvfio_dev *dev, unsigned int index,
			 const struct uvfio_region_desc *desc);
/*
 * Doorbells (GET_REGION_IO_FDS): a client that can (a VMM, with
 * KVM_IOEVENTFD) has a write of size bytes (1, 2, 4 or 8) at offset of
 * trapped region index signal an eventfd instead of sending REGION_WRITE;
 * with UVFIO_DOORBELL_DATAMATCH only a write of data does (others still
 * come as REGION_WRITE).  Each signal becomes the call of the region's
 * access callback the REGION_WRITE would have made (buf holds data, or
 * zeros without DATAMATCH: the value written is not known), made from
 * the library's doorbell thread, concurrently with the dispatch thread;
 * writes in quick succession may coalesce into one call.  As for any
 * region write, the callback must not wait for the client (queue work
 * for in-band DMA): a migration arc out of RUNNING waits for the call
 * in progress and runs the signals still pending before the device's
 * quiesce or stop.  A client that does not ask sends REGION_WRITE as
 * before.  Declared before serving
 * (-EBUSY after); at most UVFIO_DOORBELL_REGION_MAX per region and
 * UVFIO_DOORBELL_MAX per device (-ENOSPC); not in a mappable area;
 * -EEXIST for one KVM would refuse next to another (the same range,
 * unless both match different values).
 */
#define UVFIO_DOORBELL_DATAMATCH (1u << 0)
#define UVFIO_DOORBELL_REGION_MAX 8 /* vfio-user's default max_msg_fds */
#define UVFIO_DOORBELL_MAX 64
int uvfio_dev_add_doorbell(struct uvfio_dev *dev, unsigned int index,
			   uint64_t offset, uint32_t size, uint32_t flags,
			   uint64_t data);

/* The memory behind a UVFIO_REGION_MEM region. */
void *uvfio_dev_region_mem(struct uvfio_dev *dev, unsigned int index);

/* Number of vectors per VFIO_PCI_*_IRQ_INDEX (ERR and REQ: 0 or 1). */
int uvfio_dev_set_irq_count(struct uvfio_dev *dev, unsigned int index,
			    uint32_t count);

/* Start serving. */
int uvfio_dev_listen(struct uvfio_dev *dev, const char *path);
int uvfio_dev_attach_fd(struct uvfio_dev *dev, int fd);
bool uvfio_dev_connected(struct uvfio_dev *dev);

/*
 * One fd to poll for readiness, and handle whatever is ready: accepts a
 * client, or reads the socket once and handles every whole message it
 * brought.  Returns how many messages were handled, or a negative errno
 * when the client had to be dropped (a broken stream); the device then
 * waits for the next client, as uvfio_dev_run() does.
 */
int uvfio_dev_get_poll_fd(struct uvfio_dev *dev);
int uvfio_dev_process(struct uvfio_dev *dev);
/* Serve until uvfio_dev_stop() or, with once, until a client leaves. */
int uvfio_dev_run(struct uvfio_dev *dev, bool once);
/*
 * Async-signal-safe and final: uvfio_dev_run() returns, now or as soon as
 * it starts.  The current client, if any, is disconnected.
 */
void uvfio_dev_stop(struct uvfio_dev *dev);

/*
 * Interrupts.  The client enables one of INTx, MSI and MSI-X at a time
 * and wires vectors to eventfds with SET_IRQS; ERR and REQ take one
 * eventfd each.  The semantics are those of Linux vfio-pci, plus masking
 * of MSI and MSI-X vectors (MASK/UNMASK with DATA_NONE or DATA_BOOL).
 *
 * uvfio_dev_irq_trigger() raises vector of index (VFIO_PCI_*_IRQ_INDEX)
 * from any thread, with no lock and no allocation: one write() to the
 * vector's eventfd.  A masked vector keeps one pending interrupt (raises
 * while it is pending coalesce) and delivers it when unmasked.  INTx is
 * automasked: each delivery masks it until the client's UNMASK (by
 * message or through its unmask eventfd), so INTx raises in between
 * stay pending.  Returns 0 when delivered or held pending, -ENOENT when
 * the client has not enabled the index or wired the vector (nothing is
 * kept), -EINVAL for an index or vector that does not exist.
 */
int uvfio_dev_irq_trigger(struct uvfio_dev *dev, unsigned int index,
			  uint32_t vector);
/* Which index the client has enabled (-1 for none) among INTx/MSI/MSI-X. */
int uvfio_dev_irq_mode(struct uvfio_dev *dev);

/*
 * INTx as a level, as vfio-pci sees a physical line: asserting raises it
 * like uvfio_dev_irq_trigger(), and while it stays asserted every UNMASK
 * delivers again; deasserting withdraws what is pending.  A device that
 * only ever pulses INTx uses uvfio_dev_irq_trigger() instead.
 */
int uvfio_dev_intx_set_level(struct uvfio_dev *dev, bool asserted);

/* uvfio_dev_irq_status() bits. */
#define UVFIO_IRQ_LIVE (1u << 0)        /* enabled, and a raise can land */
#define UVFIO_IRQ_MASKED (1u << 1)
#define UVFIO_IRQ_PENDING (1u << 2)
/* A vector's state (for a PBA, or tests), or -EINVAL. */
int uvfio_dev_irq_status(struct uvfio_dev *dev, unsigned int index,
			 uint32_t vector);
/* Withdraws a pending interrupt; returns 1 if one was pending, else 0. */
int uvfio_dev_irq_clear_pending(struct uvfio_dev *dev, unsigned int index,
				uint32_t vector);

/*
 * Backends.  A vector is delivered by writing its eventfd unless the
 * device chose otherwise.  Backends may change at any time from one
 * thread per vector; a raise meanwhile is held pending, not lost.
 *
 * Emulated: delivery calls fn (from the raising thread, or from the
 * thread that unmasks) instead of writing an eventfd, so such a vector
 * needs no eventfd, only its index enabled.  fn NULL goes back to the
 * eventfd.
 */
typedef void (*uvfio_irq_emulated_fn)(struct uvfio_dev *dev, void *priv,
				      unsigned int index, uint32_t vector);
int uvfio_dev_irq_set_emulated(struct uvfio_dev *dev, unsigned int index,
			       uint32_t vector, uvfio_irq_emulated_fn fn,
			       void *priv);

/*
 * IMS, an interrupt message store owned by the device: slots holding an
 * MSI message (address, data, PASID) and a mask bit, as a device keeps
 * them in its own memory.  An MSI-X vector backed by a slot delivers
 * through the vector's eventfd only while the slot is unmasked; a raise
 * against a masked slot leaves it pending, and unmasking the slot
 * delivers once.  Slots start masked.  One slot backs at most one
 * vector.  A store may serve several devices; free it after the devices
 * using it are destroyed or their vectors rebound.  Slot functions are
 * safe from any thread (program/get of one slot are not atomic as a
 * whole: serialize them if they can race).
 */
struct uvfio_ims;
struct uvfio_ims_entry {
	uint64_t address;
	uint32_t data;
	uint32_t pasid;
	bool masked;
	bool pending;
};
#define UVFIO_IMS_MAX_SLOTS (1u << 24)
struct uvfio_ims *uvfio_ims_new(uint32_t slots);
void uvfio_ims_free(struct uvfio_ims *ims);
int uvfio_ims_program(struct uvfio_ims *ims, uint32_t slot, uint64_t address,
		      uint32_t data, uint32_t pasid);
int uvfio_ims_set_mask(struct uvfio_ims *ims, uint32_t slot, bool masked);
int uvfio_ims_get(struct uvfio_ims *ims, uint32_t slot,
		  struct uvfio_ims_entry *out);
/* Backs an MSI-X vector by slot; ims NULL goes back to the eventfd. */
int uvfio_dev_irq_set_ims(struct uvfio_dev *dev, unsigned int index,
			  uint32_t vector, struct uvfio_ims *ims,
			  uint32_t slot);
/*
 * MSI-X with more vectors than the capability's 2048, as Linux backs
 * guest vectors with IMS: sets the MSI-X count to count (2049 ..
 * 2048 + slots left in ims from first_slot), vector 2048 + i backed by
 * slot first_slot + i.  Those vectors stay IMS-backed (they may move to
 * another slot, never to a plain eventfd).  Before a client attaches,
 * like uvfio_dev_set_irq_count(), which it replaces for MSI-X.
 */
int uvfio_dev_set_msix_ims(struct uvfio_dev *dev, uint32_t count,
			   struct uvfio_ims *ims, uint32_t first_slot);

/*
 * DMA.  Access flags for uvfio_dma_get(): UVFIO_DMA_READ and
 * UVFIO_DMA_WRITE, in caps.h, the same flags a client maps windows with.
 */

struct uvfio_dma_ref {
	void *ptr;
	size_t len;
	void *window;           /* opaque */
};

/*
 * Turns [iova, iova + len) into a host pointer; the range must lie in one
 * window mapped with an fd and allowing access.  Callable from any thread;
 * the window cannot go away until uvfio_dma_put().  Errors: -ENOENT (not
 * mapped), -EACCES (rights), -EFAULT (no fd: use uvfio_dma_read/write).
 */
int uvfio_dma_get(struct uvfio_dev *dev, uint64_t iova, size_t len,
		  uint32_t access, struct uvfio_dma_ref *ref);
void uvfio_dma_put(struct uvfio_dev *dev, struct uvfio_dma_ref *ref);

/*
 * Copies to or from client memory: directly where the window is mapped,
 * otherwise with DMA_READ/DMA_WRITE messages chunked to the client's
 * max_data_xfer_size (DMA_READ to 64 KiB with the COUNT32 layout, which
 * QEMU delivers whole only up to its socket buffer).  Messages go over
 * the twin socket when one was negotiated, otherwise over the main socket,
 * from any thread: the dispatch thread hands each reply to the thread
 * waiting for it and keeps serving the client meanwhile.  One request is
 * outstanding at a time; other threads wait their turn.
 *
 * Without a twin socket, in-band DMA from the dispatch thread fails with
 * -EDEADLK: inside a handler the client is waiting for our reply and may
 * serve our request only after it (QEMU does), so both would wait.  Queue
 * the work instead (uvfio_work_queue(): it runs once the reply is sent).
 * Other errors: -ENOENT, -EACCES as uvfio_dma_get(); -ENOTCONN or
 * -ECONNRESET without a client or when it leaves meanwhile; the client's
 * errno from an error reply; -EPROTO for a reply that does not echo the
 * request.
 */
int uvfio_dma_read(struct uvfio_dev *dev, uint64_t iova, void *buf,
		   size_t len);
int uvfio_dma_write(struct uvfio_dev *dev, uint64_t iova, const void *buf,
		    size_t len);

/*
 * Deferred work, as hardware finishes a doorbell write and then runs the
 * engine: a work item runs fn(dev, arg) on the device's work thread (one
 * per device, started with the first item, in queueing order).  Queued
 * from inside a handler (a region access, reset, ...), it starts only
 * after that handler's reply has been sent.  Queueing an item that is
 * already queued does nothing; one queued while it runs runs again.
 *
 * uvfio_work_queue() is safe from any thread and never blocks on the
 * client; it returns 1 when queued, 0 when it already was (then it keeps
 * its place: it is not held back again).  uvfio_work_flush() waits until
 * the item is neither queued nor running.  Never call it, nor
 * uvfio_work_free(), from the item's own fn, nor from the dispatch thread
 * (a handler): an item held for the handler's reply, or waiting for an
 * in-band DMA reply that only the dispatch thread receives, would never
 * finish.  Items belong to their device:
 * uvfio_dev_destroy() frees those left, dropping any still queued, after
 * waiting for a running one (whose in-band DMA fails once the client is
 * gone).  uvfio_work_free() does the same for one item.
 */
struct uvfio_work;
typedef void (*uvfio_work_fn)(struct uvfio_dev *dev, void *arg);
struct uvfio_work *uvfio_work_new(struct uvfio_dev *dev, uvfio_work_fn fn,
				  void *arg);
int uvfio_work_queue(struct uvfio_work *w);
void uvfio_work_flush(struct uvfio_work *w);
void uvfio_work_free(struct uvfio_work *w);

/*
 * Live migration, VFIO v2 (the state machine of <linux/vfio.h>, carried
 * over DEVICE_FEATURE and MIG_DATA_READ/WRITE).  The library runs the
 * state machine (combination arcs included), the data stream, DMA dirty
 * logging and the rules each state imposes; the device supplies the
 * arcs and its state as records.
 *
 * States, numbered as enum vfio_device_mig_state (PRE_COPY ones are
 * missing from older headers).
 */
#include <uvfio/mig.h>

/* The kernel's value; older <linux/vfio.h> lack it. */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif

/* What a save() appends its record to. */
struct uvfio_mig_out;
int uvfio_mig_write(struct uvfio_mig_out *out, const void *data, size_t len);

/*
 * Enforced by the library, whatever the callbacks do:
 * - in STOP, STOP_COPY, RESUMING (and ERROR) interrupts raised are held
 *   pending (and migrated with the state), delivered when the device
 *   runs again; uvfio_dma_get/read/write fail with -EBUSY;
 * - in RUNNING_P2P and PRE_COPY_P2P new DMA fails with -EBUSY too, and
 *   the arc into those states completes only once every DMA reference
 *   (uvfio_dma_get without uvfio_dma_put, a read or write under way) is
 *   released;
 * - config space, SET_IRQS and region access are served in every state.
 *
 * Callbacks run on the dispatch thread, one arc step at a time; a
 * negative errno fails the SET and leaves the device in the last state
 * the walk reached (a callback refusing its step changes nothing), or in
 * ERROR when the step failed after the library began it (DMA that did
 * not drain, refused stream data, a failed save) until a reset.  A
 * client that leaves puts the device back in RUNNING (and through
 * ops.reset first when it was RESUMING or in ERROR).
 */
struct uvfio_mig_ops {
	/* VFIO_MIGRATION_STOP_COPY, plus VFIO_MIGRATION_P2P, PRE_COPY. */
	uint64_t flags;
	/* RUNNING -> RUNNING_P2P: stop initiating DMA to peers. */
	int (*quiesce)(struct uvfio_dev *dev, void *priv);
	/* -> STOP (from RUNNING_P2P, or RUNNING without P2P): halt. */
	int (*stop)(struct uvfio_dev *dev, void *priv);
	/* STOP -> RUNNING_P2P (or RUNNING without P2P): run again. */
	int (*run)(struct uvfio_dev *dev, void *priv);
	/* RUNNING_P2P -> RUNNING: peer DMA allowed again. */
	int (*unquiesce)(struct uvfio_dev *dev, void *priv);
	/*
	 * Saving.  save_begin: a saving session starts (RUNNING -> PRE_COPY
	 * or STOP -> STOP_COPY): everything counts as changed.  save: the
	 * device appends one record with uvfio_mig_write(); final is false
	 * in PRE_COPY (what changed since the previous record, while the
	 * device runs; nothing written means nothing for now) and true
	 * once, on the way to STOP_COPY (the rest).  pending: bytes the
	 * next save would write (an estimate), for MIG_DATA_SIZE and the
	 * client's pre-copy loop.  save_end: the session is over.
	 */
	void (*save_begin)(struct uvfio_dev *dev, void *priv);
	int (*save)(struct uvfio_dev *dev, void *priv,
		    struct uvfio_mig_out *out, bool final);
	uint64_t (*pending)(struct uvfio_dev *dev, void *priv, bool final);
	void (*save_end)(struct uvfio_dev *dev, void *priv);
	/*
	 * Resuming: load_begin at STOP -> RESUMING; load once per record
	 * of the source's save(), in order, checked for integrity; load_end
	 * at RESUMING -> STOP (an error there refuses the data).
	 */
	int (*load_begin)(struct uvfio_dev *dev, void *priv);
	int (*load)(struct uvfio_dev *dev, void *priv, const void *data,
		    size_t len, bool final);
	int (*load_end)(struct uvfio_dev *dev, void *priv);
};

/*
 * A DMA transaction spanning several calls (one device command): while
 * it is open, DMA calls of this thread are not refused, and an arc into
 * a P2P or stopped state waits for it to end (serving in-band DMA
 * replies meanwhile), so a command runs whole on one side of a move.
 * -EBUSY when the state forbids starting DMA: keep the work for when
 * the device runs again (ops.run / ops.unquiesce).  Not nested across
 * devices.
 */
int uvfio_dma_begin(struct uvfio_dev *dev);
void uvfio_dma_end(struct uvfio_dev *dev);

/*
 * For dirty logging: the device wrote [iova, iova + len) of client
 * memory by other means than uvfio_dma_get/uvfio_dma_write (a pointer
 * kept past its put, a peer device's BAR).  Any thread; one load while
 * logging is off.
 */
void uvfio_dma_mark_dirty(struct uvfio_dev *dev, uint64_t iova,
			  uint64_t len);

/* Offers migration (and DMA dirty logging); before a client attaches. */
int uvfio_dev_set_migration(struct uvfio_dev *dev,
			    const struct uvfio_mig_ops *ops, void *priv);
/* The current state (RUNNING for a device without migration). */
enum uvfio_mig_state uvfio_dev_mig_state(struct uvfio_dev *dev);

/* Mapped windows and bytes, for tests and tools. */
int uvfio_dma_stats(struct uvfio_dev *dev, uint32_t *windows,
		    uint64_t *bytes);

#ifdef __GNUC__
#pragma GCC visibility pop
#endif

#endif
