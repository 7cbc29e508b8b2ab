// SPDX-License-Identifier: MIT
/*
 * Hostile-input harness.  The server is only ever reached through its
 * socket and /proc: every check here is what a real peer could observe.
 */
#include "harness.h"

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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "testdev_proc.h"

#define HDR sizeof(struct vfio_user_header)
#define MAX_ARGS 16

/* What the harness uses of the reply: a server answers only what is asked. */
static const char client_caps[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"max_dma_maps\":65535,\"write_multiple\":true}}";

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int hs_fd_count(pid_t pid)
{
	return proc_fd_count(pid);
}

/* Reaps the server once it has exited and remembers how it went. */
static bool server_running(struct hs_server *s, int *status)
{
	if (!s->reaped && waitpid(s->pid, &s->status, WNOHANG) == s->pid)
		s->reaped = true;
	*status = s->status;
	return !s->reaped;
}

/* Polls until the server has exactly want fds; returns the last count. */
static int wait_fds(const struct hs_server *s, int want)
{
	int n = -1;

	for (int i = 0; i < 200; i++) {
		n = hs_fd_count(s->pid);
		if (n == want)
			break;
		sleep_ms(10);
	}
	return n;
}

static int connect_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	/* A server that stops reading must fail the test, not hang it. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Bounded retry: the server may not be listening yet. */
static int connect_retry(struct hs_server *s)
{
	int fd = -ENOENT, status;

	for (int i = 0; i < 500; i++) {
		fd = connect_path(s->path);
		if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
			return fd;
		if (!server_running(s, &status))
			return -ESRCH;
		sleep_ms(10);
	}
	return fd;
}

static int send_raw(int fd, const void *buf, size_t len, const int *fds,
		    unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = { 0 };
	struct iovec iov = { (void *)buf, len };
	size_t done = 0;

	if (nfds > 253)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	while (done < len) {
		ssize_t n;

		iov.iov_base = (char *)buf + done;
		iov.iov_len = len - done;
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		done += (size_t)n;
	}
	return 0;
}

/*
 * Exactly len bytes.  fds that come along are counted; the first
 * HS_KEEP_FDS are kept in r, the rest closed.
 */
static int recv_raw(int fd, void *buf, size_t len, struct hs_reply *rep)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cbuf;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cbuf.b,
				     .msg_controllen = sizeof(cbuf.b) };
		ssize_t n;
		int r = poll(&p, 1, HS_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return -ECONNRESET;
		if (n < 0)
			return -errno;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < cnt; i++) {
				int x;

				memcpy(&x, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(x));
				if (rep->nfds < HS_KEEP_FDS)
					rep->fds[rep->nfds] = x;
				else
					close(x);
				rep->nfds++;
			}
		}
		got += (size_t)n;
	}
	return 0;
}

static int recv_msg(int fd, struct hs_reply *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = recv_raw(fd, &r->hdr, HDR, r);
	if (err) {
		hs_reply_free(r);
		return err;
	}
	/* The largest reply: REGION_READ of 1 MiB behind two headers. */
	if (r->hdr.msg_size < HDR || r->hdr.msg_size > VFIO_USER_MAX_MSG_SIZE) {
		hs_reply_free(r);
		return -EPROTO;
	}
	r->size = r->hdr.msg_size - (uint32_t)HDR;
	r->data = malloc(r->size ? r->size : 1);
	if (!r->data) {
		hs_reply_free(r);
		return -ENOMEM;
	}
	err = recv_raw(fd, r->data, r->size, r);
	if (err)
		hs_reply_free(r);
	return err;
}

void hs_reply_free(struct hs_reply *r)
{
	for (unsigned int i = 0; i < r->nfds && i < HS_KEEP_FDS; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	r->nfds = 0;
	free(r->data);
	r->data = NULL;
}

size_t hs_build(void *buf, uint16_t id, uint16_t cmd, uint32_t flags,
		const void *p, size_t n)
{
	struct vfio_user_header h = {
		.msg_id = id,
		.cmd = cmd,
		.msg_size = (uint32_t)(HDR + n),
		.flags = flags,
	};

	memcpy(buf, &h, HDR);
	if (n)
		memcpy((uint8_t *)buf + HDR, p, n);
	return HDR + n;
}

static int send_cmd(int fd, uint16_t id, uint16_t cmd, uint32_t flags,
		    const void *p, size_t n, const int *fds, unsigned int nfds)
{
	uint8_t *buf = malloc(HDR + n);
	int err;

	if (!buf)
		return -ENOMEM;
	hs_build(buf, id, cmd, flags, p, n);
	err = send_raw(fd, buf, HDR + n, fds, nfds);
	free(buf);
	return err;
}

static int get_cap(struct json_object *caps, const char *key, uint64_t *v)
{
	struct json_object *o;

	if (!json_object_object_get_ex(caps, key, &o) ||
	    !json_object_is_type(o, json_type_int))
		return -EPROTO;
	*v = json_object_get_uint64(o);
	return 0;
}

/* The server's VERSION reply: major 0 and the capabilities we use. */
static int parse_caps(const struct hs_reply *r, struct hs_server *s)
{
	struct json_object *top, *caps, *wm;
	struct vfio_user_version v;
	uint64_t xfer = 0, maps = 0, fds = 0;
	int err = -EPROTO;

	if (r->size <= sizeof(v) || r->data[r->size - 1])
		return -EPROTO;
	memcpy(&v, r->data, sizeof(v));
	if (v.major != VFIO_USER_MAJOR)
		return -EPROTO;
	top = json_tokener_parse((const char *)r->data + sizeof(v));
	if (top && json_object_object_get_ex(top, "capabilities", &caps) &&
	    !get_cap(caps, "max_data_xfer_size", &xfer) &&
	    !get_cap(caps, "max_dma_maps", &maps) &&
	    !get_cap(caps, "max_msg_fds", &fds) && xfer && xfer <= UINT32_MAX &&
	    maps && maps <= UINT32_MAX && fds && fds <= 253) {
		s->max_xfer = (uint32_t)xfer;
		s->max_dma_maps = (uint32_t)maps;
		s->max_msg_fds = (uint32_t)fds;
		s->write_multiple = json_object_object_get_ex(
					    caps, "write_multiple", &wm) &&
				    json_object_get_boolean(wm);
		err = 0;
	}
	json_object_put(top);
	return err;
}

static int negotiate_raw(int fd, struct hs_server *caps_out)
{
	uint8_t p[sizeof(struct vfio_user_version) + sizeof(client_caps)];
	struct vfio_user_version v = { VFIO_USER_MAJOR, VFIO_USER_MINOR };
	struct hs_reply r;
	int err;

	memcpy(p, &v, sizeof(v));
	memcpy(p + sizeof(v), client_caps, sizeof(client_caps));
	err = send_cmd(fd, 0x7e57, VFIO_USER_VERSION, 0, p, sizeof(p), NULL, 0);
	if (!err)
		err = recv_msg(fd, &r);
	if (err)
		return err;
	if (r.hdr.msg_id != 0x7e57 || r.hdr.cmd != VFIO_USER_VERSION ||
	    r.hdr.flags != VFIO_USER_F_TYPE_REPLY || r.nfds)
		err = r.hdr.flags & VFIO_USER_F_ERROR ? -(int)r.hdr.error_no :
							-EPROTO;
	else if (caps_out)
		err = parse_caps(&r, caps_out);
	hs_reply_free(&r);
	return err;
}

static void dump_log(const struct hs_server *s)
{
	char path[128], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/log", s->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		print_error("testdev: %s", line);
	fclose(f);
}

static void cleanup_dir(const struct hs_server *s)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/log", s->dir);
	unlink(path);
	unlink(s->path);
	rmdir(s->dir);
}

static pid_t spawn(struct hs_server *s, const char *exe,
		   const char *const *args, bool twin)
{
	const char *argv[MAX_ARGS + 6] = { exe, "--socket", s->path,
					   "--no-twin" };
	char log[128];
	unsigned int n = 4;
	pid_t pid;

	if (twin)
		n--; /* no --no-twin */
	for (; args && *args && n < MAX_ARGS; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/log", s->dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int null = open("/dev/null", O_RDONLY);

		if (fd < 0 || null < 0 || dup2(null, 0) < 0 ||
		    dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/*
 * A first client comes and goes (lazy set-up is allowed to happen then),
 * then a second one measures the fds of a connected server: it can only
 * be served once the first has been dropped.  Idle is one socket less.
 */
static int baselines(struct hs_server *s)
{
	int fd, err, n;

	fd = connect_retry(s);
	if (fd < 0)
		return fd;
	err = negotiate_raw(fd, s);
	close(fd);
	if (err)
		return err;
	fd = connect_path(s->path);
	if (fd < 0)
		return fd;
	err = negotiate_raw(fd, NULL);
	s->conn_fds = hs_fd_count(s->pid);
	close(fd);
	if (err)
		return err;
	if (s->conn_fds < 0)
		return s->conn_fds;
	s->idle_fds = s->conn_fds - 1;
	n = wait_fds(s, s->idle_fds);
	if (n != s->idle_fds) {
		print_error("server fds: %d connected, %d after the client "
			    "left (want %d)\n",
			    s->conn_fds, n, s->idle_fds);
		return -EBADFD;
	}
	return 0;
}

struct hs_server *hs_start(const char *const *args)
{
	return hs_start_twin(args, false);
}

struct hs_server *hs_start_twin(const char *const *args, bool twin)
{
	const char *exe = getenv("UVFIO_TESTDEV");
	struct hs_server *s;
	int err, status;

	if (!exe) {
		print_error("UVFIO_TESTDEV is not set\n");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	strcpy(s->dir, "/tmp/uvfio-hostile-XXXXXX");
	if (!mkdtemp(s->dir)) {
		free(s);
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	s->pid = spawn(s, exe, args, twin);
	if (s->pid < 0) {
		cleanup_dir(s);
		free(s);
		return NULL;
	}
	err = baselines(s);
	if (!err)
		return s;
	print_error("testdev %s did not come up: %s\n", exe, strerror(-err));
	if (server_running(s, &status)) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	dump_log(s);
	cleanup_dir(s);
	free(s);
	return NULL;
}

int hs_stop(struct hs_server *s)
{
	int status = 0, n, ret = 0;
	bool exited = false;

	if (!s)
		return -1;
	if (!server_running(s, &status)) {
		print_error("testdev died before the end: %s %d\n",
			    WIFSIGNALED(status) ? "signal" : "exit status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
						  WEXITSTATUS(status));
		exited = true;
		ret = -1;
	}
	if (!exited) {
		n = wait_fds(s, s->idle_fds);
		if (n != s->idle_fds) {
			print_error(
				"fd leak: server has %d fds with no client, "
				"%d at the start\n",
				n, s->idle_fds);
			ret = -1;
		}
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 500 && !exited; i++) {
			exited = !server_running(s, &status);
			if (!exited)
				sleep_ms(10);
		}
		if (!exited) {
			print_error("testdev ignored SIGTERM for 5 s\n");
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			ret = -1;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			print_error("testdev did not exit cleanly on SIGTERM: "
				    "status 0x%x\n",
				    status);
			ret = -1;
		}
	}
	if (ret)
		dump_log(s);
	cleanup_dir(s);
	free(s);
	return ret;
}

void hs__alive(struct hs_server *s, const char *file, int line)
{
	int status = 0;
	bool up = server_running(s, &status);

	if (!up)
		print_error("testdev is gone: %s %d\n",
			    WIFSIGNALED(status) ? "signal" : "exit status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
						  WEXITSTATUS(status));
	_assert_true(up, "server alive", file, line);
}

int hs__connect(const struct hs_server *s, const char *file, int line)
{
	int fd = connect_path(s->path);

	if (fd < 0)
		print_error("connect: %s\n", strerror(-fd));
	_assert_true(fd >= 0, "connect", file, line);
	return fd;
}

void hs__negotiate(struct hs_conn *c, const char *file, int line)
{
	int err = negotiate_raw(c->fd, NULL);

	if (err)
		print_error("VERSION: %s\n", strerror(-err));
	_assert_int_equal(err, 0, file, line);
}

void hs__reconnect(struct hs_conn *c, bool negotiate, const char *file,
		   int line)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->fd = hs__connect(c->srv, file, line);
	if (negotiate)
		hs__negotiate(c, file, line);
}

void hs__send(int fd, const void *buf, size_t len, const int *fds,
	      unsigned int nfds, const char *file, int line)
{
	int err = send_raw(fd, buf, len, fds, nfds);

	if (err)
		print_error("send: %s\n", strerror(-err));
	_assert_int_equal(err, 0, file, line);
}

uint16_t hs__send_cmd(struct hs_conn *c, uint16_t cmd, uint32_t flags,
		      const void *p, size_t n, const int *fds,
		      unsigned int nfds, const char *file, int line)
{
	uint16_t id = c->next_id++;
	int err = send_cmd(c->fd, id, cmd, flags, p, n, fds, nfds);

	if (err)
		print_error("send %s: %s\n", vfio_user_command_name(cmd),
			    strerror(-err));
	_assert_int_equal(err, 0, file, line);
	return id;
}

int hs__recv(int fd, struct hs_reply *r, const char *file, int line)
{
	int err = recv_msg(fd, r);

	if (err && err != -ECONNRESET && err != -ETIMEDOUT) {
		print_error("recv: %s\n", strerror(-err));
		_fail(file, line);
	}
	return err;
}

static void recv_reply(struct hs_conn *c, uint16_t id, uint16_t cmd,
		       struct hs_reply *r, const char *file, int line)
{
	int err = hs__recv(c->fd, r, file, line);

	if (err) {
		print_error("no reply to %s: %s\n", vfio_user_command_name(cmd),
			    strerror(-err));
		_fail(file, line);
	}
	if (r->hdr.msg_id != id || r->hdr.cmd != cmd)
		print_error("reply is for id %u cmd %u, want id %u cmd %u\n",
			    r->hdr.msg_id, r->hdr.cmd, id, cmd);
	_assert_int_equal(r->hdr.msg_id, id, file, line);
	_assert_int_equal(r->hdr.cmd, cmd, file, line);
}

void hs__recv_ok(struct hs_conn *c, uint16_t id, uint16_t cmd,
		 struct hs_reply *r, const char *file, int line)
{
	recv_reply(c, id, cmd, r, file, line);
	if (r->hdr.flags & VFIO_USER_F_ERROR)
		print_error("%s failed: errno %u (%s)\n",
			    vfio_user_command_name(cmd), r->hdr.error_no,
			    strerror((int)r->hdr.error_no));
	_assert_int_equal(r->hdr.flags, VFIO_USER_F_TYPE_REPLY, file, line);
}

/*
 * Error replies checked, per command: with UVFIO_HOSTILE_COUNTS=FILE each
 * test program appends its counts there at exit, for
 * scripts/hostile_counts.py to add up.
 */
static unsigned int refused[VFIO_USER_MAX_COMMAND + 1];

static void __attribute__((destructor)) dump_refused(void)
{
	const char *path = getenv("UVFIO_HOSTILE_COUNTS");
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	for (unsigned int i = 0; i <= VFIO_USER_MAX_COMMAND; i++)
		if (refused[i])
			fprintf(f, "%s %u\n", vfio_user_command_name((uint16_t)i),
				refused[i]);
	fclose(f);
}

void hs__recv_err(struct hs_conn *c, uint16_t id, uint16_t cmd, int err,
		  const char *file, int line)
{
	struct hs_reply r;
	unsigned int nfds;

	recv_reply(c, id, cmd, &r, file, line);
	nfds = r.nfds;
	hs_reply_free(&r);
	if (!(r.hdr.flags & VFIO_USER_F_ERROR))
		print_error("%s succeeded, want %s\n",
			    vfio_user_command_name(cmd), strerror(err));
	else if (r.hdr.error_no != (uint32_t)err)
		print_error("%s: errno %u (%s), want %d (%s)\n",
			    vfio_user_command_name(cmd), r.hdr.error_no,
			    strerror((int)r.hdr.error_no), err, strerror(err));
	_assert_int_equal(r.hdr.flags,
			  VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, file,
			  line);
	_assert_int_equal(r.hdr.error_no, err, file, line);
	/* The spec: an error reply is the header alone. */
	_assert_int_equal(r.hdr.msg_size, HDR, file, line);
	_assert_int_equal(nfds, 0, file, line);
	if (cmd <= VFIO_USER_MAX_COMMAND)
		refused[cmd]++;
}

void hs__expect_eof(int fd, const char *file, int line)
{
	struct hs_reply r;
	int err = recv_msg(fd, &r);

	if (!err) {
		print_error("got %s reply (flags 0x%x), want the connection "
			    "closed\n",
			    vfio_user_command_name(r.hdr.cmd), r.hdr.flags);
		hs_reply_free(&r);
	}
	_assert_int_equal(err, -ECONNRESET, file, line);
}

void hs__ping(struct hs_conn *c, const char *file, int line)
{
	struct vfio_user_device_info in = { .argsz = sizeof(in) }, out;
	struct hs_reply r;
	uint16_t id;

	hs__alive(c->srv, file, line);
	id = hs__send_cmd(c, VFIO_USER_DEVICE_GET_INFO, 0, &in, sizeof(in),
			  NULL, 0, file, line);
	hs__recv_ok(c, id, VFIO_USER_DEVICE_GET_INFO, &r, file, line);
	_assert_int_equal(r.size, sizeof(out), file, line);
	memcpy(&out, r.data, sizeof(out));
	hs_reply_free(&r);
	_assert_true(out.num_regions >= VFIO_PCI_NUM_REGIONS,
		     "num_regions >= VFIO_PCI_NUM_REGIONS", file, line);
	_assert_int_equal(out.num_irqs, VFIO_PCI_NUM_IRQS, file, line);
}

void hs__expect_err(struct hs_conn *c, uint16_t cmd, uint32_t flags,
		    const void *p, size_t n, const int *fds, unsigned int nfds,
		    int err, bool ping, const char *file, int line)
{
	uint16_t id = hs__send_cmd(c, cmd, flags, p, n, fds, nfds, file, line);

	hs__recv_err(c, id, cmd, err, file, line);
	hs__alive(c->srv, file, line);
	if (ping)
		hs__ping(c, file, line);
}

void hs__expect_ok(struct hs_conn *c, uint16_t cmd, const void *p, size_t n,
		   const int *fds, unsigned int nfds, struct hs_reply *r,
		   const char *file, int line)
{
	struct hs_reply tmp;
	uint16_t id = hs__send_cmd(c, cmd, 0, p, n, fds, nfds, file, line);

	hs__recv_ok(c, id, cmd, r ? r : &tmp, file, line);
	if (!r)
		hs_reply_free(&tmp);
}

#define RA sizeof(struct vfio_user_region_access)

void hs__region_write(struct hs_conn *c, uint32_t region, uint64_t off,
		      const void *data, uint32_t n, const char *file, int line)
{
	struct vfio_user_region_access a = { off, region, n };
	uint8_t *buf = malloc(RA + n);
	struct hs_reply r;
	uint16_t id;
	int err;

	if (!buf)
		_fail(file, line);
	memcpy(buf, &a, RA);
	memcpy(buf + RA, data, n);
	id = c->next_id++;
	err = send_cmd(c->fd, id, VFIO_USER_REGION_WRITE, 0, buf, RA + n, NULL,
		       0);
	/* Freed before anything can fail the test. */
	free(buf);
	_assert_int_equal(err, 0, file, line);
	hs__recv_ok(c, id, VFIO_USER_REGION_WRITE, &r, file, line);
	/* The reply is the request's header, without the data. */
	_assert_int_equal(r.size, RA, file, line);
	_assert_int_equal(memcmp(r.data, &a, RA), 0, file, line);
	hs_reply_free(&r);
}

void hs__region_read(struct hs_conn *c, uint32_t region, uint64_t off,
		     void *data, uint32_t n, const char *file, int line)
{
	struct vfio_user_region_access a = { off, region, n };
	struct hs_reply r;

	hs__expect_ok(c, VFIO_USER_REGION_READ, &a, RA, NULL, 0, &r, file,
		      line);
	_assert_int_equal(r.size, RA + n, file, line);
	_assert_int_equal(memcmp(r.data, &a, RA), 0, file, line);
	memcpy(data, r.data + RA, n);
	hs_reply_free(&r);
}

uint32_t hs__region_read32(struct hs_conn *c, uint32_t region, uint64_t off,
			   const char *file, int line)
{
	uint32_t v;

	hs__region_read(c, region, off, &v, sizeof(v), file, line);
	return v;
}

int hs__fds_now(struct hs_conn *c, const char *file, int line)
{
	int n;

	hs__ping(c, file, line);
	n = hs_fd_count(c->srv->pid);
	_assert_true(n > 0, "server fd count", file, line);
	return n;
}

int hs__memfd(size_t size, const char *file, int line)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	_assert_true(fd >= 0, "memfd_create", file, line);
	_assert_int_equal(ftruncate(fd, (off_t)size), 0, file, line);
	return fd;
}

int hs__eventfd(const char *file, int line)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	_assert_true(fd >= 0, "eventfd", file, line);
	return fd;
}

void hs_close_all(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int hs_group_setup(void **state)
{
	*state = hs_start(NULL);
	return *state ? 0 : -1;
}

int hs_group_teardown(void **state)
{
	return hs_stop(*state);
}

int hs_setup(void **state)
{
	struct hs_server *s = *state;
	struct hs_conn *c;
	int err;

	if (!s)
		return -1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->srv = s;
	c->next_id = 1;
	*state = c;
	/* No asserts in fixtures: the teardown must still run. */
	c->fd = connect_path(s->path);
	err = c->fd < 0 ? c->fd : negotiate_raw(c->fd, NULL);
	if (!err)
		return 0;
	print_error("setup: %s\n", strerror(-err));
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	*state = s;
	return -1;
}

/* A GET_INFO round trip, without cmocka: for the fixtures. */
static int ping_raw(int fd)
{
	struct vfio_user_device_info in = { .argsz = sizeof(in) };
	struct hs_reply r;
	int err;

	err = send_cmd(fd, 0x1f0, VFIO_USER_DEVICE_GET_INFO, 0, &in, sizeof(in),
		       NULL, 0);
	if (!err)
		err = recv_msg(fd, &r);
	if (err)
		return err;
	if (r.hdr.msg_id != 0x1f0 || r.hdr.flags != VFIO_USER_F_TYPE_REPLY ||
	    r.size != sizeof(in))
		err = -EPROTO;
	hs_reply_free(&r);
	return err;
}

/*
 * Does not assert, so callers can always go on to stop the server: a
 * failure is printed and returned as -1.
 */
int hs_teardown(void **state)
{
	struct hs_conn *c = *state;
	struct hs_server *s = c->srv;
	int fd, n = -1, err, status;

	*state = s;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	if (!server_running(s, &status)) {
		print_error("testdev is gone: %s %d\n",
			    WIFSIGNALED(status) ? "signal" : "exit status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
						  WEXITSTATUS(status));
		return -1;
	}
	/* Served only once the old client is gone and cleaned up. */
	fd = connect_path(s->path);
	if (fd < 0) {
		print_error("new client: connect: %s\n", strerror(-fd));
		return -1;
	}
	err = negotiate_raw(fd, NULL);
	if (!err) {
		n = hs_fd_count(s->pid);
		err = ping_raw(fd);
	}
	close(fd);
	if (err) {
		print_error("new client: %s\n", strerror(-err));
		return -1;
	}
	if (n != s->conn_fds) {
		print_error("fd leak: %d server fds with a fresh client, %d at "
			    "the start\n",
			    n, s->conn_fds);
		return -1;
	}
	return 0;
}
