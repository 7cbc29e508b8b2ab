// SPDX-License-Identifier: MIT
/*
 * The session script of cut_session.h.  Its messages are built once;
 * each run makes fresh fds (two memfds, a dozen eventfds) and a fresh
 * copy of the client memory behind the fd-less window, which the test
 * serves when the device sends DMA_READ/DMA_WRITE (testdev runs with
 * --no-twin under the harness: they come on the main socket).
 */
#include "cut_session.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/pci_regs.h>

#include "proto/crc32.h"
#include "regs.h"

#define HDR sizeof(struct vfio_user_header)
#define CFG VFIO_PCI_CONFIG_REGION_INDEX
#define MAX_STEPS 64
#define MAX_FACTS 3
/* Two of testdev's 64 KiB chunks: two DMA requests each way. */
#define XFER 0x11000u
#define SRC_OFF 0x100u /* in window B */
#define DST_OFF 0x20000u /* in window B */

/* Per-run fds, by slot. */
enum {
	FD_MEM_A,
	FD_MEM_C,
	FD_INTX,
	FD_UNMASK,
	FD_MSI0,
	FD_MSIX0 = FD_MSI0 + 4,
	FD_ERR = FD_MSIX0 + 4,
	FD_REQ,
	NR_FDS,
};

enum step_kind {
	ST_CALL, /* a command, then its reply */
	ST_SERVE_READ, /* a DMA_READ from the device, then our answer */
	ST_SERVE_WRITE, /* a DMA_WRITE from the device, then our answer */
	ST_WAIT_IRQ, /* an eventfd the device signals: no message */
};

struct cs_run;
typedef void (*check_fn)(struct cs_run *run, const struct hs_reply *r);

struct step {
	enum step_kind kind;
	const char *name;
	uint8_t *msg; /* ST_CALL: header and payload */
	size_t len;
	uint8_t slots[8]; /* fds that go with it */
	unsigned int nslots;
	struct cs_fact facts[MAX_FACTS];
	unsigned int nfacts;
	check_fn check; /* of the reply, in every run */
	/* What the first full run saw come back. */
	bool recorded;
	struct vfio_user_header rec;
	unsigned int rec_nfds;
	uint64_t rec_addr, rec_count; /* ST_SERVE_*: the request */
};

struct cs_session {
	struct step steps[MAX_STEPS];
	unsigned int nsteps;
	unsigned int msg_step[MAX_STEPS]; /* message k -> its step */
	unsigned int nmsgs;
	const struct cs_fact *locs[MAX_STEPS * MAX_FACTS];
	unsigned int nlocs;
	uint16_t next_id;
	bool twin; /* device requests come on a twin socket */
};

struct cs_run {
	struct hs_conn c;
	int twin; /* from the VERSION reply, or -1 */
	/*
	 * A device request that came before the reply we waited for: with
	 * testdev's worker thread, DMA may start before the doorbell write
	 * is answered.  The next ST_SERVE_* step takes it.
	 */
	struct hs_reply early;
	bool has_early;
	int fds[NR_FDS];
	uint8_t win_b[CS_WIN]; /* the client memory behind window B */
};

#define CAPS_HEAD                                                              \
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576," \
	"\"max_dma_maps\":65535,\"write_multiple\":true"
static const char client_caps[] = CAPS_HEAD "}}";
static const char client_caps_twin[] =
	CAPS_HEAD ",\"twin_socket\":{\"supported\":true}}}";

const char *cs_cut_name(enum cs_cut cut)
{
	static const char *const names[] = {
		[CS_BEFORE] = "before",
		[CS_HALF_HEADER] = "half header",
		[CS_HALF_PAYLOAD] = "half payload",
		[CS_FD_SHORT] = "fds with 1 byte",
		[CS_WHOLE] = "whole, unanswered",
	};

	return cut < CS_NR_CUTS ? names[cut] : "?";
}

static bool is_msg(const struct step *st)
{
	return st->kind != ST_WAIT_IRQ;
}

static struct step *add(struct cs_session *s, enum step_kind kind,
			const char *name)
{
	struct step *st = &s->steps[s->nsteps];

	assert_true(s->nsteps < MAX_STEPS);
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->name = name;
	if (is_msg(st))
		s->msg_step[s->nmsgs++] = s->nsteps;
	s->nsteps++;
	return st;
}

static struct step *add_call(struct cs_session *s, const char *name,
			     uint16_t cmd, const void *p, size_t n)
{
	struct step *st = add(s, ST_CALL, name);

	st->msg = malloc(HDR + n);
	assert_non_null(st->msg);
	st->len = hs_build(st->msg, s->next_id++, cmd, 0, p, n);
	return st;
}

static void with_fds(struct step *st, unsigned int first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		st->slots[st->nslots++] = (uint8_t)(first + i);
}

static void fact(struct step *st, uint32_t region, uint32_t off,
		 const void *val, uint32_t len)
{
	struct cs_fact *f = &st->facts[st->nfacts++];

	assert_true(st->nfacts <= MAX_FACTS && len <= sizeof(f->val));
	f->region = region;
	f->off = off;
	f->len = len;
	memcpy(f->val, val, len);
}

static struct step *region_write(struct cs_session *s, const char *name,
				 uint32_t region, uint32_t off,
				 const void *data, uint32_t len)
{
	struct vfio_user_region_access a = { off, region, len };
	uint8_t buf[sizeof(a) + 256];
	struct step *st;

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), data, len);
	st = add_call(s, name, VFIO_USER_REGION_WRITE, buf, sizeof(a) + len);
	fact(st, region, off, data, len);
	return st;
}

static struct step *reg_write(struct cs_session *s, const char *name,
			      uint32_t reg, uint32_t v, bool track)
{
	struct step *st = region_write(s, name, TESTDEV_REG_BAR, reg, &v, 4);

	st->nfacts = track;
	return st;
}

static struct step *region_read(struct cs_session *s, const char *name,
				uint32_t region, uint32_t off, uint32_t len,
				check_fn check)
{
	struct vfio_user_region_access a = { off, region, len };
	struct step *st =
		add_call(s, name, VFIO_USER_REGION_READ, &a, sizeof(a));

	st->check = check;
	return st;
}

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed + (i >> 8));
}

static uint32_t reply_u32(const struct hs_reply *r)
{
	uint32_t v;

	assert_int_equal(r->size, sizeof(struct vfio_user_region_access) + 4);
	memcpy(&v, r->data + sizeof(struct vfio_user_region_access), 4);
	return v;
}

static void check_bar3(struct cs_run *run, const struct hs_reply *r)
{
	uint8_t want[256];

	(void)run;
	pattern(want, sizeof(want), 0x33);
	assert_int_equal(r->size, sizeof(struct vfio_user_region_access) + 256);
	assert_memory_equal(r->data + sizeof(struct vfio_user_region_access),
			    want, sizeof(want));
}

static void check_bar2_addr(struct cs_run *run, const struct hs_reply *r)
{
	(void)run;
	assert_int_equal(reply_u32(r), 0xfebf0000u);
}

static void check_read_ok(struct cs_run *run, const struct hs_reply *r)
{
	(void)run;
	assert_int_equal(reply_u32(r),
			 TESTDEV_STATUS_READ_OK | TESTDEV_STATUS_IRQ_RAISED);
}

static void check_write_ok(struct cs_run *run, const struct hs_reply *r)
{
	(void)run;
	assert_int_equal(reply_u32(r),
			 TESTDEV_STATUS_WRITE_OK | TESTDEV_STATUS_IRQ_RAISED);
}

static void check_crc(struct cs_run *run, const struct hs_reply *r)
{
	assert_int_equal(reply_u32(r),
			 crc32_le(~0u, run->win_b + DST_OFF, XFER));
}

static void check_magic(struct cs_run *run, const struct hs_reply *r)
{
	(void)run;
	assert_int_equal(reply_u32(r), 0x1badcafe);
}

static void set_irqs(struct cs_session *s, const char *name, uint32_t flags,
		     uint32_t index, uint32_t count, unsigned int slot)
{
	struct vfio_irq_set h = { sizeof(h), flags, index, 0, count };
	struct step *st =
		add_call(s, name, VFIO_USER_DEVICE_SET_IRQS, &h, sizeof(h));

	if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		with_fds(st, slot, count);
}

static void dma_map(struct cs_session *s, const char *name, uint64_t iova,
		    uint64_t size, int slot)
{
	struct vfio_user_dma_map m = { sizeof(m),
				       VFIO_USER_F_DMA_REGION_READ |
					       VFIO_USER_F_DMA_REGION_WRITE,
				       0, iova, size };
	struct step *st = add_call(s, name, VFIO_USER_DMA_MAP, &m, sizeof(m));

	if (slot >= 0)
		with_fds(st, (unsigned int)slot, 1);
}

/* Negotiation, discovery, windows and every interrupt index. */
static void build_setup(struct cs_session *s)
{
	const char *caps = s->twin ? client_caps_twin : client_caps;
	uint8_t ver[sizeof(struct vfio_user_version) +
		    sizeof(client_caps_twin)];
	size_t n = strlen(caps) + 1;
	struct vfio_user_version v = { VFIO_USER_MAJOR, VFIO_USER_MINOR };
	struct vfio_user_device_info di = { .argsz = sizeof(di) };
	struct vfio_user_dma_unmap um = { sizeof(um), 0, CS_IOVA_C,
					  CS_WIN / 4 };
	static const uint32_t infos[] = { CFG, 0, 3 };
	const uint32_t trig = VFIO_IRQ_SET_ACTION_TRIGGER;
	const uint32_t efd = VFIO_IRQ_SET_DATA_EVENTFD;
	const uint32_t none = VFIO_IRQ_SET_DATA_NONE;

	memcpy(ver, &v, sizeof(v));
	memcpy(ver + sizeof(v), caps, n);
	add_call(s, "VERSION", VFIO_USER_VERSION, ver, sizeof(v) + n);
	add_call(s, "GET_INFO", VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di));
	for (unsigned int i = 0; i < 3; i++) {
		/* Room for the capability chain of a mappable BAR. */
		struct vfio_region_info ri = { .argsz = 256,
					       .index = infos[i] };

		add_call(s, "GET_REGION_INFO", VFIO_USER_DEVICE_GET_REGION_INFO,
			 &ri, sizeof(ri));
	}
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };

		add_call(s, "GET_IRQ_INFO", VFIO_USER_DEVICE_GET_IRQ_INFO, &ii,
			 sizeof(ii));
	}
	dma_map(s, "DMA_MAP memfd", CS_IOVA_A, CS_WIN, FD_MEM_A);
	dma_map(s, "DMA_MAP no fd", CS_IOVA_B, CS_WIN, -1);
	dma_map(s, "DMA_MAP memfd 2", CS_IOVA_C, CS_WIN / 4, FD_MEM_C);
	add_call(s, "DMA_UNMAP", VFIO_USER_DMA_UNMAP, &um, sizeof(um));
	set_irqs(s, "SET_IRQS INTx", efd | trig, VFIO_PCI_INTX_IRQ_INDEX, 1,
		 FD_INTX);
	set_irqs(s, "SET_IRQS INTx unmask", efd | VFIO_IRQ_SET_ACTION_UNMASK,
		 VFIO_PCI_INTX_IRQ_INDEX, 1, FD_UNMASK);
	set_irqs(s, "SET_IRQS INTx off", none | trig, VFIO_PCI_INTX_IRQ_INDEX,
		 0, 0);
	set_irqs(s, "SET_IRQS MSI", efd | trig, VFIO_PCI_MSI_IRQ_INDEX, 4,
		 FD_MSI0);
	set_irqs(s, "SET_IRQS MSI off", none | trig, VFIO_PCI_MSI_IRQ_INDEX, 0,
		 0);
	set_irqs(s, "SET_IRQS MSI-X", efd | trig, VFIO_PCI_MSIX_IRQ_INDEX, 4,
		 FD_MSIX0);
	set_irqs(s, "SET_IRQS ERR", efd | trig, VFIO_PCI_ERR_IRQ_INDEX, 1,
		 FD_ERR);
	set_irqs(s, "SET_IRQS REQ", efd | trig, VFIO_PCI_REQ_IRQ_INDEX, 1,
		 FD_REQ);
}

/* Config space, registers and BAR memory: the state that must stay. */
static void build_state(struct cs_session *s)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint8_t line = 0x5a, line2 = 0xa5, bar3[256];
	uint32_t bar2 = 0xfebf0000u, magic = 0x1badcafe, msix = 0x4321;
	uint64_t bar1 = 0x1122334455667788ull;
	uint8_t multi[sizeof(struct vfio_user_write_multi) +
		      3 * sizeof(struct vfio_user_write_multi_data)] = { 0 };
	struct vfio_user_write_multi_data w[3] = {
		{ 8, 1, 8, { 0 } },
		{ TESTDEV_MSIX_TABLE_OFF + 16 + 8, TESTDEV_REG_BAR, 4, { 0 } },
		{ PCI_INTERRUPT_LINE, CFG, 1, { 0 } },
	};
	uint64_t cnt = 3;
	struct step *st;

	region_write(s, "REGION_WRITE cfg command", CFG, PCI_COMMAND, &cmd, 2);
	region_write(s, "REGION_WRITE cfg irq line", CFG, PCI_INTERRUPT_LINE,
		     &line, 1);
	region_write(s, "REGION_WRITE cfg BAR2", CFG, PCI_BASE_ADDRESS_2, &bar2,
		     4);
	region_write(s, "REGION_WRITE magic", TESTDEV_REG_BAR,
		     TESTDEV_REG_MAGIC, &magic, 4);
	pattern(bar3, sizeof(bar3), 0x33);
	region_write(s, "REGION_WRITE BAR3", 3, 0x100, bar3, sizeof(bar3));
	memcpy(w[0].data, &bar1, 8);
	memcpy(w[1].data, &msix, 4);
	memcpy(w[2].data, &line2, 1);
	memcpy(multi, &cnt, sizeof(cnt));
	memcpy(multi + sizeof(cnt), w, sizeof(w));
	st = add_call(s, "WRITE_MULTI", VFIO_USER_REGION_WRITE_MULTI, multi,
		      sizeof(multi));
	fact(st, 1, 8, &bar1, 8);
	fact(st, TESTDEV_REG_BAR, TESTDEV_MSIX_TABLE_OFF + 16 + 8, &msix, 4);
	fact(st, CFG, PCI_INTERRUPT_LINE, &line2, 1);
	region_read(s, "REGION_READ BAR3", 3, 0x100, 256, check_bar3);
	region_read(s, "REGION_READ cfg BAR2", CFG, PCI_BASE_ADDRESS_2, 4,
		    check_bar2_addr);
}

/* testdev moves data through the fd-less window: in-band DMA. */
static void build_inband(struct cs_session *s)
{
	const uint64_t src = CS_IOVA_B + SRC_OFF, dst = CS_IOVA_B + DST_OFF;
	uint8_t *data = malloc(XFER);
	uint32_t crc;

	assert_non_null(data);
	pattern(data, XFER, 0x5b);
	crc = crc32_le(~0u, data, XFER);
	free(data);
	reg_write(s, "REGION_WRITE src lo", TESTDEV_REG_SRC_LO, (uint32_t)src,
		  true);
	reg_write(s, "REGION_WRITE src hi", TESTDEV_REG_SRC_HI,
		  (uint32_t)(src >> 32), true);
	reg_write(s, "REGION_WRITE size", TESTDEV_REG_SIZE, XFER, true);
	reg_write(s, "REGION_WRITE checksum", TESTDEV_REG_CHECKSUM, crc, false);
	reg_write(s, "REGION_WRITE irq type", TESTDEV_REG_IRQ_TYPE,
		  TESTDEV_IRQ_MSIX, true);
	reg_write(s, "REGION_WRITE irq number", TESTDEV_REG_IRQ_NUMBER, 1,
		  true);
	reg_write(s, "REGION_WRITE command READ", TESTDEV_REG_COMMAND,
		  TESTDEV_CMD_READ, false);
	add(s, ST_SERVE_READ, "DMA_READ answer 1");
	add(s, ST_SERVE_READ, "DMA_READ answer 2");
	add(s, ST_WAIT_IRQ, "MSI-X 0")->slots[0] = FD_MSIX0;
	region_read(s, "REGION_READ status", TESTDEV_REG_BAR,
		    TESTDEV_REG_STATUS, 4, check_read_ok);
	reg_write(s, "REGION_WRITE status", TESTDEV_REG_STATUS, 0, false);

	reg_write(s, "REGION_WRITE dst lo", TESTDEV_REG_DST_LO, (uint32_t)dst,
		  true);
	reg_write(s, "REGION_WRITE dst hi", TESTDEV_REG_DST_HI,
		  (uint32_t)(dst >> 32), true);
	reg_write(s, "REGION_WRITE command WRITE", TESTDEV_REG_COMMAND,
		  TESTDEV_CMD_WRITE, false);
	add(s, ST_SERVE_WRITE, "DMA_WRITE answer 1");
	add(s, ST_SERVE_WRITE, "DMA_WRITE answer 2");
	add(s, ST_WAIT_IRQ, "MSI-X 0")->slots[0] = FD_MSIX0;
	region_read(s, "REGION_READ status", TESTDEV_REG_BAR,
		    TESTDEV_REG_STATUS, 4, check_write_ok);
	region_read(s, "REGION_READ checksum", TESTDEV_REG_BAR,
		    TESTDEV_REG_CHECKSUM, 4, check_crc);
	reg_write(s, "REGION_WRITE status", TESTDEV_REG_STATUS, 0, false);
	region_read(s, "REGION_READ magic", TESTDEV_REG_BAR, TESTDEV_REG_MAGIC,
		    4, check_magic);
}

static bool same_loc(const struct cs_fact *a, const struct cs_fact *b)
{
	return a->region == b->region && a->off == b->off && a->len == b->len;
}

struct cs_session *cs_build(bool twin)
{
	struct cs_session *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->next_id = 1;
	s->twin = twin;
	build_setup(s);
	build_state(s);
	build_inband(s);
	for (unsigned int i = 0; i < s->nsteps; i++)
		for (unsigned int j = 0; j < s->steps[i].nfacts; j++) {
			const struct cs_fact *f = &s->steps[i].facts[j];
			unsigned int l = 0;

			while (l < s->nlocs && !same_loc(s->locs[l], f))
				l++;
			if (l == s->nlocs)
				s->locs[s->nlocs++] = f;
		}
	return s;
}

void cs_free(struct cs_session *s)
{
	for (unsigned int i = 0; i < s->nsteps; i++)
		free(s->steps[i].msg);
	free(s);
}

unsigned int cs_msg_count(const struct cs_session *s)
{
	return s->nmsgs;
}

const char *cs_msg_name(const struct cs_session *s, unsigned int k)
{
	return k < s->nmsgs ? s->steps[s->msg_step[k]].name : "end";
}

/* Answers are built when the request comes: 16 + 16 bytes, plus data. */
static size_t msg_len(const struct step *st)
{
	if (st->kind == ST_CALL)
		return st->len;
	return HDR + 16 + (st->kind == ST_SERVE_READ ? XFER : 0);
}

bool cs_cut_applies(const struct cs_session *s, unsigned int k, enum cs_cut cut)
{
	const struct step *st;

	if (k >= s->nmsgs)
		return cut == CS_BEFORE;
	st = &s->steps[s->msg_step[k]];
	switch (cut) {
	case CS_HALF_PAYLOAD:
		return msg_len(st) - HDR >= 2;
	case CS_FD_SHORT:
		return st->nslots;
	default:
		return cut < CS_NR_CUTS;
	}
}

unsigned int cs_loc_count(const struct cs_session *s)
{
	return s->nlocs;
}

const struct cs_fact *cs_loc(const struct cs_session *s, unsigned int i)
{
	return s->locs[i];
}

void cs_expect(const struct cs_session *s, unsigned int i, unsigned int k,
	       enum cs_cut cut, const uint8_t *init, const uint8_t **must,
	       const uint8_t **may)
{
	const struct cs_fact *loc = s->locs[i];
	unsigned int last = k < s->nmsgs ? s->msg_step[k] : s->nsteps;

	*must = init;
	*may = NULL;
	for (unsigned int j = 0; j <= last && j < s->nsteps; j++)
		for (unsigned int f = 0; f < s->steps[j].nfacts; f++) {
			const struct cs_fact *x = &s->steps[j].facts[f];

			if (!same_loc(x, loc))
				continue;
			if (j < last)
				*must = x->val;
			else if (cut == CS_WHOLE)
				*may = x->val;
		}
}

static void open_fds(struct cs_run *run)
{
	run->fds[FD_MEM_A] = hs_memfd(CS_WIN);
	run->fds[FD_MEM_C] = hs_memfd(CS_WIN / 4);
	for (unsigned int i = FD_INTX; i < NR_FDS; i++)
		run->fds[i] = hs_eventfd();
}

/* Sends the first n bytes of msg; the fds go with the first byte. */
static void send_part(struct cs_run *run, int sock, const uint8_t *msg,
		      size_t n, const struct step *st)
{
	int fds[8];

	for (unsigned int i = 0; i < st->nslots; i++)
		fds[i] = run->fds[st->slots[i]];
	hs_send(sock, msg, n, fds, st->nslots);
}

/* The cut itself; true when the step ran whole (no cut). */
static bool send_cut(struct cs_run *run, int sock, const struct step *st,
		     const uint8_t *msg, size_t len, bool cut_here,
		     enum cs_cut cut)
{
	if (!cut_here) {
		send_part(run, sock, msg, len, st);
		return true;
	}
	switch (cut) {
	case CS_HALF_HEADER:
		send_part(run, sock, msg, HDR / 2, st);
		break;
	case CS_HALF_PAYLOAD:
		send_part(run, sock, msg, HDR + (len - HDR) / 2, st);
		break;
	case CS_FD_SHORT:
		send_part(run, sock, msg, 1, st);
		break;
	case CS_WHOLE:
		send_part(run, sock, msg, len, st);
		break;
	default:
		break;
	}
	return false;
}

static void recv_msg(int sock, struct hs_reply *r, const struct step *st)
{
	int err = hs_recv(sock, r);

	if (err)
		print_error("%s: no message from the server: %s\n", st->name,
			    strerror(-err));
	assert_int_equal(err, 0);
}

/* Compares with, or makes, the recording. */
static void record(struct step *st, const struct hs_reply *r, uint64_t addr,
		   uint64_t count)
{
	if (!st->recorded) {
		st->rec = r->hdr;
		st->rec_nfds = r->nfds;
		st->rec_addr = addr;
		st->rec_count = count;
		st->recorded = true;
		return;
	}
	if (r->hdr.cmd != st->rec.cmd || r->hdr.flags != st->rec.flags ||
	    r->hdr.msg_size != st->rec.msg_size || r->nfds != st->rec_nfds ||
	    addr != st->rec_addr || count != st->rec_count)
		print_error("%s: the server sent cmd %u flags 0x%x size %u "
			    "(%u fds), recorded cmd %u flags 0x%x size %u "
			    "(%u fds)\n",
			    st->name, r->hdr.cmd, r->hdr.flags, r->hdr.msg_size,
			    r->nfds, st->rec.cmd, st->rec.flags,
			    st->rec.msg_size, st->rec_nfds);
	assert_int_equal(r->hdr.cmd, st->rec.cmd);
	assert_int_equal(r->hdr.flags, st->rec.flags);
	assert_int_equal(r->hdr.msg_size, st->rec.msg_size);
	assert_int_equal(r->nfds, st->rec_nfds);
	assert_int_equal(addr, st->rec_addr);
	assert_int_equal(count, st->rec_count);
}

static bool run_call(struct cs_run *run, struct step *st, bool cut_here,
		     enum cs_cut cut)
{
	struct vfio_user_header h;
	struct hs_reply r;

	if (!send_cut(run, run->c.fd, st, st->msg, st->len, cut_here, cut))
		return false;
	memcpy(&h, st->msg, HDR);
	recv_msg(run->c.fd, &r, st);
	if ((r.hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_COMMAND &&
	    !run->has_early) {
		run->early = r;
		run->has_early = true;
		recv_msg(run->c.fd, &r, st);
	}
	if (r.hdr.flags != VFIO_USER_F_TYPE_REPLY)
		print_error("%s: reply flags 0x%x errno %u\n", st->name,
			    r.hdr.flags, r.hdr.error_no);
	assert_int_equal(r.hdr.msg_id, h.msg_id);
	assert_int_equal(r.hdr.cmd, h.cmd);
	assert_int_equal(r.hdr.flags, VFIO_USER_F_TYPE_REPLY);
	record(st, &r, 0, 0);
	if (st->check)
		st->check(run, &r);
	/* VERSION's only fd is the twin socket: ours now. */
	if (h.cmd == VFIO_USER_VERSION && r.nfds == 1) {
		run->twin = r.fds[0];
		r.fds[0] = -1;
	}
	hs_reply_free(&r);
	return true;
}

/* A DMA_READ or DMA_WRITE of the fd-less window, and our answer. */
static bool run_serve(struct cs_run *run, struct step *st, bool cut_here,
		      enum cs_cut cut)
{
	uint16_t cmd = st->kind == ST_SERVE_READ ? VFIO_USER_DMA_READ :
						   VFIO_USER_DMA_WRITE;
	uint64_t addr, count, off;
	uint8_t *ans;
	int sock = run->twin >= 0 ? run->twin : run->c.fd;
	struct hs_reply r;
	size_t len;
	bool done;

	if (run->has_early) {
		r = run->early;
		run->has_early = false;
	} else {
		recv_msg(sock, &r, st);
	}
	assert_int_equal(r.hdr.cmd, cmd);
	assert_int_equal(r.hdr.flags, VFIO_USER_F_TYPE_COMMAND);
	assert_true(r.size >= 16);
	memcpy(&addr, r.data, 8);
	memcpy(&count, r.data + 8, 8);
	record(st, &r, addr, count);
	assert_true(addr >= CS_IOVA_B && count <= XFER &&
		    addr - CS_IOVA_B <= CS_WIN - count);
	off = addr - CS_IOVA_B;
	if (cmd == VFIO_USER_DMA_WRITE) {
		assert_int_equal(r.size, 16 + count);
		memcpy(run->win_b + off, r.data + 16, count);
	}
	ans = malloc(HDR + 16 + count);
	assert_non_null(ans);
	len = hs_build(ans, r.hdr.msg_id, cmd, VFIO_USER_F_TYPE_REPLY, r.data,
		       16);
	hs_reply_free(&r);
	if (cmd == VFIO_USER_DMA_READ) {
		struct vfio_user_header h;

		memcpy(&h, ans, HDR);
		h.msg_size += (uint32_t)count;
		memcpy(ans, &h, HDR);
		memcpy(ans + len, run->win_b + off, count);
		len += count;
	}
	done = send_cut(run, sock, st, ans, len, cut_here, cut);
	free(ans);
	return done;
}

static void wait_irq(struct cs_run *run, const struct step *st)
{
	struct pollfd p = { .fd = run->fds[st->slots[0]], .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, HS_TIMEOUT_MS) != 1)
		print_error("%s: no interrupt\n", st->name);
	assert_int_equal(p.revents & POLLIN, POLLIN);
	assert_int_equal(read(p.fd, &v, sizeof(v)), sizeof(v));
}

void cs_run(struct cs_session *s, struct hs_server *srv, unsigned int k,
	    enum cs_cut cut)
{
	struct cs_run *run = calloc(1, sizeof(*run));
	unsigned int last = k < s->nmsgs ? s->msg_step[k] : s->nsteps;

	assert_non_null(run);
	run->c.srv = srv;
	run->c.fd = hs_connect(srv);
	run->twin = -1;
	open_fds(run);
	pattern(run->win_b, sizeof(run->win_b), 0x77);
	/* The bytes whose CRC the session wrote to CHECKSUM. */
	pattern(run->win_b + SRC_OFF, XFER, 0x5b);
	for (unsigned int i = 0; i <= last && i < s->nsteps; i++) {
		struct step *st = &s->steps[i];
		bool cut_here = i == last;

		if (st->kind == ST_CALL && !run_call(run, st, cut_here, cut))
			break;
		if ((st->kind == ST_SERVE_READ || st->kind == ST_SERVE_WRITE) &&
		    !run_serve(run, st, cut_here, cut))
			break;
		if (st->kind == ST_WAIT_IRQ)
			wait_irq(run, st);
	}
	/* Past VERSION, a twin session must have its twin socket. */
	if (s->twin && last > 0)
		assert_true(run->twin >= 0);
	if (run->has_early)
		hs_reply_free(&run->early);
	close(run->c.fd);
	if (run->twin >= 0)
		close(run->twin);
	hs_close_all(run->fds, NR_FDS);
	free(run);
}
