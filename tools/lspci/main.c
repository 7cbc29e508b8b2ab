// SPDX-License-Identifier: MIT
/*
 * uvfio-lspci SOCKET: connect, snapshot config space through the config
 * region, decode it, then list what the server reports about itself.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lspci.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-h] SOCKET\n"
		"Prints the vfio-user PCI device at SOCKET as lspci -vvv\n"
		"does, then its regions, irqs and negotiated capabilities.\n"
		"  -h, --help  show this help\n",
		prog);
}

/* Reads the whole config region (at most 4 KiB of it) into the model. */
static int load_config(struct lspci *l)
{
	const struct uvfio_region *r;
	uint8_t *buf;
	uint32_t len;
	int ret;

	ret = uvfio_client_region_info(l->c, VFIO_PCI_CONFIG_REGION_INDEX, &r);
	if (ret < 0) {
		fprintf(stderr, "uvfio-lspci: config region info: %s\n",
			strerror(-ret));
		return ret;
	}
	if (r->size < PCI_STD_HEADER_SIZEOF) {
		fprintf(stderr,
			"uvfio-lspci: config region too small (%llu bytes)\n",
			(unsigned long long)r->size);
		return -EPROTO;
	}
	len = r->size > UVFIO_PCIE_CFG_SIZE ? UVFIO_PCIE_CFG_SIZE :
					      (uint32_t)r->size;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	ret = uvfio_client_region_read(l->c, VFIO_PCI_CONFIG_REGION_INDEX, 0,
				       buf, len);
	if (ret < 0)
		fprintf(stderr, "uvfio-lspci: reading config space: %s\n",
			strerror(-ret));
	else
		uvfio_pci_load(l->cfg, buf, len);
	free(buf);
	return ret < 0 ? ret : 0;
}

static int run(struct lspci *l, const char *path)
{
	struct uvfio_device_info info;
	int ret;

	l->c = uvfio_client_connect(path, NULL);
	if (!l->c) {
		fprintf(stderr, "uvfio-lspci: cannot connect to %s: %s\n",
			path, strerror(errno));
		return -errno;
	}
	ret = uvfio_client_device_info(l->c, &info);
	if (ret < 0) {
		fprintf(stderr, "uvfio-lspci: device info: %s\n",
			strerror(-ret));
		return ret;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		fprintf(stderr, "uvfio-lspci: %s is not a PCI device\n", path);
		return -ENODEV;
	}
	l->num_regions = info.num_regions;
	l->num_irqs = info.num_irqs;
	ret = load_config(l);
	if (ret < 0)
		return ret;

	lspci_print_header(l);
	lspci_print_bars(l);
	lspci_print_caps(l->cfg);
	lspci_print_ecaps(l->cfg);
	printf("\n");
	lspci_print_server(l);
	return fflush(stdout) ? -EIO : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lspci *l;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr, argv[0]);
		return 2;
	}
	l = calloc(1, sizeof(*l));
	if (l)
		l->cfg = uvfio_pci_cfg_new();
	if (!l || !l->cfg) {
		perror("uvfio-lspci");
		free(l);
		return 1;
	}
	ret = run(l, argv[optind]);
	if (l->c)
		uvfio_client_close(l->c);
	uvfio_pci_cfg_free(l->cfg);
	free(l);
	return ret < 0 ? 1 : 0;
}
