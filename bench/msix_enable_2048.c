// SPDX-License-Identifier: MIT
/*
 * Enabling 2048 MSI-X vectors under the KVM router: a VM with an in-kernel
 * irqchip, uvfio-testdev as the device, the client's MSI-X emulation.
 * The guest's side programs all 2048 table entries (distinct messages,
 * unmasked), then sets MSI-X Enable with one config write; timed is that
 * write, and counted are the KVM_SET_GSI_ROUTING calls it makes.  The
 * baseline, in the same run: the same 2048 routes added with one commit
 * each.  Rounds alternate; medians are reported.
 *
 * usage: msix_enable_2048 TESTDEV_BINARY [rounds]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <uvfio/client.h>
#include <uvfio/irq.h>
#include <uvfio/pci.h>

#include "dev.h"
#include "stats.h"

#define TESTDEV "devices/testdev/uvfio-testdev"

#define NVEC 2048u
#define TABLE_OFF 0x1000u /* uvfio-testdev: BAR0 */
#define MAX_ROUNDS 64

static void die(const char *what, int err)
{
	fprintf(stderr, "msix_enable_2048: %s: %s\n", what, strerror(err));
	exit(1);
}

static uint64_t commits(struct uvfio_irq_router *r)
{
	struct uvfio_irq_router_stats s;

	uvfio_irq_router_stats(r, &s);
	return s.commits;
}

static uint8_t msix_pos(struct uvfio_client *c)
{
	struct uvfio_pci_cfg *cfg = uvfio_pci_cfg_new();
	uint8_t raw[UVFIO_PCI_CFG_SIZE], pos;
	int r;

	if (!cfg)
		die("calloc", ENOMEM);
	r = uvfio_client_cfg_read(c, 0, raw, sizeof(raw));
	if (r < 0)
		die("cfg_read", -r);
	uvfio_pci_load(cfg, raw, sizeof(raw));
	pos = uvfio_pci_find_cap(cfg, PCI_CAP_ID_MSIX);
	uvfio_pci_cfg_free(cfg);
	if (!pos)
		die("no MSI-X capability", ENODEV);
	return pos;
}

static struct uvfio_msi_msg msg_of(uint32_t v, uint32_t round)
{
	struct uvfio_msi_msg m = {
		.address = 0xfee00000ull | (uint64_t)(v & 0xff) << 12,
		.data = 0x20 + ((v + round) & 0xdf),
	};

	return m;
}

static void program(struct uvfio_client *c, uint32_t round)
{
	for (uint32_t v = 0; v < NVEC; v++) {
		struct uvfio_msi_msg m = msg_of(v, round);
		uint32_t e[4] = { (uint32_t)m.address,
				  (uint32_t)(m.address >> 32), m.data, 0 };
		int r = uvfio_client_bar_write(c, 0, TABLE_OFF + v * 16, e,
					       sizeof(e));

		if (r < 0)
			die("table write", -r);
	}
}

static void set_enable(struct uvfio_client *c, uint8_t pos, bool on)
{
	uint16_t fl;
	int r = uvfio_client_cfg_read(c, pos + PCI_MSIX_FLAGS, &fl, 2);

	if (!r) {
		fl = on ? fl | PCI_MSIX_FLAGS_ENABLE :
			  fl & ~PCI_MSIX_FLAGS_ENABLE;
		r = uvfio_client_cfg_write(c, pos + PCI_MSIX_FLAGS, &fl, 2);
	}
	if (r < 0)
		die(on ? "MSI-X enable" : "MSI-X disable", -r);
}

/* The same routes, one commit per vector; released after. */
static uint64_t baseline(struct uvfio_irq_router *r, uint32_t round)
{
	static int h[NVEC];
	uint64_t t0 = bench_now_ns(), t;

	for (uint32_t v = 0; v < NVEC; v++) {
		struct uvfio_msi_msg m = msg_of(v, round);
		int err;

		h[v] = uvfio_irq_route_add(r, &m);
		if (h[v] < 0)
			die("route_add", -h[v]);
		err = uvfio_irq_router_commit(r);
		if (err < 0)
			die("commit", -err);
	}
	t = bench_now_ns() - t0;
	for (uint32_t v = 0; v < NVEC; v++)
		uvfio_irq_route_release(r, h[v]);
	if (uvfio_irq_router_commit(r) < 0)
		die("commit", EIO);
	return t;
}

int main(int argc, char **argv)
{
	unsigned int rounds = argc > 2 ? (unsigned int)atoi(argv[2]) : 7;
	char dir[] = "/tmp/uvfio-bench-XXXXXX", sock[64];
	uint64_t t_en[MAX_ROUNDS], t_base[MAX_ROUNDS], n_commits = 0;
	struct uvfio_irq_router *r;
	struct uvfio_client *c;
	int kvm, vm;
	uint8_t pos;
	pid_t dev;

	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [TESTDEV_BINARY [rounds 1..%d]]\n",
			argv[0], MAX_ROUNDS);
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("msix_enable_2048: skipped (/dev/kvm: %s)\n",
		       strerror(errno));
		return 0;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM", errno);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP", errno);
	r = uvfio_irq_router_new_kvm(vm, 0);
	if (!r)
		die("router", errno);
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(sock, sizeof(sock), "%s/dev.sock", dir);
	dev = bench_start_testdev(
		argc > 1 ? argv[1] : bench_build_path(TESTDEV), sock);
	c = uvfio_client_connect(sock, NULL);
	if (!c)
		die("connect", errno);
	int err = uvfio_client_irq_attach(c, r);

	if (err < 0)
		die("irq_attach", -err);
	pos = msix_pos(c);

	for (unsigned int i = 0; i < rounds; i++) {
		uint64_t c0, t0;

		program(c, i);
		c0 = commits(r);
		t0 = bench_now_ns();
		set_enable(c, pos, true);
		t_en[i] = bench_now_ns() - t0;
		n_commits = commits(r) - c0;
		set_enable(c, pos, false);
		t_base[i] = baseline(r, i);
		printf("round %u: enable %.2f ms (%llu commits), "
		       "per-vector %.2f ms\n",
		       i, t_en[i] / 1e6, (unsigned long long)n_commits,
		       t_base[i] / 1e6);
	}

	uvfio_client_irq_detach(c);
	uvfio_irq_router_free(r);
	uvfio_client_close(c);
	kill(dev, SIGTERM);
	waitpid(dev, NULL, 0);
	unlink(sock);
	rmdir(dir);
	close(vm);
	close(kvm);
	printf("msix_enable_2048: %llu commits, %.2f ms, per-vector baseline "
	       "%.2f ms\n",
	       (unsigned long long)n_commits, bench_median(t_en, rounds) / 1e6,
	       bench_median(t_base, rounds) / 1e6);
	return 0;
}
