/* SPDX-License-Identifier: MIT */
/* Device-side internals shared by the files of src/server. */
#ifndef UVFIO_SERVER_PRIV_H
#define UVFIO_SERVER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uvfio/caps.h>
#include <uvfio/server.h>

#include "pci/pci_internal.h"
#include "proto/chan.h"
#include "proto/itree.h"
#include "proto/lock.h"
#include "server/dma_radix.h"
#include "proto/wire.h"

struct region {
	bool present;
	uint64_t size;
	uint32_t flags;
	uvfio_region_access_fn access;
	void *priv;
	void *mem;              /* UVFIO_REGION_MEM: shared mapping */
	int memfd;
	struct uvfio_mmap_area *areas;
	unsigned int nr_areas;
	uint32_t type;
	uint32_t subtype;
};

/* Interrupts: see irq.h. */
struct irq_vec;
struct irq_watch;
struct doorbells;

struct irq_index {
	struct uvfio_dev *dev;
	uint32_t index;
	uint32_t count;         /* vectors, as GET_IRQ_INFO reports */
	uint32_t nvec;          /* enabled ones (MSI cannot grow); 0: off */
	struct irq_vec *vec;
};

struct dma_map;                         /* dma_file.c */
#define DMA_DEFER_FDS 32

struct dma_window {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;          /* UVFIO_DMA_READ | UVFIO_DMA_WRITE */
	void *vaddr;            /* NULL: no fd, in-band access only */
	struct dma_map *map;    /* the file mapping vaddr lies in */
	/* References that found no free entry in their thread's slot. */
	atomic_uint refs;
	struct dma_window *next; /* spare list; unmap-all's list */
};

/* Files kept open for windows, by device and inode (dma_file.c). */
struct dma_files {
	struct dma_file **b;
	size_t nbuckets;
	size_t nfiles;
};

/*
 * The window table.  Lookups take no lock (dma_ref.h); changes hold
 * lock, which only the dispatch thread and teardown take.
 */
struct dma_table {
	/*
	 * iova -> window | prot, vaddr: the windows radix (below) cannot
	 * hold; radix holds the others, each entry naming its window.
	 */
	struct itree tree;
	_Atomic uint64_t gen;   /* new at each removal: lookup hints */
	struct uvfio_lock lock;
	struct dma_window *spare; /* freed windows, for the next maps */
	unsigned int nspare;
	_Atomic uint32_t n;     /* nwin, for uvfio_dma_stats() */
	uint32_t nwin;          /* windows, in both; the writer's */
	_Atomic uint64_t bytes; /* mapped with an fd */
	uint64_t limit;         /* 0: none */
	uint32_t max;
	struct dma_files files;
	uint32_t nmaps;
	bool radix_full_logged;
	/* Later fds of kept files, closed a batch at a time (dma_file.c). */
	int defer_fd[DMA_DEFER_FDS];
	unsigned int ndefer;
	struct dma_radix radix; /* iova page -> host address | rights */
};

/* A device-to-client request waiting for its reply (s2c.c). */
struct s2c_req {
	uint16_t id;
	uint16_t cmd;
	uint64_t iova;
	uint32_t count;
	void *dst;              /* DMA_READ: where the data goes */
	bool claimed;           /* the dispatcher matched its reply */
	bool done;
	int err;
};

/* Deferred work (work.c). */
struct work_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* work to run, or an item went idle */
	struct uvfio_work *head, **tail;
	struct uvfio_work *held;        /* queued by a handler: after reply */
	struct uvfio_work *all;         /* every item, for destroy */
	pthread_t thread;
	bool started;
	bool quit;
};

struct uvfio_dev {
	struct uvfio_pci_cfg cfg;
	struct uvfio_dev_ops ops;
	void *priv;
	struct uvfio_dev_opts opts;
	struct uvfio_caps caps;         /* ours */
	struct uvfio_caps peer;         /* the client's */

	struct region *regions;
	uint32_t nregions;
	struct irq_index irqs[VFIO_PCI_NUM_IRQS];
	atomic_int irq_mode;            /* enabled INTx/MSI/MSI-X + 1; 0 */
	struct irq_watch *irq_watch;    /* INTx unmask eventfd, or NULL */
	struct doorbells *doorbells;    /* doorbell.c, or NULL */

	int listen_fd;
	char *path;
	int epfd;
	/* Written by the dispatch thread; read by any (uvfio_dev_connected). */
	atomic_bool connected;
	bool negotiated;
	struct uvfio_chan chan;
	/* Whole messages on chan: replies, and requests of any thread. */
	struct uvfio_lock send_lock;
	/* Other threads compare it with themselves: dev_dispatcher(). */
	pthread_t dispatcher;
	bool in_handler;                /* the dispatcher, inside a handler */
	bool work_held;                 /* it queued work: release after reply */
	atomic_bool stop;
	/*
	 * The sockets uvfio_dev_stop() shuts down, from any thread or a
	 * signal handler: the client's (-1 without one) and the listening
	 * one.  stop_fd_set() publishes and withdraws them; a withdrawn fd
	 * is closed only once no stop() that may have read it is running
	 * (stop_users), so stop() never shuts down a reused fd number.
	 */
	atomic_int stop_conn_fd;
	atomic_int stop_listen_fd;
	atomic_uint stop_users;

	/* Device-to-client requests (s2c.c): one outstanding at a time. */
	pthread_mutex_t s2c_lock;       /* guards the fields below */
	pthread_cond_t s2c_cond;        /* slot free, or a reply came */
	struct s2c_req *s2c_cur;
	bool s2c_open;                  /* a negotiated client is there */
	bool has_twin;
	struct uvfio_chan twin;
	uint16_t s2c_id;
	bool count32;                   /* the client's DMA_READ/WRITE layout */
	atomic_bool s2c_direct;         /* a DMA_READ reply may come: peek */

	struct work_queue work;

	struct dma_table dma;
	uint8_t *xfer;                  /* reply data, max_data_xfer_size */

	/* Migration (mig.c), NULL without; DMA dirty logging (dirty.c). */
	struct mig *mig;
	/* Set while the state forbids new DMA (mig_dma_enter). */
	atomic_bool dma_blocked;
	/* DMA references and transfers under way, for the P2P arcs. */
	atomic_uint dma_active;
	struct dirty_log *dirty;
	atomic_bool dirty_on;           /* logging started: mark writes */
};

/*
 * conn.c: fd (>= 0) becomes the socket in *slot that uvfio_dev_stop()
 * shuts down, at once if stop came first; -1 withdraws it, and on return
 * the old fd may be closed.  Not async-signal-safe; the dispatch thread
 * (or create/destroy) calls it.
 */
void stop_fd_set(struct uvfio_dev *dev, atomic_int *slot, int fd);

/*
 * dev.c: ops.log, if the device has one.  Cold: a log line marks a path
 * rarely taken, which GCC then moves out of the hot code.
 */
void dev_log(struct uvfio_dev *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), cold));

/*
 * dispatch.c.  Every handle_*() below returns a negative errno (the reply
 * is that error), 0 (the reply is the header alone), or > 0 when it has
 * sent its reply itself.
 */
int dispatch(struct uvfio_dev *dev, struct uvfio_msg *msg);
int reply(struct uvfio_dev *dev, const struct vfio_user_header *req,
	  const void *p, size_t n, const int *fds, unsigned int nfds);
int reply_err(struct uvfio_dev *dev, const struct vfio_user_header *req,
	      int err);

/* conn.c */
void conn_drop(struct uvfio_dev *dev);
int handle_version(struct uvfio_dev *dev, struct uvfio_msg *msg);

/* info.c */
int handle_device_info(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_region_info(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_io_fds(struct uvfio_dev *dev, struct uvfio_msg *msg);
/* doorbell.c: GET_REGION_IO_FDS's reply for a checked request. */
int doorbell_reply(struct uvfio_dev *dev, struct uvfio_msg *msg,
		   const struct vfio_user_region_io_fds_request *in);
/* Runs the doorbells rung so far (before the device stops). */
void doorbell_drain(struct uvfio_dev *dev);
void doorbell_free(struct uvfio_dev *dev);
int handle_irq_info(struct uvfio_dev *dev, struct uvfio_msg *msg);

/* region.c */
int handle_region_read(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_region_write(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_write_multi(struct uvfio_dev *dev, struct uvfio_msg *msg);
void region_free(struct region *r);

/* irq.c, irq_set.c */
int handle_set_irqs(struct uvfio_dev *dev, struct uvfio_msg *msg);
int irq_init(struct uvfio_dev *dev, unsigned int index, uint32_t count);
uint32_t irq_info_flags(unsigned int index);
void irq_release_all(struct uvfio_dev *dev);
void irq_free(struct uvfio_dev *dev);

/* dma.c */
int dma_init(struct dma_table *t, uint32_t max, uint64_t limit);
void dma_fini(struct dma_table *t);
int handle_dma_map(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_dma_unmap(struct uvfio_dev *dev, struct uvfio_msg *msg);
void dma_unmap_all(struct dma_table *t);

/*
 * dma_file.c: the mapping of [offset, offset + size) of fd's file with
 * prot, shared with the table's other windows of that file.  *took_fd
 * when the table keeps fd (a file it did not have), else the caller
 * closes it.  Errors: -EINVAL (not a regular file, or the range is not
 * inside it), -EPERM (cannot be sealed), -EMFILE (the fd limit), -ENOMEM
 * (memory, address space, mapping count), or mmap's.  The caller holds
 * the table's lock.
 */
int dma_file_map(struct uvfio_dev *dev, struct dma_table *t, int fd,
		 uint64_t offset, uint64_t size, int prot,
		 struct dma_map **mp, void **vaddr, bool *took_fd);
/* A window of m went: the mapping and file go with their last one. */
void dma_file_unmap(struct dma_table *t, struct dma_map *m);
/*
 * A later fd of a kept file, closed with the next batch: true when the
 * batch is full, and the caller calls dma_file_close_deferred() (after
 * its reply, so that the client need not wait for it).
 */
bool dma_file_defer_close(struct dma_table *t, int fd);
void dma_file_close_deferred(struct dma_table *t);
void dma_files_fini(struct dma_table *t);

/* s2c.c */
void s2c_init(struct uvfio_dev *dev);
void s2c_fini(struct uvfio_dev *dev);
/* A client negotiated: requests may go out (twin: whether it has one). */
void s2c_open(struct uvfio_dev *dev, bool twin);
/* The client is gone: fails the request in flight, waits it out. */
void s2c_close(struct uvfio_dev *dev);
/*
 * Whether the calling thread is the dispatcher.  Any thread asks (a
 * device thread may run before uvfio_dev_run() records itself), so the
 * field is read and written atomically.
 */
static inline bool dev_on_dispatcher(const struct uvfio_dev *dev)
{
	return pthread_equal(pthread_self(),
			     __atomic_load_n(&dev->dispatcher,
					     __ATOMIC_RELAXED));
}

static inline void dev_set_dispatcher(struct uvfio_dev *dev)
{
	__atomic_store_n(&dev->dispatcher, pthread_self(), __ATOMIC_RELAXED);
}

/* A reply came on the main socket (dispatcher only). */
void s2c_route(struct uvfio_dev *dev, const struct uvfio_msg *msg);
/*
 * Dispatcher, while a DMA_READ is out on the main socket: if the next
 * message is its reply, takes the data straight into the requester's
 * buffer.  1 when taken, 0 when the next message is another one, -EAGAIN
 * when nothing is there yet (not blocking), or a stream error.
 */
int s2c_take_read(struct uvfio_dev *dev, bool block);
/*
 * Sends a request (header built here) and waits for its reply, which
 * s2c_check_reply() validates into rq.  Returns rq->err.
 */
int s2c_call(struct uvfio_dev *dev, struct s2c_req *rq,
	     const struct iovec *iov, int iovcnt);
/* Whole-message send on the main socket, under send_lock. */
int dev_send(struct uvfio_dev *dev, const struct vfio_user_header *h,
	     const struct iovec *iov, int iovcnt, const int *fds,
	     unsigned int nfds);

/* dma_xfer.c */
int s2c_check_reply(struct uvfio_dev *dev, struct s2c_req *rq,
		    const struct uvfio_msg *rep);

/* mig.c: DEVICE_FEATURE, MIG_DATA_READ/WRITE, and the DMA gate. */
int handle_feature(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_mig_data_read(struct uvfio_dev *dev, struct uvfio_msg *msg);
int handle_mig_data_write(struct uvfio_dev *dev, struct uvfio_msg *msg);
/* After SET_IRQS: interrupts migrated pending go out once wired. */
void mig_irq_wired(struct uvfio_dev *dev);
/*
 * A reset, or the client left: the device is RUNNING again.  A client
 * lost in RESUMING or ERROR also resets the device (ops.reset), so no
 * partly loaded state is left running.
 */
void mig_reset(struct uvfio_dev *dev, bool client_lost);
void mig_free(struct uvfio_dev *dev);
/* The last DMA reference went while an arc waits for that. */
void mig_dma_idle(struct uvfio_dev *dev);
/*
 * Every uvfio_dma_get() (until its put) and uvfio_dma_read/write (for
 * its duration) is counted: 0, or -EBUSY when the migration state
 * forbids starting DMA.  exit only after a successful enter.
 */
static inline void mig_dma_exit(struct uvfio_dev *dev)
{
	if (atomic_fetch_sub(&dev->dma_active, 1) == 1 &&
	    __builtin_expect(atomic_load(&dev->dma_blocked), 0))
		mig_dma_idle(dev);
}

extern __thread unsigned int mig_dma_txn
	__attribute__((tls_model("initial-exec")));

static inline int mig_dma_enter(struct uvfio_dev *dev)
{
	atomic_fetch_add(&dev->dma_active, 1);
	/* Inside uvfio_dma_begin(): the arc waits for the whole of it. */
	if (__builtin_expect(atomic_load(&dev->dma_blocked), 0) &&
	    !mig_dma_txn) {
		mig_dma_exit(dev);
		return -EBUSY;
	}
	return 0;
}

/* work.c */
void work_init(struct work_queue *q);
/* After a reply: items queued by the handler may start. */
void work_release_held(struct uvfio_dev *dev);
void work_fini(struct uvfio_dev *dev);

#endif
