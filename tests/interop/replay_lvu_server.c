// SPDX-License-Identifier: MIT
/*
 * libvfio-user's side, replayed against uvfio's client: a fake server
 * answers with the bytes samples/server and gpio-pci-idio-16 sent (their
 * VERSION replies, device, region and irq info, config space), then sends
 * the DMA_WRITE and DMA_READ requests samples/server made, and checks
 * that the client's answers have the form samples/client gave (which is
 * what libvfio-user accepts: a 16-byte echo for DMA_WRITE).  With and
 * without a twin socket.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "check.h"
#include "peer.h"
#include "rec.h"

#define PAGE 4096u

struct fake {
	const struct rec *r;
	const struct rec_msg *version;  /* the reply to use */
	int sock;
	int twin;               /* device-side end of the twin, or -1 */
	bool offer_twin;
	int bar1_fd;
	bool dma_done;
	_Atomic unsigned int dma_ok;
	uint8_t config[256];
};

/* The recorded reply of the server to a command like q. */
static const struct rec_msg *recorded(const struct rec *r, uint16_t cmd,
				      uint32_t index, uint32_t argsz)
{
	const struct rec_msg *best = NULL;

	for (size_t i = 0; i < r->n; i++) {
		const struct rec_msg *q = &r->m[i], *rep;
		uint32_t qi = 0, qa = 0;

		if (!q->c2s || rec_is_reply(q) || q->hdr.cmd != cmd ||
		    strcmp(q->conn, "src"))
			continue;
		if (q->size >= 12)
			memcpy(&qi, q->payload + 8, 4);
		memcpy(&qa, q->payload, q->size >= 4 ? 4 : 0);
		rep = rec_reply_to(r, q);
		if (!rep || (cmd != VFIO_USER_DEVICE_GET_INFO && qi != index))
			continue;
		/* The largest recorded argsz that fits this request. */
		if (cmd == VFIO_USER_DEVICE_GET_REGION_INFO && qa > argsz)
			continue;
		best = rep;
	}
	return best;
}

static void answer(struct fake *fk, const struct peer_msg *m, const void *p,
		   size_t n, const int *fds, unsigned int nfds, uint32_t err)
{
	CHECK(!peer_reply(fk->sock, m, p, n, fds, nfds, err), "send");
}

static void version(struct fake *fk, const struct peer_msg *m)
{
	const struct rec_msg *v = fk->version;
	uint8_t buf[512];
	uint16_t minor;
	int sv[2] = { -1, -1 };

	memcpy(buf, v->payload, v->size);
	/* libvfio-user answers min(proposed minor, 2). */
	memcpy(&minor, m->data + 2, 2);
	if (minor > 2)
		minor = 2;
	memcpy(buf + 2, &minor, 2);
	if (fk->offer_twin &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
		fk->twin = sv[0];
	answer(fk, m, buf, v->size, &sv[1], sv[1] >= 0, 0);
	if (sv[1] >= 0)
		close(sv[1]);
}

static void region_info(struct fake *fk, const struct peer_msg *m)
{
	uint32_t argsz, index;
	const struct rec_msg *rep;

	memcpy(&argsz, m->data, 4);
	memcpy(&index, m->data + 8, 4);
	rep = recorded(fk->r, VFIO_USER_DEVICE_GET_REGION_INFO, index, argsz);
	if (!rep) {
		answer(fk, m, NULL, 0, NULL, 0, EINVAL);
		return;
	}
	answer(fk, m, rep->payload, rep->size, &fk->bar1_fd, rep->nfds, 0);
}

static void region_rw(struct fake *fk, const struct peer_msg *m)
{
	struct vfio_user_region_access a;
	uint8_t out[16 + sizeof(fk->config)];

	memcpy(&a, m->data, sizeof(a));
	if (m->hdr.cmd == VFIO_USER_REGION_WRITE) {
		answer(fk, m, &a, sizeof(a), NULL, 0, 0);
		return;
	}
	if (a.region != VFIO_PCI_CONFIG_REGION_INDEX || a.offset > 256 ||
	    a.count > 256 - a.offset) {
		answer(fk, m, NULL, 0, NULL, 0, EINVAL);
		return;
	}
	memcpy(out, &a, sizeof(a));
	memcpy(out + 16, fk->config + a.offset, a.count);
	answer(fk, m, out, 16 + a.count, NULL, 0, 0);
}

/*
 * samples/server's DMA, on the twin socket if there is one: each request
 * as recorded, the client's answer checked against samples/client's.
 */
static void do_dma(struct fake *fk)
{
	int fd = fk->twin >= 0 ? fk->twin : fk->sock;

	for (size_t i = 0; i < fk->r->n; i++) {
		const struct rec_msg *q = &fk->r->m[i], *exp;
		struct peer_msg got;

		if (q->c2s || rec_is_reply(q) || strcmp(q->conn, "src") ||
		    (q->hdr.cmd != VFIO_USER_DMA_READ &&
		     q->hdr.cmd != VFIO_USER_DMA_WRITE))
			continue;
		exp = rec_reply_to(fk->r, q);
		CHECK(!peer_send(fd, &q->hdr, q->payload, q->size, NULL, 0),
		      "DMA send");
		if (peer_recv(fd, &got, 5000)) {
			CHECK(0, "no answer to DMA request %u", q->hdr.msg_id);
			return;
		}
		CHECK(peer_is_reply(&got) && got.hdr.msg_id == q->hdr.msg_id &&
			      got.hdr.cmd == q->hdr.cmd &&
			      got.hdr.flags == exp->hdr.flags &&
			      got.size == exp->size &&
			      !memcmp(got.data, exp->payload, exp->have),
		      "%s %u: %u bytes (flags %#x), samples/client answered %u",
		      q->hdr.cmd == VFIO_USER_DMA_READ ? "DMA_READ" : "DMA_WRITE",
		      q->hdr.msg_id, got.size, got.hdr.flags, exp->size);
		fk->dma_ok++;
		peer_msg_free(&got);
	}
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	struct peer_msg m;

	while (!peer_recv(fk->sock, &m, 10000)) {
		const struct rec_msg *rep;
		uint32_t index = 0;

		if (m.size >= 12)
			memcpy(&index, m.data + 8, 4);
		switch (m.hdr.cmd) {
		case VFIO_USER_VERSION:
			version(fk, &m);
			break;
		case VFIO_USER_DEVICE_GET_INFO:
		case VFIO_USER_DEVICE_GET_IRQ_INFO:
			rep = recorded(fk->r, m.hdr.cmd, index, 0);
			if (rep)
				answer(fk, &m, rep->payload, rep->size, NULL, 0,
				       0);
			else
				answer(fk, &m, NULL, 0, NULL, 0, EINVAL);
			break;
		case VFIO_USER_DEVICE_GET_REGION_INFO:
			region_info(fk, &m);
			break;
		case VFIO_USER_REGION_READ:
		case VFIO_USER_REGION_WRITE:
			region_rw(fk, &m);
			/* samples/server's trigger: 8 bytes to BAR0. */
			if (m.hdr.cmd == VFIO_USER_REGION_WRITE &&
			    index == 0 && !fk->dma_done) {
				fk->dma_done = true;
				do_dma(fk);
			}
			break;
		case VFIO_USER_DMA_UNMAP:
			answer(fk, &m, m.data, m.size, NULL, 0, 0);
			break;
		case VFIO_USER_DMA_MAP:
		case VFIO_USER_DEVICE_SET_IRQS:
		case VFIO_USER_DEVICE_RESET:
			answer(fk, &m, NULL, 0, NULL, 0, 0);
			break;
		default:
			answer(fk, &m, NULL, 0, NULL, 0, ENOSYS);
		}
		peer_msg_free(&m);
	}
	return NULL;
}

static const struct rec_msg *version_reply(const struct rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->m[i].c2s && r->m[i].hdr.cmd == VFIO_USER_VERSION)
			return &r->m[i];
	fprintf(stderr, "no VERSION reply recorded\n");
	exit(99);
}

/*
 * A session of the client with the fake samples/server.  vr holds the
 * VERSION reply: samples/server's, or with a twin socket libvfio-user's
 * twin reply (recorded from gpio-pci-idio-16, the same library).
 */
static void session(const struct rec *r, const struct rec *vr, uint32_t flags)
{
	struct uvfio_client_opts o = { .flags = flags };
	struct fake fk = { .r = r, .twin = -1 };
	const struct uvfio_region *reg;
	struct uvfio_device_info di;
	struct vfio_irq_info ii;
	uint8_t cfg[64], *mem;
	uint64_t when = 1;
	pthread_t t;
	int sv[2], efd, memfd;

	fk.version = version_reply(vr);
	fk.offer_twin = !(flags & UVFIO_CLIENT_NO_TWIN);
	/* The config space samples/client read (64 bytes, the rest 0). */
	for (size_t i = 0; i < r->n; i++)
		if (!r->m[i].c2s && r->m[i].hdr.cmd == VFIO_USER_REGION_READ &&
		    !(r->m[i].hdr.flags & VFIO_USER_F_ERROR) &&
		    r->m[i].size == 16 + 64 && !fk.config[0])
			memcpy(fk.config, r->m[i].payload + 16, 64);
	fk.bar1_fd = memfd_create("bar1", MFD_CLOEXEC);
	if (fk.bar1_fd < 0 || ftruncate(fk.bar1_fd, 0x4000) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		exit(99);
	fk.sock = sv[1];
	pthread_create(&t, NULL, fake_main, &fk);

	struct uvfio_client *c = uvfio_client_attach_fd(sv[0], &o);

	CHECK(c, "attach: %s", strerror(errno));
	if (!c)
		exit(1);
	CHECK(uvfio_client_caps(c)->has_migration &&
		      uvfio_client_caps(c)->mig_pgsize == 4096 &&
		      uvfio_client_caps(c)->max_msg_fds == 8,
	      "libvfio-user's VERSION reply misread");
	CHECK(uvfio_client_caps(c)->twin_socket == fk.offer_twin, "twin");
	CHECK(uvfio_client_device_info(c, &di) == 0 && di.num_regions == 9 &&
		      di.num_irqs == 5,
	      "device info");
	CHECK(uvfio_client_region_info(c, 1, &reg) == 0 && reg->fd >= 0 &&
		      reg->nr_areas == 2 && reg->areas[1].offset == 0x2000,
	      "BAR1: sparse areas and fd");
	CHECK(uvfio_client_region_info(c, 0, &reg) == 0 && reg->size == 8,
	      "BAR0");
	CHECK(uvfio_client_irq_info(c, VFIO_PCI_INTX_IRQ_INDEX, &ii) == 0 &&
		      ii.count == 1,
	      "INTx info");
	CHECK(uvfio_client_cfg_read(c, 0, cfg, sizeof(cfg)) == 0 &&
		      cfg[0] == 0xad && cfg[1] == 0xde && cfg[2] == 0xef &&
		      cfg[3] == 0xbe,
	      "config space: dead:beef");
	CHECK(uvfio_client_reset(c) == 0, "reset");
	/* Two pages, the first fd-less (answered in-band), as it needs. */
	memfd = memfd_create("dma", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, 2 * PAGE))
		exit(99);
	mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	CHECK(uvfio_client_dma_map(c, 0, PAGE, 3, mem, -1, 0) == 0, "map 0");
	CHECK(uvfio_client_dma_map(c, PAGE, PAGE, 3, mem + PAGE, memfd,
				   PAGE) == 0,
	      "map 1");
	efd = eventfd(0, EFD_CLOEXEC);
	CHECK(uvfio_client_set_irqs(c, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
					    VFIO_IRQ_SET_ACTION_TRIGGER,
				    0, 1, &efd) == 0,
	      "SET_IRQS INTx");
	/* The BAR0 write that makes samples/server start its DMA. */
	CHECK(uvfio_client_region_write(c, 0, 0, &when, 8, 0) == 0, "BAR0");
	/*
	 * The client stays idle while the device's DMA runs, as
	 * samples/client does: without a twin socket libvfio-user would
	 * take a request of ours for the reply it waits for.  The client's
	 * own thread answers meanwhile.
	 */
	for (int ms = 0; ms < 10000 && fk.dma_ok < 8; ms++) {
		struct pollfd p = { .fd = uvfio_client_get_poll_fd(c),
				    .events = POLLIN };

		/* Without a thread of its own the caller serves it. */
		if (flags & UVFIO_CLIENT_NO_THREAD) {
			if (poll(&p, 1, 1) == 1)
				CHECK(uvfio_client_process(c) >= 0, "process");
			continue;
		}
		usleep(1000);
	}
	CHECK(uvfio_client_dma_unmap(c, PAGE, PAGE) == 0, "unmap");
	for (int i = 0; i < 4; i++)
		CHECK(mem[i * 1024] == 'A' + i && mem[i * 1024 + 1023] == 'A' + i,
		      "DMA_WRITE %d did not land", i);
	CHECK(fk.dma_ok == 8, "%u of 8 DMA requests answered", fk.dma_ok);
	uvfio_client_close(c);
	pthread_join(t, NULL);
	close(fk.sock);
	if (fk.twin >= 0)
		close(fk.twin);
	close(fk.bar1_fd);
	close(memfd);
	close(efd);
	munmap(mem, 2 * PAGE);
	printf("samples/server %s twin socket%s: %u DMA requests answered as "
	       "samples/client did\n",
	       fk.offer_twin ? "with" : "without",
	       flags & UVFIO_CLIENT_NO_THREAD ? ", served by the caller" : "",
	       fk.dma_ok);
}

/* gpio-pci-idio-16's VERSION replies (QEMU's proposal, and a twin one). */
static void gpio_version(const char *name, bool twin)
{
	struct rec r;
	struct fake fk = { .r = &r, .twin = -1, .offer_twin = twin };
	struct uvfio_client_opts o = { .flags = twin ? 0 : UVFIO_CLIENT_NO_TWIN };
	struct uvfio_client *c;
	pthread_t t;
	int sv[2];

	rec_load(&r, name);
	fk.version = version_reply(&r);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		exit(99);
	fk.sock = sv[1];
	fk.bar1_fd = -1;
	pthread_create(&t, NULL, fake_main, &fk);
	c = uvfio_client_attach_fd(sv[0], &o);
	CHECK(c && uvfio_client_caps(c)->max_msg_fds == 8 &&
		      uvfio_client_caps(c)->twin_socket == twin,
	      "%s: %s", name, c ? "caps" : strerror(errno));
	uvfio_client_close(c);
	pthread_join(t, NULL);
	close(fk.sock);
	if (fk.twin >= 0)
		close(fk.twin);
	rec_free(&r);
	printf("%s: accepted\n", name);
}

int main(void)
{
	struct rec r, twin;

	rec_load(&r, "lvu-client-server.jsonl");
	rec_load(&twin, "lvu-gpio-version-twin.jsonl");
	session(&r, &twin, 0);
	session(&r, &r, UVFIO_CLIENT_NO_TWIN);
	session(&r, &r, UVFIO_CLIENT_NO_TWIN | UVFIO_CLIENT_NO_THREAD);
	session(&r, &twin, UVFIO_CLIENT_NO_THREAD);
	rec_free(&twin);
	rec_free(&r);
	gpio_version("lvu-gpio-version.jsonl", false);
	gpio_version("lvu-gpio-version-twin.jsonl", true);
	return failures ? 1 : 0;
}
