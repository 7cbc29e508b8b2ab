// SPDX-License-Identifier: MIT
/*
 * The hostile server of evil_server.h: a thread serving one connection
 * with a small well-behaved device, spoiled by the test's configuration.
 */
#include "evil_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/negotiate.h"

#define HDR sizeof(struct vfio_user_header)
#define RA sizeof(struct vfio_user_region_access)
/* The server accepts anything the client may send. */
#define SRV_MAX_MSG (1u << 21)

void evil__must(bool ok, const char *what, const char *file, int line)
{
	if (ok)
		return;
	fprintf(stderr, "%s:%d: evil server: %s failed\n", file, line, what);
	abort();
}

static void on_alarm(int sig)
{
	static const char msg[] = "evil_server: test hung, giving up\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

void evil_init(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

int evil_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

unsigned int evil_seen(struct evil_srv *s, uint16_t cmd)
{
	if (cmd >= VFIO_USER_MAX_COMMAND)
		cmd = 0;
	return __atomic_load_n(&s->seen[cmd], __ATOMIC_ACQUIRE);
}

static void keep_peer(struct evil_srv *s, int fd)
{
	unsigned int n = s->npeers;

	evil_must(n < EVIL_MAX_PEERS);
	s->peers[n] = fd;
	__atomic_store_n(&s->npeers, n + 1, __ATOMIC_RELEASE);
}

int evil_bait(struct evil_srv *s)
{
	int p[2];

	evil_must(pipe2(p, O_CLOEXEC) == 0);
	keep_peer(s, p[1]);
	return p[0];
}

int evil_bait_socket(struct evil_srv *s)
{
	int sv[2];

	evil_must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	keep_peer(s, sv[1]);
	return sv[0];
}

/*
 * A pipe's writer sees POLLERR, a socket POLLHUP, once the other end is
 * closed everywhere; the server may still be closing its own copy.
 */
bool evil_baits_closed(struct evil_srv *s)
{
	unsigned int n = __atomic_load_n(&s->npeers, __ATOMIC_ACQUIRE);

	for (unsigned int i = 0; i < n; i++) {
		struct pollfd p = { .fd = s->peers[i], .events = 0 };

		if (poll(&p, 1, 1000) != 1 ||
		    !(p.revents & (POLLERR | POLLHUP)))
			return false;
	}
	return true;
}

static void hang_up(struct evil_srv *s)
{
	shutdown(s->ch.fd, SHUT_RDWR);
	if (s->has_twin)
		shutdown(s->twin.fd, SHUT_RDWR);
}

static bool spoils(struct evil_srv *s, const struct evil_tamper *t,
		   uint16_t cmd)
{
	if (!t || (t->cmd != cmd &&
		   (t->cmd != EVIL_ANY_CMD || cmd == VFIO_USER_VERSION)))
		return false;
	s->spoiled++;
	return s->spoiled > t->skip &&
	       (!t->times || s->spoiled <= t->skip + t->times);
}

/* Sends h with payload p[0, n), and bait fds; h.msg_size as it is. */
static enum evil_verdict send_spoiled(struct evil_srv *s,
				      const struct evil_tamper *t,
				      struct vfio_user_header *h, uint8_t *p,
				      size_t n)
{
	int fds[EVIL_MAX_PEERS];
	struct iovec iov = { p, t->cut ? n / 2 : n };

	evil_must(t->baits <= EVIL_MAX_PEERS / 2);
	for (unsigned int i = 0; i < t->baits; i++)
		fds[i] = evil_bait(s);
	uvfio_chan_sendv(&s->ch, h, &iov, 1, fds, t->baits);
	for (unsigned int i = 0; i < t->baits; i++)
		close(fds[i]);
	return t->cut ? EVIL_HANGUP : EVIL_DONE;
}

/* Deterministic: the n-th spoiled reply always gets the same flips. */
static void flip(uint8_t *p, size_t len, unsigned int flips, unsigned int n)
{
	uint32_t x = n * 2654435761u + 1;

	for (unsigned int i = 0; len && i < flips; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[x % len] ^= (uint8_t)(1u << (x >> 29));
	}
}

static enum evil_verdict tamper(struct evil_srv *s, const struct evil_tamper *t,
				const struct uvfio_msg *req, const void *p,
				size_t n)
{
	struct vfio_user_header h = {
		.msg_id = (uint16_t)(req->hdr.msg_id + t->id_delta),
		.cmd = (uint16_t)(req->hdr.cmd + t->cmd_delta),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	size_t len = n, cap = n + 64;
	enum evil_verdict v;
	uint8_t *buf;

	if (t->hangup)
		return EVIL_HANGUP;
	if (t->size_delta > 0)
		cap += (size_t)t->size_delta;
	buf = calloc(1, cap);
	evil_must(buf != NULL);
	if (n)
		memcpy(buf, p, n);
	if (t->size_delta >= 0)
		len += (size_t)t->size_delta;
	else if ((size_t)-t->size_delta < n)
		len -= (size_t)-t->size_delta;
	else
		len = 0;
	if (t->edit)
		t->edit(buf, &len);
	flip(buf, len, t->flips, s->spoiled);
	evil_must(len <= cap);
	if (t->error) {
		h.flags |= VFIO_USER_F_ERROR;
		h.error_no = t->error_no;
		len = 0;
	}
	h.msg_size = t->msg_size ? t->msg_size : (uint32_t)(HDR + len);
	v = send_spoiled(s, t, &h, buf, len);
	free(buf);
	return v;
}

enum evil_verdict evil_reply(struct evil_srv *s, const struct uvfio_msg *req,
			     const void *p, size_t n, const int *fds,
			     unsigned int nfds)
{
	const struct evil_tamper *t = s->cfg->tamper;

	if (spoils(s, t, req->hdr.cmd))
		return tamper(s, t, req, p, n);
	uvfio_chan_send_reply(&s->ch, &req->hdr, p, n, fds, nfds);
	return EVIL_DONE;
}

enum evil_verdict evil_error(struct evil_srv *s, const struct uvfio_msg *req,
			     int err)
{
	uvfio_chan_send_error(&s->ch, &req->hdr, err);
	return EVIL_DONE;
}

int evil_version_caps(struct evil_srv *s, const struct uvfio_msg *m,
		      struct uvfio_caps *caps)
{
	struct uvfio_caps theirs, mine;
	int r;

	r = uvfio_caps_parse(m->payload, m->size, &theirs);
	if (r < 0)
		return r;
	uvfio_caps_default(&mine);
	mine.max_data_xfer_size =
		s->cfg->server_xfer ? s->cfg->server_xfer : EVIL_SERVER_XFER;
	mine.max_msg_fds = 8;
	mine.twin_socket = !s->cfg->no_twin;
	mine.write_multiple = true;
	return uvfio_caps_negotiate(&theirs, &mine, caps);
}

int evil_twin(struct evil_srv *s)
{
	int sv[2];

	evil_must(!s->has_twin);
	evil_must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	evil_must(uvfio_chan_init(&s->twin, sv[0], SRV_MAX_MSG) == 0);
	s->has_twin = true;
	return sv[1];
}

static enum evil_verdict version(struct evil_srv *s, struct uvfio_msg *m)
{
	struct uvfio_caps caps;
	char buf[1024];
	int twin = -1, n;
	enum evil_verdict v;

	if (evil_version_caps(s, m, &caps) < 0)
		return evil_error(s, m, EINVAL);
	if (caps.twin_socket) {
		twin = evil_twin(s);
		caps.twin_fd_index = 0;
	}
	n = uvfio_caps_format(&caps, buf, sizeof(buf));
	evil_must(n > 0);
	v = evil_reply(s, m, buf, (size_t)n, &twin, twin >= 0);
	if (twin >= 0)
		close(twin);
	return v;
}

static enum evil_verdict region_info(struct evil_srv *s, struct uvfio_msg *m)
{
	struct vfio_region_info ri;
	int fd = -1;
	enum evil_verdict v;

	if (m->size != sizeof(ri))
		return evil_error(s, m, EINVAL);
	memcpy(&ri, m->payload, sizeof(ri));
	if (ri.index >= EVIL_NREGIONS)
		return evil_error(s, m, EINVAL);
	ri = (struct vfio_region_info){
		.argsz = sizeof(ri),
		.flags = VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE,
		.index = ri.index,
		.size = EVIL_BAR_SIZE,
	};
	if (ri.index == 1) {
		ri.flags |= VFIO_REGION_INFO_FLAG_MMAP;
		ri.size = EVIL_MMAP_SIZE;
		fd = dup(s->memfd);
		evil_must(fd >= 0);
	}
	v = evil_reply(s, m, &ri, sizeof(ri), &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
	return v;
}

static enum evil_verdict region_rw(struct evil_srv *s, struct uvfio_msg *m)
{
	struct vfio_user_region_access a;
	bool wr = m->hdr.cmd == VFIO_USER_REGION_WRITE;
	enum evil_verdict v;
	uint8_t *out;

	if (m->size < RA)
		return evil_error(s, m, EINVAL);
	memcpy(&a, m->payload, RA);
	if (a.region != 0 || a.offset > EVIL_BAR_SIZE ||
	    a.count > EVIL_BAR_SIZE - a.offset ||
	    m->size != RA + (wr ? a.count : 0))
		return evil_error(s, m, EINVAL);
	if (wr) {
		memcpy(s->bar + a.offset, (uint8_t *)m->payload + RA, a.count);
		if (m->hdr.flags & VFIO_USER_F_NO_REPLY)
			return EVIL_DONE;
		return evil_reply(s, m, &a, RA, NULL, 0);
	}
	out = malloc(RA + a.count);
	evil_must(out != NULL);
	memcpy(out, &a, RA);
	memcpy(out + RA, s->bar + a.offset, a.count);
	v = evil_reply(s, m, out, RA + a.count, NULL, 0);
	free(out);
	return v;
}

static void run_op(struct evil_srv *s, struct evil_op *op)
{
	struct uvfio_chan *ch = s->has_twin ? &s->twin : &s->ch;
	struct vfio_user_header h = op->hdr;
	struct iovec iov = { op->req, op->len };
	struct uvfio_msg m;
	int fd = op->bait ? evil_bait(s) : -1;
	int r;

	h.msg_size = (uint32_t)(HDR + op->len);
	r = uvfio_chan_sendv(ch, &h, &iov, 1, &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
	if (r == 0 && (h.flags & VFIO_USER_F_NO_REPLY))
		return;
	while (r == 0 || r == -EINTR)
		r = uvfio_chan_recv(ch, &m, true);
	if (r < 0) {
		op->status = r;
		__atomic_store_n(&op->answered, false, __ATOMIC_RELEASE);
		return;
	}
	op->rhdr = m.hdr;
	op->rsize = m.size;
	if (m.size)
		memcpy(op->reply, m.payload,
		       m.size < EVIL_OP_REPLY ? m.size : EVIL_OP_REPLY);
	uvfio_msg_release(&m);
	__atomic_store_n(&op->answered, true, __ATOMIC_RELEASE);
}

static enum evil_verdict reset(struct evil_srv *s, struct uvfio_msg *m)
{
	struct evil_op *ops = __atomic_load_n(&s->ops, __ATOMIC_ACQUIRE);
	unsigned int n = __atomic_load_n(&s->nops, __ATOMIC_RELAXED);

	for (unsigned int i = 0; ops && i < n; i++)
		run_op(s, &ops[i]);
	return evil_reply(s, m, NULL, 0, NULL, 0);
}

static enum evil_verdict device(struct evil_srv *s, struct uvfio_msg *m)
{
	struct vfio_user_device_info di = {
		.argsz = sizeof(di),
		.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
		.num_regions = EVIL_NREGIONS,
		.num_irqs = EVIL_NIRQS,
	};
	struct vfio_irq_info ii;

	switch (m->hdr.cmd) {
	case VFIO_USER_VERSION:
		return version(s, m);
	case VFIO_USER_DEVICE_GET_INFO:
		return evil_reply(s, m, &di, sizeof(di), NULL, 0);
	case VFIO_USER_DEVICE_GET_REGION_INFO:
		return region_info(s, m);
	case VFIO_USER_DEVICE_GET_IRQ_INFO:
		if (m->size != sizeof(ii))
			return evil_error(s, m, EINVAL);
		memcpy(&ii, m->payload, sizeof(ii));
		ii.flags = VFIO_IRQ_INFO_EVENTFD;
		ii.count = 1;
		return evil_reply(s, m, &ii, sizeof(ii), NULL, 0);
	case VFIO_USER_REGION_READ:
	case VFIO_USER_REGION_WRITE:
		return region_rw(s, m);
	case VFIO_USER_DMA_MAP:
		return evil_reply(s, m, NULL, 0, NULL, 0);
	case VFIO_USER_DMA_UNMAP:
		return evil_reply(s, m, m->payload, m->size, NULL, 0);
	case VFIO_USER_DEVICE_RESET:
		return reset(s, m);
	default:
		return evil_error(s, m, ENOSYS);
	}
}

static void *serve(void *arg)
{
	struct evil_srv *s = arg;
	struct uvfio_msg m;

	if (s->listen_fd >= 0) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0 || uvfio_chan_init(&s->ch, fd, SRV_MAX_MSG) < 0)
			return NULL;
	}
	for (;;) {
		int r = uvfio_chan_recv(&s->ch, &m, true);
		enum evil_verdict v = EVIL_PASS;

		if (r == 0 || r == -EINTR)
			continue;
		if (r < 0)
			break;
		__atomic_fetch_add(
			&s->seen[m.hdr.cmd < VFIO_USER_MAX_COMMAND ? m.hdr.cmd :
								     0],
			1, __ATOMIC_RELEASE);
		if (s->cfg->hook)
			v = s->cfg->hook(s, &m);
		if (v == EVIL_PASS)
			v = device(s, &m);
		uvfio_msg_release(&m);
		if (v == EVIL_HANGUP) {
			hang_up(s);
			break;
		}
	}
	return NULL;
}

static int listen_on(struct evil_srv *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(s->dir, "/tmp/uvfio-evil.XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	strcpy(sa.sun_path, s->path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->listen_fd, 1) < 0)
		return -1;
	return 0;
}

static struct evil_srv *srv_new(const struct evil_cfg *cfg)
{
	struct evil_srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->cfg = cfg;
	s->ch.fd = -1;
	s->twin.fd = -1;
	s->listen_fd = -1;
	for (unsigned int i = 0; i < EVIL_BAR_SIZE; i++)
		s->bar[i] = (uint8_t)(i * 7 + 1);
	s->memfd = memfd_create("evil-bar", MFD_CLOEXEC);
	assert_true(s->memfd >= 0);
	assert_int_equal(ftruncate(s->memfd, EVIL_MMAP_SIZE), 0);
	return s;
}

/* Starts the server and meets it with a client. */
static void start(struct evil_env *e, const struct evil_cfg *cfg)
{
	struct uvfio_client_opts o = {
		.flags = cfg->client_flags,
		.max_data_xfer_size = EVIL_CLIENT_XFER,
	};
	struct evil_srv *s = srv_new(cfg);
	int sv[2] = { -1, -1 };

	e->s = s;
	if (cfg->by_path) {
		assert_int_equal(listen_on(s), 0);
	} else {
		assert_int_equal(
			socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			0);
		assert_int_equal(uvfio_chan_init(&s->ch, sv[1], SRV_MAX_MSG),
				 0);
	}
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
	s->started = true;
	errno = 0;
	if (cfg->by_path)
		e->c = uvfio_client_connect(s->path, &o);
	else
		e->c = uvfio_client_attach_fd(sv[0], &o);
	e->err = e->c ? 0 : errno;
}

static void stop(struct evil_srv *s)
{
	/*
	 * The client is gone, so the server sees the end of its stream; a
	 * server still waiting to accept is woken by the shutdown.
	 */
	if (s->started) {
		if (s->listen_fd >= 0)
			shutdown(s->listen_fd, SHUT_RDWR);
		pthread_join(s->thread, NULL);
	}
	uvfio_chan_fini(&s->ch);
	if (s->has_twin)
		uvfio_chan_fini(&s->twin);
	for (unsigned int i = 0; i < s->npeers; i++)
		close(s->peers[i]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path[0])
		unlink(s->path);
	if (s->dir[0])
		rmdir(s->dir);
	close(s->memfd);
	free(s);
}

int evil_setup(void **state)
{
	const struct evil_cfg *cfg = *state;
	struct evil_env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->fds_before = evil_fd_count();
	assert_true(e->fds_before > 0);
	alarm(EVIL_ALARM_S);
	*state = e;
	start(e, cfg);
	return 0;
}

int evil_teardown(void **state)
{
	struct evil_env *e = *state;
	int before = e->fds_before;

	uvfio_client_close(e->c);
	stop(e->s);
	free(e);
	alarm(0);
	assert_int_equal(evil_fd_count(), before);
	return 0;
}

void evil_op_init(struct evil_op *op, uint16_t cmd, const void *p, size_t n)
{
	memset(op, 0, sizeof(*op));
	assert_true(n <= sizeof(op->req));
	op->hdr.cmd = cmd;
	op->hdr.flags = VFIO_USER_F_TYPE_COMMAND;
	if (n)
		memcpy(op->req, p, n);
	op->len = n;
}

void evil_op_dma(struct evil_op *op, uint16_t cmd, uint64_t addr,
		 uint64_t count, const void *data, size_t n)
{
	struct vfio_user_dma_region_access a = { addr, count };

	evil_op_init(op, cmd, &a, sizeof(a));
	assert_true(sizeof(a) + n <= sizeof(op->req));
	if (n)
		memcpy(op->req + sizeof(a), data, n);
	op->len += n;
}

bool evil_op_answered(const struct evil_op *op)
{
	return __atomic_load_n(&op->answered, __ATOMIC_ACQUIRE);
}

int evil_run_ops(struct evil_env *e, struct evil_op *ops, unsigned int n)
{
	int r;

	for (unsigned int i = 0; i < n; i++)
		ops[i].hdr.msg_id = (uint16_t)(0x4000 + i);
	__atomic_store_n(&e->s->nops, n, __ATOMIC_RELAXED);
	__atomic_store_n(&e->s->ops, ops, __ATOMIC_RELEASE);
	r = uvfio_client_reset(e->c);
	__atomic_store_n(&e->s->ops, NULL, __ATOMIC_RELEASE);
	return r;
}
