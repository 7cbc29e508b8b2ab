// SPDX-License-Identifier: MIT
/*
 * uvfio-pcitest --socket SOCKET [--migrate-to SOCKET2] [-v] [TEST...]:
 * sets the device and the "guest" up once, runs the named tests (all by
 * default), prints one PASS/FAIL line each and a summary; exits 0 only
 * if every test passed.  With --migrate-to, half-way through the device
 * is migrated to the testdev at SOCKET2 in the middle of a transfer
 * (the "migrate" line) and the rest runs there.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pcitest.h"

struct test {
	const char *name;
	int (*fn)(struct pt *t, char *why, size_t len);
};

static const struct test tests[] = {
	{ "bar", pt_test_bar },     { "read", pt_test_read },
	{ "write", pt_test_write }, { "copy", pt_test_copy },
	{ "irq", pt_test_irq },     { "bad", pt_test_bad },
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

void pt_note(const struct pt *t, const char *fmt, ...)
{
	va_list ap;

	if (!t->verbose)
		return;
	printf("  ok ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void usage(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f,
		"usage: %s --socket SOCKET [--migrate-to SOCKET2] [-v] "
		"[TEST...]\n"
		"Drives uvfio-testdev over vfio-user like Linux's pcitest.\n"
		"  -s, --socket SOCKET  the device's vfio-user socket\n"
		"  -m, --migrate-to SOCKET2\n"
		"                       half-way, migrate the device to the\n"
		"                       testdev at SOCKET2 in the middle of a\n"
		"                       transfer, and run the rest there\n"
		"  -v, --verbose        print each sub-case\n"
		"  -h, --help           this text\n"
		"Tests (default: all):",
		prog);
	for (i = 0; i < NTESTS; i++)
		fprintf(f, " %s", tests[i].name);
	fprintf(f, "\n");
}

static const struct test *find_test(const char *name)
{
	size_t i;

	for (i = 0; i < NTESTS; i++)
		if (!strcmp(tests[i].name, name))
			return &tests[i];
	return NULL;
}

static void run_one(struct pt *t, const struct test *tc, unsigned int *pass,
		    unsigned int *fail)
{
	char why[512] = "";

	if (tc->fn(t, why, sizeof(why)) == 0) {
		printf("PASS %s\n", tc->name);
		(*pass)++;
	} else {
		printf("FAIL %s: %s\n", tc->name, why[0] ? why : "?");
		(*fail)++;
	}
	fflush(stdout);
}

static int setup(struct pt *t, const char *path)
{
	if (pt_dev_open(t, path) || pt_mem_setup(t) || pt_irq_setup(t))
		return -EIO;
	return 0;
}

static void teardown(struct pt *t)
{
	pt_irq_teardown(t);
	pt_mem_teardown(t);
	pt_dev_close(t);
}

static void init(struct pt *t)
{
	unsigned int i;

	memset(t, 0, sizeof(*t));
	t->shared.fd = -1;
	t->inband.fd = -1;
	t->intx_fd = -1;
	t->msi_fd = -1;
	for (i = 0; i < PT_MSIX_VECS; i++)
		t->msix_fd[i] = -1;
	t->irq_mode = -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "migrate-to", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *to = NULL;
	const struct test *run[NTESTS + 1];
	unsigned int nrun = 0;
	unsigned int pass = 0, fail = 0;
	struct pt t;
	int opt, i;

	init(&t);
	while ((opt = getopt_long(argc, argv, "s:m:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'm':
			to = optarg;
			break;
		case 'v':
			t.verbose = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (!path) {
		usage(stderr, argv[0]);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		if (!find_test(argv[i])) {
			fprintf(stderr, "pcitest: no test named '%s'\n",
				argv[i]);
			usage(stderr, argv[0]);
			return 2;
		}
	}

	if (setup(&t, path)) {
		teardown(&t);
		fprintf(stderr, "pcitest: setup failed\n");
		return 1;
	}
	if (optind == argc)
		for (i = 0; i < (int)NTESTS; i++)
			run[nrun++] = &tests[i];
	else
		for (i = optind; i < argc; i++)
			run[nrun++] = find_test(argv[i]);
	for (unsigned int k = 0; k < nrun; k++) {
		if (to && k == (nrun + 1) / 2) {
			char why[512] = "";

			if (pt_migrate(&t, to, why, sizeof(why)) == 0) {
				printf("PASS migrate\n");
				pass++;
			} else {
				printf("FAIL migrate: %s\n", why);
				fail++;
			}
			fflush(stdout);
		}
		run_one(&t, run[k], &pass, &fail);
	}
	teardown(&t);

	printf("pcitest: %u passed, %u failed\n", pass, fail);
	return fail ? 1 : 0;
}
