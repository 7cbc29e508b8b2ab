/* SPDX-License-Identifier: MIT */
/* libuvfio client internals, shared by the files of src/client. */
#ifndef UVFIO_CLIENT_PRIV_H
#define UVFIO_CLIENT_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <uvfio/client.h>

#include "proto/chan.h"
#include "proto/itree.h"
#include "proto/lock.h"

struct cl_irqemu;

#define CL_HDR sizeof(struct vfio_user_header)
#define CL_PAGE 4096u
/* More regions than any PCI device has; bounds the cache a server sizes. */
#define CL_MAX_REGIONS 1024u
/* The largest region info reply (struct and caps) the client asks for. */
#define CL_MAX_REGION_INFO (64u * 1024)

/* A DMA window, as a lookup in c->win gives it (see dma.c). */
struct cl_window {
	uint64_t iova;
	uint64_t size;
	uint8_t *vaddr;
	uint32_t prot; /* UVFIO_DMA_PROT_* */
};

struct cl_mapping {
	void *addr;
	size_t size;
	uint32_t index; /* region, and the area's offset in it */
	uint64_t off;
	int prot;
};

/*
 * UVFIO_CLIENT_RECONNECT: a DMA window's value in c->win is this (prot
 * first, where find() reads it), naming the file it came from.
 */
struct cl_kept_win {
	uint32_t prot;
	int file; /* index in c->files, or -1 for a window without fd */
	uint64_t offset;
};

/* One dup per file, whatever number of windows map it. */
struct cl_kept_file {
	dev_t dev;
	ino_t ino;
	int fd;
	unsigned int windows;
};

struct uvfio_client {
	struct uvfio_chan main; /* our requests, their replies */
	struct uvfio_chan twin; /* their requests; fd -1 without */
	bool has_twin;
	struct uvfio_caps ours; /* what we proposed */
	struct uvfio_caps caps; /* what the server answered */
	uint32_t xfer; /* data per REGION_READ/WRITE */

	/* Held for a whole request; also guards everything below it. */
	struct uvfio_lock lock;
	uint16_t next_id;
	int broken; /* errno once the link is unusable */
	bool have_info;
	uint32_t num_regions;
	struct uvfio_region **regions; /* num_regions slots, lazily */
	struct cl_mapping *maps;
	unsigned int nmaps, cap_maps;
	uint64_t log_pgsize; /* dirty logging's page size, 0 when off */

	/* Read by the server-request path while a request waits. */
	pthread_rwlock_t dma_lock;
	struct itree win; /* the DMA windows; win.n of them */
	/*
	 * A DMA_WRITE received straight into a window, without dma_lock
	 * (a stalled server must not block map and unmap): unmap waits for
	 * it to end before the window's memory goes back to the caller.
	 */
	pthread_mutex_t direct_lock;
	pthread_cond_t direct_done;
	atomic_bool direct_busy; /* set and cleared under direct_lock */
	uint64_t direct_iova, direct_len;

	pthread_mutex_t twin_lock; /* uvfio_client_process() callers */
	pthread_t thread;       /* serves the twin, or the main socket */
	bool thread_started;

	struct uvfio_client_stats stats; /* updated with __atomic builtins */

	/* Interrupt emulation (irqemu.h); NULL until uvfio_client_irq_attach. */
	struct cl_irqemu *irq;

	bool no_thread; /* UVFIO_CLIENT_NO_THREAD */
	uint32_t max_msg; /* the channel's buffer */

	/* UVFIO_CLIENT_RECONNECT (reconnect.c); under c->lock. */
	bool keep;
	char *path; /* what uvfio_client_connect() was given */
	struct uvfio_device_info info0; /* the device reconnects must find */
	struct cl_kept_file *files;
	unsigned int nfiles;
	/* The eventfds SET_IRQS gave each index's vectors last (dups). */
	int *irq_fds[VFIO_PCI_NUM_IRQS];
	/* MSI and MSI-X: the vectors the client masked (one byte each). */
	uint8_t *irq_masked[VFIO_PCI_NUM_IRQS];
	uint32_t irq_n[VFIO_PCI_NUM_IRQS]; /* both arrays' length */
	int irq_unmask_fd[VFIO_PCI_NUM_IRQS]; /* INTx's resample (dup), -1 */
};

/*
 * c->lock.  Unlocking first answers the server's requests that arrived
 * behind a reply (without a twin socket they share the main socket): no
 * readiness would announce them to a poller once they sit in our buffer.
 */
void cl_lock(struct uvfio_client *c);
void cl_unlock(struct uvfio_client *c);

/* A request; the caller holds c->lock around the call and the parsing. */
struct cl_req {
	uint16_t cmd;
	bool posted; /* No_reply: return after the send */
	const struct iovec *iov;
	int iovcnt;
	const int *fds;
	unsigned int nfds;
	unsigned int max_fds; /* fds the reply may carry */
};

/*
 * Sends rq and waits for its reply.  On 0, rep holds the reply (payload
 * valid until the next call or the unlock; fds owned by the caller, who
 * must uvfio_msg_release() it).  On error rep holds nothing.
 */
int cl_call(struct uvfio_client *c, const struct cl_req *rq,
	    struct uvfio_msg *rep);
/*
 * cl_call() for a reply of a head (hlen bytes, at most 32) then data,
 * received straight into dst when it is whole and fits cap: returns 1
 * with head and *got filled.  Otherwise (an error reply, a reply of
 * another shape) returns 0 with rep as cl_call() leaves it, or -errno.
 */
int cl_call_into(struct uvfio_client *c, const struct cl_req *rq,
		 void *head, size_t hlen, void *dst, size_t cap, size_t *got,
		 struct uvfio_msg *rep);
/* cl_call() for a fixed request without fds; checks the reply size. */
int cl_simple(struct uvfio_client *c, uint16_t cmd, const void *req, size_t len,
	      struct uvfio_msg *rep, uint32_t min_reply);
void cl_stat_add(uint64_t *counter, uint64_t n);

/* Answers one server request that arrived on ch (twin or main). */
int cl_serve(struct uvfio_client *c, struct uvfio_chan *ch,
	     const struct uvfio_msg *m);
/*
 * Reads and answers the next server request on ch: 1 when one was
 * answered, 0 when nothing is ready (not blocking), 2 when the next
 * message was a reply (dropped), or a negative errno when the link is
 * lost.
 */
int cl_serve_next(struct uvfio_client *c, struct uvfio_chan *ch, bool block);

int cl_device_info_locked(struct uvfio_client *c,
			  struct uvfio_device_info *info);
int cl_region_locked(struct uvfio_client *c, uint32_t index,
		     const struct uvfio_region **out);

void cl_free_regions(struct uvfio_client *c);

/* reconnect.c: keeping what a reconnect replays (no-ops without keep). */
int cl_keep_window(struct uvfio_client *c, int fd, uint64_t offset,
		   uint32_t prot, struct cl_kept_win **out);
void cl_drop_window(struct uvfio_client *c, struct cl_kept_win *k);
void cl_keep_irqs(struct uvfio_client *c, uint32_t index, uint32_t start,
		  uint32_t count, const int *fds);
/* After a SET_IRQS MASK/UNMASK that the device accepted. */
void cl_keep_irq_mask(struct uvfio_client *c, uint32_t index, uint32_t flags,
		      uint32_t start, uint32_t count, const void *data);
void cl_keep_fini(struct uvfio_client *c);
void *cl_map_region(struct uvfio_client *c, uint32_t index, int area,
		    size_t *size, void *at);
int cl_dma_map_send(struct uvfio_client *c, uint64_t iova, uint64_t size,
		    uint32_t prot, int fd, uint64_t offset);
int cl_set_eventfds(struct uvfio_client *c, uint32_t index, uint32_t start,
		    uint32_t count, const int *fds);
/* SET_IRQS action with DATA_NONE; and INTx's unmask eventfd.  Locked. */
int cl_set_irqs_none(struct uvfio_client *c, uint32_t index, uint32_t action,
		     uint32_t start, uint32_t count);
int cl_set_unmask_fd(struct uvfio_client *c, uint32_t index, int fd);
/* Sends again what the kept state says the device must have. */
int cl_replay(struct uvfio_client *c);
void cl_unmap_all(struct uvfio_client *c);
void cl_dma_fini(struct uvfio_client *c);

#endif
