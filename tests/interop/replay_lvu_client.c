// SPDX-License-Identifier: MIT
/*
 * libvfio-user's samples/client, replayed against real uvfio-testdevs:
 * every message it sent to samples/server, fds recreated, its migration
 * to a second server included (the device state read from the first
 * testdev is written to the second as samples/client writes it).  The
 * device is a different one, so replies are held to what samples/client
 * accepts rather than to samples/server's bytes: the same success or
 * errno, a VERSION it can parse, and reply sizes of the forms it reads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/caps.h>

#include "check.h"
#include "peer.h"
#include "proto/negotiate.h"
#include "rec.h"
#include "regs.h"
#include "testdev_proc.h"

static void check_version(const struct rec_msg *q, const struct peer_msg *got)
{
	struct uvfio_caps asked, ours;
	const char *json = (const char *)got->data + 4;

	CHECK(uvfio_caps_parse(q->payload, q->size, &asked) == 0, "proposal");
	CHECK(uvfio_caps_parse(got->data, got->size, &ours) == 0,
	      "VERSION reply does not parse");
	/* samples/client crashes on a twin_socket it did not ask for. */
	CHECK(!strstr(json, "twin_socket"), "twin_socket unasked: %s", json);
	CHECK(!(ours.present & ~asked.present), "unasked names: %s", json);
	CHECK(ours.major == 0 && ours.minor <= asked.minor, "version %u.%u",
	      ours.major, ours.minor);
}

/* The reply forms samples/client reads, per command. */
static void check_form(const struct rec_msg *q, const struct peer_msg *got)
{
	uint32_t argsz = 0;

	switch (q->hdr.cmd) {
	case VFIO_USER_DEVICE_GET_INFO:
		CHECK(got->size == 16, "GET_INFO: %u bytes", got->size);
		break;
	case VFIO_USER_DEVICE_GET_REGION_INFO:
		memcpy(&argsz, q->payload, 4);
		/* Never more than the client's buffer, never less than 32. */
		CHECK(got->size >= 32 && got->size <= argsz,
		      "REGION_INFO argsz %u: %u bytes", argsz, got->size);
		break;
	case VFIO_USER_DEVICE_GET_IRQ_INFO:
		CHECK(got->size == 16, "IRQ_INFO: %u bytes", got->size);
		break;
	case VFIO_USER_REGION_READ:
		CHECK(got->size == q->size + q->payload[12],
		      "REGION_READ: %u bytes", got->size);
		break;
	case VFIO_USER_DMA_MAP:
	case VFIO_USER_DEVICE_RESET:
	case VFIO_USER_DEVICE_SET_IRQS:
		CHECK(got->size == 0, "%s: %u bytes",
		      vfio_user_command_name(q->hdr.cmd), got->size);
		break;
	}
}

/* The device's state stream as read on src, written back on dst. */
struct stream {
	uint8_t *p;
	size_t len;
};

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	return sock;
}

/* One request of our own, shaped as samples/client shapes it. */
static int call(int sock, uint16_t cmd, const void *p, size_t n,
		struct peer_msg *got)
{
	static uint16_t id = 0x8000;
	struct vfio_user_header h = {
		.msg_id = id++,
		.cmd = cmd,
		.msg_size = (uint32_t)(sizeof(h) + n),
	};
	int err = peer_send(sock, &h, p, n, NULL, 0);

	err = err ?: peer_recv(sock, got, 10000);
	if (!err && (!peer_is_reply(got) || got->hdr.msg_id != h.msg_id))
		err = -EPROTO;
	return err;
}

/* A MIG_DATA_READ reply as samples/client reads it: argsz, size, data. */
static uint32_t take_data(const struct peer_msg *got, uint32_t asked,
			  struct stream *st)
{
	struct vfio_user_mig_data d;

	CHECK(got->size >= sizeof(d), "MIG_DATA_READ: %u bytes", got->size);
	if (got->size < sizeof(d))
		return 0;
	memcpy(&d, got->data, sizeof(d));
	CHECK(d.size <= asked && d.argsz == sizeof(d) + d.size &&
		      got->size == sizeof(d) + d.size,
	      "MIG_DATA_READ: argsz %u size %u in %u bytes", d.argsz, d.size,
	      got->size);
	st->p = realloc(st->p, st->len + d.size);
	if (!st->p)
		exit(99);
	memcpy(st->p + st->len, got->data + sizeof(d), d.size);
	st->len += d.size;
	return d.size;
}

/* The rest of STOP_COPY's data, 1 KiB at a time, before STOP ends it. */
static void drain(int sock, struct stream *st)
{
	struct vfio_user_mig_data rq = { sizeof(rq) + 1024, 1024 };
	struct peer_msg got;
	uint32_t n;

	do {
		if (call(sock, VFIO_USER_MIG_DATA_READ, &rq, sizeof(rq),
			 &got)) {
			CHECK(0, "MIG_DATA_READ failed");
			return;
		}
		n = take_data(&got, 1024, st);
		peer_msg_free(&got);
	} while (n == 1024);
}

/* The stream written as samples/client writes it: 1 KiB per message. */
static void feed(int sock, const struct stream *st)
{
	uint8_t buf[sizeof(struct vfio_user_mig_data) + 1024];

	for (size_t off = 0; off < st->len; off += 1024) {
		uint32_t n = st->len - off < 1024 ? (uint32_t)(st->len - off) :
						     1024;
		struct vfio_user_mig_data d = { sizeof(d) + n, n };
		struct peer_msg got;

		memcpy(buf, &d, sizeof(d));
		memcpy(buf + sizeof(d), st->p + off, n);
		if (call(sock, VFIO_USER_MIG_DATA_WRITE, buf, sizeof(d) + n,
			 &got)) {
			CHECK(0, "MIG_DATA_WRITE failed at %zu", off);
			return;
		}
		CHECK(!(got.hdr.flags & VFIO_USER_F_ERROR) && got.size == 0,
		      "MIG_DATA_WRITE at %zu: errno %u, %u bytes", off,
		      got.hdr.error_no, got.size);
		peer_msg_free(&got);
	}
}

static uint32_t state_set(const struct rec_msg *q)
{
	uint32_t flags, st;

	if (q->hdr.cmd != VFIO_USER_DEVICE_FEATURE || q->size < 16)
		return UINT32_MAX;
	memcpy(&flags, q->payload + 4, 4);
	memcpy(&st, q->payload + 8, 4);
	return flags == (VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE) ?
		       st :
		       UINT32_MAX;
}

/*
 * Replays what samples/client sent on one connection.  Its region
 * accesses once migration starts are to its own device's BARs and are
 * left out; its MIG_DATA_WRITEs carry samples/server's state, so the
 * stream read from our device on src goes in their place.
 */
static unsigned int replay(const struct rec *r, const char *conn, int sock,
			   int dma_fd, struct stream *st)
{
	uint32_t state = VFIO_DEVICE_STATE_RUNNING;
	bool migrating = false, fed = false;
	unsigned int checked = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct rec_msg *q = &r->m[i], *exp;
		struct peer_msg got;
		int fds[PEER_MAX_FDS];
		int err;

		if (!q->c2s || strcmp(q->conn, conn) || rec_is_reply(q))
			continue;
		if (q->hdr.cmd == VFIO_USER_DEVICE_FEATURE)
			migrating = true;
		if (migrating && (q->hdr.cmd == VFIO_USER_REGION_READ ||
				  q->hdr.cmd == VFIO_USER_REGION_WRITE))
			continue;
		if (q->hdr.cmd == VFIO_USER_MIG_DATA_WRITE) {
			if (!fed)
				feed(sock, st);
			fed = true;
			continue;
		}
		if (state_set(q) == VFIO_DEVICE_STATE_STOP &&
		    state == VFIO_DEVICE_STATE_STOP_COPY)
			drain(sock, st);
		if (state_set(q) != UINT32_MAX)
			state = state_set(q);
		exp = rec_reply_to(r, q);
		for (unsigned int k = 0; k < q->nfds && k < PEER_MAX_FDS; k++)
			fds[k] = q->hdr.cmd == VFIO_USER_DMA_MAP ?
					 dma_fd :
					 eventfd(0, EFD_CLOEXEC);
		err = peer_send(sock, &q->hdr, q->payload, q->size, fds,
				q->nfds);
		if (q->hdr.cmd != VFIO_USER_DMA_MAP)
			for (unsigned int k = 0; k < q->nfds; k++)
				close(fds[k]);
		CHECK(!err, "send: %s", strerror(-err));
		err = err ?: peer_recv(sock, &got, 10000);
		if (err || !exp) {
			CHECK(0, "%s msg %#x %s: %s", conn, q->hdr.msg_id,
			      vfio_user_command_name(q->hdr.cmd),
			      err ? strerror(-err) : "no recorded reply");
			exit(1);
		}
		checked++;
		CHECK(peer_is_reply(&got) && got.hdr.msg_id == q->hdr.msg_id &&
			      got.hdr.cmd == q->hdr.cmd,
		      "msg %#x: reply %#x/%u", q->hdr.msg_id, got.hdr.msg_id,
		      got.hdr.cmd);
		/* Same outcome as libvfio-user: success, or the same errno. */
		CHECK(got.hdr.flags == exp->hdr.flags &&
			      got.hdr.error_no == exp->hdr.error_no,
		      "%s msg %#x %s: flags %#x errno %u, libvfio-user gave "
		      "%#x errno %u",
		      conn, q->hdr.msg_id, vfio_user_command_name(q->hdr.cmd),
		      got.hdr.flags, got.hdr.error_no, exp->hdr.flags,
		      exp->hdr.error_no);
		if (q->hdr.cmd == VFIO_USER_VERSION)
			check_version(q, &got);
		else if (!(got.hdr.flags & VFIO_USER_F_ERROR))
			check_form(q, &got);
		/* Feature replies: the sizes samples/client reads. */
		if (q->hdr.cmd == VFIO_USER_DEVICE_FEATURE)
			CHECK(got.size == exp->size,
			      "DEVICE_FEATURE %#x: %u bytes, libvfio-user %u",
			      q->size >= 8 ? q->payload[4] : 0, got.size,
			      exp->size);
		if (q->hdr.cmd == VFIO_USER_MIG_DATA_READ &&
		    !(got.hdr.flags & VFIO_USER_F_ERROR))
			take_data(&got, 1024, st);
		/* What samples/client goes on to assert: our IDs, not its. */
		if (q->hdr.cmd == VFIO_USER_REGION_READ && got.size >= 20) {
			uint16_t vid;

			memcpy(&vid, got.data + 16, 2);
			if (q->payload[8] == VFIO_PCI_CONFIG_REGION_INDEX)
				CHECK(vid == TESTDEV_VENDOR_ID, "vendor %#x",
				      vid);
		}
		peer_msg_free(&got);
	}
	return checked;
}

int main(int argc, char **argv)
{
	const char *const args[] = { NULL };
	struct testdev_proc src, dst;
	struct stream st = { 0 };
	unsigned int n[2];
	struct rec r;
	int sock[2], dma_fd;

	rec_load(&r, "lvu-client-server.jsonl");
	if (testdev_start(&src, args) || testdev_start(&dst, args))
		return 99;
	sock[0] = connect_to(src.sock);
	sock[1] = connect_to(dst.sock);
	/* samples/client's DMA backing: a memfd, offset = address. */
	dma_fd = memfd_create("dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (sock[0] < 0 || sock[1] < 0 || dma_fd < 0 ||
	    ftruncate(dma_fd, 16 * 4096))
		return 99;

	n[0] = replay(&r, "src", sock[0], dma_fd, &st);
	CHECK(st.len > 1024, "state stream of %zu bytes", st.len);
	n[1] = replay(&r, "dst", sock[1], dma_fd, &st);
	printf("lvu-client-server.jsonl: %u + %u replies of samples/client's "
	       "conversation checked, %zu bytes of device state moved\n",
	       n[0], n[1], st.len);
	CHECK(n[0] > 30 && n[1] > 10, "only %u + %u replies", n[0], n[1]);
	close(sock[0]);
	close(sock[1]);
	close(dma_fd);
	CHECK(testdev_stop(&src) == 0, "src testdev exit status");
	CHECK(testdev_stop(&dst) == 0, "dst testdev exit status");
	free(st.p);
	rec_free(&r);
	return failures ? 1 : 0;
}
