// SPDX-License-Identifier: MIT
/*
 * Hostile headers and VERSION payloads: framing the server cannot follow,
 * oversize messages, wrong types and flags, unknown commands, commands
 * out of order and capability JSON that must be refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define HDR sizeof(struct vfio_user_header)

static const struct vfio_user_device_info info_req = { .argsz = 16 };

/* A header that announces msg_size; only the 16 header bytes are sent. */
static void send_header(int fd, uint16_t id, uint16_t cmd, uint32_t size,
			uint32_t flags)
{
	struct vfio_user_header h = { id, cmd, size, flags, 0 };

	hs_send(fd, &h, sizeof(h), NULL, 0);
}

/* msg_size < 16: no next message can be found, so the client must go. */
static void test_short_msg_size(void **state)
{
	static const uint32_t sizes[] = { 0, 1, 8, 15 };
	struct hs_conn *c = *state;

	for (size_t i = 0; i < HS_ARRAY_SIZE(sizes); i++) {
		hs_reconnect(c, true);
		send_header(c->fd, 1, VFIO_USER_DEVICE_GET_INFO, sizes[i], 0);
		hs_expect_eof(c->fd);
		/* Before negotiation too. */
		hs_reconnect(c, false);
		send_header(c->fd, 1, VFIO_USER_VERSION, sizes[i], 0);
		hs_expect_eof(c->fd);
	}
	hs_reconnect(c, true);
	hs_ping(c);
}

/*
 * One byte over the largest message the server takes: an EMSGSIZE reply,
 * the body is skipped, and the next message is understood.  fds that came
 * with the oversize message are closed.
 */
static void test_oversize(void **state)
{
	struct hs_conn *c = *state;
	uint32_t size = c->srv->max_xfer + 64 + 1;
	uint8_t *buf = calloc(1, size);
	int efd[2] = { hs_eventfd(), hs_eventfd() };
	int before = hs_fds_now(c);
	uint16_t id = c->next_id++;

	assert_non_null(buf);
	hs_build(buf, id, VFIO_USER_REGION_WRITE, 0, NULL, 0);
	((struct vfio_user_header *)buf)->msg_size = size;
	/* A plausible REGION_WRITE inside, so only the size is wrong. */
	*(struct vfio_user_region_access *)(buf + HDR) =
		(struct vfio_user_region_access){ .region = 5,
						  .count = size - 32 };
	hs_send(c->fd, buf, size, efd, 2);
	hs_recv_err(c, id, VFIO_USER_REGION_WRITE, EMSGSIZE);
	hs_ping(c);
	assert_int_equal(hs_fds_now(c), before);
	hs_close_all(efd, 2);
	free(buf);
}

/* A huge msg_size, part of its body, then the client leaves. */
static void test_oversize_then_close(void **state)
{
	struct hs_conn *c = *state;
	uint8_t junk[4096] = { 0 };

	send_header(c->fd, 9, VFIO_USER_REGION_WRITE, UINT32_MAX, 0);
	hs_send(c->fd, junk, sizeof(junk), NULL, 0);
	hs_recv_err(c, 9, VFIO_USER_REGION_WRITE, EMSGSIZE);
	close(c->fd);
	c->fd = -1;
	/* The teardown's new client proves the server moved on. */
}

/* Replies from a client answer nothing: dropped without a word. */
static void test_reply_type_dropped(void **state)
{
	struct hs_conn *c = *state;
	int efd[2] = { hs_eventfd(), hs_eventfd() };
	int before = hs_fds_now(c);
	struct hs_reply r;
	uint16_t id;

	hs_send_cmd(c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_TYPE_REPLY,
		    &info_req, sizeof(info_req), NULL, 0);
	hs_send_cmd(c, VFIO_USER_DEVICE_GET_INFO,
		    VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, NULL, 0, efd,
		    2);
	hs_send_cmd(c, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_REPLY, NULL, 0,
		    NULL, 0);
	id = hs_send_cmd(c, VFIO_USER_DEVICE_GET_INFO, 0, &info_req,
			 sizeof(info_req), NULL, 0);
	/* The first message back must answer the real command. */
	hs_recv_ok(c, id, VFIO_USER_DEVICE_GET_INFO, &r);
	hs_reply_free(&r);
	assert_int_equal(hs_fds_now(c), before);
	hs_close_all(efd, 2);
}

static void test_bad_flags(void **state)
{
	/* Unknown bits, the error bit and the reserved message types. */
	static const uint32_t flags[] = {
		1u << 6, 1u << 31, 0xffffff00u, VFIO_USER_F_ERROR, 2, 3, 0xf
	};
	struct hs_conn *c = *state;

	for (size_t i = 0; i < HS_ARRAY_SIZE(flags); i++)
		hs_expect_err_flags(c, VFIO_USER_DEVICE_GET_INFO, flags[i],
				    &info_req, sizeof(info_req), EINVAL);
}

/* No_reply: neither a good nor a bad command may answer. */
static void test_no_reply(void **state)
{
	struct hs_conn *c = *state;

	hs_send_cmd(c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_NO_REPLY,
		    &info_req, sizeof(info_req), NULL, 0);
	hs_send_cmd(c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_NO_REPLY,
		    &info_req, 3, NULL, 0);
	hs_send_cmd(c, 0x1234, VFIO_USER_F_NO_REPLY, NULL, 0, NULL, 0);
	/* hs_ping insists the next reply carries its own id. */
	hs_ping(c);
}

static void test_unknown_commands(void **state)
{
	/* Unassigned numbers, and the server -> client ones. */
	static const uint16_t cmds[] = { 0,
					 14,
					 19,
					 20,
					 0x100,
					 0xffff,
					 VFIO_USER_DMA_READ,
					 VFIO_USER_DMA_WRITE };
	struct hs_conn *c = *state;
	uint8_t payload[32] = { 0 };

	for (size_t i = 0; i < HS_ARRAY_SIZE(cmds); i++) {
		hs_expect_err(c, cmds[i], NULL, 0, ENOSYS);
		hs_expect_err(c, cmds[i], payload, sizeof(payload), ENOSYS);
	}
}

static void test_before_version(void **state)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_user_dma_map map = {
		.argsz = sizeof(map), .flags = 3, .addr = 0x100000, .size = 4096
	};
	struct vfio_user_region_access rd = { .region = 0, .count = 4 };
	struct vfio_irq_set irq = { .argsz = sizeof(irq),
				    .flags = VFIO_IRQ_SET_DATA_NONE |
					     VFIO_IRQ_SET_ACTION_TRIGGER,
				    .index = VFIO_PCI_MSI_IRQ_INDEX,
				    .count = 1 };
	struct vfio_user_dma_unmap um = { .argsz = sizeof(um),
					  .addr = map.addr,
					  .size = map.size };
	struct hs_conn *c = *state;

	hs_reconnect(c, false);
	hs_expect_err_raw(c, VFIO_USER_DEVICE_GET_INFO, &info_req,
			  sizeof(info_req), EINVAL);
	hs_expect_err_raw(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri),
			  EINVAL);
	hs_expect_err_raw(c, VFIO_USER_DMA_MAP, &map, sizeof(map), EINVAL);
	hs_expect_err_raw(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), EINVAL);
	hs_expect_err_raw(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq),
			  EINVAL);
	hs_expect_err_raw(c, VFIO_USER_DEVICE_RESET, NULL, 0, EINVAL);
	hs_negotiate(c);
	hs_ping(c);
	/* The DMA_MAP before VERSION must not have taken effect. */
	hs_expect_err(c, VFIO_USER_DMA_UNMAP, &um, sizeof(um), ENOENT);
}

static size_t version_payload(uint8_t *buf, uint16_t major, const void *data,
			      size_t n)
{
	struct vfio_user_version v = { major, VFIO_USER_MINOR };

	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), data, n);
	return sizeof(v) + n;
}

static void test_second_version(void **state)
{
	static const char caps[] = "{\"capabilities\":{}}";
	struct hs_conn *c = *state;
	uint8_t p[64];
	size_t n = version_payload(p, VFIO_USER_MAJOR, caps, sizeof(caps));

	hs_expect_err(c, VFIO_USER_VERSION, p, n, EINVAL);
	hs_expect_err(c, VFIO_USER_VERSION, p, sizeof(struct vfio_user_version),
		      EINVAL);
	n = version_payload(p, VFIO_USER_MAJOR, "{", 2);
	hs_expect_err(c, VFIO_USER_VERSION, p, n, EINVAL);
}

/* Refused, and the connection is still waiting for a good VERSION. */
static void bad_version(struct hs_conn *c, uint16_t major, const void *data,
			size_t n, int err)
{
	uint8_t p[512];
	struct hs_reply r;
	uint16_t id;

	assert_true(n + sizeof(struct vfio_user_version) <= sizeof(p));
	n = version_payload(p, major, data, n);
	id = hs_send_cmd(c, VFIO_USER_VERSION, 0, p, n, NULL, 0);
	assert_int_equal(hs_recv(c->fd, &r), 0);
	/* Name the payload: the cases share this line. */
	if (r.hdr.flags != (VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR) ||
	    r.hdr.error_no != (uint32_t)err)
		print_error("VERSION %u.%u \"%.*s\": flags 0x%x errno %u, "
			    "want errno %d\n",
			    major, VFIO_USER_MINOR, (int)(n - 4),
			    (const char *)p + 4, r.hdr.flags, r.hdr.error_no,
			    err);
	hs_reply_free(&r);
	assert_int_equal(r.hdr.msg_id, id);
	assert_int_equal(r.hdr.flags,
			 VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR);
	assert_int_equal(r.hdr.error_no, err);
	assert_int_equal(r.hdr.msg_size, sizeof(r.hdr));
	hs_expect_err_raw(c, VFIO_USER_DEVICE_GET_INFO, &info_req,
			  sizeof(info_req), EINVAL);
}

static void test_bad_version(void **state)
{
	static const char *const json[] = {
		"",
		"{\"capabilities\":",
		"[1,2]",
		"\"capabilities\"",
		"42",
		"null",
		"{} {}",
		"{\"capabilities\":[]}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"max_msg_fds\":0}}",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_data_xfer_size\":1.5}}",
		"{\"capabilities\":{\"max_data_xfer_size\":4294967296}}",
		"{\"capabilities\":{\"max_dma_maps\":true}}",
		"{\"capabilities\":{\"pgsizes\":0}}",
		"{\"capabilities\":{\"twin_socket\":true}}",
		"{\"capabilities\":{\"twin_socket\":{\"supported\":1}}}",
		"{\"capabilities\":{\"write_multiple\":\"yes\"}}",
		"{\"capabilities\":{\"migration\":{\"pgsize\":0}}}",
		"{\"capabilities\":{\"migration\":[]}}",
		"{\"capabilities\":{}, \"x\":\"\xff\xfe\"}",
	};
	struct hs_conn *c = *state;
	char deep[256];
	size_t i, n;

	hs_reconnect(c, false);
	for (i = 0; i < HS_ARRAY_SIZE(json); i++)
		bad_version(c, VFIO_USER_MAJOR, json[i], strlen(json[i]) + 1,
			    EINVAL);
	/*
	 * Nesting far beyond anything a capability object needs, under a
	 * name that would otherwise be ignored.
	 */
	n = (size_t)snprintf(deep, sizeof(deep), "{\"x\":");
	memset(deep + n, '[', 60);
	memset(deep + n + 60, ']', 60);
	strcpy(deep + n + 120, "}");
	bad_version(c, VFIO_USER_MAJOR, deep, strlen(deep) + 1, EINVAL);
	/* The NUL missing, doubled, or inside the text. */
	bad_version(c, VFIO_USER_MAJOR, "{}", 2, EINVAL);
	bad_version(c, VFIO_USER_MAJOR, "{}\0", 4, EINVAL);
	bad_version(c, VFIO_USER_MAJOR, "{}\0{}", 6, EINVAL);
	/* Too short to hold the version. */
	hs_expect_err_raw(c, VFIO_USER_VERSION, NULL, 0, EINVAL);
	hs_expect_err_raw(c, VFIO_USER_VERSION, "\0", 2, EINVAL);
	/* Another major version. */
	bad_version(c, 1, "{}", 3, ENOTSUP);
	bad_version(c, 0xffff, "", 0, ENOTSUP);
	hs_negotiate(c);
	hs_ping(c);
}

/*
 * Single quotes are not JSON (RFC 8259 strings are double-quoted), even
 * where a lenient parser would take them.
 */
static void test_version_single_quotes(void **state)
{
	static const char *const json[] = {
		"{'capabilities':{}}",
		"{\"capabilities\":{'max_msg_fds':4}}",
		"{\"capabilities\":{\"max_msg_fds\":'4'}}",
	};
	struct hs_conn *c = *state;

	hs_reconnect(c, false);
	for (size_t i = 0; i < HS_ARRAY_SIZE(json); i++)
		bad_version(c, VFIO_USER_MAJOR, json[i], strlen(json[i]) + 1,
			    EINVAL);
	hs_negotiate(c);
	hs_ping(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_short_msg_size, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_oversize, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_then_close,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_reply_type_dropped,
						hs_setup, hs_teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_no_reply, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_commands, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_before_version, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_second_version, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_bad_version, hs_setup,
						hs_teardown),
		cmocka_unit_test_setup_teardown(test_version_single_quotes,
						hs_setup, hs_teardown),
	};

	return cmocka_run_group_tests_name("hostile_proto", tests,
					   hs_group_setup, hs_group_teardown);
}
