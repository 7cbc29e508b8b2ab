// SPDX-License-Identifier: MIT
/*
 * A harness without libFuzzer: runs every file named on the command
 * line, or found in the directories named, through the harness once.
 * This is how the fuzz-regress suite replays findings and seeds.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

static int run(const char *path, unsigned int *count)
{
	char sub[4096];
	struct dirent *e;
	struct stat st;
	int err = 0;
	DIR *d;

	if (stat(path, &st)) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	d = opendir(path);
	if (!d) {
		perror(path);
		return 1;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			err |= run(sub, count);
		}
	closedir(d);
	return err;
}

int main(int argc, char **argv)
{
	unsigned int count = 0;
	int err = 0;

	for (int i = 1; i < argc; i++)
		err |= run(argv[i], &count);
	printf("%u inputs replayed\n", count);
	/* A suite that replays nothing proves nothing. */
	return err || !count;
}
