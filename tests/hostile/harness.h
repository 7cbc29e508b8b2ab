/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input harness: a real uvfio-testdev process ($UVFIO_TESTDEV) on
 * a real UNIX socket, and a raw client that writes exact bytes and fds.
 *
 * Helpers assert with cmocka and report the caller's file and line, so a
 * failing case points at the test, not at the harness.
 */
#ifndef UVFIO_TESTS_HOSTILE_HARNESS_H
#define UVFIO_TESTS_HOSTILE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/wire.h"

/* Every read from the server gives up after this long. */
#define HS_TIMEOUT_MS 5000

struct hs_server {
	pid_t pid;
	char dir[64];
	char path[108];
	int idle_fds; /* server fds with no client */
	int conn_fds; /* with one negotiated, idle client */
	/* What the server announced in VERSION. */
	uint32_t max_xfer;
	uint32_t max_dma_maps;
	uint32_t max_msg_fds;
	bool write_multiple;
	bool reaped; /* it exited, with status */
	int status;
};

struct hs_conn {
	struct hs_server *srv;
	int fd;
	uint16_t next_id;
};

#define HS_KEEP_FDS 8

struct hs_reply {
	struct vfio_user_header hdr;
	uint8_t *data; /* hdr.msg_size - 16 bytes, malloc'd */
	uint32_t size;
	unsigned int nfds; /* fds that came with it */
	int fds[HS_KEEP_FDS]; /* the first ones; hs_reply_free closes */
};

/*
 * Starts testdev with --socket, --no-twin and args (NULL-terminated, may
 * be NULL), connects a first client and lets it go, then records the fd
 * baselines.  Returns NULL on failure (printed).
 */
struct hs_server *hs_start(const char *const *args);
/*
 * The same, without --no-twin when twin: the server offers a twin socket
 * to clients that ask (the harness's own negotiation does not).
 */
struct hs_server *hs_start_twin(const char *const *args, bool twin);
/*
 * At the end of a group: the server is alive, back at its idle fd count,
 * and exits with status 0 on SIGTERM.  Returns 0, or -1 (printed).
 */
int hs_stop(struct hs_server *s);
int hs_fd_count(pid_t pid);

/* cmocka group fixtures: a server with no extra arguments. */
int hs_group_setup(void **state);
int hs_group_teardown(void **state);

/*
 * cmocka fixtures: a negotiated connection in *state (the server in; on
 * failure *state is the server again).  The teardown closes it, then
 * checks that the server serves a new client and leaked nothing; it puts
 * the server back in *state.  Neither asserts.
 */
int hs_setup(void **state);
int hs_teardown(void **state);

#define HS_AT __FILE__, __LINE__

void hs__alive(struct hs_server *s, const char *file, int line);
#define hs_alive(s) hs__alive(s, HS_AT)

/* A connected socket, not negotiated. */
int hs__connect(const struct hs_server *s, const char *file, int line);
#define hs_connect(s) hs__connect(s, HS_AT)
/* VERSION with the harness's capabilities, which must succeed. */
void hs__negotiate(struct hs_conn *c, const char *file, int line);
#define hs_negotiate(c) hs__negotiate(c, HS_AT)
/* Drops c's socket and opens a new one (negotiated or not). */
void hs__reconnect(struct hs_conn *c, bool negotiate, const char *file,
		   int line);
#define hs_reconnect(c, neg) hs__reconnect(c, neg, HS_AT)

/* Writes all of buf; fds go with the first byte. */
void hs__send(int fd, const void *buf, size_t len, const int *fds,
	      unsigned int nfds, const char *file, int line);
#define hs_send(fd, b, n, fds, nfds) hs__send(fd, b, n, fds, nfds, HS_AT)

/* Header (msg_size = 16 + n) and payload into buf; returns the size. */
size_t hs_build(void *buf, uint16_t id, uint16_t cmd, uint32_t flags,
		const void *p, size_t n);
/* Sends one command with the next message id; returns the id. */
uint16_t hs__send_cmd(struct hs_conn *c, uint16_t cmd, uint32_t flags,
		      const void *p, size_t n, const int *fds,
		      unsigned int nfds, const char *file, int line);
#define hs_send_cmd(c, cmd, fl, p, n, fds, nfds) \
	hs__send_cmd(c, cmd, fl, p, n, fds, nfds, HS_AT)

/*
 * Reads one whole message.  Returns 0, -ECONNRESET at end of stream or
 * -ETIMEDOUT; anything else fails the test.
 */
int hs__recv(int fd, struct hs_reply *r, const char *file, int line);
#define hs_recv(fd, r) hs__recv(fd, r, HS_AT)
/* Frees the data and closes the fds. */
void hs_reply_free(struct hs_reply *r);
/* The next message must be the reply to (id, cmd), without error. */
void hs__recv_ok(struct hs_conn *c, uint16_t id, uint16_t cmd,
		 struct hs_reply *r, const char *file, int line);
#define hs_recv_ok(c, id, cmd, r) hs__recv_ok(c, id, cmd, r, HS_AT)
/* The next message must be an error reply to (id, cmd) with errno err. */
void hs__recv_err(struct hs_conn *c, uint16_t id, uint16_t cmd, int err,
		  const char *file, int line);
#define hs_recv_err(c, id, cmd, err) hs__recv_err(c, id, cmd, err, HS_AT)

/* The server closes the connection (EOF within the timeout). */
void hs__expect_eof(int fd, const char *file, int line);
#define hs_expect_eof(fd) hs__expect_eof(fd, HS_AT)

/* A DEVICE_GET_INFO round trip that must succeed. */
void hs__ping(struct hs_conn *c, const char *file, int line);
#define hs_ping(c) hs__ping(c, HS_AT)

/*
 * One command that must fail with err, then (ping) a GET_INFO that must
 * succeed, so the server provably survived and resynchronised.
 */
void hs__expect_err(struct hs_conn *c, uint16_t cmd, uint32_t flags,
		    const void *p, size_t n, const int *fds, unsigned int nfds,
		    int err, bool ping, const char *file, int line);
#define hs_expect_err(c, cmd, p, n, err) \
	hs__expect_err(c, cmd, 0, p, n, NULL, 0, err, true, HS_AT)
#define hs_expect_err_fds(c, cmd, p, n, fds, nfds, err) \
	hs__expect_err(c, cmd, 0, p, n, fds, nfds, err, true, HS_AT)
#define hs_expect_err_flags(c, cmd, fl, p, n, err) \
	hs__expect_err(c, cmd, fl, p, n, NULL, 0, err, true, HS_AT)
/* Not negotiated yet: no ping is possible. */
#define hs_expect_err_raw(c, cmd, p, n, err) \
	hs__expect_err(c, cmd, 0, p, n, NULL, 0, err, false, HS_AT)

/* One command that must succeed; the reply goes to r (or is freed). */
void hs__expect_ok(struct hs_conn *c, uint16_t cmd, const void *p, size_t n,
		   const int *fds, unsigned int nfds, struct hs_reply *r,
		   const char *file, int line);
#define hs_expect_ok(c, cmd, p, n, r) \
	hs__expect_ok(c, cmd, p, n, NULL, 0, r, HS_AT)
#define hs_expect_ok_fds(c, cmd, p, n, fds, nfds, r) \
	hs__expect_ok(c, cmd, p, n, fds, nfds, r, HS_AT)

/*
 * REGION_WRITE / REGION_READ of n bytes that must succeed, with the reply
 * checked against the spec (echoed request, data of exactly n bytes).
 */
void hs__region_write(struct hs_conn *c, uint32_t region, uint64_t off,
		      const void *data, uint32_t n, const char *file, int line);
#define hs_region_write(c, reg, off, d, n) \
	hs__region_write(c, reg, off, d, n, HS_AT)
void hs__region_read(struct hs_conn *c, uint32_t region, uint64_t off,
		     void *data, uint32_t n, const char *file, int line);
#define hs_region_read(c, reg, off, d, n) \
	hs__region_read(c, reg, off, d, n, HS_AT)
#define hs_region_write32(c, reg, off, v)                        \
	do {                                                     \
		uint32_t hs_v_ = (v);                            \
		hs__region_write(c, reg, off, &hs_v_, 4, HS_AT); \
	} while (0)
uint32_t hs__region_read32(struct hs_conn *c, uint32_t region, uint64_t off,
			   const char *file, int line);
#define hs_region_read32(c, reg, off) hs__region_read32(c, reg, off, HS_AT)

/* The server's open fds, after a ping so earlier messages are done. */
int hs__fds_now(struct hs_conn *c, const char *file, int line);
#define hs_fds_now(c) hs__fds_now(c, HS_AT)

/* Test data: a memfd of size bytes, an eventfd, fails the test if not. */
int hs__memfd(size_t size, const char *file, int line);
#define hs_memfd(size) hs__memfd(size, HS_AT)
int hs__eventfd(const char *file, int line);
#define hs_eventfd() hs__eventfd(HS_AT)
void hs_close_all(int *fds, unsigned int n);

#define HS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
