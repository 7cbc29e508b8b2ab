// SPDX-License-Identifier: MIT
#include "rec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static void die(const char *what, const char *name)
{
	fprintf(stderr, "recording %s: %s\n", name, what);
	exit(99);
}

static int64_t num(struct json_object *o, const char *key, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		die(key, name);
	return json_object_get_int64(v);
}

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		sscanf(s + 2 * i, "%2x", &b);
		out[i] = (uint8_t)b;
	}
}

static void parse(struct rec_msg *m, struct json_object *o, const char *name)
{
	struct json_object *v;
	const char *h;

	memset(m, 0, sizeof(*m));
	if (!json_object_object_get_ex(o, "dir", &v))
		die("dir", name);
	m->c2s = !strcmp(json_object_get_string(v), "c2s");
	if (json_object_object_get_ex(o, "conn", &v))
		snprintf(m->conn, sizeof(m->conn), "%s",
			 json_object_get_string(v));
	m->hdr.msg_id = (uint16_t)num(o, "msg_id", name);
	m->hdr.cmd = (uint16_t)num(o, "command", name);
	m->hdr.flags = (uint32_t)num(o, "flags", name);
	m->hdr.msg_size = (uint32_t)num(o, "size", name);
	m->hdr.error_no = (uint32_t)num(o, "error", name);
	m->nfds = (unsigned int)num(o, "nfds", name);
	m->partial = json_object_object_get_ex(o, "partial", &v);
	if (m->hdr.msg_size < sizeof(m->hdr))
		die("size", name);
	m->size = m->hdr.msg_size - (uint32_t)sizeof(m->hdr);
	m->payload = calloc(1, m->size + 1);
	if (!m->payload)
		die("memory", name);
	if (!json_object_object_get_ex(o, "payload_hex", &v))
		die("payload_hex", name);
	h = json_object_get_string(v);
	m->have = (uint32_t)(strlen(h) / 2);
	if (m->have > m->size)
		die("payload longer than size", name);
	hex(h, m->payload, m->have);
}

void rec_load(struct rec *r, const char *name)
{
	const char *dir = getenv("UVFIO_INTEROP_DATA");
	char path[512], *line = NULL;
	size_t cap = 0, alloc = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", name);
	f = fopen(path, "r");
	if (!f)
		die("cannot open (is UVFIO_INTEROP_DATA set?)", path);
	r->m = NULL;
	r->n = 0;
	while (getline(&line, &cap, f) > 0) {
		struct json_object *o = json_tokener_parse(line);

		if (!o)
			die("bad JSON line", name);
		if (r->n == alloc) {
			alloc = alloc ? 2 * alloc : 256;
			r->m = realloc(r->m, alloc * sizeof(*r->m));
			if (!r->m)
				die("memory", name);
		}
		parse(&r->m[r->n++], o, name);
		json_object_put(o);
	}
	free(line);
	fclose(f);
}

void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->m[i].payload);
	free(r->m);
	r->m = NULL;
	r->n = 0;
}

const struct rec_msg *rec_reply_to(const struct rec *r, const struct rec_msg *q)
{
	for (const struct rec_msg *m = q + 1; m < r->m + r->n; m++)
		if (m->c2s != q->c2s && rec_is_reply(m) &&
		    m->hdr.msg_id == q->hdr.msg_id && m->hdr.cmd == q->hdr.cmd &&
		    !strcmp(m->conn, q->conn))
			return m;
	return NULL;
}
