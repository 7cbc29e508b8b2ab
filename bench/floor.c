// SPDX-License-Identifier: MIT
/* The eventfd floors of floor.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "floor.h"
#include "stats.h"

#define GAP_NS 20000

static void die(const char *what, int err)
{
	fprintf(stderr, "bench floor: %s: %s\n", what, strerror(err));
	exit(1);
}

static void *floor_main(void *arg)
{
	struct bench_floor *f = arg;
	struct epoll_event ev;
	uint64_t cnt;

	for (;;) {
		if (f->epfd >= 0 && epoll_wait(f->epfd, &ev, 1, -1) != 1)
			continue;
		if (read(f->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
			atomic_fetch_add_explicit(&f->seen, 1,
						  memory_order_release);
		else if (f->epfd < 0)
			break;
	}
	return NULL;
}

void bench_floor_start(struct bench_floor *f, bool epoll)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	atomic_init(&f->seen, 0);
	f->epfd = -1;
	f->fd = eventfd(0, EFD_CLOEXEC | (epoll ? EFD_NONBLOCK : 0));
	if (f->fd < 0)
		die("eventfd", errno);
	if (epoll) {
		f->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (f->epfd < 0 ||
		    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->fd, &ev))
			die("epoll", errno);
	}
	r = pthread_create(&f->thread, NULL, floor_main, f);
	if (r)
		die("pthread_create", r);
}

void bench_floor_stop(struct bench_floor *f)
{
	/* A closed eventfd does not wake a blocked reader: cancel it. */
	pthread_cancel(f->thread);
	pthread_join(f->thread, NULL);
	close(f->fd);
	if (f->epfd >= 0)
		close(f->epfd);
}

void bench_wait_for(atomic_uint_fast64_t *ctr, uint64_t want)
{
	while (atomic_load_explicit(ctr, memory_order_acquire) < want)
		__builtin_ia32_pause();
}

void bench_gap(void)
{
	uint64_t t0 = bench_now_ns();

	while (bench_now_ns() - t0 < GAP_NS)
		__builtin_ia32_pause();
}

void bench_efd_round(int fd, atomic_uint_fast64_t *seen, uint64_t *lat,
		     size_t n)
{
	static const uint64_t one = 1;

	for (size_t i = 0; i < n; i++) {
		bench_gap();
		uint64_t want = atomic_load(seen) + 1, t0 = bench_now_ns();

		if (write(fd, &one, sizeof(one)) != sizeof(one))
			die("eventfd write", errno);
		bench_wait_for(seen, want);
		lat[i] = bench_now_ns() - t0;
	}
}
