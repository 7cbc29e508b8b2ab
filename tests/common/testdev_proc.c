// SPDX-License-Identifier: MIT
#include "testdev_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static bool can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

int testdev_spawn(struct testdev_proc *p, const char *const *args)
{
	const char *bin = getenv("UVFIO_TESTDEV");
	const char *argv[32];
	int n = 0;

	if (!bin)
		return -ENOENT;
	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = p->sock;
	for (int i = 0; args && args[i] && n < 30; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0 && !getenv("UVFIO_TEST_VERBOSE"))
			dup2(null, STDERR_FILENO);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	return 0;
}

int testdev_start(struct testdev_proc *p, const char *const *args)
{
	int r;

	if (!getenv("UVFIO_TESTDEV"))
		return -ENOENT;
	strcpy(p->dir, "/tmp/uvfio-test-XXXXXX");
	if (!mkdtemp(p->dir))
		return -errno;
	snprintf(p->sock, sizeof(p->sock), "%s/dev.sock", p->dir);
	r = testdev_spawn(p, args);
	if (r)
		return r;
	/*
	 * The probe connection is a client too: the device sees it come
	 * and go, as any client, before the test's own.
	 */
	for (int i = 0; i < 1000; i++) {
		if (!testdev_alive(p))
			return -ECHILD;
		if (can_connect(p->sock))
			return 0;
		usleep(5000);
	}
	testdev_stop(p);
	return -ETIMEDOUT;
}

bool testdev_alive(const struct testdev_proc *p)
{
	return p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == 0;
}

int testdev_stop(struct testdev_proc *p)
{
	int st = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	unlink(p->sock);
	rmdir(p->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int testdev_kill(struct testdev_proc *p)
{
	if (p->pid <= 0)
		return -ESRCH;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
	unlink(p->sock);
	return 0;
}

int proc_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}
