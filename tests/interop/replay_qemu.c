// SPDX-License-Identifier: MIT
/*
 * QEMU 10.1's side of a recorded conversation, replayed against a real
 * uvfio-testdev: every message QEMU sent, with fds recreated (guest RAM as
 * one memfd, eventfds for SET_IRQS), and every reply checked against the
 * one QEMU accepted.  The device's own requests (in-band DMA) are answered
 * the way QEMU answers them.  Then the test goes past the recording and
 * runs transfers in both directions as a guest driver would.
 *
 * usage: replay_qemu RECORDING memfd|private
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/caps.h>

#include "check.h"
#include "proto/crc32.h"
#include "peer.h"
#include "proto/limits.h"
#include "proto/negotiate.h"
#include "rec.h"
#include "regs.h"
#include "testdev_proc.h"

#define RAM (512u << 20) /* -m 512M */
#define TIMEOUT_MS 10000

struct replay {
	int sock;
	int ram_fd;             /* memfd mode: what DMA_MAP fds point at */
	struct peer_mem mem;    /* guest RAM as the device's DMA sees it */
	uint16_t next_id;       /* for commands beyond the recording */
	unsigned int checked, dma_served;
	int efds[64];           /* SET_IRQS eventfds, kept for the device */
	unsigned int nefds;
};

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("connect");
		exit(99);
	}
	return fd;
}

static void keep_efd(struct replay *rp, int fd)
{
	if (rp->nefds == sizeof(rp->efds) / sizeof(rp->efds[0])) {
		close(rp->efds[0]);
		memmove(rp->efds, rp->efds + 1,
			sizeof(rp->efds) - sizeof(rp->efds[0]));
		rp->nefds--;
	}
	rp->efds[rp->nefds++] = fd;
}

/* Reads until the reply to (id, cmd), answering device requests. */
static int recv_reply(struct replay *rp, uint16_t id, uint16_t cmd,
		      struct peer_msg *rep)
{
	for (;;) {
		int err = peer_recv(rp->sock, rep, TIMEOUT_MS);

		if (err)
			return err;
		if (!peer_is_reply(rep)) {
			err = peer_answer_dma(rp->sock, rep, &rp->mem);
			rp->dma_served++;
			peer_msg_free(rep);
			if (err)
				return err;
			continue;
		}
		if (rep->hdr.msg_id == id && rep->hdr.cmd == cmd)
			return 0;
		CHECK(0, "reply %u/%u while waiting for %u/%u",
		      rep->hdr.msg_id, rep->hdr.cmd, id, cmd);
		peer_msg_free(rep);
	}
}

/* Our VERSION reply must be one QEMU takes without a warning. */
static void check_version(const struct rec_msg *q, const struct peer_msg *got)
{
	const struct uvfio_peer_limits *qemu = &uvfio_peer_limits[0];
	struct uvfio_caps asked, ours;

	CHECK(uvfio_caps_parse(q->payload, q->size, &asked) == 0, "proposal");
	CHECK(uvfio_caps_parse(got->data, got->size, &ours) == 0,
	      "VERSION reply does not parse");
	CHECK(!(ours.present & ~asked.present),
	      "VERSION reply names %#x, which QEMU did not propose (%#x)",
	      ours.present, asked.present);
	CHECK(ours.major == 0 && ours.minor == 0, "version %u.%u", ours.major,
	      ours.minor);
	CHECK(ours.max_msg_fds <= qemu->max_msg_fds &&
		      ours.max_data_xfer_size <= qemu->max_data_xfer_size &&
		      ours.max_dma_maps <= qemu->max_dma_maps &&
		      !(ours.pgsizes % qemu->pgsize_multiple),
	      "VERSION reply outside QEMU's limits");
}

static void check_reply(struct replay *rp, const struct rec_msg *q,
			const struct rec_msg *exp, const struct peer_msg *got)
{
	const char *name = vfio_user_command_name(q->hdr.cmd);

	rp->checked++;
	CHECK(got->hdr.flags == exp->hdr.flags &&
		      got->hdr.error_no == exp->hdr.error_no,
	      "msg %u %s: flags %#x errno %u, QEMU got %#x errno %u",
	      q->hdr.msg_id, name, got->hdr.flags, got->hdr.error_no,
	      exp->hdr.flags, exp->hdr.error_no);
	CHECK(got->nfds == exp->nfds, "msg %u %s: %u fds, QEMU got %u",
	      q->hdr.msg_id, name, got->nfds, exp->nfds);
	if (q->hdr.cmd == VFIO_USER_VERSION) {
		check_version(q, got);
		return;
	}
	CHECK(got->size == exp->size, "msg %u %s: %u bytes, QEMU got %u",
	      q->hdr.msg_id, name, got->size, exp->size);
	if (got->size != exp->size)
		return;
	/* BAR0 register values depend on what the guest's DMA found. */
	uint32_t cmp = exp->have;

	if (q->hdr.cmd == VFIO_USER_REGION_READ && q->size >= 16 &&
	    q->payload[8] == TESTDEV_REG_BAR)
		cmp = 16;
	CHECK(!memcmp(got->data, exp->payload, cmp),
	      "msg %u %s: payload differs from what QEMU got", q->hdr.msg_id,
	      name);
}

/* QEMU's own check of each reply (hw/vfio-user/device.c). */
static void qemu_region_check(const struct rec_msg *q,
			      const struct vfio_region_info *ri)
{
	CHECK(!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) ||
		      (ri->cap_offset >= sizeof(*ri) &&
		       ri->cap_offset <= ri->argsz),
	      "msg %u region %u: CAPS with cap_offset %u: QEMU refuses it",
	      q->hdr.msg_id, ri->index, ri->cap_offset);
}

/*
 * Region info as QEMU gets it: asked with argsz 32, and asked again with
 * the argsz the reply names when it has capabilities (hw/vfio/device.c
 * retries).  The outcome must be the recorded one: same flags (but for
 * CAPS), size and fd.
 */
static void region_info(struct replay *rp, const struct rec_msg *q,
			const struct rec_msg *exp, struct peer_msg *got)
{
	struct vfio_region_info want, have;

	memcpy(&want, exp->payload, sizeof(want));
	if (got->size >= sizeof(have) && !(got->hdr.flags & VFIO_USER_F_ERROR)) {
		memcpy(&have, got->data, sizeof(have));
		qemu_region_check(q, &have);
		if (have.argsz > want.argsz) {
			struct vfio_region_info again = {
				.argsz = have.argsz,
				.index = have.index,
			};
			struct vfio_user_header h = {
				.msg_id = (uint16_t)(0xf000 + rp->checked),
				.cmd = VFIO_USER_DEVICE_GET_REGION_INFO,
				.msg_size = 16 + sizeof(again),
			};

			CHECK(got->nfds == 0, "fd before the capabilities");
			peer_msg_free(got);
			if (peer_send(rp->sock, &h, &again, sizeof(again), NULL,
				      0) ||
			    recv_reply(rp, h.msg_id, h.cmd, got)) {
				CHECK(0, "region info retry");
				exit(1);
			}
			memcpy(&have, got->data, sizeof(have));
			qemu_region_check(q, &have);
		}
	}
	rp->checked++;
	CHECK(got->hdr.flags == exp->hdr.flags &&
		      got->size >= sizeof(have) &&
		      (have.flags & ~VFIO_REGION_INFO_FLAG_CAPS) == want.flags &&
		      have.size == want.size && have.index == want.index &&
		      got->nfds == exp->nfds,
	      "msg %u region %u: flags %#x size %#llx, %u fds; QEMU got %#x "
	      "%#llx, %u fds",
	      q->hdr.msg_id, want.index, have.flags,
	      (unsigned long long)have.size, got->nfds, want.flags,
	      (unsigned long long)want.size, exp->nfds);
}

/* One command of the recording, sent as QEMU sent it. */
static void replay_one(struct replay *rp, const struct rec *r,
		       const struct rec_msg *q)
{
	const struct rec_msg *exp = rec_reply_to(r, q);
	int fds[PEER_MAX_FDS];
	unsigned int nfds = q->nfds;
	struct peer_msg got;
	int err;

	if (nfds > PEER_MAX_FDS) {
		CHECK(0, "msg %u: %u fds", q->hdr.msg_id, nfds);
		return;
	}
	for (unsigned int i = 0; i < nfds; i++) {
		if (q->hdr.cmd == VFIO_USER_DMA_MAP) {
			fds[i] = rp->ram_fd;
		} else {
			fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			keep_efd(rp, fds[i]);
		}
	}
	err = peer_send(rp->sock, &q->hdr, q->payload, q->size, fds, nfds);
	CHECK(!err, "send msg %u: %s", q->hdr.msg_id, strerror(-err));
	if (err || (q->hdr.flags & VFIO_USER_F_NO_REPLY))
		return;
	if (!exp) {
		/* QEMU gave up before the reply (the private run's end). */
		err = recv_reply(rp, q->hdr.msg_id, q->hdr.cmd, &got);
		CHECK(!err, "msg %u: no reply: %s", q->hdr.msg_id,
		      strerror(-err));
		if (!err)
			peer_msg_free(&got);
		return;
	}
	err = recv_reply(rp, q->hdr.msg_id, q->hdr.cmd, &got);
	CHECK(!err, "msg %u %s: no reply: %s", q->hdr.msg_id,
	      vfio_user_command_name(q->hdr.cmd), strerror(-err));
	if (err)
		exit(1);
	if (q->hdr.cmd == VFIO_USER_DEVICE_GET_REGION_INFO)
		region_info(rp, q, exp, &got);
	else
		check_reply(rp, q, exp, &got);
	peer_msg_free(&got);
}

/* Register access beyond the recording, as QEMU would send it. */
static uint32_t bar0(struct replay *rp, uint32_t off, const uint32_t *wr)
{
	uint8_t p[20];
	struct vfio_user_region_access a = { off, TESTDEV_REG_BAR, 4 };
	struct vfio_user_header h = {
		.msg_id = rp->next_id++,
		.cmd = wr ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ,
		.msg_size = 16 + 16 + (wr ? 4 : 0),
	};
	struct peer_msg got;
	uint32_t v = 0;
	int err;

	memcpy(p, &a, sizeof(a));
	if (wr)
		memcpy(p + 16, wr, 4);
	err = peer_send(rp->sock, &h, p, wr ? 20 : 16, NULL, 0);
	if (!err)
		err = recv_reply(rp, h.msg_id, h.cmd, &got);
	if (err) {
		CHECK(0, "BAR0 %#x: %s", off, strerror(-err));
		exit(1);
	}
	CHECK(!(got.hdr.flags & VFIO_USER_F_ERROR) && got.size == 16 + (wr ? 0 : 4),
	      "BAR0 %#x reply", off);
	if (!wr && got.size == 20)
		memcpy(&v, got.data + 16, 4);
	peer_msg_free(&got);
	return v;
}

static void wr32(struct replay *rp, uint32_t off, uint32_t v)
{
	bar0(rp, off, &v);
}

/* Polls STATUS (serving the device's DMA meanwhile) for an outcome. */
/*
 * Waits for one of the done bits of a command.  Only its own: a command
 * of the recording still running (the guest never waited for it) may
 * set its bits in STATUS after ours was cleared.
 */
static uint32_t wait_done(struct replay *rp, uint32_t done)
{
	struct timespec t0, t;
	uint32_t st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		st = bar0(rp, TESTDEV_REG_STATUS, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!(st & done) && t.tv_sec - t0.tv_sec < TIMEOUT_MS / 1000);
	return st;
}

/* A WRITE's data in guest memory matches the CHECKSUM it published. */
static bool write_landed(struct replay *rp, uint64_t dst, uint32_t n)
{
	uint32_t crc = crc32_le(~0u, rp->mem.p + dst, n);

	return bar0(rp, TESTDEV_REG_CHECKSUM, NULL) == crc;
}

/* Runs one pci-epf-test command as a guest driver does. */
static uint32_t run_cmd(struct replay *rp, uint32_t cmd, uint64_t src,
			uint64_t dst, uint32_t size, uint32_t csum)
{
	wr32(rp, TESTDEV_REG_STATUS, 0);
	wr32(rp, TESTDEV_REG_SRC_LO, (uint32_t)src);
	wr32(rp, TESTDEV_REG_SRC_HI, (uint32_t)(src >> 32));
	wr32(rp, TESTDEV_REG_DST_LO, (uint32_t)dst);
	wr32(rp, TESTDEV_REG_DST_HI, (uint32_t)(dst >> 32));
	wr32(rp, TESTDEV_REG_SIZE, size);
	wr32(rp, TESTDEV_REG_CHECKSUM, csum);
	wr32(rp, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_INTX);
	wr32(rp, TESTDEV_REG_COMMAND, cmd);
	return wait_done(rp, cmd == TESTDEV_CMD_READ ?
				     TESTDEV_STATUS_READ_OK |
					     TESTDEV_STATUS_READ_FAIL :
				     TESTDEV_STATUS_WRITE_OK |
					     TESTDEV_STATUS_WRITE_FAIL);
}

/* Transfers a guest driver would run, checked by CRC. */
static void transfers(struct replay *rp, uint64_t base)
{
	static const uint32_t sizes[] = { 1, 1025, 200000, 1024001 };
	uint8_t *ram = rp->mem.p;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i], st, crc;

		/* Device writes random data to the guest; CRC in CHECKSUM. */
		memset(ram + base, 0, n);
		st = run_cmd(rp, TESTDEV_CMD_WRITE, 0, base, n, 0);
		CHECK(st & TESTDEV_STATUS_WRITE_OK, "WRITE %u: status %#x", n,
		      st);
		CHECK(write_landed(rp, base, n),
		      "WRITE %u: guest memory does not match the CRC", n);
		/* Device reads what the guest wrote, checks our CRC. */
		for (uint32_t k = 0; k < n; k++)
			ram[base + 0x200000 + k] = (uint8_t)(k * 13 + i);
		crc = crc32_le(~0u, ram + base + 0x200000, n);
		st = run_cmd(rp, TESTDEV_CMD_READ, base + 0x200000, 0, n, crc);
		CHECK(st & TESTDEV_STATUS_READ_OK, "READ %u: status %#x", n, st);
	}
}

int main(int argc, char **argv)
{
	const char *const args[] = { NULL };
	struct testdev_proc dev;
	struct replay rp = { .sock = -1, .ram_fd = -1 };
	struct rec r;
	bool shared;

	if (argc != 3)
		return 99;
	shared = !strcmp(argv[2], "memfd");
	rec_load(&r, argv[1]);
	if (testdev_start(&dev, args)) {
		fprintf(stderr, "cannot start testdev\n");
		return 99;
	}
	rp.sock = connect_to(dev.sock);
	if (shared) {
		rp.ram_fd = memfd_create("guest-ram", MFD_CLOEXEC |
							      MFD_ALLOW_SEALING);
		if (rp.ram_fd < 0 || ftruncate(rp.ram_fd, RAM))
			return 99;
		rp.mem.p = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED,
				rp.ram_fd, 0);
	} else {
		rp.mem.p = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0);
	}
	if (rp.mem.p == MAP_FAILED)
		return 99;
	rp.mem.len = RAM;
	rp.mem.qemu = true;

	for (size_t i = 0; i < r.n; i++) {
		const struct rec_msg *q = &r.m[i];

		/* Replies are checked with their command; QEMU's answers
		 * to the device's requests are ours to give. */
		if (!q->c2s || rec_is_reply(q))
			continue;
		replay_one(&rp, &r, q);
		if (q->hdr.msg_id >= rp.next_id)
			rp.next_id = q->hdr.msg_id + 1;
	}
	printf("%s: %u replies checked against QEMU's, %u device DMA "
	       "requests answered as QEMU does\n",
	       argv[1], rp.checked, rp.dma_served);

	if (!shared) {
		/*
		 * The recording ends in the first transfer, a 1-byte WRITE
		 * that QEMU never completed: it must complete now, its byte
		 * where the guest asked (the data at offset 12 of QEMU's
		 * DMA_WRITE, not 16).
		 */
		uint64_t dst = bar0(&rp, TESTDEV_REG_DST_LO, NULL) |
			       (uint64_t)bar0(&rp, TESTDEV_REG_DST_HI, NULL)
				       << 32;
		uint32_t n = bar0(&rp, TESTDEV_REG_SIZE, NULL);
		uint32_t st = wait_done(&rp, TESTDEV_STATUS_WRITE_OK |
						 TESTDEV_STATUS_WRITE_FAIL);

		CHECK(st & TESTDEV_STATUS_WRITE_OK, "the recorded WRITE: %#x",
		      st);
		CHECK(n == 1 && dst < RAM && write_landed(&rp, dst, n),
		      "the recorded WRITE's byte is not at %#llx",
		      (unsigned long long)dst);
		CHECK(rp.mem.writes == 1, "%u DMA_WRITEs for one byte",
		      rp.mem.writes);
	}

	/*
	 * Past the recording: transfers both ways, to guest RAM at 16 MiB.
	 * The replay does not wait for the recorded commands as the guest
	 * did: one may still be pending; the device runs commands in turn.
	 */
	for (int i = 0; i < TIMEOUT_MS && bar0(&rp, TESTDEV_REG_COMMAND, NULL);
	     i++)
		usleep(1000);
	wr32(&rp, TESTDEV_REG_FLAGS, 0);
	transfers(&rp, 16u << 20);
	printf("transfers: %u DMA_READ (largest %llu), %u DMA_WRITE "
	       "(largest %llu) in-band\n",
	       rp.mem.reads, (unsigned long long)rp.mem.max_read,
	       rp.mem.writes, (unsigned long long)rp.mem.max_write);
	CHECK(!rp.mem.bad_layout, "a DMA request not in QEMU's layout");
	if (shared)
		CHECK(!rp.mem.reads && !rp.mem.writes,
		      "in-band DMA although guest RAM is shared");
	else
		CHECK(rp.mem.reads && rp.mem.writes &&
			      rp.mem.max_read <= UVFIO_QEMU_DMA_READ_CHUNK,
		      "in-band DMA: reads must come in chunks QEMU delivers "
		      "whole");
	CHECK(testdev_alive(&dev), "testdev died");
	close(rp.sock);
	CHECK(testdev_stop(&dev) == 0, "testdev exit status");
	for (unsigned int i = 0; i < rp.nefds; i++)
		close(rp.efds[i]);
	rec_free(&r);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	return failures ? 1 : 0;
}
