// SPDX-License-Identifier: MIT
/*
 * GET_REGION_IO_FDS replies from a hostile device: entries past the
 * region or naming fds that did not come, counts the payload cannot
 * hold, fds with no entry, a device that never has room: -EPROTO, with
 * no fd kept.  Entries of kinds the client cannot use are left out; fds
 * shared by entries come back as one dup each; libvfio-user's longer
 * entries (datamatch after a shadow-memory offset) are read as it means
 * them.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <uvfio/client.h>

#include "evil_cases.h"

#define HDR sizeof(struct vfio_user_region_io_fds_request)
#define ENT sizeof(struct vfio_user_sub_region_ioeventfd)

enum iofd_kind {
	IO_GOOD_SHARED, /* two entries, one fd */
	IO_SKIP_KINDS, /* ioregionfd, unknown flags, size 3, and a good one */
	IO_FD_INDEX, /* fd_index past the fds that came */
	IO_PAST_END, /* an entry reaching past region 0 */
	IO_COUNT_BIG, /* count above what the payload holds */
	IO_FDS_NO_COUNT, /* count 0, with an fd */
	IO_OTHER_INDEX, /* the reply of another region */
	IO_ALWAYS_MORE, /* asks for more room each time */
	IO_NO_FD, /* one entry, no fd at all */
	IO_LVU_LAYOUT, /* libvfio-user's 48-byte entries, datamatch at 40 */
	IO_STRIDE_SHORT, /* argsz says entries of 24 bytes */
};

struct iofd_case {
	const char *name;
	struct evil_cfg cfg;
	enum iofd_kind kind;
	int want; /* doorbells returned, or -errno */
};

static struct vfio_user_sub_region_ioeventfd ent(uint64_t off, uint32_t fdi,
						 uint32_t type, uint32_t flags)
{
	return (struct vfio_user_sub_region_ioeventfd){
		.offset = off,
		.size = 4,
		.fd_index = fdi,
		.type = type,
		.flags = flags,
		.datamatch = 7,
	};
}

static enum evil_verdict iofd_hook(struct evil_srv *s, struct uvfio_msg *m)
{
	const struct iofd_case *k =
		evil_container_of(s->cfg, struct iofd_case, cfg);
	struct vfio_user_region_io_fds_request q;
	struct vfio_user_sub_region_ioeventfd e[4];
	uint8_t out[HDR + sizeof(e)];
	unsigned int n = 0, nfds = 1;
	int fd, r;

	if (m->hdr.cmd != VFIO_USER_DEVICE_GET_REGION_IO_FDS)
		return EVIL_PASS;
	if (m->size != HDR)
		return evil_error(s, m, EINVAL);
	memcpy(&q, m->payload, HDR);
	switch (k->kind) {
	case IO_GOOD_SHARED:
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			     KVM_IOEVENTFD_FLAG_DATAMATCH);
		e[n++] = ent(8, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		break;
	case IO_SKIP_KINDS:
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOREGIONFD, 0);
		e[n++] = ent(8, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			     KVM_IOEVENTFD_FLAG_PIO);
		e[n] = ent(16, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		e[n++].size = 3;
		e[n++] = ent(24, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		break;
	case IO_FD_INDEX:
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		e[n++] = ent(8, 1, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		break;
	case IO_PAST_END:
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		e[n++] = ent(EVIL_BAR_SIZE - 2, 0,
			     VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		break;
	case IO_COUNT_BIG:
	case IO_OTHER_INDEX:
	case IO_ALWAYS_MORE:
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		break;
	case IO_FDS_NO_COUNT:
		break;
	case IO_NO_FD:
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		nfds = 0;
		break;
	case IO_LVU_LAYOUT:
	case IO_STRIDE_SHORT:
		break; /* built below, in their own layouts */
	}
	q.argsz = (uint32_t)(HDR + n * ENT);
	q.count = n;
	if (k->kind == IO_COUNT_BIG)
		q.count = 2;
	if (k->kind == IO_OTHER_INDEX)
		q.index++;
	if (k->kind == IO_LVU_LAYOUT) {
		uint8_t lvu[HDR + 2 * 48];
		uint64_t dm = 7, shadow = 0x1122334455667788ull;

		memset(lvu, 0, sizeof(lvu));
		q.argsz = (uint32_t)sizeof(lvu);
		q.count = 2;
		memcpy(lvu, &q, HDR);
		for (unsigned int i = 0; i < 2; i++) {
			struct vfio_user_sub_region_ioeventfd x =
				ent(i * 8, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD,
				    i ? 0 : KVM_IOEVENTFD_FLAG_DATAMATCH);

			memcpy(lvu + HDR + i * 48, &x, 28);
			/* Shadow offset where the spec has its datamatch. */
			memcpy(lvu + HDR + i * 48 + 32, &shadow, 8);
			memcpy(lvu + HDR + i * 48 + 40, &dm, 8);
		}
		fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			return evil_error(s, m, errno);
		r = evil_reply(s, m, lvu, sizeof(lvu), &fd, 1);
		close(fd);
		return r;
	}
	if (k->kind == IO_STRIDE_SHORT) {
		e[n++] = ent(0, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		e[n++] = ent(8, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD, 0);
		q.argsz = (uint32_t)(HDR + 2 * 24);
		q.count = 2;
		memcpy(out, &q, HDR);
		memcpy(out + HDR, e, n * ENT);
		fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			return evil_error(s, m, errno);
		r = evil_reply(s, m, out, HDR + n * ENT, &fd, 1);
		close(fd);
		return r;
	}
	if (k->kind == IO_ALWAYS_MORE) {
		/* Never enough: ten entries more than there was room for. */
		memcpy(&q, m->payload, HDR);
		q.count = (q.argsz - (uint32_t)HDR) / (uint32_t)ENT + 10;
		q.argsz = (uint32_t)(HDR + q.count * ENT);
		memcpy(out, &q, HDR);
		return evil_reply(s, m, out, HDR, NULL, 0);
	}
	memcpy(out, &q, HDR);
	memcpy(out + HDR, e, n * ENT);
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return evil_error(s, m, errno);
	r = evil_reply(s, m, out, HDR + n * ENT, &fd, nfds);
	close(fd);
	return r;
}

#define IOFD(name, kind, want)                                  \
	{                                                       \
		name, { .hook = iofd_hook }, (kind), (want)     \
	}

static const struct iofd_case iofd_cases[] = {
	IOFD("io fds: two entries share an fd", IO_GOOD_SHARED, 2),
	IOFD("io fds: ioregionfd, PIO, size 3 left out", IO_SKIP_KINDS, 1),
	IOFD("io fds: fd index past the fds", IO_FD_INDEX, -EPROTO),
	IOFD("io fds: entry past the region", IO_PAST_END, -EPROTO),
	IOFD("io fds: count above the payload", IO_COUNT_BIG, -EPROTO),
	IOFD("io fds: an fd and no entry", IO_FDS_NO_COUNT, -EPROTO),
	IOFD("io fds: reply for another region", IO_OTHER_INDEX, -EPROTO),
	IOFD("io fds: never enough room", IO_ALWAYS_MORE, -EPROTO),
	IOFD("io fds: entry without its fd", IO_NO_FD, -EPROTO),
	IOFD("io fds: libvfio-user's 48-byte entries", IO_LVU_LAYOUT, 2),
	IOFD("io fds: entries shorter than the spec's", IO_STRIDE_SHORT,
	     -EPROTO),
};

static void test_iofds(void **state)
{
	struct evil_env *e = evil_env(state);
	const struct iofd_case *k =
		evil_container_of(e->s->cfg, struct iofd_case, cfg);
	struct uvfio_doorbell db[4];
	struct uvfio_device_info di;
	int n;

	assert_non_null(e->c);
	n = uvfio_client_region_doorbells(e->c, 0, db, 4);
	assert_int_equal(n, k->want);
	for (int i = 0; i < n; i++) {
		assert_true(db[i].fd >= 0);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(db[i].fd, db[j].fd);
		close(db[i].fd);
	}
	if (k->kind == IO_GOOD_SHARED) {
		assert_int_equal(db[0].flags, KVM_IOEVENTFD_FLAG_DATAMATCH);
		assert_int_equal(db[0].datamatch, 7);
		assert_int_equal(db[1].offset, 8);
		assert_int_equal(db[1].size, 4);
	}
	if (k->kind == IO_SKIP_KINDS)
		assert_int_equal(db[0].offset, 24);
	if (k->kind == IO_LVU_LAYOUT) {
		assert_int_equal(db[0].flags, KVM_IOEVENTFD_FLAG_DATAMATCH);
		assert_int_equal(db[0].datamatch, 7);
		assert_int_equal(db[1].offset, 8);
		assert_int_equal(db[1].flags, 0);
	}
	/* Still in step; teardown checks that no fd stayed. */
	assert_int_equal(uvfio_client_device_info(e->c, &di), 0);
}

void evil_add_iofd_tests(struct evil_suite *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(iofd_cases); i++)
		evil_suite_add(s, iofd_cases[i].name, test_iofds,
			       &iofd_cases[i].cfg);
}
