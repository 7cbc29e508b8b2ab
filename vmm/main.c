// SPDX-License-Identifier: MIT
/*
 * uvfio-vmm: a small KVM VMM that runs freestanding 64-bit guests with
 * vfio-user devices on a PCI bus.  Command line in the style of kvmtool
 * and QEMU.  The exit status is the guest's (its write to the exit
 * port), 128 + N after signal N, or 125 when the VMM itself fails.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --guest ELF [options]\n"
		"  -g, --guest ELF        freestanding x86-64 ELF to run\n"
		"  -m, --mem SIZE         guest RAM (default 64M; plain numbers "
		"are MiB,\n"
		"                         K/M/G suffixes allowed; 4M..3G)\n"
		"  -c, --cpus N           vCPUs (default 1, at most %u)\n"
		"  -d, --device vfio-user,socket=PATH\n"
		"                         a vfio-user device (repeatable, at "
		"most %u)\n"
		"  --reconnect-ms MS      how long a device that went away has "
		"to come\n"
		"                         back before it fails and reads as "
		"all ones\n"
		"                         (default 5000; 0: it fails at once)\n"
		"  --stats                print exit counters at the end\n"
		"  -v, --verbose          report BAR assignments and more\n"
		"  -h, --help             show this help\n"
		"Exit status: the guest's exit port value; 125 if the VMM "
		"fails.\n",
		VMM_MAX_CPUS, VMM_MAX_DEVS);
}

static int parse_mem(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 20;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end || v > (RAM_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	if (v < RAM_MIN || v > RAM_MAX || v % (2ull << 20))
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_cpus(const char *s, unsigned int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > VMM_MAX_CPUS)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* "vfio-user,socket=PATH": the path points into argv. */
static int parse_device(char *s, const char **socket)
{
	static const char kind[] = "vfio-user,";
	char *opt, *save = NULL;

	if (strncmp(s, kind, sizeof(kind) - 1))
		return -EINVAL;
	*socket = NULL;
	for (opt = strtok_r(s + sizeof(kind) - 1, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strncmp(opt, "socket=", 7) || !opt[7] || *socket)
			return -EINVAL;
		*socket = opt + 7;
	}
	return *socket ? 0 : -EINVAL;
}

static int parse_ms(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 3600000)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

enum { OPT_STATS = 256, OPT_RECONNECT };

/* 0 to run, 1 when help was shown, -EINVAL for a usage error. */
static int parse_args(int argc, char **argv, struct vm_config *cfg)
{
	static const struct option opts[] = {
		{ "guest", required_argument, NULL, 'g' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "reconnect-ms", required_argument, NULL, OPT_RECONNECT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "g:m:c:d:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			cfg->guest = optarg;
			break;
		case 'm':
			if (parse_mem(optarg, &cfg->ram_size)) {
				vmm_err("bad --mem '%s': want 4M..3G in 2 MiB "
					"steps",
					optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			if (parse_cpus(optarg, &cfg->nr_cpus)) {
				vmm_err("bad --cpus '%s'", optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			if (cfg->nr_devs >= VMM_MAX_DEVS) {
				vmm_err("at most %u devices", VMM_MAX_DEVS);
				return -EINVAL;
			}
			if (parse_device(optarg, &cfg->sockets[cfg->nr_devs])) {
				vmm_err("bad --device: want "
					"vfio-user,socket=PATH");
				return -EINVAL;
			}
			cfg->nr_devs++;
			break;
		case OPT_STATS:
			cfg->stats = true;
			break;
		case OPT_RECONNECT:
			if (parse_ms(optarg, &cfg->reconnect_ms)) {
				vmm_err("bad --reconnect-ms '%s': want 0..3600000",
					optarg);
				return -EINVAL;
			}
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		vmm_err("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->guest) {
		vmm_err("--guest is required");
		return -EINVAL;
	}
	return 0;
}

/*
 * Termination signals are blocked before any thread exists (the client
 * library starts threads too), so that only the main thread's signalfd
 * sees them.
 */
static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A device that goes away must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct vm_config cfg = { .ram_size = 64ull << 20,
				 .nr_cpus = 1,
				 .reconnect_ms = 5000 };
	struct vm vm;
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret) {
		usage(ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : VMM_EXIT_ERROR;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	block_signals();
	ret = vm_init(&vm, &cfg);
	ret = ret ? VMM_EXIT_ERROR : vm_run(&vm);
	vm_destroy(&vm);
	return ret;
}
