// SPDX-License-Identifier: MIT
#include "dev.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/pci.h>

ssize_t bench_zero_bar(struct uvfio_dev *dev, void *priv, uint64_t off,
		       void *buf, size_t count, bool is_write)
{
	if (!is_write)
		memset(buf, 0, count);
	return (ssize_t)count;
}

void *bench_dev_main(void *dev)
{
	uvfio_dev_run(dev, true);
	return NULL;
}

pid_t bench_start_testdev(const char *bin, const char *sock)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(bin, bin, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (!stat(sock, &st))
			return pid;
		usleep(10000);
	}
	fprintf(stderr, "bench: %s did not start\n", bin);
	kill(pid, SIGKILL);
	exit(1);
}

int bench_msix_enable_one(struct uvfio_client *c, uint64_t table_off,
			  uint64_t address, uint32_t data)
{
	const uint32_t ent[4] = { (uint32_t)address, (uint32_t)(address >> 32),
				  data, 0 };
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	uint8_t raw[UVFIO_PCI_CFG_SIZE], pos;
	uint16_t fl;
	int r;

	if (!cfg)
		return -ENOMEM;
	r = uvfio_client_cfg_read(c, 0, raw, sizeof(raw));
	if (!r) {
		uvfio_pci_load(cfg, raw, sizeof(raw));
		pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX);
		r = pos ? 0 : -ENODEV;
	}
	uvfio_pci_cfg_free(cfg);
	if (!r)
		r = uvfio_client_bar_write(c, 0, table_off, ent, sizeof(ent));
	if (r)
		return r;
	fl = (uint16_t)(raw[pos + PCI_MSIX_FLAGS] |
			raw[pos + PCI_MSIX_FLAGS + 1] << 8);
	fl |= PCI_MSIX_FLAGS_ENABLE;
	return uvfio_client_cfg_write(c, pos + PCI_MSIX_FLAGS, &fl, 2);
}

const char *bench_build_path(const char *rel)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		perror("/proc/self/exe");
		exit(1);
	}
	self[n] = 0;
	/* Benchmarks live in BUILD/bench. */
	snprintf(path, sizeof(path), "%s/../%s", dirname(self), rel);
	return path;
}
