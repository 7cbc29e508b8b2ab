// SPDX-License-Identifier: MIT
/*
 * uvfio-testdev: serves the test device on a socket path or an inherited
 * fd, following the vfio-user backend program conventions.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread and collected
 * by one thread with sigwait(), which calls uvfio_dev_stop() from plain
 * thread context.  So uvfio_dev_stop() only needs to be thread-safe, not
 * async-signal-safe; it does need to stick if it comes before
 * uvfio_dev_run() starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testdev.h"

#define PROG "uvfio-testdev"

struct args {
	const char *path;
	int fd;
	bool worker;
	bool no_twin;
	bool once;
	bool doorbells;
	bool bar64;
	bool allow_unsealed;
	enum uvfio_dma_layout layout;
	uint64_t dma_limit;
	uint64_t fd_limit; /* 0: the hard limit */
};

struct sigwaiter {
	sigset_t set;
	struct uvfio_dev *dev;
	atomic_bool done;
	pthread_t thread;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " (--socket PATH | --socket-path=PATH | --fd=N)"
		" [options]\n"
		"  -s, --socket PATH, --socket-path=PATH\n"
		"                     listen on this UNIX socket path\n"
		"  --fd=N             serve the connected socket fd N\n"
		"  --worker           run commands on a thread of the device's own\n"
		"                     (default: library work after the doorbell\n"
		"                     write is answered)\n"
		"  --no-twin          refuse twin-socket mode\n"
		"  --doorbells        offer each command as a doorbell (an\n"
		"                     eventfd a VMM binds with KVM_IOEVENTFD);\n"
		"                     the write is then posted, unordered with\n"
		"                     what follows it\n"
		"  --bar64            BAR4 a 64-bit prefetchable BAR (BAR5 its\n"
		"                     upper half, so no BAR5 of its own)\n"
		"  --dma-limit BYTES  cap on mapped DMA bytes (k/m/g suffix)\n"
		"  --allow-unsealed-dma\n"
		"                     accept DMA files that cannot be sealed\n"
		"                     against shrinking (guest RAM in a hugetlbfs\n"
		"                     or disk file); trust the client not to\n"
		"                     truncate them\n"
		"  --dma-layout=auto|spec|count32\n"
		"                     in-band DMA message layout (auto: QEMU's\n"
		"                     u32 count for a client proposing 0.0)\n"
		"  --fd-limit N       soft limit on open fds (default: the hard\n"
		"                     limit; each MSI-X vector takes one)\n"
		"  --once             exit when the first client leaves\n"
		"  -h, --help         show this help\n");
}

/* Bytes with an optional binary k/m/g suffix. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	}
	if (shift)
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_fd(const char *s, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -EINVAL;
	if (fcntl((int)v, F_GETFD) < 0)
		return -EBADF;
	*fd = (int)v;
	return 0;
}

enum {
	OPT_FD = 256,
	OPT_WORKER,
	OPT_NO_TWIN,
	OPT_DOORBELLS,
	OPT_BAR64,
	OPT_DMA_LIMIT,
	OPT_ONCE,
	OPT_UNSEALED,
	OPT_LAYOUT,
	OPT_FD_LIMIT,
};

static int parse_layout(const char *s, enum uvfio_dma_layout *out)
{
	static const char *const names[] = {
		[UVFIO_DMA_LAYOUT_AUTO] = "auto",
		[UVFIO_DMA_LAYOUT_SPEC] = "spec",
		[UVFIO_DMA_LAYOUT_COUNT32] = "count32",
	};

	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum uvfio_dma_layout)i;
			return 0;
		}
	return -EINVAL;
}

/* 0 to run, 1 for help shown, negative for a usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, OPT_FD },
		{ "worker", no_argument, NULL, OPT_WORKER },
		{ "no-twin", no_argument, NULL, OPT_NO_TWIN },
		{ "doorbells", no_argument, NULL, OPT_DOORBELLS },
		{ "bar64", no_argument, NULL, OPT_BAR64 },
		{ "dma-limit", required_argument, NULL, OPT_DMA_LIMIT },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "allow-unsealed-dma", no_argument, NULL, OPT_UNSEALED },
		{ "dma-layout", required_argument, NULL, OPT_LAYOUT },
		{ "fd-limit", required_argument, NULL, OPT_FD_LIMIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			a->path = optarg;
			break;
		case OPT_FD:
			if (parse_fd(optarg, &a->fd)) {
				fprintf(stderr, PROG ": bad fd '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_WORKER:
			a->worker = true;
			break;
		case OPT_NO_TWIN:
			a->no_twin = true;
			break;
		case OPT_BAR64:
			a->bar64 = true;
			break;
		case OPT_DOORBELLS:
			a->doorbells = true;
			break;
		case OPT_DMA_LIMIT:
			if (parse_size(optarg, &a->dma_limit)) {
				fprintf(stderr, PROG ": bad size '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_ONCE:
			a->once = true;
			break;
		case OPT_UNSEALED:
			a->allow_unsealed = true;
			break;
		case OPT_FD_LIMIT:
			if (parse_size(optarg, &a->fd_limit) || !a->fd_limit) {
				fprintf(stderr, PROG ": bad fd limit '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_LAYOUT:
			if (parse_layout(optarg, &a->layout)) {
				fprintf(stderr, PROG ": bad layout '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc || (a->path != NULL) == (a->fd >= 0)) {
		fprintf(stderr, PROG ": need exactly one of --socket-path "
				     "and --fd\n");
		return -EINVAL;
	}
	return 0;
}

static void *sigwaiter_main(void *arg)
{
	struct sigwaiter *w = arg;
	int sig;

	/* Keep stopping on every signal until main says it is done. */
	while (!atomic_load(&w->done)) {
		if (sigwait(&w->set, &sig))
			continue;
		if (!atomic_load(&w->done))
			uvfio_dev_stop(w->dev);
	}
	return NULL;
}

static int sigwaiter_start(struct sigwaiter *w, struct uvfio_dev *dev)
{
	w->dev = dev;
	atomic_init(&w->done, false);
	return -pthread_create(&w->thread, NULL, sigwaiter_main, w);
}

static void sigwaiter_stop(struct sigwaiter *w)
{
	atomic_store(&w->done, true);
	pthread_kill(w->thread, SIGTERM);
	pthread_join(w->thread, NULL);
}

static int serve(const struct args *a, struct uvfio_dev *dev,
		 struct sigwaiter *w)
{
	int ret;

	if (a->path)
		ret = uvfio_dev_listen(dev, a->path);
	else
		ret = uvfio_dev_attach_fd(dev, a->fd);
	if (ret < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a->path ? a->path : "fd",
			strerror(-ret));
		return ret;
	}
	if (a->path)
		fprintf(stderr, PROG ": listening on %s\n", a->path);
	else
		fprintf(stderr, PROG ": serving fd %d\n", a->fd);

	ret = sigwaiter_start(w, dev);
	if (ret == 0) {
		ret = uvfio_dev_run(dev, a->once);
		sigwaiter_stop(w);
	}
	if (ret < 0)
		fprintf(stderr, PROG ": %s\n", strerror(-ret));
	if (a->path)
		unlink(a->path);
	return ret;
}

/*
 * The client hands over an eventfd per MSI-X vector: 2048 of them do not
 * fit the usual soft limit of 1024 fds, so the default is the hard limit.
 */
static void set_fd_limit(uint64_t want)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return;
	r.rlim_cur = want && want < r.rlim_max ? want : r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r))
		perror(PROG ": RLIMIT_NOFILE");
}

int main(int argc, char **argv)
{
	struct testdev_opts topts = { 0 };
	struct uvfio_dev_opts dopts = { 0 };
	struct uvfio_pci_ids ids;
	struct uvfio_dev *dev;
	struct sigwaiter w;
	struct testdev *td;
	struct args a;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret) {
		usage(ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : 2;
	}

	/* Before any thread exists, so all of them inherit the mask. */
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGINT);
	sigaddset(&w.set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &w.set, NULL);
	signal(SIGPIPE, SIG_IGN);
	set_fd_limit(a.fd_limit);

	topts.worker = a.worker;
	topts.bar64 = a.bar64;
	td = testdev_create(&topts);
	if (!td) {
		perror(PROG);
		return 1;
	}
	testdev_ids(&ids);
	dopts.no_twin_socket = a.no_twin;
	dopts.dma_limit = a.dma_limit;
	dopts.allow_unsealed_dma = a.allow_unsealed;
	dopts.dma_layout = a.layout;
	dev = uvfio_dev_create(&ids, UVFIO_PCIE_CFG_SIZE, testdev_ops(), td,
			       &dopts);
	if (!dev) {
		perror(PROG ": uvfio_dev_create");
		testdev_destroy(td);
		return 1;
	}
	ret = testdev_setup(td, dev);
	if (!ret && a.doorbells)
		ret = testdev_add_doorbells(dev);
	if (ret < 0)
		fprintf(stderr, PROG ": setup: %s\n", strerror(-ret));
	else
		ret = serve(&a, dev, &w);

	testdev_stop(td);
	uvfio_dev_destroy(dev);
	testdev_destroy(td);
	return ret < 0 ? 1 : 0;
}
