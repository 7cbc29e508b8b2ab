// SPDX-License-Identifier: MIT
/*
 * Guest MMIO read round trip, trapped against mapped: runs uvfio-vmm
 * with guest/bench/mmio.c and a fresh uvfio-testdev.  The guest times
 * single reads of BAR0 (each exits to the VMM, which asks the device
 * over the vfio-user socket) and of BAR1 (a KVM memory slot over the
 * device's shared memory: no exit) with rdtsc, and reports p50/p99 in
 * nanoseconds from the TSC rate the VMM gives it; this program starts
 * everything, cleans up and prints the result.
 *
 * usage: guest_mmio VMM TESTDEV GUEST_ELF
 * Last line: guest_mmio: trapped <p50> ns, mapped <p50> ns, ratio <r>
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>

#include "dev.h"

extern char **environ;

#define OUT_MAX 65536

struct run {
	char dir[64];
	char sock[96];
	pid_t dev;
};

static void cleanup(struct run *r)
{
	if (r->dev > 0) {
		kill(r->dev, SIGTERM);
		waitpid(r->dev, NULL, 0);
		r->dev = 0;
	}
	unlink(r->sock);
	rmdir(r->dir);
}

static int start_dev(struct run *r, const char *testdev)
{
	char *argv[] = { (char *)testdev, "--socket", r->sock, NULL };
	posix_spawn_file_actions_t fa;
	struct stat st;
	int i, err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	err = posix_spawn(&r->dev, testdev, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	for (i = 0; i < 1000; i++) {
		if (!stat(r->sock, &st) && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(r->dev, NULL, WNOHANG) == r->dev) {
			r->dev = 0;
			return -ECHILD;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* Runs the VMM; its output (stdout and stderr) in out. */
static int run_vmm(struct run *r, const char *vmm, const char *guest, char *out,
		   size_t cap)
{
	char devarg[128];
	char *argv[] = { (char *)vmm, "--mem",	 "64M",		"--device",
			 devarg,      "--guest", (char *)guest, NULL };
	posix_spawn_file_actions_t fa;
	size_t len = 0;
	ssize_t n;
	int p[2], err, status;
	pid_t pid;

	snprintf(devarg, sizeof(devarg), "vfio-user,socket=%s", r->sock);
	if (pipe(p))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	err = posix_spawn(&pid, vmm, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (err) {
		close(p[0]);
		return -err;
	}
	while (len < cap - 1 && (n = read(p[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
	unsigned long long t50, t99, m50, m99, e50, e99, khz;
	static char out[OUT_MAX];
	struct run r = { .dev = 0 };
	char vmm[PATH_MAX], testdev[PATH_MAX], elf[PATH_MAX];
	const char *line;
	int ret;

	if (argc != 1 && argc != 4) {
		fprintf(stderr,
			"usage: guest_mmio [VMM TESTDEV GUEST_ELF]\n");
		return 2;
	}
	/* Without arguments: the build tree's own. */
	snprintf(vmm, sizeof(vmm), "%s",
		 argc > 1 ? argv[1] : bench_build_path("vmm/uvfio-vmm"));
	snprintf(testdev, sizeof(testdev), "%s",
		 argc > 1 ? argv[2] :
			    bench_build_path("devices/testdev/uvfio-testdev"));
	snprintf(elf, sizeof(elf), "%s",
		 argc > 1 ? argv[3] :
			    bench_build_path("guest/guest_bench_mmio.elf"));
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("guest_mmio: skipped: /dev/kvm: %s\n", strerror(errno));
		return 0;
	}
	snprintf(r.dir, sizeof(r.dir), "/tmp/uvfio-gmmio.XXXXXX");
	if (!mkdtemp(r.dir)) {
		perror("guest_mmio: mkdtemp");
		return 1;
	}
	snprintf(r.sock, sizeof(r.sock), "%s/sock", r.dir);
	ret = start_dev(&r, testdev);
	if (ret) {
		fprintf(stderr, "guest_mmio: uvfio-testdev: %s\n",
			strerror(-ret));
		cleanup(&r);
		return 1;
	}
	ret = run_vmm(&r, vmm, elf, out, sizeof(out));
	cleanup(&r);
	line = strstr(out, "MMIO trapped ");
	if (ret || !line ||
	    sscanf(line,
		   "MMIO trapped %llu %llu mapped %llu %llu empty %llu "
		   "%llu tsc_khz %llu",
		   &t50, &t99, &m50, &m99, &e50, &e99, &khz) != 7 ||
	    !m50) {
		fprintf(stderr, "guest_mmio: the VMM failed (status %d):\n%s",
			ret, out);
		return 1;
	}
	printf("guest_mmio: trapped p50 %llu ns p99 %llu ns; mapped p50 %llu "
	       "ns p99 %llu ns; empty rdtsc pair p50 %llu ns (TSC %llu kHz)\n",
	       t50, t99, m50, m99, e50, khz);
	printf("guest_mmio: trapped %llu ns, mapped %llu ns, ratio %.1f\n", t50,
	       m50, (double)t50 / (double)m50);
	return 0;
}
