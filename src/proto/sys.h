/* SPDX-License-Identifier: MIT */
/*
 * The system calls of the request hot path, made inline: the kernel's
 * result, or -errno.  Through libc's syscall() each one ran through a
 * page of libc's code and wrote errno (a thread-local page): where every
 * system call flushes the TLB (page-table isolation without PCID, as in
 * many VMs), each of those pages costs a page walk after every call.
 * Nothing here is a cancellation point; the library relies on none.
 */
#ifndef UVFIO_PROTO_SYS_H
#define UVFIO_PROTO_SYS_H

#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
static inline long sys_call3(long nr, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return r;
}

static inline long sys_call6(long nr, long a, long b, long c, long d, long e,
			     long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
#else
static inline long sys_call6(long nr, long a, long b, long c, long d, long e,
			     long f)
{
	long r = syscall(nr, a, b, c, d, e, f);

	return r < 0 ? -errno : r;
}

static inline long sys_call3(long nr, long a, long b, long c)
{
	return sys_call6(nr, a, b, c, 0, 0, 0);
}
#endif

/* fstat(): on x86-64 libc's struct stat is the kernel's. */
static inline int sys_fstat(int fd, struct stat *st)
{
#if defined(__x86_64__)
	return (int)sys_call3(SYS_fstat, fd, (long)st, 0);
#else
	return fstat(fd, st) ? -errno : 0;
#endif
}

#endif
