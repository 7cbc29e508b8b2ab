// SPDX-License-Identifier: MIT
/* VERSION negotiation: the JSON capabilities and the negotiation rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/negotiate.h"
#include "proto/wire.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A VERSION payload: major 0, minor 1, the text and its NUL. */
static size_t make_payload(uint8_t *buf, size_t cap, const char *json)
{
	struct vfio_user_version v = { .major = 0, .minor = 1 };
	size_t n = strlen(json) + 1;

	assert_true(sizeof(v) + n <= cap);
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), json, n);
	return sizeof(v) + n;
}

static int parse_str(const char *json, struct uvfio_caps *c)
{
	uint8_t buf[1024];
	size_t len = make_payload(buf, sizeof(buf), json);

	return uvfio_caps_parse(buf, len, c);
}

/* Parses {"capabilities":{<inner>}}. */
static int parse_caps(const char *inner, struct uvfio_caps *c)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"capabilities\":{%s}}", inner);
	return parse_str(json, c);
}

static void assert_caps_equal(const struct uvfio_caps *a,
			      const struct uvfio_caps *b)
{
	assert_int_equal(a->major, b->major);
	assert_int_equal(a->minor, b->minor);
	assert_int_equal(a->present, b->present);
	assert_int_equal(a->max_msg_fds, b->max_msg_fds);
	assert_int_equal(a->max_data_xfer_size, b->max_data_xfer_size);
	assert_int_equal(a->max_dma_maps, b->max_dma_maps);
	assert_true(a->pgsizes == b->pgsizes);
	assert_int_equal(a->has_migration, b->has_migration);
	assert_true(a->mig_pgsize == b->mig_pgsize);
	assert_true(a->mig_max_bitmap_size == b->mig_max_bitmap_size);
	assert_int_equal(a->twin_socket, b->twin_socket);
	assert_int_equal(a->twin_fd_index, b->twin_fd_index);
	assert_int_equal(a->write_multiple, b->write_multiple);
}

static void test_default(void **state)
{
	struct uvfio_caps c;

	memset(&c, 0xa5, sizeof(c));
	uvfio_caps_default(&c);
	assert_int_equal(c.major, 0);
	assert_int_equal(c.minor, VFIO_USER_MINOR);
	assert_int_equal(c.max_msg_fds, 1);
	assert_int_equal(c.max_data_xfer_size, 1048576);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_true(c.pgsizes == 4096);
	assert_false(c.has_migration);
	assert_false(c.twin_socket);
	assert_int_equal(c.twin_fd_index, -1);
	assert_false(c.write_multiple);
}

static void test_no_data(void **state)
{
	struct vfio_user_version v = { .major = 3, .minor = 7 };
	struct uvfio_caps c, def;

	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(uvfio_caps_parse(&v, sizeof(v), &c), 0);
	uvfio_caps_default(&def);
	def.major = 3;
	def.minor = 7;
	assert_caps_equal(&c, &def);

	/* Short payloads. */
	for (size_t len = 0; len < sizeof(v); len++)
		assert_int_equal(uvfio_caps_parse(&v, len, &c), -EINVAL);
}

static void test_empty_object(void **state)
{
	struct uvfio_caps c, def;

	uvfio_caps_default(&def);
	assert_int_equal(parse_str("{}", &c), 0);
	assert_caps_equal(&c, &def);
	assert_int_equal(parse_str("{\"capabilities\":{}}", &c), 0);
	assert_caps_equal(&c, &def);
	/* Whitespace around the value is JSON, not garbage. */
	assert_int_equal(parse_str(" \n{ \"capabilities\" : { } }\t ", &c), 0);
	assert_caps_equal(&c, &def);
}

static void test_round_trip(void **state)
{
	struct uvfio_caps in = {
		.major = 0,
		.minor = 1,
		.present = UVFIO_CAP_ALL | UVFIO_CAP_MIG_PGSIZE |
			   UVFIO_CAP_MIG_BITMAP,
		.max_msg_fds = 16,
		.max_data_xfer_size = 4194304,
		.max_dma_maps = 4294967295u,
		.pgsizes = 0x40201000ull,
		.has_migration = true,
		.mig_pgsize = 4096,
		.mig_max_bitmap_size = 268435456ull * 64,
		.twin_socket = true,
		.twin_fd_index = 2,
		.write_multiple = true,
	};
	struct uvfio_caps out;
	uint8_t buf[1024];
	int n;

	n = uvfio_caps_format(&in, buf, sizeof(buf));
	assert_true(n > 4);
	assert_int_equal(n, 4 + strlen((char *)buf + 4) + 1);
	assert_int_equal(uvfio_caps_parse(buf, n, &out), 0);
	assert_caps_equal(&in, &out);

	/* Only what is present; twin_socket without fd_index. */
	uvfio_caps_default(&in);
	in.present = UVFIO_CAP_MAX_DATA_XFER | UVFIO_CAP_TWIN_SOCKET;
	n = uvfio_caps_format(&in, buf, sizeof(buf));
	assert_true(n > 4);
	assert_string_equal((char *)buf + 4,
			    "{\"capabilities\":{\"max_data_xfer_size\":1048576,"
			    "\"twin_socket\":{\"supported\":false}}}");
	assert_int_equal(uvfio_caps_parse(buf, n, &out), 0);
	assert_caps_equal(&in, &out);

	/* Nothing present: an empty object, which parses to the defaults. */
	uvfio_caps_default(&in);
	n = uvfio_caps_format(&in, buf, sizeof(buf));
	assert_string_equal((char *)buf + 4, "{\"capabilities\":{}}");
	assert_int_equal(uvfio_caps_parse(buf, n, &out), 0);
	assert_caps_equal(&in, &out);
}

static void test_format_text(void **state)
{
	struct uvfio_caps c;
	struct vfio_user_version v;
	uint8_t buf[1024];
	const char *want =
		"{\"capabilities\":{\"max_msg_fds\":8,"
		"\"max_data_xfer_size\":1048576,\"max_dma_maps\":65535,"
		"\"pgsizes\":4096,"
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1024},"
		"\"twin_socket\":{\"supported\":true,\"fd_index\":0},"
		"\"write_multiple\":false}}";
	int n;

	uvfio_caps_default(&c);
	c.present = UVFIO_CAP_ALL;
	c.minor = 5;
	c.max_msg_fds = 8;
	c.has_migration = true;
	c.mig_pgsize = 4096;
	c.mig_max_bitmap_size = 1024;
	c.twin_socket = true;
	c.twin_fd_index = 0;
	n = uvfio_caps_format(&c, buf, sizeof(buf));
	assert_int_equal(n, 4 + strlen(want) + 1);
	memcpy(&v, buf, sizeof(v));
	assert_int_equal(v.major, 0);
	assert_int_equal(v.minor, 5);
	assert_string_equal((char *)buf + 4, want);
}

static void test_format_nospc(void **state)
{
	struct uvfio_caps c;
	uint8_t ref[1024], buf[1024];
	int need;

	uvfio_caps_default(&c);
	c.present = UVFIO_CAP_ALL;
	c.has_migration = true;
	c.mig_pgsize = UINT64_MAX;
	c.mig_max_bitmap_size = UINT64_MAX;
	c.pgsizes = UINT64_MAX;
	c.twin_fd_index = 252;
	need = uvfio_caps_format(&c, ref, sizeof(ref));
	assert_true(need > 4);

	for (size_t cap = 0; cap < (size_t)need; cap++) {
		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(uvfio_caps_format(&c, buf, cap), -ENOSPC);
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xee);
	}
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(uvfio_caps_format(&c, buf, need), need);
	assert_memory_equal(buf, ref, need);
	assert_int_equal(buf[need], 0xee);
}

static void test_bad_json(void **state)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"{\"capabilities\":}",
		"{\"capabilities\":{\"max_msg_fds\":1,}}",
		"{capabilities:{}}",
		"{\"capabilities\":{\"max_msg_fds\":01}}",
		"{\"a\":\"\xff\"}",
		"{'capabilities':{'max_msg_fds':4}}",
		"{\"capabilities\":{'max_msg_fds':4}}",
	};
	struct uvfio_caps c, before;

	uvfio_caps_default(&before);
	before.max_msg_fds = 77;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		c = before;
		assert_int_equal(parse_str(bad[i], &c), -EINVAL);
		/* A failed parse leaves the caller's caps alone. */
		assert_caps_equal(&c, &before);
	}
}

/* An apostrophe inside a string is just a character. */
static void test_apostrophe_in_string(void **state)
{
	struct uvfio_caps c;

	assert_int_equal(parse_str("{\"note\":\"it's \\\"fine\\\"\","
				   "\"capabilities\":{\"max_msg_fds\":4}}",
				   &c),
			 0);
	assert_int_equal(c.max_msg_fds, 4);
}

static void test_not_object(void **state)
{
	static const char *const bad[] = {
		"[]", "[{}]", "1", "\"{}\"", "null", "true", "1.5",
	};
	struct uvfio_caps c;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_str(bad[i], &c), -EINVAL);
}

static void test_caps_not_object(void **state)
{
	static const char *const bad[] = {
		"[]", "[{}]", "1", "\"x\"", "null", "true", "false", "0.5",
	};
	struct uvfio_caps c;
	char json[128];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(json, sizeof(json), "{\"capabilities\":%s}", bad[i]);
		assert_int_equal(parse_str(json, &c), -EINVAL);
	}
}

/* Every name that holds an integer, and values it must refuse. */
static void test_int_wrong_types(void **state)
{
	static const char *const names[] = {
		"max_msg_fds",
		"max_data_xfer_size",
		"max_dma_maps",
		"pgsizes",
	};
	static const char *const bad[] = {
		"\"1\"", "1.5",	  "1.0", "1e3", "-1",	"-9223372036854775808",
		"true",	 "false", "[1]", "{}",	"null", "0",
	};
	struct uvfio_caps c;
	char inner[128];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(bad); j++) {
			snprintf(inner, sizeof(inner), "\"%s\":%s", names[i],
				 bad[j]);
			assert_int_equal(parse_caps(inner, &c), -EINVAL);
		}
		/* The same name with a good value passes. */
		snprintf(inner, sizeof(inner), "\"%s\":4096", names[i]);
		assert_int_equal(parse_caps(inner, &c), 0);
	}
}

static void test_u32_range(void **state)
{
	static const char *const names[] = {
		"max_msg_fds",
		"max_data_xfer_size",
		"max_dma_maps",
	};
	struct uvfio_caps c;
	char inner[128];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(inner, sizeof(inner), "\"%s\":4294967296", names[i]);
		assert_int_equal(parse_caps(inner, &c), -EINVAL);
		snprintf(inner, sizeof(inner), "\"%s\":18446744073709551615",
			 names[i]);
		assert_int_equal(parse_caps(inner, &c), -EINVAL);
		snprintf(inner, sizeof(inner), "\"%s\":1", names[i]);
		assert_int_equal(parse_caps(inner, &c), 0);
	}
	assert_int_equal(parse_caps("\"max_data_xfer_size\":4294967295,"
				    "\"max_dma_maps\":4294967295",
				    &c),
			 0);
	assert_int_equal(c.max_data_xfer_size, UINT32_MAX);
	assert_int_equal(c.max_dma_maps, UINT32_MAX);
}

static void test_max_msg_fds_clamp(void **state)
{
	static const struct {
		const char *text;
		uint32_t want;
	} cases[] = {
		{ "1", 1 },	{ "16", 16 },	 { "253", 253 },
		{ "254", 253 }, { "1024", 253 }, { "4294967295", 253 },
	};
	struct uvfio_caps c;
	char inner[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(inner, sizeof(inner), "\"max_msg_fds\":%s",
			 cases[i].text);
		assert_int_equal(parse_caps(inner, &c), 0);
		assert_int_equal(c.max_msg_fds, cases[i].want);
	}
}

static void test_pgsizes_u64(void **state)
{
	struct uvfio_caps c;

	assert_int_equal(parse_caps("\"pgsizes\":9223372036854775808", &c), 0);
	assert_true(c.pgsizes == 1ull << 63);
	assert_int_equal(parse_caps("\"pgsizes\":18446744073709547520", &c), 0);
	assert_true(c.pgsizes == ~0xfffull);
	assert_int_equal(parse_caps("\"pgsizes\":2101248", &c), 0);
	assert_true(c.pgsizes == 0x201000);
}

static void test_bool_wrong_types(void **state)
{
	static const char *const bad[] = {
		"1", "0", "\"true\"", "[]", "{}", "null",
	};
	struct uvfio_caps c;
	char inner[128];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(inner, sizeof(inner), "\"write_multiple\":%s", bad[i]);
		assert_int_equal(parse_caps(inner, &c), -EINVAL);
		snprintf(inner, sizeof(inner),
			 "\"twin_socket\":{\"supported\":%s}", bad[i]);
		assert_int_equal(parse_caps(inner, &c), -EINVAL);
	}
	assert_int_equal(parse_caps("\"write_multiple\":true", &c), 0);
	assert_true(c.write_multiple);
	assert_int_equal(parse_caps("\"write_multiple\":false", &c), 0);
	assert_false(c.write_multiple);
}

static void test_twin_socket(void **state)
{
	static const char *const bad[] = {
		"\"twin_socket\":true",
		"\"twin_socket\":[]",
		"\"twin_socket\":1",
		"\"twin_socket\":null",
		"\"twin_socket\":{\"fd_index\":-1}",
		"\"twin_socket\":{\"fd_index\":253}",
		"\"twin_socket\":{\"fd_index\":4294967296}",
		"\"twin_socket\":{\"fd_index\":1.0}",
		"\"twin_socket\":{\"fd_index\":\"0\"}",
		"\"twin_socket\":{\"fd_index\":true}",
		"\"twin_socket\":{\"fd_index\":[0]}",
	};
	struct uvfio_caps c;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_caps(bad[i], &c), -EINVAL);

	assert_int_equal(parse_caps("\"twin_socket\":{}", &c), 0);
	assert_false(c.twin_socket);
	assert_int_equal(c.twin_fd_index, -1);
	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":true}", &c),
			 0);
	assert_true(c.twin_socket);
	assert_int_equal(c.twin_fd_index, -1);
	assert_int_equal(parse_caps("\"twin_socket\":{\"supported\":true,"
				    "\"fd_index\":0}",
				    &c),
			 0);
	assert_int_equal(c.twin_fd_index, 0);
	assert_int_equal(parse_caps("\"twin_socket\":{\"fd_index\":252}", &c),
			 0);
	assert_false(c.twin_socket);
	assert_int_equal(c.twin_fd_index, 252);
}

static void test_migration(void **state)
{
	static const char *const bad[] = {
		"\"migration\":true",
		"\"migration\":[]",
		"\"migration\":4096",
		"\"migration\":{\"pgsize\":0,\"max_bitmap_size\":1}",
		"\"migration\":{\"pgsize\":1,\"max_bitmap_size\":0}",
		"\"migration\":{\"pgsize\":-1,\"max_bitmap_size\":1}",
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1.5}",
		"\"migration\":{\"pgsize\":\"4096\",\"max_bitmap_size\":1}",
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":false}",
		"\"migration\":{\"pgsize\":[1],\"max_bitmap_size\":1}",
		"\"migration\":{\"max_bitmap_size\":0}",
	};
	/* Either member may be missing: libvfio-user sends pgsize alone. */
	static const struct {
		const char *json;
		uint64_t pgsize, bitmap;
	} good[] = {
		{ "\"migration\":{}", 4096, 256u << 20 },
		{ "\"migration\":{\"pgsize\":8192}", 8192, 256u << 20 },
		{ "\"migration\":{\"max_bitmap_size\":4096}", 4096, 4096 },
		{ "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":"
		  "268435456,\"future\":[1]}",
		  4096, 268435456 },
	};
	struct uvfio_caps c;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_caps(bad[i], &c), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(parse_caps(good[i].json, &c), 0);
		assert_true(c.has_migration);
		assert_true(c.present & UVFIO_CAP_MIGRATION);
		assert_true(c.mig_pgsize == good[i].pgsize);
		assert_true(c.mig_max_bitmap_size == good[i].bitmap);
	}
	assert_int_equal(parse_caps("", &c), 0);
	assert_false(c.has_migration);
	assert_int_equal(c.present, 0);
}

/* The VERSION replies the peers send, byte for byte (tests/interop/data). */
static void test_peer_replies(void **state)
{
	/* libvfio-user 0.2, samples/server and gpio-pci-idio-16. */
	static const char lvu[] =
		"{ \"capabilities\": { \"max_msg_fds\": 8, "
		"\"max_data_xfer_size\": 1048576, \"migration\": "
		"{ \"pgsize\": 4096 } } }";
	/* The same, to a client that proposed a twin socket. */
	static const char lvu_twin[] =
		"{ \"capabilities\": { \"max_msg_fds\": 8, "
		"\"max_data_xfer_size\": 1048576, \"migration\": "
		"{ \"pgsize\": 4096 }, \"twin_socket\": { \"supported\": "
		"true, \"fd_index\": 0 } } }";
	/* QEMU 10.1's proposal. */
	static const char qemu[] =
		"{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, "
		"\"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "
		"\"migration\": {\"max_bitmap_size\": 268435456, "
		"\"pgsize\": 4096}, \"write_multiple\": true}}";
	struct uvfio_caps c;

	assert_int_equal(parse_str(lvu, &c), 0);
	assert_int_equal(c.max_msg_fds, 8);
	assert_true(c.has_migration);
	assert_true(c.mig_pgsize == 4096);
	assert_false(c.twin_socket);
	/* max_bitmap_size absent: the default, and known to be absent. */
	assert_int_equal(c.present, UVFIO_CAP_MAX_MSG_FDS |
					    UVFIO_CAP_MAX_DATA_XFER |
					    UVFIO_CAP_MIGRATION |
					    UVFIO_CAP_MIG_PGSIZE);
	assert_int_equal(parse_str(lvu_twin, &c), 0);
	assert_true(c.twin_socket);
	assert_int_equal(c.twin_fd_index, 0);
	assert_int_equal(parse_str(qemu, &c), 0);
	assert_int_equal(c.present, (UVFIO_CAP_ALL & ~UVFIO_CAP_TWIN_SOCKET) |
					    UVFIO_CAP_MIG_PGSIZE |
					    UVFIO_CAP_MIG_BITMAP);
	assert_true(c.write_multiple);
	assert_true(c.mig_max_bitmap_size == 268435456);
}

/* A server answers what it was asked, and limits tighter than defaults. */
static void test_answer_what_was_asked(void **state)
{
	static const struct {
		const char *proposal;
		const char *reply;
	} cases[] = {
		/* QEMU: everything it proposed but migration; no twin. */
		{ "\"pgsizes\":4096,\"max_msg_fds\":16,\"max_dma_maps\":65535,"
		  "\"max_data_xfer_size\":1048576,\"migration\":"
		  "{\"max_bitmap_size\":268435456,\"pgsize\":4096},"
		  "\"write_multiple\":true",
		  "{\"capabilities\":{\"max_msg_fds\":16,"
		  "\"max_data_xfer_size\":1048576,\"max_dma_maps\":65535,"
		  "\"pgsizes\":4096,\"write_multiple\":true}}" },
		/* libvfio-user's sample client: no twin_socket object. */
		{ "\"max_msg_fds\":32,\"max_data_xfer_size\":1024",
		  "{\"capabilities\":{\"max_msg_fds\":16,"
		  "\"max_data_xfer_size\":1048576}}" },
		/* Asked for a twin socket: supported, fd_index set later. */
		{ "\"twin_socket\":{\"supported\":true}",
		  "{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}" },
		/* Asked, refused: said so. */
		{ "\"twin_socket\":{}",
		  "{\"capabilities\":{\"twin_socket\":"
		  "{\"supported\":false}}}" },
		{ "", "{\"capabilities\":{}}" },
	};
	struct uvfio_caps sv, cl, r;
	uint8_t buf[512];

	uvfio_caps_default(&sv);
	sv.max_msg_fds = 16;
	sv.twin_socket = true;
	sv.write_multiple = true;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(parse_caps(cases[i].proposal, &cl), 0);
		assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
		assert_true(uvfio_caps_format(&r, buf, sizeof(buf)) > 0);
		assert_string_equal((char *)buf + 4, cases[i].reply);
	}
	/* A tighter limit is told even unasked; a default one is not. */
	sv.max_data_xfer_size = 65536;
	sv.max_dma_maps = 100;
	sv.pgsizes = 0x201000;
	assert_int_equal(parse_caps("", &cl), 0);
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
	assert_true(uvfio_caps_format(&r, buf, sizeof(buf)) > 0);
	assert_string_equal((char *)buf + 4,
			    "{\"capabilities\":{\"max_data_xfer_size\":65536,"
			    "\"max_dma_maps\":100,\"pgsizes\":2101248}}");
}

static void test_nul_rules(void **state)
{
	static const char json[] = "{\"capabilities\":{}}";
	struct uvfio_caps c;
	uint8_t buf[128];
	size_t len = make_payload(buf, sizeof(buf), json);

	assert_int_equal(uvfio_caps_parse(buf, len, &c), 0);
	/* Without its NUL. */
	assert_int_equal(uvfio_caps_parse(buf, len - 1, &c), -EINVAL);
	/* Bytes after the NUL. */
	buf[len] = 'x';
	assert_int_equal(uvfio_caps_parse(buf, len + 1, &c), -EINVAL);
	buf[len] = '\0';
	assert_int_equal(uvfio_caps_parse(buf, len + 1, &c), -EINVAL);
	/* A NUL inside the text. */
	buf[4 + 5] = '\0';
	assert_int_equal(uvfio_caps_parse(buf, len, &c), -EINVAL);
	/* Only a NUL: no text at all. */
	buf[4] = '\0';
	assert_int_equal(uvfio_caps_parse(buf, 5, &c), -EINVAL);
}

static void test_trailing_garbage(void **state)
{
	static const char *const bad[] = {
		"{} x", "{}{}", "{},", "{}]", "{}}", "{\"capabilities\":{}}0",
	};
	struct uvfio_caps c;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_str(bad[i], &c), -EINVAL);
}

static void test_unknown_ignored(void **state)
{
	static const char json[] =
		"{\"future\":[1,{\"x\":null}],\"version\":\"1.0\","
		"\"capabilities\":{\"max_msg_fds\":4,\"nested\":{\"a\":[1.5]},"
		"\"max_dma_maps\":\"ignored-name-only-if-unknown\","
		"\"twin_socket\":{\"supported\":true,\"mode\":\"fast\"},"
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":8,"
		"\"extra\":-1},\"zzz\":false}}";
	struct uvfio_caps c;
	char fixed[sizeof(json)];
	char *p;

	/* max_dma_maps is known: a string there is refused... */
	assert_int_equal(parse_str(json, &c), -EINVAL);
	/* ...and renamed to an unknown name it is ignored. */
	memcpy(fixed, json, sizeof(json));
	p = strstr(fixed, "max_dma_maps");
	assert_non_null(p);
	p[0] = 'X';
	assert_int_equal(parse_str(fixed, &c), 0);
	assert_int_equal(c.max_msg_fds, 4);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_true(c.twin_socket);
	assert_true(c.has_migration);
	assert_true(c.mig_max_bitmap_size == 8);
	assert_false(c.write_multiple);
}

static void test_deep_nesting(void **state)
{
	struct uvfio_caps c;
	const size_t depth = 100000;
	uint8_t *buf = malloc(depth * 2 + 64);
	char *p;
	size_t len;

	assert_non_null(buf);
	/* Shallow unknown nesting fits under the limit. */
	assert_int_equal(parse_caps("\"x\":[[[[1]]]]", &c), 0);
	/* Deep nesting: refused, not a stack overflow. */
	memset(buf, 0, 4);
	p = (char *)buf + 4;
	len = (size_t)sprintf(p, "{\"capabilities\":{\"x\":");
	memset(p + len, '[', depth);
	len += depth;
	memset(p + len, ']', depth);
	len += depth;
	len += (size_t)sprintf(p + len, "}}");
	assert_int_equal(uvfio_caps_parse(buf, 4 + len + 1, &c), -EINVAL);
	/* Unterminated deep nesting too. */
	memset(p, '{', depth);
	p[depth] = '\0';
	assert_int_equal(uvfio_caps_parse(buf, 4 + depth + 1, &c), -EINVAL);
	free(buf);
}

static void test_negotiate(void **state)
{
	struct uvfio_caps cl, sv, r;

	uvfio_caps_default(&cl);
	uvfio_caps_default(&sv);
	cl.minor = 3;
	sv.minor = 1;
	cl.max_msg_fds = 64;
	sv.max_msg_fds = 8;
	sv.max_data_xfer_size = 65536;
	sv.max_dma_maps = 10;
	sv.pgsizes = 0x201000;
	sv.has_migration = true;
	sv.mig_pgsize = 4096;
	sv.mig_max_bitmap_size = 1 << 20;
	sv.twin_fd_index = 5;
	cl.present = UVFIO_CAP_ALL;
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
	assert_int_equal(r.major, 0);
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.max_msg_fds, 8);
	assert_int_equal(r.max_data_xfer_size, 65536);
	assert_int_equal(r.max_dma_maps, 10);
	assert_true(r.pgsizes == 0x201000);
	assert_true(r.has_migration);
	assert_true(r.mig_max_bitmap_size == 1 << 20);
	assert_int_equal(r.twin_fd_index, -1);
	/* Migration only to a client that asked about it. */
	cl.present &= ~UVFIO_CAP_MIGRATION;
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
	assert_false(r.has_migration);
	assert_false(r.present & UVFIO_CAP_MIGRATION);

	/* Minor: the smaller, whichever side has it. */
	cl.minor = 0;
	sv.minor = 2;
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
	assert_int_equal(r.minor, 0);

	/* Major mismatch. */
	cl.major = 1;
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), -ENOTSUP);
	cl.major = 0;
	sv.major = 2;
	assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), -ENOTSUP);
	sv.major = 0;
}

static void test_negotiate_flags(void **state)
{
	static const struct {
		bool cl_twin, sv_twin, cl_wm, sv_wm;
		bool twin, wm;
	} cases[] = {
		{ true, true, false, false, true, false },
		{ true, false, false, false, false, false },
		{ false, true, false, false, false, false },
		{ false, false, false, false, false, false },
		{ false, false, false, true, false, true },
		{ false, false, true, false, false, false },
		{ true, true, true, true, true, true },
	};
	struct uvfio_caps cl, sv, r;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uvfio_caps_default(&cl);
		uvfio_caps_default(&sv);
		cl.twin_socket = cases[i].cl_twin;
		sv.twin_socket = cases[i].sv_twin;
		cl.write_multiple = cases[i].cl_wm;
		sv.write_multiple = cases[i].sv_wm;
		assert_int_equal(uvfio_caps_negotiate(&cl, &sv, &r), 0);
		assert_int_equal(r.twin_socket, cases[i].twin);
		assert_int_equal(r.write_multiple, cases[i].wm);
		assert_int_equal(r.twin_fd_index, -1);
	}
}

static void test_check_reply(void **state)
{
	struct uvfio_caps p, r;

	uvfio_caps_default(&p);
	p.minor = 2;
	r = p;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), 0);
	r.minor = 0;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), 0);
	r.minor = 3;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), -EPROTO);
	r.minor = 2;
	r.major = 1;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), -EPROTO);
	r.major = 0;

	/* twin_socket: only when proposed, and then with an fd_index. */
	r.twin_socket = true;
	r.twin_fd_index = 0;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), -EPROTO);
	p.twin_socket = true;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), 0);
	r.twin_fd_index = -1;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), -EPROTO);
	/* Proposed, declined by the server: fine. */
	r.twin_socket = false;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), 0);
	/* Limits are the server's own to choose. */
	r.max_msg_fds = 253;
	r.write_multiple = true;
	assert_int_equal(uvfio_caps_check_reply(&p, &r), 0);
}

/* A reply built by negotiate, sent and parsed, passes the client's check. */
static void test_end_to_end(void **state)
{
	struct uvfio_caps cl, sv, r, got;
	uint8_t buf[512];
	int n;

	uvfio_caps_default(&cl);
	uvfio_caps_default(&sv);
	cl.twin_socket = true;
	cl.present = UVFIO_CAP_TWIN_SOCKET | UVFIO_CAP_WRITE_MULTIPLE;
	sv.twin_socket = true;
	sv.write_multiple = true;
	n = uvfio_caps_format(&cl, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvfio_caps_parse(buf, n, &got), 0);
	assert_int_equal(uvfio_caps_negotiate(&got, &sv, &r), 0);
	r.twin_fd_index = 0;
	n = uvfio_caps_format(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(uvfio_caps_parse(buf, n, &got), 0);
	assert_int_equal(uvfio_caps_check_reply(&cl, &got), 0);
	assert_true(got.twin_socket);
	assert_int_equal(got.twin_fd_index, 0);
	assert_true(got.write_multiple);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_no_data),
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_text),
		cmocka_unit_test(test_format_nospc),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_apostrophe_in_string),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_caps_not_object),
		cmocka_unit_test(test_int_wrong_types),
		cmocka_unit_test(test_u32_range),
		cmocka_unit_test(test_max_msg_fds_clamp),
		cmocka_unit_test(test_pgsizes_u64),
		cmocka_unit_test(test_bool_wrong_types),
		cmocka_unit_test(test_twin_socket),
		cmocka_unit_test(test_migration),
		cmocka_unit_test(test_peer_replies),
		cmocka_unit_test(test_answer_what_was_asked),
		cmocka_unit_test(test_nul_rules),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_unknown_ignored),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_negotiate_flags),
		cmocka_unit_test(test_check_reply),
		cmocka_unit_test(test_end_to_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
