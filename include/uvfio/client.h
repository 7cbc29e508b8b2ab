/* SPDX-License-Identifier: MIT */
/*
 * libuvfio, VMM side: a vfio-user client.  It connects, negotiates, reads
 * device, region and irq information, accesses regions (by message or by
 * mmap), sets irqs, resets, maps its memory for the device's DMA and
 * answers the device's DMA_READ/DMA_WRITE requests.  The client trusts
 * the server no more than the server trusts it: every reply is validated,
 * and a reply that does not fit gives -EPROTO (or the server's errno).
 *
 * Requests may come from several threads; they are serialized.  Requests
 * from the server arrive on the twin socket or, without twin-socket mode,
 * on the main socket.  They are served by the client's own thread unless
 * UVFIO_CLIENT_NO_THREAD is given, in which case the caller polls
 * uvfio_client_get_poll_fd() (the twin socket, or the main one) and calls
 * uvfio_client_process(); on the main socket they are also answered while
 * a request of ours waits for its reply.
 */
#ifndef UVFIO_CLIENT_H
#define UVFIO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>

#include <uvfio/caps.h>
#include <uvfio/mig.h>

/* What this header declares is libuvfio's ABI (src/libuvfio.map). */
#ifdef __GNUC__
#pragma GCC visibility push(default)
#endif

/* The kernel's values; older <linux/vfio.h> lack them. */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif
#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

struct uvfio_client;

#define UVFIO_CLIENT_NO_TWIN (1u << 0)   /* do not ask for a twin socket */
#define UVFIO_CLIENT_NO_THREAD (1u << 1) /* caller serves the twin socket */
/* Keep what uvfio_client_reconnect() needs (see there). */
#define UVFIO_CLIENT_RECONNECT (1u << 2)

struct uvfio_client_opts {
	uint32_t flags;
	uint32_t max_data_xfer_size;    /* 0: 1 MiB */
	uint32_t max_msg_fds;           /* 0: 16 */
};

struct uvfio_client *uvfio_client_connect(const char *path,
					  const struct uvfio_client_opts *o);
/* Takes ownership of a connected socket. */
struct uvfio_client *uvfio_client_attach_fd(int fd,
					    const struct uvfio_client_opts *o);
void uvfio_client_close(struct uvfio_client *c);

/*
 * Reconnects to a device that restarted: to fd (a connected socket, owned
 * from here) or, with fd -1, to the socket path the client connected to,
 * retrying for up to timeout_ms.  It negotiates again, checks that the
 * device is the same kind (device info flags, region and IRQ counts;
 * else -ENODEV), then gives it every DMA window again, the eventfds
 * SET_IRQS gave each vector last, the MSI and MSI-X vectors it masked,
 * INTx's unmask eventfd (INTx itself comes back unmasked: its mask is
 * the device's, set by each delivery), and maps the new device's region
 * areas over the addresses uvfio_client_region_mmap() returned, so they
 * stay valid.  -ENODEV: another kind of device, or an area it no longer
 * offers (anonymous memory is mapped there instead); -ETIMEDOUT: nothing
 * accepted on the path in time.  Needs UVFIO_CLIENT_RECONNECT at connect
 * time (-ENOTSUP otherwise), which costs one dup per DMA file and per
 * eventfd.  Not concurrently with other calls on c.  On failure the
 * client stays broken: calls fail fast, and reconnect may be tried again.
 */
int uvfio_client_reconnect(struct uvfio_client *c, int fd,
			   unsigned int timeout_ms);

/* What the server answered in negotiation. */
const struct uvfio_caps *uvfio_client_caps(const struct uvfio_client *c);

struct uvfio_device_info {
	uint32_t flags;         /* VFIO_DEVICE_FLAGS_* */
	uint32_t num_regions;
	uint32_t num_irqs;
};
int uvfio_client_device_info(struct uvfio_client *c,
			     struct uvfio_device_info *info);

/* The same limit as a device's (caps.h). */
#define UVFIO_CLIENT_MAX_AREAS UVFIO_MAX_AREAS

struct uvfio_region {
	uint32_t index;
	uint32_t flags;         /* VFIO_REGION_INFO_FLAG_* */
	uint64_t size;
	uint64_t offset;        /* mmap offset */
	int fd;                 /* -1 unless mappable; owned by the client */
	unsigned int nr_areas;  /* sparse mmap areas (0: whole if MMAP) */
	struct uvfio_mmap_area_info {
		uint64_t offset;
		uint64_t size;
	} areas[UVFIO_CLIENT_MAX_AREAS];
	bool has_type;
	uint32_t type;
	uint32_t subtype;
};
/* Cached after the first call; fd stays open until close. */
int uvfio_client_region_info(struct uvfio_client *c, uint32_t index,
			     const struct uvfio_region **out);

int uvfio_client_irq_info(struct uvfio_client *c, uint32_t index,
			  struct vfio_irq_info *info);

/*
 * The device's doorbells in region index (GET_REGION_IO_FDS): writes it
 * wants as an eventfd signal instead of REGION_WRITE.  A VMM binds each
 * with KVM_IOEVENTFD at the BAR's guest address + offset, with flags
 * (KVM_IOEVENTFD_FLAG_DATAMATCH: only a write of datamatch) and size
 * (0: any).  Fills up to max entries; each fd is the caller's to close.
 * Returns how many the device offers that can be used (ioregionfds and
 * unknown flags are left out), or -errno (-EPROTO: a malformed reply).
 */
struct uvfio_doorbell {
	uint64_t offset;
	uint64_t size;
	uint32_t flags;
	uint64_t datamatch;
	int fd;
};
int uvfio_client_region_doorbells(struct uvfio_client *c, uint32_t index,
				  struct uvfio_doorbell *out, unsigned int max);
/* How many usable doorbells region index has (their fds are dropped). */
int uvfio_client_region_io_fds(struct uvfio_client *c, uint32_t index);

int uvfio_client_region_read(struct uvfio_client *c, uint32_t index,
			     uint64_t off, void *buf, size_t len);
#define UVFIO_WRITE_POSTED (1u << 0)    /* No_reply: do not wait */
int uvfio_client_region_write(struct uvfio_client *c, uint32_t index,
			      uint64_t off, const void *buf, size_t len,
			      uint32_t flags);

struct uvfio_write {
	uint32_t index;
	uint32_t count;         /* 1..8 */
	uint64_t offset;
	uint64_t data;
};
int uvfio_client_region_write_multi(struct uvfio_client *c,
				    const struct uvfio_write *w,
				    unsigned int n);

/*
 * Maps a mappable area of a region (area -1: the whole region).  Returns
 * the mapping, or NULL with errno.  The mapping's size is *size.
 */
void *uvfio_client_region_mmap(struct uvfio_client *c, uint32_t index,
			       int area, size_t *size);

/*
 * SET_IRQS: data is count bool bytes for DATA_BOOL, or count fds (-1 to
 * unassign) for DATA_EVENTFD.
 */
int uvfio_client_set_irqs(struct uvfio_client *c, uint32_t index,
			  uint32_t flags, uint32_t start, uint32_t count,
			  const void *data);

int uvfio_client_reset(struct uvfio_client *c);

/*
 * DMA: share [vaddr, vaddr + size) as [iova, iova + size), prot
 * UVFIO_DMA_READ and/or UVFIO_DMA_WRITE (caps.h).  With fd >= 0
 * the server mmaps fd at offset; either way the client answers the
 * server's DMA_READ/DMA_WRITE for the window from vaddr.
 */
int uvfio_client_dma_map(struct uvfio_client *c, uint64_t iova,
			 uint64_t size, uint32_t prot, void *vaddr, int fd,
			 uint64_t offset);
/* The flags of caps.h; these older names stay as aliases. */
#define UVFIO_DMA_PROT_READ UVFIO_DMA_READ
#define UVFIO_DMA_PROT_WRITE UVFIO_DMA_WRITE
int uvfio_client_dma_unmap(struct uvfio_client *c, uint64_t iova,
			   uint64_t size);
int uvfio_client_dma_unmap_all(struct uvfio_client *c);

/* VFIO_USER_DEVICE_FEATURE: *len in: bytes of data, out: reply data. */
int uvfio_client_device_feature(struct uvfio_client *c, uint32_t flags,
				void *data, size_t *len, size_t cap);

/*
 * Live migration (VFIO v2 over DEVICE_FEATURE and MIG_DATA_READ/WRITE).
 * Every call validates the whole reply: one that does not fit what was
 * asked gives -EPROTO; an error reply gives the server's errno.
 */

/* VFIO_MIGRATION_* flags of the device (GET MIGRATION); -ENOTSUP etc. */
int uvfio_client_mig_flags(struct uvfio_client *c, uint64_t *flags);
/*
 * Whether feature supports getset (VFIO_DEVICE_FEATURE_GET and/or _SET):
 * 0 when it does, the server's -errno when not.
 */
int uvfio_client_mig_probe(struct uvfio_client *c, uint32_t feature,
			   uint32_t getset);
/* The device's state (GET MIG_DEVICE_STATE). */
int uvfio_client_mig_get_state(struct uvfio_client *c,
			       enum uvfio_mig_state *state);
/*
 * Moves the device to state, combination arcs included (the server walks
 * them).  The request is libvfio-user's (argsz 16, data_fd -1); a reply
 * that echoes another state is -EPROTO.  On failure the device is in some
 * valid state or ERROR: ask uvfio_client_mig_get_state().
 */
int uvfio_client_mig_set_state(struct uvfio_client *c,
			       enum uvfio_mig_state state);
/* The device's estimate of its STOP_COPY data in bytes (MIG_DATA_SIZE). */
int uvfio_client_mig_data_size(struct uvfio_client *c, uint64_t *bytes);
/*
 * Reads up to len bytes of the migration stream (PRE_COPY or STOP_COPY),
 * in MIG_DATA_READ chunks of the negotiated max_data_xfer_size.  Returns
 * the bytes read: fewer than len means the device has no more for now (a
 * short reply ends the stream, or in PRE_COPY what is available).  A
 * reply claiming more than asked or than it carries is -EPROTO (the bytes
 * before it are lost to the caller: the stream is then unusable).
 */
ssize_t uvfio_client_mig_read(struct uvfio_client *c, void *buf, size_t len);
/* Writes len bytes of the stream to a RESUMING device, in chunks; 0. */
int uvfio_client_mig_write(struct uvfio_client *c, const void *buf,
			   size_t len);

/*
 * Dirty-page logging of the device's DMA writes.  start: *page_size in
 * the granularity wanted, out the one the device chose; n ranges of IOVA
 * to log (n 0: all of it).  -E2BIG when the ranges do not fit a message.
 */
struct uvfio_iova_range {
	uint64_t iova;
	uint64_t length;
};
int uvfio_client_dirty_start(struct uvfio_client *c, uint64_t *page_size,
			     const struct uvfio_iova_range *ranges,
			     uint32_t n);
int uvfio_client_dirty_stop(struct uvfio_client *c);
/*
 * Fetches and clears the device's log of [iova, iova + length) into
 * bitmap: bit i (of bitmap[i / 64]) for the page_size bytes at iova +
 * i * page_size; page_size a power of two; bitmap holds
 * ceil(ceil(length / page_size) / 64) words, all written (bits past the
 * range 0).  A range whose bitmap does not fit one message is asked in
 * pieces of a multiple of 64 pages.  A piece that fails leaves the log of
 * the pieces before it cleared in the device and returned in bitmap.
 */
int uvfio_client_dirty_report(struct uvfio_client *c, uint64_t iova,
			      uint64_t length, uint64_t page_size,
			      uint64_t *bitmap);
/* Same, ORed into the caller's bitmap (the VMM's own dirty log). */
int uvfio_client_dirty_merge(struct uvfio_client *c, uint64_t iova,
			     uint64_t length, uint64_t page_size,
			     uint64_t *bitmap);

/*
 * A migration driver for one or several devices, streaming to an fd (a
 * socket to the destination or a file).  The stream is a sequence of
 * frames in host byte order: struct uvfio_mig_frame, then length bytes of
 * the stream of device index; it ends with a frame of index
 * UVFIO_MIG_FRAME_END_INDEX, flags UVFIO_MIG_FRAME_END and length 0.
 */
struct uvfio_mig_frame {
	uint32_t index;         /* into devs[] */
	uint32_t flags;         /* UVFIO_MIG_FRAME_* */
	uint64_t length;        /* bytes that follow */
};
#define UVFIO_MIG_FRAME_PRE_COPY (1u << 0)
#define UVFIO_MIG_FRAME_STOP_COPY (1u << 1)
#define UVFIO_MIG_FRAME_END (1u << 31)
#define UVFIO_MIG_FRAME_END_INDEX 0xffffffffu

/*
 * A VMM's own state travels in the same stream, in frames whose index is
 * at least UVFIO_MIG_FRAME_USER_BASE (and not END_INDEX); their flags
 * and contents are the caller's.
 */
#define UVFIO_MIG_FRAME_USER_BASE 0xffff0000u

/*
 * Where a VMM joins the driver.  Every hook may be NULL; one that fails
 * (returns a negative errno) fails the migration with that error.
 */
struct uvfio_mig_hooks {
	void *arg;
	/*
	 * Source, after each pre-copy round's device data (round 0 first):
	 * the caller writes its frames to fd; *more (false on entry) keeps
	 * the rounds going, up to max_iters, as a device estimate over the
	 * threshold does.  With this hook there are rounds even when no
	 * device offers PRE_COPY.
	 */
	int (*round)(void *arg, int fd, unsigned int round, bool *more);
	/*
	 * Source: every P2P device is in RUNNING_P2P (or PRE_COPY_P2P) and
	 * none has stopped yet: the caller stops its vCPUs.
	 */
	int (*quiesce)(void *arg);
	/*
	 * Source: every device is in STOP and its data is out: the caller
	 * writes its last frames (what the devices dirtied, vCPU state)
	 * before the end frame.
	 */
	int (*stopped)(void *arg, int fd);
	/*
	 * Source: the migration failed after quiesce; the devices are back
	 * in the state they started in, the caller's vCPUs may run again.
	 */
	void (*resume)(void *arg);
	/*
	 * Destination: one of the caller's frames; it reads exactly
	 * f->length bytes from fd.
	 */
	int (*frame)(void *arg, int fd, const struct uvfio_mig_frame *f);
	/*
	 * Destination: the end frame came and every device loaded its state
	 * (STOP, or RUNNING_P2P where offered): the caller loads its own
	 * before any device runs.
	 */
	int (*loaded)(void *arg);
};

struct uvfio_mig_driver_stats {
	unsigned int iters;             /* pre-copy rounds */
	uint64_t precopy_bytes;
	uint64_t stopcopy_bytes;
};

struct uvfio_mig_driver_opts {
	/* Pre-copy ends once every MIG_DATA_SIZE estimate is below this. */
	uint64_t precopy_threshold;
	unsigned int max_iters;         /* pre-copy rounds; 0: 8 */
	uint64_t max_iter_bytes;        /* per device and round; 0: 256 MiB */
	/*
	 * No pre-copy even where offered: for devices whose STOP_COPY data
	 * repeats their pre-copy data instead of continuing it
	 * (libvfio-user's samples/server, whose own client drops it).
	 */
	bool no_precopy;
	struct uvfio_mig_driver_stats *stats;   /* filled if not NULL */
	const struct uvfio_mig_hooks *hooks;    /* NULL: devices only */
};

/*
 * Source side.  Devices must be RUNNING (or STOP: no pre-copy then) and
 * support STOP_COPY.  Those with PRE_COPY go to PRE_COPY and their data
 * is streamed, round after round, until every estimate is under the
 * threshold or max_iters; then every device with P2P goes to
 * RUNNING_P2P (PRE_COPY_P2P from PRE_COPY) before any of them stops;
 * then all go to STOP_COPY, their remaining data is streamed, and all
 * go to STOP.  0 leaves them in STOP (a failed destination resumes them
 * with RUNNING).  On error every device is sent back to the state it
 * started in and the error is returned: a device's, or the fd's -errno.
 */
int uvfio_client_migrate_out(struct uvfio_client *const *devs,
			     unsigned int ndev, int out_fd,
			     const struct uvfio_mig_driver_opts *opts);
/*
 * Destination side: devs in the source's order.  All go to RESUMING, get
 * their frames, then STOP (each loads its state), RUNNING_P2P where
 * supported, and only then RUNNING.  A stream that ends early is
 * -ENODATA; a malformed frame (unknown index or flags) -EBADMSG; a device
 * refusing its data its errno.  On error the devices are left where they
 * failed (RESUMING, STOP or ERROR): reset them or retry.
 */
int uvfio_client_migrate_in(struct uvfio_client *const *devs,
			    unsigned int ndev, int in_fd);
/*
 * The same, with a VMM's hooks (frame, loaded); ndev may be 0 (devs
 * NULL) when hooks are given, here and in uvfio_client_migrate_out().
 */
int uvfio_client_migrate_in_hooks(struct uvfio_client *const *devs,
				  unsigned int ndev, int in_fd,
				  const struct uvfio_mig_hooks *hooks);

/* Server-to-client requests when the caller serves them. */
int uvfio_client_get_poll_fd(struct uvfio_client *c);
int uvfio_client_process(struct uvfio_client *c);

/* Counters, for tests and benchmarks. */
struct uvfio_client_stats {
	uint64_t requests;
	uint64_t dma_reads;
	uint64_t dma_writes;
	uint64_t dma_bytes;
};
void uvfio_client_stats(struct uvfio_client *c, struct uvfio_client_stats *s);


/*
 * Interrupt emulation.  After uvfio_client_irq_attach() the client owns
 * the guest-visible MSI and MSI-X state: the VMM sends every guest config
 * access through uvfio_client_cfg_read/write and every trapped access to
 * a BAR through uvfio_client_bar_read/write.  Bytes of the MSI and MSI-X
 * capabilities and of the MSI-X table and PBA are emulated (config writes
 * are forwarded to the device as well); everything else goes to the
 * device.  Enabling, the function mask, per-vector masks and new messages
 * become routes on the router, eventfds bound to them and SET_IRQS to
 * the device.  A masked vector's interrupt sets its pending bit (PBA, or
 * MSI Pending Bits) and is delivered once on unmask.
 *
 * A failure to route or to reach the device (no eventfd, no route, the
 * router or the device refusing) is returned by the access that caused it
 * as a negative errno, and that access leaves the emulated state as it
 * was (a write spanning two table entries keeps the first if the second
 * fails).  MSI-X table accesses of any size and alignment are emulated
 * byte-wise (the PCI spec only allows aligned dwords and qwords); PBA
 * writes are ignored.  An MSI-X vector is routed once its address is
 * non-zero; before that, an interrupt on it is pending while the vector
 * is masked and dropped once it is unmasked.  MSI's Multiple Message
 * Enable is read when MSI is enabled.  These calls may come from several
 * vCPU threads.  Without an attached router, cfg and bar accesses go
 * straight to the device.  Detach before uvfio_client_close().
 */
struct uvfio_irq_router;

int uvfio_client_irq_attach(struct uvfio_client *c,
			    struct uvfio_irq_router *r);
/* Disables MSI, MSI-X and INTx at the device and releases the routes. */
void uvfio_client_irq_detach(struct uvfio_client *c);

/*
 * Migration of the emulation: its guest-visible state (MSI and MSI-X
 * registers, the MSI-X table, pending bits) as an opaque, versioned
 * blob.  save returns the bytes written, or with buf NULL the size it
 * needs (-ENOSPC when len is short).  load goes onto a freshly attached
 * client of the same kind of device (-EINVAL for another layout or a
 * damaged blob, -EBUSY once MSI or MSI-X is on): it replays the state as
 * the guest would write it, so routes are made on this client's router,
 * the device gets its eventfds, and a vector that was pending while
 * masked is pending here.  After a failed load, detach and attach again
 * before another try.  INTx is not in it: it is the VMM's wiring and the
 * device's line.
 */
ssize_t uvfio_client_irq_save(struct uvfio_client *c, void *buf, size_t len);
int uvfio_client_irq_load(struct uvfio_client *c, const void *buf,
			  size_t len);

/* Guest config space access; off + len within the config region. */
int uvfio_client_cfg_read(struct uvfio_client *c, uint32_t off, void *buf,
			  size_t len);
int uvfio_client_cfg_write(struct uvfio_client *c, uint32_t off,
			   const void *buf, size_t len);
/* Guest access to BAR bar (0..5); off + len within the BAR's region. */
int uvfio_client_bar_read(struct uvfio_client *c, unsigned int bar,
			  uint64_t off, void *buf, size_t len);
int uvfio_client_bar_write(struct uvfio_client *c, unsigned int bar,
			   uint64_t off, const void *buf, size_t len);

/*
 * INTx on the router's level-triggered route to interrupt controller pin
 * pin.  The device masks INTx when it fires; the guest's EOI signals the
 * resample eventfd (KVM does it; a VMM without KVM calls
 * uvfio_client_intx_eoi()), which unmasks it at the device.  INTx steps
 * aside while MSI or MSI-X is enabled and comes back after.
 */
int uvfio_client_intx_enable(struct uvfio_client *c, unsigned int pin);
int uvfio_client_intx_disable(struct uvfio_client *c);
int uvfio_client_intx_eoi(struct uvfio_client *c);

/* A vector's emulated state, for tests and tools. */
struct uvfio_client_vector {
	uint64_t address;
	uint32_t data;
	bool enabled;           /* MSI/MSI-X is enabled for it */
	bool masked;            /* vector mask or function mask */
	bool pending;
	int route;              /* router handle, -1 for none */
};
int uvfio_client_msix_vector(struct uvfio_client *c, uint32_t v,
			     struct uvfio_client_vector *out);
int uvfio_client_msi_vector(struct uvfio_client *c, uint32_t v,
			    struct uvfio_client_vector *out);

#ifdef __GNUC__
#pragma GCC visibility pop
#endif

#endif
