// SPDX-License-Identifier: MIT
/*
 * Where a migration stream comes from and goes to: a unix socket
 * ("unix:PATH": the destination listens there for one connection, the
 * source connects) or a file (--save writes it, --restore reads it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm.h"

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		vmm_err("migration socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(a->sun_path, path);
	return 0;
}

int mig_open_in(const struct vm_config *cfg)
{
	struct sockaddr_un a;
	int l, fd, ret;

	if (cfg->mig_in_file) {
		fd = open(cfg->mig_in, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			vmm_err("--restore %s: %s", cfg->mig_in,
				strerror(errno));
		return fd < 0 ? -errno : fd;
	}
	ret = unix_addr(cfg->mig_in, &a);
	if (ret)
		return ret;
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0) {
		ret = -errno;
		vmm_err("--incoming %s: socket: %s", cfg->mig_in,
			strerror(errno));
		return ret;
	}
	unlink(a.sun_path);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0) {
		ret = -errno;
		vmm_err("--incoming %s: %s", cfg->mig_in, strerror(errno));
		close(l);
		return ret;
	}
	if (cfg->verbose)
		fprintf(stderr, PROG ": waiting for a migration on %s\n",
			cfg->mig_in);
	do
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	ret = fd < 0 ? -errno : fd;
	if (fd < 0)
		vmm_err("--incoming %s: accept: %s", cfg->mig_in,
			strerror(errno));
	close(l);
	unlink(a.sun_path);
	return ret;
}

int mig_open_out(const struct vm_config *cfg)
{
	struct sockaddr_un a;
	int fd, ret;

	if (cfg->mig_out_file) {
		fd = open(cfg->mig_out,
			  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			vmm_err("--save %s: %s", cfg->mig_out, strerror(errno));
		return fd < 0 ? -errno : fd;
	}
	ret = unix_addr(cfg->mig_out, &a);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		/* EMFILE: MSI-X vectors hold fds (docs/interrupts.md). */
		ret = -errno;
		vmm_err("--migrate-to %s: socket: %s; the VM runs on",
			cfg->mig_out, strerror(errno));
		return ret;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = -errno;
		vmm_err("--migrate-to %s: %s", cfg->mig_out, strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}
