// SPDX-License-Identifier: MIT
/*
 * VERSION: a reply the client must refuse (NULL, errno, no fd kept), and
 * a good server, which the other cases rely on.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evil_cases.h"
#include "proto/negotiate.h"
#include "client/testing.h"

struct refusal {
	const char *name;
	struct evil_cfg cfg;
	int err;
	/* For version_fds_hook: the twin_socket answer and the fds sent. */
	bool twin;
	int fd_index;
	unsigned int sockets, pipes;
};

static void bump_major(uint8_t *p, size_t *len)
{
	p[0]++;
}

static void bump_minor(uint8_t *p, size_t *len)
{
	p[2]++;
}

static void set_json(uint8_t *p, size_t *len, const char *json)
{
	size_t n = strlen(json) + 1;

	evil_must(4 + n <= *len + 64);
	memcpy(p + 4, json, n);
	*len = 4 + n;
}

static void json_garbage(uint8_t *p, size_t *len)
{
	set_json(p, len, "{\"capabilities\":{\"max_msg_fds\":4,}");
}

static void json_array(uint8_t *p, size_t *len)
{
	set_json(p, len, "[1,2]");
}

static void json_wrong_type(uint8_t *p, size_t *len)
{
	set_json(p, len, "{\"capabilities\":{\"max_data_xfer_size\":\"big\"}}");
}

static void json_zero_xfer(uint8_t *p, size_t *len)
{
	set_json(p, len, "{\"capabilities\":{\"max_data_xfer_size\":0}}");
}

static void version_stub(uint8_t *p, size_t *len)
{
	*len = 2;
}

/* Answers VERSION with the refusal's twin_socket and fds. */
static enum evil_verdict version_fds_hook(struct evil_srv *s,
					  struct uvfio_msg *m)
{
	const struct refusal *rf =
		evil_container_of(s->cfg, struct refusal, cfg);
	struct uvfio_caps caps;
	char buf[1024];
	int fds[8], n;
	unsigned int nfds = 0;

	if (m->hdr.cmd != VFIO_USER_VERSION)
		return EVIL_PASS;
	if (evil_version_caps(s, m, &caps) < 0)
		return evil_error(s, m, EINVAL);
	caps.twin_socket = rf->twin;
	caps.twin_fd_index = rf->fd_index;
	evil_must(rf->sockets + rf->pipes <= ARRAY_SIZE(fds));
	for (unsigned int i = 0; i < rf->sockets; i++)
		fds[nfds++] = evil_bait_socket(s);
	for (unsigned int i = 0; i < rf->pipes; i++)
		fds[nfds++] = evil_bait(s);
	n = uvfio_caps_format(&caps, buf, sizeof(buf));
	evil_must(n > 0);
	uvfio_chan_send_reply(&s->ch, &m->hdr, buf, (size_t)n, fds, nfds);
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	return EVIL_DONE;
}

#define ON_VERSION(...)                               \
	.tamper = &(const struct evil_tamper)         \
	{                                             \
		.cmd = VFIO_USER_VERSION, __VA_ARGS__ \
	}

/* A spoiled reply, refused with err. */
#define BAD_VERSION(name, err, ...)                    \
	{                                              \
		name, { ON_VERSION(__VA_ARGS__) }, err \
	}

/* twin_socket {supported, fd_index} with sockets, then pipes, as fds. */
#define TWIN_FDS(name, twin, index, sockets, pipes, ...)                       \
	{                                                                      \
		name, { .hook = version_fds_hook, __VA_ARGS__ }, EPROTO, twin, \
			index, sockets, pipes                                  \
	}

static const struct refusal refusals[] = {
	BAD_VERSION("version: major above ours", EPROTO, .edit = bump_major),
	BAD_VERSION("version: minor above ours", EPROTO, .edit = bump_minor),
	BAD_VERSION("version: JSON garbage", EPROTO, .edit = json_garbage),
	BAD_VERSION("version: JSON not an object", EPROTO, .edit = json_array),
	BAD_VERSION("version: JSON wrong type", EPROTO,
		    .edit = json_wrong_type),
	BAD_VERSION("version: zero max_data_xfer_size", EPROTO,
		    .edit = json_zero_xfer),
	BAD_VERSION("version: JSON without NUL", EPROTO, .size_delta = -1),
	BAD_VERSION("version: bytes after the NUL", EPROTO, .size_delta = 4),
	BAD_VERSION("version: 2-byte payload", EPROTO, .edit = version_stub),
	BAD_VERSION("version: empty payload", EPROTO, .size_delta = -4096),
	BAD_VERSION("version: error ENOTSUP", ENOTSUP, .error = true,
		    .error_no = ENOTSUP),
	BAD_VERSION("version: error with errno 0", EIO, .error = true,
		    .error_no = 0),
	BAD_VERSION("version: error with errno 70000", EIO, .error = true,
		    .error_no = 70000),
	BAD_VERSION("version: reply to another command", EPROTO,
		    .cmd_delta = 3),
	BAD_VERSION("version: reply with another id", EPROTO, .id_delta = 1),
	BAD_VERSION("version: oversize reply", EPROTO, .size_delta = 70000),
	BAD_VERSION("version: msg_size below the header", EPROTO,
		    .msg_size = 4),
	BAD_VERSION("version: closed mid-reply", ECONNRESET, .cut = true),
	BAD_VERSION("version: closed instead of replying", ECONNRESET,
		    .hangup = true),
	{ "version: by path, major above ours",
	  { ON_VERSION(.edit = bump_major), .by_path = true },
	  EPROTO },
	TWIN_FDS("version: twin without fd_index", true, -1, 1, 0),
	TWIN_FDS("version: twin fd_index past the fds", true, 1, 1, 0),
	TWIN_FDS("version: twin with no fds", true, 0, 0, 0),
	TWIN_FDS("version: twin fd not a socket", true, 0, 0, 1),
	TWIN_FDS("version: twin plus extra fds", true, 0, 1, 2),
	TWIN_FDS("version: fds without twin", false, -1, 0, 2),
	TWIN_FDS("version: twin the client did not ask for", true, 0, 1, 0,
		 .client_flags = UVFIO_CLIENT_NO_TWIN),
};

static void test_refused(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct refusal *rf =
		evil_container_of(e->s->cfg, struct refusal, cfg);

	assert_null(e->c);
	assert_int_equal(e->err, rf->err);
	assert_true(evil_baits_closed(e->s));
}

/* ---- A good server: the fake must work, or the rest proves nothing ---- */

static const struct evil_cfg good_cfgs[] = {
	{ 0 },
	{ .no_twin = true },
	{ .client_flags = UVFIO_CLIENT_NO_TWIN },
	{ .by_path = true },
};

static void test_good(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct evil_cfg *cfg = e->s->cfg;
	bool twin =
		!cfg->no_twin && !(cfg->client_flags & UVFIO_CLIENT_NO_TWIN);
	const struct uvfio_region *r;
	struct uvfio_device_info di;
	struct vfio_irq_info ii;
	uint8_t buf[64];
	size_t sz = 0;
	uint8_t *p;

	assert_non_null(e->c);
	assert_int_equal(uvfio_client_caps(e->c)->max_data_xfer_size,
			 EVIL_SERVER_XFER);
	assert_int_equal(uvfio_client_caps(e->c)->twin_socket, twin);
	/* The twin socket, or the main one that then carries requests. */
	assert_true(uvfio_client_get_poll_fd(e->c) >= 0);
	assert_int_equal(uvfio_client_device_info(e->c, &di), 0);
	assert_int_equal(di.num_regions, EVIL_NREGIONS);
	assert_int_equal(di.num_irqs, EVIL_NIRQS);
	assert_int_equal(uvfio_client_irq_info(e->c, 3, &ii), 0);
	assert_int_equal(ii.index, 3);
	assert_int_equal(uvfio_client_region_info(e->c, 1, &r), 0);
	assert_true(r->fd >= 0);
	assert_true(r->flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_int_equal(uvfio_client_region_info(e->c, EVIL_NREGIONS, &r),
			 -EINVAL);
	p = uvfio_client_region_mmap(e->c, 1, -1, &sz);
	assert_non_null(p);
	assert_int_equal(sz, EVIL_MMAP_SIZE);
	assert_int_equal(pwrite(e->s->memfd, "Z", 1, 4100), 1);
	assert_int_equal(p[4100], 'Z');
	assert_int_equal(uvfio_client_region_read(e->c, 0, 0x40, buf, 64), 0);
	assert_memory_equal(buf, e->s->bar + 0x40, 64);
	assert_int_equal(uvfio_client_raw(e->c, 99, NULL, 0, NULL, 0, NULL, 0),
			 -ENOSYS);
	assert_int_equal(uvfio_client_reset(e->c), 0);
}

static void test_connect_missing(void **state)
{
	struct evil_env *e = evil_env(state);
	char path[80];

	snprintf(path, sizeof(path), "%s/none", e->s->dir);
	assert_null(uvfio_client_connect(path, NULL));
	assert_int_equal(errno, ENOENT);
}

void evil_add_version_tests(struct evil_suite *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_cfgs); i++)
		evil_suite_add(s, "good server", test_good, &good_cfgs[i]);
	evil_suite_add(s, "connect: no such socket", test_connect_missing,
		       &good_cfgs[3]);
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++)
		evil_suite_add(s, refusals[i].name, test_refused,
			       &refusals[i].cfg);
}
