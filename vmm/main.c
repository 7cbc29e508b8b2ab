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
#include <sys/resource.h>

#include "vmm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --guest ELF [options]\n"
		"  -g, --guest ELF        freestanding x86-64 ELF to run\n"
		"  -m, --mem SIZE         guest RAM (default 64M; plain numbers "
		"are MiB,\n"
		"                         K/M/G suffixes allowed; 4M..64G, "
		"what passes\n"
		"                         3G goes above 4 GiB)\n"
		"  -c, --cpus N           vCPUs (default 1, at most %u)\n"
		"  -d, --device vfio-user,socket=PATH\n"
		"                         a vfio-user device (repeatable, at "
		"most %u)\n"
		"  --reconnect-ms MS      how long a device that went away has "
		"to come\n"
		"                         back before it fails and reads as "
		"all ones\n"
		"                         (default 5000; 0: it fails at once)\n"
		"  --incoming unix:PATH   wait on PATH for a migrating VM and "
		"run it\n"
		"                         (instead of --guest; same --mem, "
		"--cpus and\n"
		"                         devices of the same kinds)\n"
		"  --restore FILE         the same from a file --save wrote\n"
		"  --migrate-to unix:PATH move the running VM there on "
		"SIGUSR2\n"
		"  --save FILE            the same into a file (the VM ends)\n"
		"  --migrate-after-ms MS  start the move MS after the vCPUs "
		"start\n"
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

enum {
	OPT_STATS = 256,
	OPT_RECONNECT,
	OPT_INCOMING,
	OPT_RESTORE,
	OPT_MIGRATE_TO,
	OPT_SAVE,
	OPT_MIGRATE_AFTER,
};

/* "unix:PATH" for a socket, else (file) the argument itself. */
static int parse_mig(const char *opt, const char *arg, bool file,
		     const char **out, bool *is_file)
{
	if (*out) {
		vmm_err("one migration source and one destination at most");
		return -EINVAL;
	}
	if (!file && strncmp(arg, "unix:", 5)) {
		vmm_err("bad %s '%s': want unix:PATH", opt, arg);
		return -EINVAL;
	}
	*out = file ? arg : arg + 5;
	*is_file = file;
	if (!**out) {
		vmm_err("bad %s: empty path", opt);
		return -EINVAL;
	}
	return 0;
}

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
		{ "incoming", required_argument, NULL, OPT_INCOMING },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "migrate-to", required_argument, NULL, OPT_MIGRATE_TO },
		{ "save", required_argument, NULL, OPT_SAVE },
		{ "migrate-after-ms", required_argument, NULL,
		  OPT_MIGRATE_AFTER },
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
				vmm_err("bad --mem '%s': want 4M..64G in 2 MiB "
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
		case OPT_INCOMING:
		case OPT_RESTORE:
			if (parse_mig(c == OPT_INCOMING ? "--incoming" :
							  "--restore",
				      optarg, c == OPT_RESTORE, &cfg->mig_in,
				      &cfg->mig_in_file))
				return -EINVAL;
			break;
		case OPT_MIGRATE_TO:
		case OPT_SAVE:
			if (parse_mig(c == OPT_MIGRATE_TO ? "--migrate-to" :
							    "--save",
				      optarg, c == OPT_SAVE, &cfg->mig_out,
				      &cfg->mig_out_file))
				return -EINVAL;
			break;
		case OPT_MIGRATE_AFTER: {
			unsigned int ms;

			if (parse_ms(optarg, &ms)) {
				vmm_err("bad --migrate-after-ms '%s': want "
					"0..3600000",
					optarg);
				return -EINVAL;
			}
			cfg->migrate_after_ms = (int)ms;
			break;
		}
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
	if (!cfg->guest && !cfg->mig_in) {
		vmm_err("--guest is required (or --incoming, --restore)");
		return -EINVAL;
	}
	if (cfg->guest && cfg->mig_in) {
		vmm_err("--guest and --incoming/--restore exclude each other: "
			"the guest comes with the migration");
		return -EINVAL;
	}
	if (cfg->migrate_after_ms >= 0 && !cfg->mig_out) {
		vmm_err("--migrate-after-ms needs --migrate-to or --save");
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
	sigaddset(&set, SIGUSR2); /* --migrate-to: move now */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A device that goes away must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Each MSI-X vector of a device costs an eventfd here and another in the
 * device: 2048 vectors do not fit the usual soft limit of 1024 fds.  Like
 * QEMU, take what the hard limit allows.
 */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

int main(int argc, char **argv)
{
	struct vm_config cfg = { .ram_size = 64ull << 20,
				 .nr_cpus = 1,
				 .reconnect_ms = 5000,
				 .migrate_after_ms = -1 };
	struct vm vm;
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret) {
		usage(ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : VMM_EXIT_ERROR;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	block_signals();
	raise_fd_limit();
	ret = vm_init(&vm, &cfg);
	ret = ret ? VMM_EXIT_ERROR : vm_run(&vm);
	vm_destroy(&vm);
	return ret;
}
