/* SPDX-License-Identifier: MIT */
/*
 * What a process holds, as /proc shows it from outside: open fds,
 * mappings and resident memory.  For leak checks after a peer leaves.
 */
#ifndef UVFIO_TESTS_PROCSTAT_H
#define UVFIO_TESTS_PROCSTAT_H

#include <stdbool.h>
#include <sys/types.h>

/* Lines of /proc/PID/maps (one per mapping), or -errno. */
int proc_map_count(pid_t pid);
/*
 * Mappings of files (memfds too) only: what a peer's region or DMA fd
 * leaves mapped.  Anonymous mappings (malloc arenas, cached thread
 * stacks) come and go with the allocator and are not counted.
 */
int proc_file_map_count(pid_t pid);
/* VmRSS of /proc/PID/status in KiB, or -errno. */
long proc_rss_kb(pid_t pid);

/*
 * Whether pid's main thread sits in a syscall that waits for input
 * (epoll, poll, select, accept, recvmsg, read): the process has handled
 * what it was sent and is idle.  Needs ptrace access to pid (a child).
 */
bool proc_waiting(pid_t pid);

/*
 * Whether every thread of pid sleeps (state S): none is running or woken
 * and not yet run, so whatever was asked of the process before has been
 * done or is waiting for an event.  A barrier for "nothing more comes".
 */
bool proc_all_asleep(pid_t pid);

/*
 * Calls cond(arg) until it returns true or ms milliseconds have passed,
 * backing off from 0.1 ms to 10 ms between tries.  Returns cond's last
 * answer: a wait on a condition with a deadline, not a sleep.
 */
bool wait_cond(bool (*cond)(void *arg), void *arg, unsigned int ms);

#endif
