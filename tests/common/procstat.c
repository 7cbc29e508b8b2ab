// SPDX-License-Identifier: MIT
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int count_maps(pid_t pid, bool files)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		/* A line longer than the buffer is still one mapping. */
		if (nl && (!files || strstr(line, " /")))
			n++;
	}
	fclose(f);
	return n;
}

int proc_map_count(pid_t pid)
{
	return count_maps(pid, false);
}

int proc_file_map_count(pid_t pid)
{
	return count_maps(pid, true);
}

long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

bool proc_waiting(pid_t pid)
{
	static const long waits[] = {
		0 /* read */,	       7 /* poll */,	  23 /* select */,
		43 /* accept */,       45 /* recvfrom */, 47 /* recvmsg */,
		232 /* epoll_wait */,  270 /* pselect6 */, 271 /* ppoll */,
		281 /* epoll_pwait */, 288 /* accept4 */, 441 /* epoll_pwait2 */,
	};
	char path[64];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	/* "running" (or nothing) does not parse as a number. */
	if (fscanf(f, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		if (nr == waits[i])
			return true;
	return false;
}

/* The state letter of /proc/PID/task/TID/stat, or 0. */
static char task_state(pid_t pid, const char *tid)
{
	char path[320], buf[512], *paren;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The name may hold spaces and parentheses: the last ')' ends it. */
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : 0;
}

bool proc_all_asleep(pid_t pid)
{
	char path[64];
	struct dirent *d;
	bool asleep = true;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return false;
	while (asleep && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		asleep = task_state(pid, d->d_name) == 'S';
		n++;
	}
	closedir(dir);
	return asleep && n > 0;
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

bool wait_cond(bool (*cond)(void *arg), void *arg, unsigned int ms)
{
	long end = now_us() + (long)ms * 1000;
	long pause_ns = 100000;

	for (;;) {
		struct timespec ts = { 0, pause_ns };

		if (cond(arg))
			return true;
		if (now_us() >= end)
			return cond(arg);
		nanosleep(&ts, NULL);
		if (pause_ns < 10000000)
			pause_ns *= 2;
	}
}
