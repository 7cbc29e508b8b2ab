/* SPDX-License-Identifier: MIT */
/*
 * Interrupt router internals, shared by the files of src/irq.
 *
 * A route is "live" when the backend's table holds its current GSI (pin
 * routes always are: KVM's default table has them).  A bound route is
 * "armed" when the backend delivers its eventfd by itself (KVM: irqfd
 * assigned; userspace: the router's thread delivers), which requires it
 * to be bound, unmasked and live.  A bound route that is not armed is
 * watched by the router's thread: an interrupt then sets its pending bit.
 * route_sync() moves a route between these states; see bind.c.
 */
#ifndef UVFIO_IRQ_PRIV_H
#define UVFIO_IRQ_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/irq.h>

/* IOAPIC pins; their GSIs are the pin numbers, in every KVM table. */
#define IRQR_NR_PINS 24u
/* A userspace pin route delivers (IRQR_PIN_ADDRESS, pin). */
#define IRQR_PIN_ADDRESS UINT64_MAX
/* The direct policy's limit: MSI data is a 16-bit interrupt number. */
#define IRQR_DIRECT_MAX 0xffffu

struct irqr_route {
	bool used;
	bool pin; /* level-triggered route to IOAPIC pin gsi */
	bool masked;
	bool pending;
	bool armed; /* the backend delivers efd itself */
	bool watching; /* efd is in the router's epoll set */
	int gsi; /* staged */
	int live_gsi; /* the GSI in the backend's table, -1 if none */
	int armed_gsi; /* the GSI the backend's irqfd is on */
	struct uvfio_msi_msg msg; /* staged */
	struct uvfio_msi_msg live_msg; /* committed */
	int efd; /* -1 when unbound */
	int resample_fd; /* -1 for none */
	uint32_t token; /* tells this binding's epoll events from stale ones */
	/*
	 * The thread delivered an interrupt before reading its count (so
	 * the wake-up costs no read()): whoever reads the eventfd next
	 * takes one count off for it.
	 */
	bool owed;
};

/* One interrupt to deliver once the router's lock is dropped. */
struct irqr_shot {
	uint64_t key; /* the thread's route key when a count is owed, or 0 */
	struct uvfio_msi_msg msg;
	unsigned int gsi;
	bool pin;
};

struct irqr_shots {
	struct irqr_shot *v;
	size_t n, cap;
};

struct uvfio_irq_router;

/* Called with the router's lock held, except inject. */
struct irqr_backend_ops {
	/* Replaces the backend's table with every staged route. */
	int (*commit)(struct uvfio_irq_router *r);
	int (*arm)(struct uvfio_irq_router *r, struct irqr_route *rt);
	int (*disarm)(struct uvfio_irq_router *r, struct irqr_route *rt);
	/* Without the lock: may call the VMM. */
	int (*inject)(struct uvfio_irq_router *r, const struct irqr_shot *s);
	bool can_resample;
	/* The router's thread delivers armed eventfds (no kernel help). */
	bool polls_armed;
};

struct irqr_gsi_map {
	uint64_t *bits;
	unsigned int base; /* below: reserved */
	unsigned int limit; /* at and above: out of range */
	unsigned int hint; /* no free number below this */
};

int irqr_gsi_init(struct irqr_gsi_map *m, unsigned int base,
		  unsigned int limit);
void irqr_gsi_fini(struct irqr_gsi_map *m);
int irqr_gsi_alloc(struct irqr_gsi_map *m);
int irqr_gsi_claim(struct irqr_gsi_map *m, unsigned int gsi);
void irqr_gsi_free(struct irqr_gsi_map *m, unsigned int gsi);

struct uvfio_irq_router {
	pthread_mutex_t lock; /* guards everything but the fields below it */
	const struct irqr_backend_ops *ops;
	uint32_t flags;
	struct irqr_route *routes;
	unsigned int nr_slots;
	unsigned int free_hint; /* no free handle below this */
	unsigned int nr_used;
	unsigned int nr_msi;
	unsigned int max_msi;
	struct irqr_gsi_map gsi;
	bool dirty;
	uint64_t commits;
	uint32_t next_token;
	uint64_t drains;      /* eventfd reads, see watch_main() */
	uint64_t flush_asked, flush_done; /* flush tickets */
	pthread_cond_t flushed;

	/* Set at creation, then read-only. */
	int epfd;
	int stop_fd;
	int flush_fd; /* wakes the thread for uvfio_irq_router_flush() */
	pthread_t thread;
	bool thread_started;
	int vm_fd;
	bool has_signal_msi;
	uvfio_irq_deliver_fn deliver;
	void *opaque;

	uint64_t delivered; /* __atomic builtins */
};

/* router.c */
struct uvfio_irq_router *irqr_create(const struct irqr_backend_ops *ops,
				     uint32_t flags, unsigned int gsi_base,
				     unsigned int gsi_limit,
				     unsigned int max_msi);
struct irqr_route *irqr_route_get(struct uvfio_irq_router *r, int route);

/* bind.c */
bool irqr_route_live(const struct irqr_route *rt);
bool irqr_route_deliverable(const struct irqr_route *rt);
int irqr_route_sync(struct uvfio_irq_router *r, struct irqr_route *rt,
		    struct irqr_shots *out);
void irqr_route_detach(struct uvfio_irq_router *r, struct irqr_route *rt);

/* watch.c */
int irqr_watch_start(struct uvfio_irq_router *r);
void irqr_watch_stop(struct uvfio_irq_router *r);
int irqr_watch_add(struct uvfio_irq_router *r, struct irqr_route *rt);
void irqr_watch_del(struct uvfio_irq_router *r, struct irqr_route *rt);
uint64_t irqr_efd_drain(int efd);
/* Reads a route's eventfd, less the count an early delivery owes. */
uint64_t irqr_route_take(struct uvfio_irq_router *r, struct irqr_route *rt);
bool irqr_shots_push(struct irqr_shots *s, const struct irqr_route *rt);
int irqr_shots_fire(struct uvfio_irq_router *r, struct irqr_shots *s);

typedef int (*irqr_route_op)(struct uvfio_irq_router *r,
			     struct irqr_route *rt, void *arg,
			     struct irqr_shots *shots);
/*
 * Runs op on a route under the router's lock, then delivers what it
 * queued in shots once the lock is dropped (an injection may block);
 * -EINVAL for no router or no such route, else op's result or, when op
 * succeeded, the delivery's.
 */
int irqr_on_route(struct uvfio_irq_router *r, int route, irqr_route_op op,
		  void *arg);

#endif
