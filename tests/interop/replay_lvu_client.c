// SPDX-License-Identifier: MIT
/*
 * libvfio-user's samples/client, replayed against a real uvfio-testdev:
 * every message it sent to samples/server up to its first migration
 * command (uvfio has no migration yet), fds recreated.  The device is a
 * different one, so replies are held to what samples/client accepts
 * rather than to samples/server's bytes: the same success or errno, a
 * VERSION it can parse, and reply sizes of the forms it reads.
 */
#include <errno.h>
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

int main(int argc, char **argv)
{
	const char *const args[] = { NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct testdev_proc dev;
	unsigned int checked = 0;
	struct rec r;
	int sock, dma_fd, err;

	rec_load(&r, "lvu-client-server.jsonl");
	if (testdev_start(&dev, args))
		return 99;
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dev.sock);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		return 99;
	/* samples/client's DMA backing: a memfd, offset = address. */
	dma_fd = memfd_create("dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (dma_fd < 0 || ftruncate(dma_fd, 16 * 4096))
		return 99;

	for (size_t i = 0; i < r.n; i++) {
		const struct rec_msg *q = &r.m[i], *exp;
		struct peer_msg got;
		int fds[PEER_MAX_FDS];

		if (!q->c2s || strcmp(q->conn, "src") || rec_is_reply(q))
			continue;
		if (q->hdr.cmd == VFIO_USER_DEVICE_FEATURE)
			break;
		exp = rec_reply_to(&r, q);
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
			CHECK(0, "msg %#x %s: %s", q->hdr.msg_id,
			      vfio_user_command_name(q->hdr.cmd),
			      err ? strerror(-err) : "no recorded reply");
			return 1;
		}
		checked++;
		CHECK(peer_is_reply(&got) && got.hdr.msg_id == q->hdr.msg_id &&
			      got.hdr.cmd == q->hdr.cmd,
		      "msg %#x: reply %#x/%u", q->hdr.msg_id, got.hdr.msg_id,
		      got.hdr.cmd);
		/* Same outcome as libvfio-user: success, or the same errno. */
		CHECK(got.hdr.flags == exp->hdr.flags &&
			      got.hdr.error_no == exp->hdr.error_no,
		      "msg %#x %s: flags %#x errno %u, libvfio-user gave %#x "
		      "errno %u",
		      q->hdr.msg_id, vfio_user_command_name(q->hdr.cmd),
		      got.hdr.flags, got.hdr.error_no, exp->hdr.flags,
		      exp->hdr.error_no);
		if (q->hdr.cmd == VFIO_USER_VERSION)
			check_version(q, &got);
		else if (!(got.hdr.flags & VFIO_USER_F_ERROR))
			check_form(q, &got);
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
	printf("lvu-client-server.jsonl: %u replies of samples/client's "
	       "conversation checked\n",
	       checked);
	CHECK(checked > 30, "only %u replies", checked);
	close(sock);
	close(dma_fd);
	CHECK(testdev_stop(&dev) == 0, "testdev exit status");
	rec_free(&r);
	return failures ? 1 : 0;
}
