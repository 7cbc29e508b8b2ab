/* SPDX-License-Identifier: MIT */
/*
 * A hostile vfio-user server for testing the client: it runs in a thread
 * of the test, on the other end of a socketpair (or of a listening
 * socket), models a small device, and misbehaves in one configured way.
 *
 * Misbehaviour comes in three forms: a tamper applied to the replies of
 * one command, a hook that answers any message itself, and requests
 * (DMA_READ, DMA_WRITE, anything) the server sends the client when it is
 * asked to reset, on the twin socket if there is one, else inline on the
 * main socket.  fds the server hands the client are "baits": the server
 * keeps the other end, so a test can see that the client closed them.
 */
#ifndef UVFIO_TESTS_HOSTILE_EVIL_SERVER_H
#define UVFIO_TESTS_HOSTILE_EVIL_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uvfio/client.h>

#include "proto/chan.h"

/* The device: region 0 by message, region 1 mappable, 2 and 3 for hooks. */
#define EVIL_NREGIONS 4
#define EVIL_NIRQS 5
#define EVIL_BAR_SIZE 65536u
#define EVIL_MMAP_SIZE 8192u
/* Defaults: the server's and the client's max_data_xfer_size. */
#define EVIL_SERVER_XFER 4096u
#define EVIL_CLIENT_XFER 8192u
/* Every test must end within this many seconds. */
#define EVIL_ALARM_S 5
#define EVIL_MAX_PEERS 16
/* Room for a server request: a DMA_WRITE above the client's limit. */
#define EVIL_OP_MAX (2 * EVIL_CLIENT_XFER + 64)
#define EVIL_OP_REPLY 256u

enum evil_verdict {
	EVIL_PASS, /* hook: let the well-behaved device answer */
	EVIL_DONE, /* answered (or deliberately not) */
	EVIL_HANGUP, /* close the connection and stop */
};

struct evil_srv;
typedef enum evil_verdict (*evil_hook)(struct evil_srv *s, struct uvfio_msg *m);

/* tamper.cmd matching every command but VERSION. */
#define EVIL_ANY_CMD 0xffffu

/*
 * How to spoil the replies to one command.  A spoiled reply carries its
 * baits only, never the fds of the good reply it replaces.
 */
struct evil_tamper {
	uint16_t cmd;
	unsigned int skip; /* leave this many replies alone, then */
	unsigned int times; /* spoil this many (0: all the rest) */
	int id_delta; /* added to msg_id */
	int cmd_delta; /* added to cmd */
	bool error; /* an error reply with error_no, no payload */
	uint32_t error_no;
	/* Edits the payload; *len may change up to the good length + 64. */
	void (*edit)(uint8_t *p, size_t *len);
	long size_delta; /* bytes more (zeros) or fewer than good */
	unsigned int flips; /* bytes changed at random (seeded) places */
	uint32_t msg_size; /* nonzero: what the header claims */
	unsigned int baits; /* pipe ends attached */
	bool cut; /* send half of it, then hang up */
	bool hangup; /* hang up instead of replying */
};

struct evil_cfg {
	/*
	 * A test embeds its cfg in a struct of its own, which the hook and
	 * the test reach with container_of() on s->cfg.
	 */
	evil_hook hook;
	const struct evil_tamper *tamper;
	bool no_twin; /* the server does not offer a twin socket */
	bool by_path; /* uvfio_client_connect(), not attach_fd */
	uint32_t server_xfer; /* 0: EVIL_SERVER_XFER */
	uint32_t client_flags; /* UVFIO_CLIENT_* */
};

/* One request from the server to the client, and the answer. */
struct evil_op {
	struct vfio_user_header hdr; /* msg_id is set when run */
	uint8_t req[EVIL_OP_MAX];
	size_t len;
	bool bait; /* attach a pipe end */
	/* Filled by the server. */
	bool answered;
	int status; /* 0, or the channel's error */
	struct vfio_user_header rhdr;
	uint8_t reply[EVIL_OP_REPLY];
	uint32_t rsize; /* whole payload size */
};

struct evil_srv {
	const struct evil_cfg *cfg;
	struct uvfio_chan ch;
	struct uvfio_chan twin;
	bool has_twin;
	int listen_fd;
	char dir[32];
	char path[64];
	pthread_t thread;
	bool started;
	int memfd; /* region 1 */
	uint8_t bar[EVIL_BAR_SIZE]; /* region 0 */
	unsigned int seen[VFIO_USER_MAX_COMMAND]; /* atomic */
	unsigned int spoiled; /* server thread only */
	int peers[EVIL_MAX_PEERS];
	unsigned int npeers; /* atomic: published after peers[] */
	struct evil_op *ops; /* atomic: run on DEVICE_RESET */
	unsigned int nops; /* atomic */
};

/* What a test gets: a server and the client that met it (or NULL). */
struct evil_env {
	struct evil_srv *s;
	struct uvfio_client *c;
	int err; /* errno when c is NULL */
	int fds_before;
};

/*
 * cmocka fixtures; *state is a struct evil_cfg on the way in and a struct
 * evil_env after setup.  Setup arms an alarm of EVIL_ALARM_S seconds;
 * teardown closes the client, stops the server and asserts that the
 * process has as many fds as before setup.
 */
int evil_setup(void **state);
int evil_teardown(void **state);

/*
 * For the server thread, where a cmocka assertion cannot jump to the
 * test: prints what failed and aborts.
 */
void evil__must(bool ok, const char *what, const char *file, int line);
#define evil_must(x) evil__must((x), #x, __FILE__, __LINE__)

#define evil_container_of(p, type, member) \
	((const type *)((const char *)(p)-offsetof(type, member)))

/* Installs the SIGALRM handler that turns a hang into a failure. */
void evil_init(void);

int evil_fd_count(void);
/* Requests of cmd the server has received. */
unsigned int evil_seen(struct evil_srv *s, uint16_t cmd);

/* Server thread: a pipe's read end for the client (the write end kept). */
int evil_bait(struct evil_srv *s);
/* Server thread: a socket for the client (its peer kept). */
int evil_bait_socket(struct evil_srv *s);
/* Whether the client closed every bait (waits up to a second). */
bool evil_baits_closed(struct evil_srv *s);

/* Server thread: replies through the configured tamper. */
enum evil_verdict evil_reply(struct evil_srv *s, const struct uvfio_msg *req,
			     const void *p, size_t n, const int *fds,
			     unsigned int nfds);
enum evil_verdict evil_error(struct evil_srv *s, const struct uvfio_msg *req,
			     int err);
/* Server thread: the capabilities a good server answers m with. */
int evil_version_caps(struct evil_srv *s, const struct uvfio_msg *m,
		      struct uvfio_caps *caps);
/* Server thread: sets up the twin socket; returns the client's end. */
int evil_twin(struct evil_srv *s);

/* Builds a request of cmd with the given payload into op. */
void evil_op_init(struct evil_op *op, uint16_t cmd, const void *p, size_t n);
/* Builds a DMA_READ/DMA_WRITE request (data: DMA_WRITE's n bytes). */
void evil_op_dma(struct evil_op *op, uint16_t cmd, uint64_t addr,
		 uint64_t count, const void *data, size_t n);
/* Whether the server got an answer to op (fields below valid then). */
bool evil_op_answered(const struct evil_op *op);
/*
 * Has the server send ops to the client, one at a time, while it handles
 * a reset; returns what uvfio_client_reset() returned.
 */
int evil_run_ops(struct evil_env *e, struct evil_op *ops, unsigned int n);

#endif
