/* SPDX-License-Identifier: MIT */
/* Runs uvfio-testdev as a separate process for tests. */
#ifndef UVFIO_TESTS_TESTDEV_PROC_H
#define UVFIO_TESTS_TESTDEV_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct testdev_proc {
	pid_t pid;
	char dir[64];
	char sock[96];
};

/*
 * Starts $UVFIO_TESTDEV --socket DIR/dev.sock plus args (NULL-terminated)
 * and waits until the socket accepts.  Returns 0 or -errno.
 */
int testdev_start(struct testdev_proc *p, const char *const *args);
/*
 * Starts it again on p->sock without waiting (after testdev_kill(), as a
 * device that restarts): 0 or -errno.
 */
int testdev_spawn(struct testdev_proc *p, const char *const *args);
/* SIGKILL, reap, remove the socket; the directory stays for a respawn. */
int testdev_kill(struct testdev_proc *p);
/* SIGTERM, reap; returns the exit status, or -1 if it died by a signal. */
int testdev_stop(struct testdev_proc *p);
bool testdev_alive(const struct testdev_proc *p);
/* Open fds of the process (from /proc/PID/fd), or -errno. */
int proc_fd_count(pid_t pid);

#endif
