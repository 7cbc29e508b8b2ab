/* SPDX-License-Identifier: MIT */
/*
 * uvfio-pcitest: what Linux's pcitest does through pci_endpoint_test,
 * done over vfio-user against uvfio-testdev.  The tool plays the VMM and
 * the driver at once: guest memory is two DMA windows (one shared by fd,
 * one the device reaches only by DMA_READ/DMA_WRITE messages), and
 * interrupts are eventfds handed over with SET_IRQS.
 */
#ifndef UVFIO_PCITEST_H
#define UVFIO_PCITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/client.h>

#include "regs.h"

#define PT_MSIX_VECS 8          /* MSI-X vectors 1..8 get eventfds */
#define PT_WAIT_MS 5000         /* how long an interrupt may take */
#define PT_QUIET_MS 100         /* how long "no interrupt" is watched */

/* A stretch of "guest memory" the device may reach by DMA. */
struct pt_window {
	const char *name;
	uint8_t *mem;
	uint64_t iova;
	size_t size;
	int fd;                 /* memfd, or -1 for an in-band window */
};

struct pt {
	struct uvfio_client *c;
	bool verbose;
	struct pt_window shared;
	struct pt_window inband;
	/* Eventfds, all nonblocking; index by VFIO irq index below. */
	int intx_fd;
	int msi_fd;
	int msix_fd[PT_MSIX_VECS];
	unsigned int msix_vecs; /* how many the device offers, capped */
	int irq_mode;           /* VFIO_PCI_*_IRQ_INDEX enabled, or -1 */
	bool intx_automasked;
	uint64_t rng;
};

/* dev.c: device bring-up and BAR0 register access. */
int pt_dev_open(struct pt *t, const char *path);
void pt_dev_close(struct pt *t);
int pt_reg_read(struct pt *t, uint32_t reg, uint32_t *val);
int pt_reg_write(struct pt *t, uint32_t reg, uint32_t val);

/* mem.c: the DMA windows. */
int pt_mem_setup(struct pt *t);
void pt_mem_teardown(struct pt *t);
/* The same windows, for the device behind another client. */
int pt_mem_attach(struct pt *t, struct uvfio_client *c);
uint64_t pt_rand(struct pt *t);
void pt_fill_random(struct pt *t, void *buf, size_t len);

/* irq.c: eventfds and the one active irq mode. */
int pt_irq_setup(struct pt *t);
void pt_irq_teardown(struct pt *t);
/* The enabled index's eventfds, handed to the device behind c too. */
int pt_irq_attach(struct pt *t, struct uvfio_client *c);
/* Enables the index for TESTDEV_IRQ_* type, disabling the previous. */
int pt_irq_use(struct pt *t, uint32_t type);
/* The eventfd for a TESTDEV_IRQ_* type and 1-based number, or -1. */
int pt_irq_fd(const struct pt *t, uint32_t type, uint32_t number);
/* Reads away any pending counts on every eventfd. */
void pt_irq_drain(struct pt *t);
/*
 * Waits for fd, then checks no other eventfd fired.  0, -ETIMEDOUT, or
 * -EBADE (another fd fired; *stray names it).
 */
int pt_irq_wait(struct pt *t, int fd, int ms, int *stray);
/* 0 if no eventfd fires within ms, else -EBADE with *stray set. */
int pt_irq_quiet(struct pt *t, int ms, int *stray);
/* Describes an fd as "MSI-X 3" etc. */
const char *pt_irq_fd_name(const struct pt *t, int fd, char *buf,
			   size_t len);
/* Re-arms INTx after it fired, if the server automasks it. */
int pt_irq_intx_done(struct pt *t);

/*
 * cmd.c: one device command.  Programs every register, writes command,
 * waits for the interrupt, returns the status register (cleared after).
 */
struct pt_cmd {
	uint32_t command;       /* TESTDEV_CMD_* */
	uint64_t src, dst;
	uint32_t size;
	uint32_t checksum;
	uint32_t irq_type;      /* TESTDEV_IRQ_* */
	uint32_t irq_number;    /* 1-based */
	bool expect_irq;        /* false: expect silence instead */
};

struct pt_result {
	uint32_t status;
	uint32_t checksum;      /* the register after the command */
};

/* 0, or a negative errno with a reason in why (transport, irq). */
int pt_run_cmd(struct pt *t, const struct pt_cmd *cmd, struct pt_result *res,
	       char *why, size_t len);

/* Tests: each returns 0 for PASS or -EIO with a reason in why. */
int pt_test_bar(struct pt *t, char *why, size_t len);
int pt_test_read(struct pt *t, char *why, size_t len);
int pt_test_write(struct pt *t, char *why, size_t len);
int pt_test_copy(struct pt *t, char *why, size_t len);
int pt_test_irq(struct pt *t, char *why, size_t len);
int pt_test_bad(struct pt *t, char *why, size_t len);

/*
 * migrate.c: moves the device to the testdev at path in the middle of a
 * transfer and goes on with it there (t->c becomes the new client).
 */
int pt_migrate(struct pt *t, const char *path, char *why, size_t len);

/* Verbose progress lines for a sub-case. */
void pt_note(const struct pt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
