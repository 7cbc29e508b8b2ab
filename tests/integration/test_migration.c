// SPDX-License-Identifier: MIT
/*
 * Migration, device side, against uvfio-testdev processes over real
 * sockets: every feature with GET/SET/PROBE, every pair of states as the
 * kernel's table walks them, the rules of each state (DMA refused,
 * interrupts held and migrated), the data stream from one process to
 * another, and bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/client.h>
#include <uvfio/pci.h>

#include "procstat.h"
#include "proto/crc32.h"
#include "proto/wire.h"
#include "regs.h"
#include "testdev_proc.h"
#include "client/testing.h"

#define GET VFIO_DEVICE_FEATURE_GET
#define SET VFIO_DEVICE_FEATURE_SET
#define PROBE VFIO_DEVICE_FEATURE_PROBE
#define ALL_FLAGS                                                        \
	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |                 \
	 VFIO_MIGRATION_PRE_COPY)

struct fixture {
	struct testdev_proc dev[2];
	struct uvfio_client *c[2];
};

static int start_two(void **state, const char *const *args)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(testdev_start(&f->dev[i], args), 0);
		f->c[i] = uvfio_client_connect(f->dev[i].sock, NULL);
		assert_non_null(f->c[i]);
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start_two(state, NULL);
}

/* testdev running its commands on a thread of its own. */
static int setup_worker(void **state)
{
	static const char *const args[] = { "--worker", NULL };

	return start_two(state, args);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 2; i++) {
		if (f->c[i])
			uvfio_client_close(f->c[i]);
		assert_true(testdev_alive(&f->dev[i]));
		assert_int_equal(testdev_stop(&f->dev[i]), 0);
	}
	free(f);
	return 0;
}

static int feature(struct uvfio_client *c, uint32_t flags, void *data,
		   size_t in, size_t cap, size_t *out)
{
	size_t len = in;
	int r = uvfio_client_device_feature(c, flags, data, &len, cap);

	if (out)
		*out = len;
	return r;
}

static int set_state(struct uvfio_client *c, uint32_t s)
{
	struct vfio_device_feature_mig_state st = { s, -1 };
	size_t n;
	int r = feature(c, SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			sizeof(st), sizeof(st), &n);

	if (!r) {
		assert_int_equal(n, sizeof(st));
		assert_int_equal(st.device_state, s);
		assert_int_equal(st.data_fd, -1);
	}
	return r;
}

static uint32_t get_state(struct uvfio_client *c)
{
	struct vfio_device_feature_mig_state st = { 99, 0 };

	assert_int_equal(feature(c, GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				 &st, 0, sizeof(st), NULL),
			 0);
	assert_int_equal(st.data_fd, -1);
	return st.device_state;
}

static uint32_t reg_read(struct uvfio_client *c, uint32_t off)
{
	uint32_t v = 0;

	assert_int_equal(uvfio_client_region_read(c, 0, off, &v, 4), 0);
	return v;
}

static void reg_write(struct uvfio_client *c, uint32_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, 4, 0), 0);
}

/* MIG_DATA_READ of up to len bytes; returns how many came. */
static int mig_read(struct uvfio_client *c, void *buf, uint32_t len)
{
	struct vfio_user_mig_data rq = { sizeof(rq) + len, len };
	uint8_t *rep = malloc(sizeof(rq) + len);
	struct vfio_user_mig_data rp;
	int r;

	assert_non_null(rep);
	r = uvfio_client_raw(c, VFIO_USER_MIG_DATA_READ, &rq, sizeof(rq),
			     NULL, 0, rep, sizeof(rq) + len);
	if (r >= 0) {
		assert_true(r >= (int)sizeof(rp));
		memcpy(&rp, rep, sizeof(rp));
		assert_true(rp.size <= len);
		assert_int_equal(rp.argsz, sizeof(rp) + rp.size);
		assert_int_equal(r, (int)(sizeof(rp) + rp.size));
		memcpy(buf, rep + sizeof(rp), rp.size);
		r = (int)rp.size;
	}
	free(rep);
	return r;
}

static int mig_write(struct uvfio_client *c, const void *buf, uint32_t len)
{
	uint8_t *rq = malloc(sizeof(struct vfio_user_mig_data) + len);
	struct vfio_user_mig_data h = { sizeof(h) + len, len };
	int r;

	assert_non_null(rq);
	memcpy(rq, &h, sizeof(h));
	memcpy(rq + sizeof(h), buf, len);
	r = uvfio_client_raw(c, VFIO_USER_MIG_DATA_WRITE, rq,
			     sizeof(h) + len, NULL, 0, NULL, 0);
	free(rq);
	return r < 0 ? r : 0;
}

/* Writes a whole stream, chunk bytes per message. */
static void feed(struct uvfio_client *c, const uint8_t *data, size_t len,
		 size_t chunk)
{
	for (size_t off = 0; off < len; off += chunk)
		assert_int_equal(mig_write(c, data + off,
					   (uint32_t)(len - off < chunk ?
							      len - off :
							      chunk)),
				 0);
}

/* Reads until a short read; appends to *buf. */
static size_t drain(struct uvfio_client *c, uint8_t **buf, size_t have)
{
	const uint32_t chunk = 60000;

	for (;;) {
		int n;

		*buf = realloc(*buf, have + chunk);
		assert_non_null(*buf);
		n = mig_read(c, *buf + have, chunk);
		assert_true(n >= 0);
		have += (size_t)n;
		if ((uint32_t)n < chunk)
			return have;
	}
}

static void features(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *c = f->c[0];
	uint64_t flags = 0, size = 0;
	size_t n;

	assert_int_equal(feature(c, GET | VFIO_DEVICE_FEATURE_MIGRATION,
				 &flags, 0, sizeof(flags), &n),
			 0);
	assert_int_equal(n, sizeof(flags));
	assert_int_equal(flags, ALL_FLAGS);
	/* PROBE: what each feature supports, exactly. */
	static const struct {
		uint32_t feat, ok, bad;
	} probes[] = {
		{ VFIO_DEVICE_FEATURE_MIGRATION, GET, SET },
		{ VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, GET | SET, 0 },
		{ VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, GET, SET },
		{ VFIO_DEVICE_FEATURE_DMA_LOGGING_START, SET, GET },
		{ VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, SET, GET },
		{ VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, GET, SET },
	};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint8_t d[8] = { 0 };

		assert_int_equal(feature(c, PROBE | probes[i].ok |
						    probes[i].feat,
					 d, 0, 0, NULL),
				 0);
		if (probes[i].bad)
			assert_int_equal(feature(c, PROBE | probes[i].bad |
							    probes[i].feat,
						 d, 0, 0, NULL),
					 -EINVAL);
	}
	/* Unknown feature, unknown flag, GET with SET, no GET nor SET. */
	assert_int_equal(feature(c, GET | 77, &flags, 0, 8, NULL), -EINVAL);
	assert_int_equal(feature(c, GET | (1u << 20) | 1, &flags, 0, 8, NULL),
			 -EINVAL);
	assert_int_equal(feature(c, GET | SET | 2, &flags, 0, 8, NULL),
			 -EINVAL);
	assert_int_equal(feature(c, 2, &flags, 0, 8, NULL), -EINVAL);
	/* A SET without its data; a GET whose argsz has no room. */
	assert_int_equal(feature(c, SET | 2, &flags, 2, 2, NULL), -EINVAL);
	assert_int_equal(feature(c, GET | 1, &flags, 0, 0, NULL), -EINVAL);
	assert_int_equal(feature(c, GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				 &size, 0, sizeof(size), &n),
			 0);
	assert_int_equal(n, sizeof(size));
	/* Config space, BARs (1 MiB BAR5 among them), both headers. */
	assert_true(size > (1u << 20));
	assert_int_equal(get_state(c), VFIO_DEVICE_STATE_RUNNING);
}

/* Every pair (a, b): reset, walk to a, then to b, as the kernel would. */
static void every_pair(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *c = f->c[0];

	for (uint32_t a = 0; a < UVFIO_MIG_NUM_STATES; a++) {
		for (uint32_t b = 0; b < UVFIO_MIG_NUM_STATES; b++) {
			int want;

			assert_int_equal(uvfio_client_reset(c), 0);
			assert_int_equal(get_state(c),
					 VFIO_DEVICE_STATE_RUNNING);
			if (a == VFIO_DEVICE_STATE_ERROR) {
				assert_int_equal(set_state(c, a), -EINVAL);
				continue;
			}
			assert_int_equal(set_state(c, a), 0);
			assert_int_equal(get_state(c), a);
			want = b == VFIO_DEVICE_STATE_ERROR ||
					       (a == VFIO_DEVICE_STATE_STOP_COPY &&
						(b == UVFIO_MIG_STATE_PRE_COPY ||
						 b == UVFIO_MIG_STATE_PRE_COPY_P2P)) ?
				       -EINVAL :
				       0;
			assert_int_equal(set_state(c, b), want);
			assert_int_equal(get_state(c), want ? a : b);
		}
	}
	assert_int_equal(set_state(c, 8), -EINVAL);
	assert_int_equal(uvfio_client_reset(c), 0);
}

/* The data of a whole move, pre-copy included, lands byte for byte. */
static void move(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *src = f->c[0], *dst = f->c[1];
	uint8_t pat[4096], got[4096], *data = NULL;
	size_t len;
	uint64_t size;
	size_t n;

	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 7 + 3);
	/* State in BAR5, BAR3 and a register, some before pre-copy. */
	assert_int_equal(uvfio_client_region_write(src, 5, 8192, pat, 4096, 0), 0);
	reg_write(src, TESTDEV_REG_SIZE, 0x1234);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_PRE_COPY), 0);
	len = drain(src, &data, 0);
	/* Everything goes first: the BARs are at least 1 MiB. */
	assert_true(len > (1u << 20));
	/* A second pre-copy read has nothing new. */
	len = drain(src, &data, len);
	/* Written during pre-copy: must be in STOP_COPY's data. */
	assert_int_equal(uvfio_client_region_write(src, 3, 100, pat, 300, 0), 0);
	reg_write(src, TESTDEV_REG_DST_LO, 0xabcd);
	assert_int_equal(feature(src, GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				 &size, 0, sizeof(size), &n),
			 0);
	assert_true(size >= 4096 && size < (1u << 20));
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP_COPY), 0);
	/* Stopped: no DMA-free register change is lost, reads still work. */
	assert_int_equal(reg_read(src, TESTDEV_REG_SIZE), 0x1234);
	len = drain(src, &data, len);
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP), 0);

	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	feed(dst, data, len, 50000);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RUNNING), 0);
	assert_int_equal(uvfio_client_region_read(dst, 5, 8192, got, 4096), 0);
	assert_memory_equal(got, pat, 4096);
	assert_int_equal(uvfio_client_region_read(dst, 3, 100, got, 300), 0);
	assert_memory_equal(got, pat, 300);
	assert_int_equal(reg_read(dst, TESTDEV_REG_SIZE), 0x1234);
	assert_int_equal(reg_read(dst, TESTDEV_REG_DST_LO), 0xabcd);
	free(data);
}

/* A stream cut short, or with one byte changed, is refused. */
static void bad_stream(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *src = f->c[0], *dst = f->c[1];
	uint8_t *data = NULL;
	size_t len;

	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP_COPY), 0);
	len = drain(src, &data, 0);
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_RUNNING), 0);

	/* Truncated: the arc out of RESUMING fails, the device is in ERROR. */
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	assert_int_equal(mig_write(dst, data, (uint32_t)(len / 2)), 0);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_STOP), -EINVAL);
	assert_int_equal(get_state(dst), VFIO_DEVICE_STATE_ERROR);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RUNNING), -EINVAL);
	assert_int_equal(uvfio_client_reset(dst), 0);
	assert_int_equal(get_state(dst), VFIO_DEVICE_STATE_RUNNING);

	/* Corrupted in the middle: the write that completes it fails. */
	data[len / 2] ^= 0x40;
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	{
		int first = 0;

		for (size_t off = 0; off < len && !first; off += 500000)
			first = mig_write(dst, data + off,
					  (uint32_t)(len - off < 500000 ?
							     len - off :
							     500000));
		assert_int_equal(first, -EINVAL);
	}
	assert_int_equal(mig_write(dst, data, 16), -EINVAL);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_STOP), -EINVAL);
	assert_int_equal(get_state(dst), VFIO_DEVICE_STATE_ERROR);
	assert_int_equal(uvfio_client_reset(dst), 0);

	/* Garbage from the first byte. */
	memset(data, 0xa5, 64);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	assert_int_equal(mig_write(dst, data, 64), -EINVAL);
	assert_int_equal(uvfio_client_reset(dst), 0);

	/* MIG_DATA in the wrong state, and malformed. */
	uint8_t b[8];
	struct vfio_user_mig_data bad = { 8, 100 };

	assert_int_equal(mig_read(dst, b, sizeof(b)), -EINVAL);
	assert_int_equal(mig_write(dst, b, sizeof(b)), -EINVAL);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_STOP), 0);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	assert_int_equal(uvfio_client_raw(dst, VFIO_USER_MIG_DATA_WRITE, &bad,
					  sizeof(bad), NULL, 0, NULL, 0),
			 -EINVAL);
	assert_int_equal(uvfio_client_raw(dst, VFIO_USER_MIG_DATA_WRITE, &bad,
					  4, NULL, 0, NULL, 0),
			 -EINVAL);
	assert_int_equal(uvfio_client_reset(dst), 0);
	/* The device still works. */
	reg_write(dst, TESTDEV_REG_SIZE, 77);
	assert_int_equal(reg_read(dst, TESTDEV_REG_SIZE), 77);
	free(data);
}

static bool fired_within(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	return true;
}

static bool fired(int efd)
{
	return fired_within(efd, 5000);
}

/*
 * Nothing arrived: checked at once, with no wait, since the device raises
 * before it answers the message that made it raise (no worker here), so
 * an interrupt it owed would be in the eventfd by now.
 */
static bool quiet(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* MSI-X vector 0 wired to a fresh eventfd. */
static int wire_msix(struct uvfio_client *c)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(efd >= 0);
	assert_int_equal(uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, &efd),
			 0);
	return efd;
}

static void raise_msix(struct uvfio_client *c)
{
	reg_write(c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	reg_write(c, TESTDEV_REG_IRQ_NUMBER, 1);
	reg_write(c, TESTDEV_REG_COMMAND, TESTDEV_CMD_RAISE_MSIX);
}

/*
 * Stopped, an interrupt is held, not delivered; it goes when the device
 * runs again, or, migrated, at the destination once wired: once.
 */
static void held_irq(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *src = f->c[0], *dst = f->c[1];
	uint8_t *data = NULL;
	size_t len;
	int e0 = wire_msix(src), e1;

	raise_msix(src);
	assert_true(fired(e0));
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP), 0);
	raise_msix(src);
	assert_true(quiet(e0));
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_RUNNING), 0);
	assert_true(fired(e0));
	assert_true(quiet(e0));

	/* Held at STOP, carried in the stream. */
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP), 0);
	raise_msix(src);
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP_COPY), 0);
	len = drain(src, &data, 0);
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP), 0);
	assert_true(quiet(e0));

	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	feed(dst, data, len, 65536);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RUNNING), 0);
	e1 = wire_msix(dst);
	assert_true(fired(e1));
	assert_true(quiet(e1));
	raise_msix(dst);
	assert_true(fired(e1));
	close(e0);
	close(e1);
	free(data);
}

#define LOAD_IOVA 0x100000ull
#define LOAD_WIN (4u << 20)
#define LOAD_XFER (1u << 20)

/* A VMM's view of one device: its client, the guest's memory, irq. */
struct vmm_dev {
	struct uvfio_client *c;
	int efd;
};

static void vmm_attach(struct vmm_dev *v, const char *sock, int memfd,
		       void *mem, bool inband)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	v->c = uvfio_client_connect(sock, NULL);
	assert_non_null(v->c);
	assert_int_equal(uvfio_client_dma_map(v->c, LOAD_IOVA, LOAD_WIN,
					      UVFIO_DMA_PROT_READ |
						      UVFIO_DMA_PROT_WRITE,
					      mem, inband ? -1 : memfd, 0),
			 0);
	assert_int_equal(uvfio_client_region_write(
				 v->c, VFIO_PCI_CONFIG_REGION_INDEX,
				 PCI_COMMAND, &cmd, 2, 0),
			 0);
	v->efd = wire_msix(v->c);
}

static void vmm_detach(struct vmm_dev *v)
{
	uvfio_client_close(v->c);
	close(v->efd);
	v->c = NULL;
}

static void start_write_at(struct uvfio_client *c, uint64_t iova,
			   uint32_t size)
{
	reg_write(c, TESTDEV_REG_DST_LO, (uint32_t)iova);
	reg_write(c, TESTDEV_REG_DST_HI, (uint32_t)(iova >> 32));
	reg_write(c, TESTDEV_REG_SIZE, size);
	reg_write(c, TESTDEV_REG_IRQ_TYPE, TESTDEV_IRQ_MSIX);
	reg_write(c, TESTDEV_REG_IRQ_NUMBER, 1);
	reg_write(c, TESTDEV_REG_FLAGS, TESTDEV_FLAG_USE_DMA);
	reg_write(c, TESTDEV_REG_COMMAND, TESTDEV_CMD_WRITE);
}

/* The device took the command (it clears COMMAND once its DMA began). */
static void wait_taken(struct uvfio_client *c)
{
	for (int i = 0; i < 5000 && reg_read(c, TESTDEV_REG_COMMAND); i++)
		usleep(1000);
	assert_int_equal(reg_read(c, TESTDEV_REG_COMMAND), 0);
}

static void start_write(struct uvfio_client *c, uint64_t off)
{
	start_write_at(c, LOAD_IOVA + off, LOAD_XFER);
}

/* The device says the write went well, and the bytes are its CRC's. */
static void check_write_at(struct uvfio_client *c, const uint8_t *mem,
			   uint32_t size)
{
	uint32_t st = reg_read(c, TESTDEV_REG_STATUS);

	assert_int_equal(st, TESTDEV_STATUS_WRITE_OK |
				     TESTDEV_STATUS_IRQ_RAISED);
	assert_int_equal(reg_read(c, TESTDEV_REG_CHECKSUM),
			 crc32_le(~0u, mem, size));
	reg_write(c, TESTDEV_REG_STATUS, 0);
}

static void check_write(struct uvfio_client *c, const uint8_t *mem,
			uint64_t off)
{
	check_write_at(c, mem + off, LOAD_XFER);
}

/*
 * A VMM moves a busy device back and forth between two processes: one
 * transfer under way when pre-copy starts (it completes at the source,
 * whole), one started while the device is quiesced (it migrates as a
 * pending command and runs at the destination).  Every transfer ends
 * once, with its interrupt once and the right bytes, mapped DMA and
 * in-band DMA alike.
 */
static void under_load(void **state)
{
	struct fixture *f = *state;
	struct vmm_dev v[2];
	uint8_t *data = NULL, *mem;
	int memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int cur = 0;

	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, LOAD_WIN), 0);
	mem = mmap(NULL, LOAD_WIN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	assert_true(mem != MAP_FAILED);
	/* The fixture's clients make way for the VMM's own. */
	for (int i = 0; i < 2; i++) {
		uvfio_client_close(f->c[i]);
		f->c[i] = NULL;
	}
	vmm_attach(&v[0], f->dev[0].sock, memfd, mem, false);
	for (int round = 0; round < 6; round++) {
		struct vmm_dev *src = &v[cur], *dst = &v[!cur];
		bool inband = round & 1;
		uint64_t off1 = 0, off2 = 2 * LOAD_XFER;
		size_t len;

		memset(mem, 0, LOAD_WIN);
		start_write(src->c, off1);
		wait_taken(src->c);
		assert_int_equal(set_state(src->c, UVFIO_MIG_STATE_PRE_COPY),
				 0);
		len = drain(src->c, &data, 0);
		/* Quiesced: the first transfer is done, and signalled. */
		assert_int_equal(set_state(src->c,
					   UVFIO_MIG_STATE_PRE_COPY_P2P),
				 0);
		assert_true(fired(src->efd));
		check_write(src->c, mem, off1);
		/* The second cannot start here: it goes with the state. */
		start_write(src->c, off2);
		len = drain(src->c, &data, len);
		assert_int_equal(set_state(src->c,
					   VFIO_DEVICE_STATE_STOP_COPY),
				 0);
		len = drain(src->c, &data, len);
		assert_int_equal(set_state(src->c, VFIO_DEVICE_STATE_STOP), 0);
		assert_true(quiet(src->efd));

		vmm_attach(dst, f->dev[!cur].sock, memfd, mem, inband);
		assert_int_equal(set_state(dst->c, VFIO_DEVICE_STATE_RESUMING),
				 0);
		feed(dst->c, data, len, 65536);
		assert_int_equal(set_state(dst->c, VFIO_DEVICE_STATE_RUNNING),
				 0);
		assert_true(fired(dst->efd));
		check_write(dst->c, mem, off2);
		assert_true(quiet(dst->efd));
		assert_true(quiet(src->efd));
		vmm_detach(src);
		cur = !cur;
	}
	vmm_detach(&v[cur]);
	munmap(mem, LOAD_WIN);
	close(memfd);
	free(data);
}

static bool all_asleep(void *arg)
{
	return proc_all_asleep(*(pid_t *)arg);
}

#define P2P_IOVA 0x40000000ull
#define P2P_XFER (64u << 10)

/*
 * Peer to peer: device B's DMA window is device A's BAR5, as a VMM maps
 * one device's BAR into another's DMA table.  Once both are in
 * RUNNING_P2P no write of B lands in A's BAR (a command given to B then
 * stays pending); back in RUNNING, B runs it and both agree.
 */
static void p2p(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *a = f->c[0], *b = f->c[1];
	const struct uvfio_region *r;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint8_t *bar, *snap = malloc(P2P_XFER);
	size_t sz;
	int efd;

	assert_non_null(snap);
	assert_int_equal(uvfio_client_region_info(a, 5, &r), 0);
	assert_true(r->fd >= 0);
	bar = uvfio_client_region_mmap(a, 5, -1, &sz);
	assert_non_null(bar);
	assert_int_equal(uvfio_client_dma_map(b, P2P_IOVA, sz,
					      UVFIO_DMA_PROT_READ |
						      UVFIO_DMA_PROT_WRITE,
					      bar, r->fd, r->offset),
			 0);
	assert_int_equal(uvfio_client_region_write(
				 b, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
				 &cmd, 2, 0),
			 0);
	efd = wire_msix(b);

	/* B writes into A's BAR. */
	memset(bar, 0, P2P_XFER);
	start_write_at(b, P2P_IOVA, P2P_XFER);
	assert_true(fired(efd));
	check_write_at(b, bar, P2P_XFER);

	/* One under way as the quiesce starts: it completes first. */
	start_write_at(b, P2P_IOVA, P2P_XFER);
	wait_taken(b);
	assert_int_equal(set_state(a, VFIO_DEVICE_STATE_RUNNING_P2P), 0);
	assert_int_equal(set_state(b, VFIO_DEVICE_STATE_RUNNING_P2P), 0);
	assert_true(fired(efd));
	check_write_at(b, bar, P2P_XFER);
	memcpy(snap, bar, P2P_XFER);

	/* Quiesced: B takes the command but starts nothing. */
	start_write_at(b, P2P_IOVA, P2P_XFER);
	/*
	 * Once every thread of B sleeps, its worker has tried the command
	 * (the BAR write woke it before it was answered) and waits: what it
	 * would have done is done.
	 */
	if (!wait_cond(all_asleep, &f->dev[1].pid, 10000))
		fail_msg("device B never went idle");
	assert_false(fired_within(efd, 0));
	assert_int_equal(reg_read(b, TESTDEV_REG_COMMAND), TESTDEV_CMD_WRITE);
	assert_memory_equal(snap, bar, P2P_XFER);

	/* Both running again: the command runs, and lands. */
	assert_int_equal(set_state(a, VFIO_DEVICE_STATE_RUNNING), 0);
	assert_int_equal(set_state(b, VFIO_DEVICE_STATE_RUNNING), 0);
	assert_true(fired(efd));
	check_write_at(b, bar, P2P_XFER);
	assert_memory_not_equal(snap, bar, P2P_XFER);
	assert_int_equal(uvfio_client_dma_unmap(b, P2P_IOVA, sz), 0);
	munmap(bar, sz);
	close(efd);
	free(snap);
}

/*
 * A command refused while quiesced runs once the device is back in
 * RUNNING: the device's wake-up (ops.unquiesce) must find DMA allowed
 * again, or a worker that retries there parks the command for good.
 */
static void resume_runs_held(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *c = f->c[0];
	int memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint8_t *mem;
	int efd;

	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, LOAD_WIN), 0);
	mem = mmap(NULL, LOAD_WIN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(uvfio_client_dma_map(c, LOAD_IOVA, LOAD_WIN,
					      UVFIO_DMA_PROT_READ |
						      UVFIO_DMA_PROT_WRITE,
					      mem, memfd, 0),
			 0);
	assert_int_equal(uvfio_client_region_write(
				 c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
				 &cmd, 2, 0),
			 0);
	efd = wire_msix(c);
	for (int i = 0; i < 30; i++) {
		assert_int_equal(set_state(c, VFIO_DEVICE_STATE_RUNNING_P2P),
				 0);
		start_write_at(c, LOAD_IOVA, 4096);
		assert_int_equal(set_state(c, VFIO_DEVICE_STATE_RUNNING), 0);
		assert_true(fired(efd));
		check_write_at(c, mem, 4096);
	}
	close(efd);
	munmap(mem, LOAD_WIN);
	close(memfd);
}

/*
 * Interrupts held for a destination belong to that session: a reset, or
 * a new client, must not see them; nor may a reset of a stopped device
 * deliver what it held (it went with the state, or the reset voids it).
 */
static void held_irq_voided(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *src = f->c[0], *dst = f->c[1];
	uint8_t *data = NULL;
	size_t len;
	int e0 = wire_msix(src), e1;

	/* Stopped, raised, reset: nothing fires. */
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP), 0);
	raise_msix(src);
	assert_int_equal(uvfio_client_reset(src), 0);
	assert_true(quiet(e0));
	close(e0);

	e0 = wire_msix(src);
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP), 0);
	raise_msix(src);
	assert_int_equal(set_state(src, VFIO_DEVICE_STATE_STOP_COPY), 0);
	len = drain(src, &data, 0);
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	feed(dst, data, len, 65536);
	/* The destination is reset before it ran: the interrupt is void. */
	assert_int_equal(uvfio_client_reset(dst), 0);
	e1 = wire_msix(dst);
	assert_true(quiet(e1));
	close(e1);
	/* The same after the client went away instead. */
	assert_int_equal(set_state(dst, VFIO_DEVICE_STATE_RESUMING), 0);
	feed(dst, data, len, 65536);
	uvfio_client_close(dst);
	dst = f->c[1] = uvfio_client_connect(f->dev[1].sock, NULL);
	assert_non_null(dst);
	e1 = wire_msix(dst);
	assert_true(quiet(e1));
	close(e1);
	close(e0);
	free(data);
}

/* Logging: what START chose, REPORT of nothing, STOP; and bad input. */
static void logging(void **state)
{
	struct fixture *f = *state;
	struct uvfio_client *c = f->c[0];
	struct {
		struct vfio_user_dma_logging_control c;
		struct vfio_user_dma_logging_range r[2];
	} start = { { 3000, 0, 0 }, { { 0, 1 << 20 }, { 1 << 20, 4096 } } };
	struct {
		struct vfio_user_dma_logging_report r;
		uint64_t bits[4];
	} rep = { { 0, 256 * 4096, 4096 }, { ~0ull, ~0ull, ~0ull, ~0ull } };
	size_t n;

	/* No ranges: everything; an odd page size becomes a real one. */
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &start, sizeof(start.c), sizeof(start.c), &n),
			 0);
	assert_int_equal(n, sizeof(start.c));
	assert_int_equal(start.c.page_size, 4096);
	assert_int_equal(feature(c, GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep.r), sizeof(rep), &n),
			 0);
	assert_int_equal(n, sizeof(rep));
	for (int i = 0; i < 4; i++)
		assert_int_equal(rep.bits[i], 0);
	/* Started twice; stopped twice. */
	assert_int_not_equal(
		feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &start,
			sizeof(start.c), sizeof(start.c), NULL),
		0);
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 &start, sizeof(start.c), sizeof(start.c), NULL),
			 0);
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 &start, 0, 0, NULL),
			 -EINVAL);
	/* REPORT without logging. */
	assert_int_equal(feature(c, GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep.r), sizeof(rep), NULL),
			 -EINVAL);
	/* Overlapping ranges; a range list shorter than num_ranges. */
	start.c.page_size = 4096;
	start.c.num_ranges = 2;
	start.r[1].iova = 4096;
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &start, sizeof(start), sizeof(start), NULL),
			 -EINVAL);
	start.r[1].iova = 1 << 20;
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &start, sizeof(start) - 16, sizeof(start),
				 NULL),
			 -EINVAL);
	/* A range past 2^64. */
	start.r[1].iova = ~0ull & ~4095ull;
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &start, sizeof(start), sizeof(start), NULL),
			 -EOVERFLOW);
	/* Ranges: a report outside them is refused. */
	start.r[1].iova = 1 << 20;
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &start, sizeof(start), sizeof(start), NULL),
			 0);
	rep.r.iova = 2 << 20;
	assert_int_equal(feature(c, GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep.r), sizeof(rep), NULL),
			 -EINVAL);
	assert_int_equal(feature(c, SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 &start, 0, 0, NULL),
			 0);
}

/* The driver's hooks: what a VMM adds to the stream, and when. */
struct hook_log {
	struct uvfio_client *dev;
	unsigned int rounds; /* round hook calls */
	unsigned int more_rounds; /* rounds asked for beyond the first */
	int quiesce_err; /* what quiesce returns */
	uint32_t quiesce_state; /* the device's state when quiesce ran */
	uint32_t stopped_state;
	bool resumed;
	/* Destination. */
	unsigned int frames;
	uint64_t seen[16];
	uint32_t loaded_state;
	bool stopped_before_loaded; /* the last frame came before loaded */
};

static int put_user(int fd, uint32_t index, uint64_t v)
{
	struct uvfio_mig_frame fr = { index, 0x5a, sizeof(v) };

	if (write(fd, &fr, sizeof(fr)) != sizeof(fr) ||
	    write(fd, &v, sizeof(v)) != sizeof(v))
		return -EIO;
	return 0;
}

static int h_round(void *arg, int fd, unsigned int round, bool *more)
{
	struct hook_log *l = arg;

	assert_false(*more);
	assert_int_equal(round, l->rounds);
	l->rounds++;
	*more = round < l->more_rounds;
	return put_user(fd, UVFIO_MIG_FRAME_USER_BASE + 1, round);
}

static int h_quiesce(void *arg)
{
	struct hook_log *l = arg;

	if (l->dev)
		l->quiesce_state = get_state(l->dev);
	return l->quiesce_err;
}

static int h_stopped(void *arg, int fd)
{
	struct hook_log *l = arg;

	if (l->dev)
		l->stopped_state = get_state(l->dev);
	return put_user(fd, UVFIO_MIG_FRAME_USER_BASE + 2, 0xd0e);
}

static void h_resume(void *arg)
{
	((struct hook_log *)arg)->resumed = true;
}

static int h_frame(void *arg, int fd, const struct uvfio_mig_frame *f)
{
	struct hook_log *l = arg;
	uint64_t v;

	if (f->flags != 0x5a || f->length != sizeof(v) ||
	    read(fd, &v, sizeof(v)) != sizeof(v) || l->frames >= 16)
		return -EBADMSG;
	l->seen[l->frames++] =
		(uint64_t)(f->index - UVFIO_MIG_FRAME_USER_BASE) << 32 | v;
	return 0;
}

static int h_loaded(void *arg)
{
	struct hook_log *l = arg;

	if (l->dev)
		l->loaded_state = get_state(l->dev);
	l->stopped_before_loaded =
		l->frames && l->seen[l->frames - 1] == (2ull << 32 | 0xd0e);
	return 0;
}

static void driver_hooks(void **state)
{
	struct fixture *f = *state;
	struct hook_log out = { .dev = f->c[0], .more_rounds = 2 };
	struct hook_log in = { .dev = f->c[1] };
	const struct uvfio_mig_hooks ho = { &out,      h_round,	 h_quiesce,
					    h_stopped, h_resume, NULL,
					    NULL };
	const struct uvfio_mig_hooks hi = { &in,  NULL,	   NULL,    NULL,
					    NULL, h_frame, h_loaded };
	struct uvfio_mig_driver_opts o = { .precopy_threshold = 1ull << 30,
					   .hooks = &ho };
	int fd = memfd_create("mig-hooks", MFD_CLOEXEC);

	assert_true(fd >= 0);
	reg_write(f->c[0], TESTDEV_REG_SIZE, 0x4321);
	assert_int_equal(uvfio_client_migrate_out(&f->c[0], 1, fd, &o), 0);
	/* Three rounds: the hook asked for two more, the device for none. */
	assert_int_equal(out.rounds, 3);
	assert_int_equal(out.quiesce_state, UVFIO_MIG_STATE_PRE_COPY_P2P);
	assert_int_equal(out.stopped_state, VFIO_DEVICE_STATE_STOP);
	assert_false(out.resumed);

	/* A driver without hooks refuses the VMM's frames. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(uvfio_client_migrate_in(&f->c[1], 1, fd), -EBADMSG);
	assert_int_equal(set_state(f->c[1], VFIO_DEVICE_STATE_STOP), 0);
	assert_int_equal(set_state(f->c[1], VFIO_DEVICE_STATE_RUNNING), 0);

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(uvfio_client_migrate_in_hooks(&f->c[1], 1, fd, &hi),
			 0);
	assert_int_equal(in.frames, 4);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(in.seen[i], 1ull << 32 | i);
	assert_true(in.stopped_before_loaded);
	assert_int_equal(in.loaded_state, VFIO_DEVICE_STATE_RUNNING_P2P);
	assert_int_equal(get_state(f->c[1]), VFIO_DEVICE_STATE_RUNNING);
	assert_int_equal(reg_read(f->c[1], TESTDEV_REG_SIZE), 0x4321);

	/* A quiesce that fails: the devices run again, then the VMM. */
	assert_int_equal(set_state(f->c[0], VFIO_DEVICE_STATE_RUNNING), 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	out = (struct hook_log){ .dev = f->c[0], .quiesce_err = -ETIMEDOUT };
	assert_int_equal(uvfio_client_migrate_out(&f->c[0], 1, fd, &o),
			 -ETIMEDOUT);
	assert_true(out.resumed);
	assert_int_equal(get_state(f->c[0]), VFIO_DEVICE_STATE_RUNNING);

	/* No devices: only the VMM's state, and only with hooks. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	out = (struct hook_log){ .more_rounds = 0 };
	assert_int_equal(uvfio_client_migrate_out(NULL, 0, fd, &o), 0);
	assert_int_equal(out.rounds, 1);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	in = (struct hook_log){ 0 };
	assert_int_equal(uvfio_client_migrate_in_hooks(NULL, 0, fd, &hi), 0);
	assert_int_equal(in.frames, 2);
	assert_int_equal(uvfio_client_migrate_out(NULL, 0, fd, NULL), -EINVAL);
	assert_int_equal(uvfio_client_migrate_in(NULL, 0, fd), -EINVAL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(features, setup, teardown),
		cmocka_unit_test_setup_teardown(every_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(move, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(held_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(logging, setup, teardown),
		cmocka_unit_test_setup_teardown(under_load, setup, teardown),
		cmocka_unit_test_setup_teardown(p2p, setup, teardown),
		cmocka_unit_test_setup_teardown(resume_runs_held, setup_worker,
						teardown),
		cmocka_unit_test_setup_teardown(held_irq_voided, setup,
						teardown),
		cmocka_unit_test_setup_teardown(driver_hooks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
