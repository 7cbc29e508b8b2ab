// SPDX-License-Identifier: MIT
#include "negotiate.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "wire.h"

/*
 * The kernel passes at most SCM_MAX_FD (include/net/scm.h, not in the UAPI)
 * descriptors in one sendmsg(), so a larger max_msg_fds can never be used:
 * it is clamped rather than refused, to stay interoperable with peers that
 * announce a generous number.
 */
#define SCM_MAX_FD 253

/* A capability object is flat; ten levels leave room for unknown names. */
#define JSON_MAX_DEPTH 10

void uvfio_caps_default(struct uvfio_caps *c)
{
	*c = (struct uvfio_caps){
		.major = VFIO_USER_MAJOR,
		.minor = VFIO_USER_MINOR,
		.max_msg_fds = VFIO_USER_DEFAULT_MAX_FDS,
		.max_data_xfer_size = VFIO_USER_DEFAULT_MAX_DATA_XFER,
		.max_dma_maps = VFIO_USER_DEFAULT_MAX_DMA_MAPS,
		.pgsizes = VFIO_USER_DEFAULT_PGSIZES,
		.mig_pgsize = VFIO_USER_DEFAULT_PGSIZES,
		.mig_max_bitmap_size = VFIO_USER_DEFAULT_MAX_BITMAP,
		.twin_fd_index = -1,
	};
}

/*
 * A JSON integer in [min, max].  json-c keeps large positive integers as
 * uint64 and negative ones as int64, so the sign is checked first.  json-c
 * saturates literals beyond 2^64 - 1 to that value; only pgsizes and the
 * migration sizes can hold it, and it means "every bit" there anyway.
 */
static int get_uint(struct json_object *o, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	uint64_t v;

	if (!json_object_is_type(o, json_type_int) ||
	    json_object_get_int64(o) < 0)
		return -EINVAL;
	v = json_object_get_uint64(o);
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * An optional integer member: absent leaves *out alone; present sets bit
 * in *present.
 */
static int opt_uint(struct json_object *obj, const char *key, uint64_t min,
		    uint64_t max, uint64_t *out, uint32_t *present, uint32_t bit)
{
	struct json_object *o;

	if (!json_object_object_get_ex(obj, key, &o))
		return 0;
	*present |= bit;
	return get_uint(o, min, max, out);
}

static int opt_u32(struct json_object *obj, const char *key, uint32_t *out,
		   uint32_t *present, uint32_t bit)
{
	uint64_t v = *out;
	int ret = opt_uint(obj, key, 1, UINT32_MAX, &v, present, bit);

	*out = (uint32_t)v;
	return ret;
}

static int opt_bool(struct json_object *obj, const char *key, bool *out,
		    uint32_t *present, uint32_t bit)
{
	struct json_object *o;

	if (!json_object_object_get_ex(obj, key, &o))
		return 0;
	*present |= bit;
	if (!json_object_is_type(o, json_type_boolean))
		return -EINVAL;
	*out = json_object_get_boolean(o);
	return 0;
}

/* An optional object member: *out is NULL when absent. */
static int opt_obj(struct json_object *obj, const char *key,
		   struct json_object **out)
{
	*out = NULL;
	if (!json_object_object_get_ex(obj, key, out))
		return 0;
	return json_object_is_type(*out, json_type_object) ? 0 : -EINVAL;
}

/*
 * The older migration capability.  Either size may be missing (libvfio-user
 * sends pgsize alone): a missing one keeps its default.
 */
static int parse_migration(struct json_object *caps, struct uvfio_caps *c)
{
	struct json_object *mig;
	int ret;

	ret = opt_obj(caps, "migration", &mig);
	if (ret || !mig)
		return ret;
	c->present |= UVFIO_CAP_MIGRATION;
	ret = opt_uint(mig, "pgsize", 1, UINT64_MAX, &c->mig_pgsize,
		       &c->present, UVFIO_CAP_MIG_PGSIZE);
	if (!ret)
		ret = opt_uint(mig, "max_bitmap_size", 1, UINT64_MAX,
			       &c->mig_max_bitmap_size, &c->present,
			       UVFIO_CAP_MIG_BITMAP);
	if (!ret)
		c->has_migration = true;
	return ret;
}

static int parse_twin_socket(struct json_object *caps, struct uvfio_caps *c)
{
	struct json_object *twin, *o;
	uint64_t idx;
	int ret;

	uint32_t seen = 0;

	ret = opt_obj(caps, "twin_socket", &twin);
	if (ret || !twin)
		return ret;
	c->present |= UVFIO_CAP_TWIN_SOCKET;
	ret = opt_bool(twin, "supported", &c->twin_socket, &seen, 1);
	if (!ret && json_object_object_get_ex(twin, "fd_index", &o)) {
		/* An index into the fds of one message. */
		ret = get_uint(o, 0, SCM_MAX_FD - 1, &idx);
		if (!ret)
			c->twin_fd_index = (int32_t)idx;
	}
	return ret;
}

static int parse_caps(struct json_object *caps, struct uvfio_caps *c)
{
	uint32_t *p = &c->present;
	int ret;

	ret = opt_u32(caps, "max_msg_fds", &c->max_msg_fds, p,
		      UVFIO_CAP_MAX_MSG_FDS);
	if (!ret && c->max_msg_fds > SCM_MAX_FD)
		c->max_msg_fds = SCM_MAX_FD;
	if (!ret)
		ret = opt_u32(caps, "max_data_xfer_size",
			      &c->max_data_xfer_size, p,
			      UVFIO_CAP_MAX_DATA_XFER);
	if (!ret)
		ret = opt_u32(caps, "max_dma_maps", &c->max_dma_maps, p,
			      UVFIO_CAP_MAX_DMA_MAPS);
	if (!ret)
		ret = opt_uint(caps, "pgsizes", 1, UINT64_MAX, &c->pgsizes, p,
			       UVFIO_CAP_PGSIZES);
	if (!ret)
		ret = parse_migration(caps, c);
	if (!ret)
		ret = parse_twin_socket(caps, c);
	if (!ret)
		ret = opt_bool(caps, "write_multiple", &c->write_multiple, p,
			       UVFIO_CAP_WRITE_MULTIPLE);
	return ret;
}

/*
 * json-c accepts single-quoted keys even in strict mode; JSON has none, so
 * an apostrophe outside a double-quoted string rejects the text.
 */
static bool single_quoted(const char *json, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (in_str && json[i] == '\\')
			i++;
		else if (json[i] == '"')
			in_str = !in_str;
		else if (!in_str && json[i] == '\'')
			return true;
	}
	return false;
}

/* json is exactly len bytes of text, without its NUL. */
static int parse_json(const char *json, size_t len, struct uvfio_caps *c)
{
	struct json_tokener *tok;
	struct json_object *top, *caps;
	int ret = -EINVAL;

	if (len > INT_MAX || single_quoted(json, len))
		return -EINVAL;
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	top = json_tokener_parse_ex(tok, json, (int)len);
	/* A value that ends before len is followed by garbage. */
	if (top && json_tokener_get_parse_end(tok) == len &&
	    json_object_is_type(top, json_type_object)) {
		ret = opt_obj(top, "capabilities", &caps);
		if (!ret && caps)
			ret = parse_caps(caps, c);
	}
	json_object_put(top);
	json_tokener_free(tok);
	return ret;
}

int uvfio_caps_parse(const void *payload, size_t len, struct uvfio_caps *c)
{
	struct vfio_user_version v;
	struct uvfio_caps tmp;
	const char *json;
	size_t jlen;
	int ret;

	if (len < sizeof(v))
		return -EINVAL;
	memcpy(&v, payload, sizeof(v));
	json = (const char *)payload + sizeof(v);
	jlen = len - sizeof(v);
	/* Into a copy, so that a bad payload leaves *c as it was. */
	uvfio_caps_default(&tmp);
	tmp.major = v.major;
	tmp.minor = v.minor;
	if (jlen) {
		/* The text ends at its only NUL, the payload's last byte. */
		if (memchr(json, '\0', jlen) != json + jlen - 1)
			return -EINVAL;
		ret = parse_json(json, jlen - 1, &tmp);
		if (ret)
			return ret;
	}
	*c = tmp;
	return 0;
}

/* Appends ",<fmt>" (the first member without its comma) to *pos. */
static int add(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= cap)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *pos)
		return -ENOSPC;
	*pos += (size_t)n;
	return 0;
}

int uvfio_caps_format(const struct uvfio_caps *c, void *buf, size_t cap)
{
	struct vfio_user_version v = { .major = c->major, .minor = c->minor };
	char *json = (char *)buf + sizeof(v);
	size_t pos = 0, jcap;
	const char *sep = "";
	int err;

	if (cap < sizeof(v))
		return -ENOSPC;
	jcap = cap - sizeof(v);
	err = add(json, jcap, &pos, "{\"capabilities\":{");
#define MEMBER(bit, ...)                                                    \
	do {                                                                \
		if (!err && (c->present & (bit))) {                         \
			err = add(json, jcap, &pos, "%s", sep);             \
			if (!err)                                           \
				err = add(json, jcap, &pos, __VA_ARGS__);   \
			sep = ",";                                          \
		}                                                           \
	} while (0)
	MEMBER(UVFIO_CAP_MAX_MSG_FDS, "\"max_msg_fds\":%" PRIu32,
	       c->max_msg_fds);
	MEMBER(UVFIO_CAP_MAX_DATA_XFER, "\"max_data_xfer_size\":%" PRIu32,
	       c->max_data_xfer_size);
	MEMBER(UVFIO_CAP_MAX_DMA_MAPS, "\"max_dma_maps\":%" PRIu32,
	       c->max_dma_maps);
	MEMBER(UVFIO_CAP_PGSIZES, "\"pgsizes\":%" PRIu64, c->pgsizes);
	MEMBER(UVFIO_CAP_MIGRATION,
	       "\"migration\":{\"pgsize\":%" PRIu64
	       ",\"max_bitmap_size\":%" PRIu64 "}",
	       c->mig_pgsize, c->mig_max_bitmap_size);
	MEMBER(UVFIO_CAP_TWIN_SOCKET, "\"twin_socket\":{\"supported\":%s",
	       c->twin_socket ? "true" : "false");
	if (!err && (c->present & UVFIO_CAP_TWIN_SOCKET))
		err = c->twin_fd_index >= 0 ?
			      add(json, jcap, &pos, ",\"fd_index\":%" PRId32 "}",
				  c->twin_fd_index) :
			      add(json, jcap, &pos, "}");
	MEMBER(UVFIO_CAP_WRITE_MULTIPLE, "\"write_multiple\":%s",
	       c->write_multiple ? "true" : "false");
#undef MEMBER
	if (!err)
		err = add(json, jcap, &pos, "}}");
	/* Room for the NUL, which vsnprintf wrote already. */
	if (!err && pos + 1 > jcap)
		err = -ENOSPC;
	if (err)
		return err;
	memcpy(buf, &v, sizeof(v));
	return (int)(sizeof(v) + pos + 1);
}

/* Limits a client would get wrong if the server left them out. */
static uint32_t tighter_than_default(const struct uvfio_caps *s)
{
	struct uvfio_caps d;
	uint32_t bits = 0;

	uvfio_caps_default(&d);
	if (s->max_data_xfer_size < d.max_data_xfer_size)
		bits |= UVFIO_CAP_MAX_DATA_XFER;
	if (s->max_dma_maps < d.max_dma_maps)
		bits |= UVFIO_CAP_MAX_DMA_MAPS;
	if (s->pgsizes != d.pgsizes)
		bits |= UVFIO_CAP_PGSIZES;
	return bits;
}

int uvfio_caps_negotiate(const struct uvfio_caps *client,
			 const struct uvfio_caps *server,
			 struct uvfio_caps *reply)
{
	uint32_t offered = UVFIO_CAP_MAX_MSG_FDS | UVFIO_CAP_MAX_DATA_XFER |
			   UVFIO_CAP_MAX_DMA_MAPS | UVFIO_CAP_PGSIZES |
			   UVFIO_CAP_TWIN_SOCKET | UVFIO_CAP_WRITE_MULTIPLE;

	if (client->major != server->major)
		return -ENOTSUP;
	*reply = *server;
	if (client->minor < server->minor)
		reply->minor = client->minor;
	if (server->has_migration)
		offered |= UVFIO_CAP_MIGRATION;
	/*
	 * Only what was asked (a client may choke on, or warn about, a name
	 * it did not propose: libvfio-user's sample client, QEMU), plus the
	 * limits below the defaults that the client must not assume.
	 */
	reply->present = (client->present & offered) |
			 tighter_than_default(server);
	reply->has_migration = reply->present & UVFIO_CAP_MIGRATION;
	reply->twin_socket = client->twin_socket && server->twin_socket;
	reply->twin_fd_index = -1;
	/*
	 * write_multiple is the server announcing that it accepts
	 * REGION_WRITE_MULTI, as libvfio-user and QEMU use it, not a mode both
	 * sides enter: a client that did not propose it simply never sends
	 * one, so the server's word stands on its own.
	 */
	reply->write_multiple = server->write_multiple;
	return 0;
}

int uvfio_caps_check_reply(const struct uvfio_caps *proposed,
			   const struct uvfio_caps *reply)
{
	if (reply->major != proposed->major || reply->minor > proposed->minor)
		return -EPROTO;
	/* twin_socket is the one capability a server may only echo. */
	if (reply->twin_socket &&
	    (!proposed->twin_socket || reply->twin_fd_index < 0))
		return -EPROTO;
	return 0;
}
