// SPDX-License-Identifier: MIT
/*
 * Live migration, device side: the state machine (arcs one step at a
 * time, mig_fsm.c choosing the steps), what each state allows (DMA gate,
 * held interrupts), and the state stream of MIG_DATA_READ/WRITE.
 *
 * The stream is a sequence of records, each a header (magic, kind,
 * flags, length, CRC of the payload and of the header) and a payload:
 * one per save() of the device, plus the library's own record (config
 * space and the interrupts held pending) just before the final one.  The
 * destination checks each record before the device sees it, so a
 * truncated or corrupted stream is refused, never half-loaded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirty.h"
#include "dma_ref.h"
#include "irq.h"
#include "mig_fsm.h"
#include "proto/crc32c.h"

#define REC_MAGIC 0x524d5655u /* "UVMR" */
#define REC_DEVICE 0
#define REC_LIB 1
#define REC_FINAL (1u << 0)
/* A record the destination is willing to buffer. */
#define REC_MAX (1ull << 30)
/* How long an arc into a P2P or stopped state waits for DMA to end. */
#define DMA_IDLE_TIMEOUT_MS 10000

struct rec_hdr {
	uint32_t magic;
	uint16_t kind;
	uint16_t flags;
	uint64_t len;
	uint32_t crc;
	uint32_t hcrc;  /* of the 20 bytes before it */
};
_Static_assert(sizeof(struct rec_hdr) == 24, "record header");

struct mig_buf {
	uint8_t *p;
	size_t len;     /* bytes held */
	size_t cap;
	size_t off;     /* bytes already taken from the front */
};

struct uvfio_mig_out {
	struct mig_buf *b;
	int err;
};

struct held_irq {
	uint32_t index;
	uint32_t vector;
};

/* The device's run level, which the arcs move between. */
enum level { LV_STOPPED, LV_QUIESCED, LV_RUNNING };

struct mig {
	struct uvfio_mig_ops ops;
	void *priv;
	uint32_t state;
	enum level level;
	bool saving;            /* save_begin called, save_end not yet */
	struct mig_buf out;     /* saved, not yet read */
	struct mig_buf in;      /* received, not yet a whole record */
	int in_err;             /* the stream was refused */
	/* Interrupts held pending in the source, to deliver once wired. */
	struct held_irq *held;
	uint32_t nheld;
};

/* Buffers */

static int buf_reserve(struct mig_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (n > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + n;
	if (need <= b->cap)
		return 0;
	/* Reuse the room already read before growing. */
	if (b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		need = b->len + n;
		if (need <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_put(struct mig_buf *b, const void *p, size_t n)
{
	int err = buf_reserve(b, n);

	if (err)
		return err;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static size_t buf_avail(const struct mig_buf *b)
{
	return b->len - b->off;
}

static void buf_clear(struct mig_buf *b)
{
	free(b->p);
	*b = (struct mig_buf){ 0 };
}

/*
 * Empties b but keeps its memory for the next session, up to a bound:
 * pages written again are cheap, fresh ones cost a fault each and, in
 * some VMs, much more the first time the kernel copies from them.
 */
#define KEEP_MAX (256u << 20)

static void buf_reset(struct mig_buf *b)
{
	if (b->cap > KEEP_MAX) {
		buf_clear(b);
		return;
	}
	b->len = 0;
	b->off = 0;
}

int uvfio_mig_write(struct uvfio_mig_out *out, const void *data, size_t len)
{
	int err;

	if (!out || (!data && len))
		return -EINVAL;
	if (out->err)
		return out->err;
	err = buf_put(out->b, data, len);
	if (err)
		out->err = err;
	return err;
}

/* Records */

static uint32_t crc(const void *p, size_t n)
{
	return crc32c(p, n);
}

/* Opens a record in out; returns where its header is. */
static int rec_open(struct mig_buf *b, size_t *at)
{
	struct rec_hdr h = { 0 };
	int err = buf_reserve(b, sizeof(h));

	*at = b->len - b->off;
	return err ? err : buf_put(b, &h, sizeof(h));
}

/* Closes it, or drops it when it is empty and may be. */
static void rec_close(struct mig_buf *b, size_t at, uint16_t kind,
		      uint16_t flags, bool drop_empty)
{
	uint8_t *p = b->p + b->off + at;
	struct rec_hdr h = {
		.magic = REC_MAGIC,
		.kind = kind,
		.flags = flags,
		.len = b->len - b->off - at - sizeof(h),
	};

	if (!h.len && drop_empty) {
		b->len -= sizeof(h);
		return;
	}
	h.crc = crc(p + sizeof(h), h.len);
	h.hcrc = crc(&h, offsetof(struct rec_hdr, hcrc));
	memcpy(p, &h, sizeof(h));
}

static int save_device(struct uvfio_dev *dev, bool final)
{
	struct mig *m = dev->mig;
	struct uvfio_mig_out o = { .b = &m->out };
	size_t at = 0;
	int err = rec_open(&m->out, &at);

	if (err)
		return err;
	err = m->ops.save ? m->ops.save(dev, m->priv, &o, final) : 0;
	if (!err)
		err = o.err;
	if (err) {
		m->out.len = m->out.off + at;
		return err < 0 ? err : -EIO;
	}
	rec_close(&m->out, at, REC_DEVICE, final ? REC_FINAL : 0, !final);
	return 0;
}

/* Library state: config space, then the interrupts held pending. */
static int save_lib(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	uint32_t n = 0, size = dev->cfg.size;
	size_t at = 0, nat;
	int err = rec_open(&m->out, &at);

	if (!err)
		err = buf_put(&m->out, &size, sizeof(size));
	if (!err)
		err = buf_put(&m->out, dev->cfg.data, size);
	nat = m->out.len - m->out.off;  /* relative: buffers may compact */
	if (!err)
		err = buf_put(&m->out, &n, sizeof(n));
	for (uint32_t i = 0; !err && i < VFIO_PCI_NUM_IRQS; i++) {
		struct irq_index *q = &dev->irqs[i];

		for (uint32_t v = 0; !err && v < q->count; v++) {
			struct held_irq h = { i, v };

			if (!(atomic_load(&q->vec[v].state) & VEC_PENDING))
				continue;
			err = buf_put(&m->out, &h, sizeof(h));
			n++;
		}
	}
	/* Still held from an earlier move, never wired since. */
	for (uint32_t i = 0; !err && i < m->nheld; i++) {
		struct held_irq h = m->held[i];

		if (atomic_load(&dev->irqs[h.index].vec[h.vector].state) &
		    VEC_PENDING)
			continue;       /* written above already */
		err = buf_put(&m->out, &h, sizeof(h));
		n++;
	}
	if (err) {
		m->out.len = m->out.off + at;
		return err;
	}
	memcpy(m->out.p + m->out.off + nat, &n, sizeof(n));
	rec_close(&m->out, at, REC_LIB, 0, false);
	return 0;
}

static int load_lib(struct uvfio_dev *dev, const uint8_t *p, uint64_t len)
{
	struct mig *m = dev->mig;
	uint32_t size, n;
	struct held_irq *held;

	if (len < 8)
		return -EINVAL;
	memcpy(&size, p, 4);
	if (size != dev->cfg.size || len < 8 + (uint64_t)size)
		return -EINVAL;
	memcpy(&n, p + 4 + size, 4);
	if ((len - 8 - size) / sizeof(*held) != n ||
	    (len - 8 - size) % sizeof(*held))
		return -EINVAL;
	held = n ? calloc(n, sizeof(*held)) : NULL;
	if (n && !held)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&held[i], p + 8 + size + i * sizeof(*held),
		       sizeof(*held));
		if (held[i].index >= VFIO_PCI_NUM_IRQS ||
		    held[i].vector >= dev->irqs[held[i].index].count) {
			free(held);
			return -EINVAL;
		}
	}
	memcpy(dev->cfg.data, p + 4, size);
	free(m->held);
	m->held = held;
	m->nheld = n;
	return 0;
}

/* Takes every whole record out of m->in. */
static int load_records(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	struct rec_hdr h;
	int err = 0;

	while (!err && buf_avail(&m->in) >= sizeof(h)) {
		const uint8_t *p = m->in.p + m->in.off;

		memcpy(&h, p, sizeof(h));
		if (h.magic != REC_MAGIC ||
		    h.hcrc != crc(&h, offsetof(struct rec_hdr, hcrc)) ||
		    h.kind > REC_LIB || (h.flags & ~REC_FINAL) ||
		    h.len > REC_MAX)
			return -EINVAL;
		if (buf_avail(&m->in) - sizeof(h) < h.len)
			break;
		p += sizeof(h);
		if (crc(p, h.len) != h.crc)
			return -EINVAL;
		if (h.kind == REC_LIB)
			err = load_lib(dev, p, h.len);
		else if (m->ops.load)
			err = m->ops.load(dev, m->priv, p, h.len,
					  h.flags & REC_FINAL);
		m->in.off += sizeof(h) + h.len;
	}
	if (m->in.off == m->in.len) {
		m->in.off = 0;
		m->in.len = 0;
	}
	return err < 0 ? err : err ? -EIO : 0;
}

/* The DMA gate */

__thread unsigned int mig_dma_txn __attribute__((tls_model("initial-exec")));

int uvfio_dma_begin(struct uvfio_dev *dev)
{
	int err = mig_dma_enter(dev);

	if (!err)
		mig_dma_txn++;
	return err;
}

void uvfio_dma_end(struct uvfio_dev *dev)
{
	mig_dma_txn--;
	mig_dma_exit(dev);
}

void uvfio_dma_mark_dirty(struct uvfio_dev *dev, uint64_t iova,
			  uint64_t len)
{
	if (len && iova + len - 1 >= iova)
		dirty_mark(dev, iova, len);
}

void mig_dma_idle(struct uvfio_dev *dev)
{
	(void)dev;
	dma_ref_wake();
}

/*
 * Without a twin socket a device thread's in-band DMA waits for a reply
 * that only this (the dispatch) thread reads: take replies meanwhile.
 * Anything else stays queued for after the arc.
 */
static void take_replies(struct uvfio_dev *dev)
{
	struct vfio_user_header h;
	struct uvfio_msg msg;
	uint8_t none[1];

	if (dev->has_twin || !dev->connected)
		return;
	if (atomic_load(&dev->s2c_direct) && s2c_take_read(dev, false) != 0)
		return;
	if (uvfio_chan_peek(&dev->chan, &h, none, 0, false) != 1 ||
	    (h.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY)
		return;
	dev->chan.nest++;
	if (uvfio_chan_recv(&dev->chan, &msg, false) == 1) {
		s2c_route(dev, &msg);
		uvfio_msg_release(&msg);
	}
	dev->chan.nest--;
}

static bool dma_busy(void *arg)
{
	struct uvfio_dev *dev = arg;

	return atomic_load(&dev->dma_active) ||
	       dma_ref_held(NULL, &dev->dma);
}

/* New DMA is refused from here on; waits for what is under way. */
static int dma_drain(struct uvfio_dev *dev)
{
	int waited = 0, err = 0;

	atomic_store(&dev->dma_blocked, true);
	/* Every get that missed the flag now holds its entry. */
	dma_ref_wait_begin();
	while (dma_busy(dev)) {
		if (waited++ >= DMA_IDLE_TIMEOUT_MS) {
			err = -ETIMEDOUT;
			break;
		}
		take_replies(dev);
		dma_ref_sleep(dma_busy, dev, 1);
	}
	dma_ref_wait_end();
	return err;
}

/* Interrupts */

static void irqs_hold(struct uvfio_dev *dev, bool hold)
{
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct irq_index *q = &dev->irqs[i];

		for (uint32_t v = 0; v < q->count; v++) {
			if (hold)
				vec_block(q, v, VEC_FROZEN);
			else
				vec_unblock(q, v, VEC_FROZEN);
		}
	}
}

void mig_irq_wired(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	uint32_t kept = 0;

	if (!m || !m->nheld || m->level == LV_STOPPED)
		return;
	for (uint32_t i = 0; i < m->nheld; i++) {
		struct held_irq h = m->held[i];
		struct irq_index *q = &dev->irqs[h.index];

		if (vec_live(atomic_load(&q->vec[h.vector].state)))
			vec_raise(q, h.vector, 0);
		else
			m->held[kept++] = h;
	}
	m->nheld = kept;
}

/* Unfreezes every vector, dropping what was held pending. */
static void irqs_release(struct uvfio_dev *dev)
{
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct irq_index *q = &dev->irqs[i];

		for (uint32_t v = 0; v < q->count; v++)
			vec_update(q, v, VEC_FROZEN | VEC_PENDING, 0);
	}
}

/* Arcs */

static int cb(struct uvfio_dev *dev, int (*fn)(struct uvfio_dev *, void *))
{
	int err = fn ? fn(dev, dev->mig->priv) : 0;

	return err > 0 ? -EIO : err;
}

static int to_stopped(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	int err;

	doorbell_drain(dev);
	err = cb(dev, m->ops.stop);

	if (err)
		return err;
	m->level = LV_STOPPED;
	err = dma_drain(dev);
	irqs_hold(dev, true);
	return err;
}

/* STOP -> a running level: the device runs, held interrupts go. */
static int wake(struct uvfio_dev *dev)
{
	int err = cb(dev, dev->mig->ops.run);

	if (!err)
		irqs_hold(dev, false);
	return err;
}

static int to_quiesced(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	bool stopped = m->level == LV_STOPPED;
	int err;

	if (!stopped)
		doorbell_drain(dev);
	err = stopped ? wake(dev) : cb(dev, m->ops.quiesce);

	if (err)
		return err;
	m->level = LV_QUIESCED;
	if (!stopped)
		return dma_drain(dev);
	mig_irq_wired(dev);
	return 0;
}

static int to_running(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	int err;

	/*
	 * DMA first: the callback is where a device restarts the work it
	 * held back, and that work must find DMA allowed.
	 */
	atomic_store(&dev->dma_blocked, false);
	/* Without P2P, run is the whole way up from STOP. */
	err = m->level == LV_STOPPED ? wake(dev) : cb(dev, m->ops.unquiesce);
	if (err) {
		atomic_store(&dev->dma_blocked, true);
		return err;
	}
	m->level = LV_RUNNING;
	mig_irq_wired(dev);
	return 0;
}

static void save_end(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;

	if (m->saving && m->ops.save_end)
		m->ops.save_end(dev, m->priv);
	m->saving = false;
	buf_reset(&m->out);
}

static void save_begin(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;

	buf_reset(&m->out);
	if (m->ops.save_begin)
		m->ops.save_begin(dev, m->priv);
	m->saving = true;
}

/* What STOP_COPY reads: the library's state, then the device's rest. */
static int save_final(struct uvfio_dev *dev)
{
	int err = save_lib(dev);

	return err ? err : save_device(dev, true);
}

static bool is_saving(uint32_t s)
{
	return s == VFIO_DEVICE_STATE_STOP_COPY ||
	       s == UVFIO_MIG_STATE_PRE_COPY ||
	       s == UVFIO_MIG_STATE_PRE_COPY_P2P;
}

/* One direct arc. */
static int step(struct uvfio_dev *dev, uint32_t from, uint32_t to)
{
	struct mig *m = dev->mig;
	int err = 0;

	switch (to) {
	case VFIO_DEVICE_STATE_RUNNING:
	case UVFIO_MIG_STATE_PRE_COPY:
		if (from == VFIO_DEVICE_STATE_RUNNING) {
			save_begin(dev);        /* RUNNING -> PRE_COPY */
			return 0;
		}
		if (from == UVFIO_MIG_STATE_PRE_COPY) {
			save_end(dev);          /* PRE_COPY -> RUNNING */
			return 0;
		}
		return to_running(dev);
	case VFIO_DEVICE_STATE_RUNNING_P2P:
	case UVFIO_MIG_STATE_PRE_COPY_P2P:
		if (from == VFIO_DEVICE_STATE_RUNNING_P2P) {
			save_begin(dev);
			return 0;
		}
		if (from == UVFIO_MIG_STATE_PRE_COPY_P2P) {
			save_end(dev);
			return 0;
		}
		return to_quiesced(dev);
	case VFIO_DEVICE_STATE_STOP:
		if (from == VFIO_DEVICE_STATE_STOP_COPY) {
			save_end(dev);
			return 0;
		}
		if (from == VFIO_DEVICE_STATE_RESUMING) {
			err = m->in_err;
			if (!err && buf_avail(&m->in))
				err = -EINVAL;  /* a record cut short */
			if (!err)
				err = cb(dev, m->ops.load_end);
			buf_clear(&m->in);
			return err;
		}
		return to_stopped(dev);
	case VFIO_DEVICE_STATE_STOP_COPY:
		if (from == VFIO_DEVICE_STATE_STOP)
			save_begin(dev);
		else if ((err = to_stopped(dev)))
			return err;
		return save_final(dev);
	case VFIO_DEVICE_STATE_RESUMING:
		buf_clear(&m->in);
		m->in_err = 0;
		free(m->held);
		m->held = NULL;
		m->nheld = 0;
		return cb(dev, m->ops.load_begin);
	}
	return -EINVAL;
}

static int set_state(struct uvfio_dev *dev, uint32_t target)
{
	struct mig *m = dev->mig;

	while (m->state != target) {
		int next = mig_fsm_next(m->ops.flags, m->state, target);
		int err;

		if (next < 0)
			return next;
		err = step(dev, m->state, (uint32_t)next);
		if (err) {
			/*
			 * A callback that refused left the device where it
			 * was; anything later (DMA that never drained, data
			 * refused) leaves it in no state we can name.
			 */
			if (err == -ETIMEDOUT || m->state ==
			    VFIO_DEVICE_STATE_RESUMING || is_saving(next))
				m->state = VFIO_DEVICE_STATE_ERROR;
			return err;
		}
		m->state = (uint32_t)next;
	}
	return 0;
}

void mig_reset(struct uvfio_dev *dev, bool client_lost)
{
	struct mig *m = dev->mig;

	if (!m)
		return;
	/* A partial load is no state at all: as a reset would, drop it. */
	if (client_lost && dev->ops.reset &&
	    (m->state == VFIO_DEVICE_STATE_RESUMING ||
	     m->state == VFIO_DEVICE_STATE_ERROR))
		dev->ops.reset(dev, dev->priv);
	save_end(dev);
	buf_clear(&m->in);
	m->in_err = 0;
	/* Interrupts held for a destination belong to that session. */
	free(m->held);
	m->held = NULL;
	m->nheld = 0;
	atomic_store(&dev->dma_blocked, false);
	if (m->level == LV_STOPPED && m->ops.run)
		m->ops.run(dev, m->priv);
	if (m->level != LV_RUNNING && m->ops.unquiesce &&
	    (m->ops.flags & VFIO_MIGRATION_P2P))
		m->ops.unquiesce(dev, m->priv);
	/*
	 * What was raised while stopped went with the state (or is void
	 * after a reset): it must not fire now.
	 */
	if (m->level == LV_STOPPED)
		irqs_release(dev);
	m->level = LV_RUNNING;
	m->state = VFIO_DEVICE_STATE_RUNNING;
}

/* Feature requests, as VFIO_DEVICE_FEATURE checks them. */

/*
 * 1: go on with GET or SET; 0: a probe that succeeds (reply echoes);
 * or a negative errno.
 */
static int check_ops(uint32_t flags, uint32_t argsz, uint32_t ops,
		     size_t minsz)
{
	uint32_t gs = flags & (VFIO_DEVICE_FEATURE_GET |
			       VFIO_DEVICE_FEATURE_SET);

	if (gs & ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!gs)
		return -EINVAL;
	if (argsz < sizeof(struct vfio_device_feature) + minsz)
		return -EINVAL;
	return 1;
}

/* Replies feature header + data (data may alias dev->xfer). */
static int feature_reply(struct uvfio_dev *dev, struct uvfio_msg *msg,
			 const void *data, size_t n)
{
	struct vfio_device_feature f;
	struct iovec iov[2];
	struct vfio_user_header h = {
		.msg_id = msg->hdr.msg_id,
		.cmd = msg->hdr.cmd,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	int err;

	memcpy(&f, msg->payload, sizeof(f));
	f.argsz = (uint32_t)(sizeof(f) + n);
	iov[0] = (struct iovec){ &f, sizeof(f) };
	iov[1] = (struct iovec){ (void *)data, n };
	h.msg_size = (uint32_t)(sizeof(h) + sizeof(f) + n);
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 1;
	err = dev_send(dev, &h, iov, 2, NULL, 0);
	return err ? err : 1;
}

static int feat_state(struct uvfio_dev *dev, struct uvfio_msg *msg,
		      uint32_t flags, const uint8_t *d, size_t dlen)
{
	struct vfio_device_feature_mig_state st = { .data_fd = -1 };
	int err;

	if (flags & VFIO_DEVICE_FEATURE_GET) {
		st.device_state = dev->mig->state;
		return feature_reply(dev, msg, &st, sizeof(st));
	}
	if (dlen < offsetof(struct vfio_device_feature_mig_state, data_fd) +
			   sizeof(st.data_fd))
		return -EINVAL;
	memcpy(&st, d, sizeof(st));
	err = set_state(dev, st.device_state);
	if (err)
		return err;
	st.data_fd = -1;
	return feature_reply(dev, msg, &st, sizeof(st));
}

static uint64_t stop_copy_size(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;
	uint64_t n = buf_avail(&m->out);

	if (m->state != VFIO_DEVICE_STATE_STOP_COPY) {
		n += 2 * sizeof(struct rec_hdr) + 8 + dev->cfg.size;
		if (m->ops.pending)
			n += m->ops.pending(dev, m->priv, true);
	}
	return n;
}

static int feat_logging(struct uvfio_dev *dev, struct uvfio_msg *msg,
			uint32_t feature, const uint8_t *d, size_t dlen)
{
	struct vfio_user_dma_logging_control c;
	uint64_t ps;
	int err;

	if (feature == VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP) {
		err = dirty_stop(dev);
		return err ? err : feature_reply(dev, msg, d, dlen);
	}
	if (dlen > dev->caps.max_data_xfer_size)
		return -E2BIG;
	err = dirty_start(dev, (const void *)d, dlen, &ps);
	if (err)
		return err;
	/* The request echoed, with the page size chosen. */
	memcpy(dev->xfer, d, dlen);
	memcpy(&c, d, sizeof(c));
	c.page_size = ps;
	memcpy(dev->xfer, &c, sizeof(c));
	return feature_reply(dev, msg, dev->xfer, dlen);
}

static int feat_report(struct uvfio_dev *dev, struct uvfio_msg *msg,
		       uint32_t argsz, const uint8_t *d)
{
	struct vfio_user_dma_logging_report r;
	size_t bytes;
	int err;

	memcpy(&r, d, sizeof(r));
	bytes = dirty_report_bytes(&r);
	if (!bytes)
		return -EINVAL;
	if (bytes > dev->caps.max_data_xfer_size - sizeof(r))
		return -E2BIG;
	if (argsz < sizeof(struct vfio_device_feature) + sizeof(r) + bytes)
		return -EINVAL;
	memcpy(dev->xfer, &r, sizeof(r));
	err = dirty_report(dev, &r, (uint64_t *)(void *)(dev->xfer + sizeof(r)),
			   bytes);
	return err ? err : feature_reply(dev, msg, dev->xfer,
					 sizeof(r) + bytes);
}

int handle_feature(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct vfio_device_feature f;
	const uint8_t *d = msg->payload + sizeof(f);
	size_t dlen;
	uint32_t feature, ops = 0;
	size_t minsz = 0;
	int r;

	if (msg->size < sizeof(f))
		return -EINVAL;
	memcpy(&f, msg->payload, sizeof(f));
	dlen = msg->size - sizeof(f);
	if (f.argsz < sizeof(f) ||
	    (f.flags & ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE)))
		return -EINVAL;
	if (!(f.flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (f.flags & VFIO_DEVICE_FEATURE_GET) &&
	    (f.flags & VFIO_DEVICE_FEATURE_SET))
		return -EINVAL;
	feature = f.flags & VFIO_DEVICE_FEATURE_MASK;
	switch (feature) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		ops = VFIO_DEVICE_FEATURE_GET;
		minsz = sizeof(struct vfio_user_feature_migration);
		break;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		ops = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET;
		minsz = sizeof(struct vfio_device_feature_mig_state);
		break;
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		ops = VFIO_DEVICE_FEATURE_GET;
		minsz = sizeof(struct vfio_user_feature_mig_data_size);
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		ops = VFIO_DEVICE_FEATURE_SET;
		minsz = sizeof(struct vfio_user_dma_logging_control);
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		ops = VFIO_DEVICE_FEATURE_SET;
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		ops = VFIO_DEVICE_FEATURE_GET;
		minsz = sizeof(struct vfio_user_dma_logging_report);
		break;
	default:
		return -EINVAL;
	}
	/* As vfio does for a device without migration or logging. */
	if (!dev->mig)
		return -ENOTTY;
	r = check_ops(f.flags, f.argsz, ops, minsz);
	if (r <= 0)
		return r ? r : feature_reply(dev, msg, d, dlen);
	/* SET and REPORT read their data from the request. */
	if ((f.flags & VFIO_DEVICE_FEATURE_SET ||
	     feature == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT) &&
	    dlen < minsz)
		return -EINVAL;

	switch (feature) {
	case VFIO_DEVICE_FEATURE_MIGRATION: {
		struct vfio_user_feature_migration mf = {
			.flags = dev->mig->ops.flags,
		};

		return feature_reply(dev, msg, &mf, sizeof(mf));
	}
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return feat_state(dev, msg, f.flags, d, dlen);
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
		struct vfio_user_feature_mig_data_size ds = {
			.stop_copy_length = stop_copy_size(dev),
		};

		return feature_reply(dev, msg, &ds, sizeof(ds));
	}
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return feat_report(dev, msg, f.argsz, d);
	default:
		return feat_logging(dev, msg, feature, d, dlen);
	}
}

/* The data stream */

int handle_mig_data_read(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct mig *m = dev->mig;
	struct vfio_user_mig_data rq, rp;
	struct vfio_user_header h = {
		.msg_id = msg->hdr.msg_id,
		.cmd = msg->hdr.cmd,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	struct iovec iov[2];
	size_t n;
	int err;

	if (!m)
		return -ENOTTY;
	if (msg->size < sizeof(rq))
		return -EINVAL;
	memcpy(&rq, msg->payload, sizeof(rq));
	/*
	 * A reply shorter than asked means the end of the data: a request
	 * we could not answer whole would look like one, so refuse it.
	 */
	if (rq.argsz < sizeof(rq) || !is_saving(m->state) ||
	    rq.size > dev->caps.max_data_xfer_size)
		return -EINVAL;
	/* Pre-copy: what changed since the last read, when all is read. */
	if (!buf_avail(&m->out) && m->state != VFIO_DEVICE_STATE_STOP_COPY) {
		err = save_device(dev, false);
		if (err)
			return err;
	}
	n = buf_avail(&m->out);
	if (n > rq.size)
		n = rq.size;
	if (n > rq.argsz - sizeof(rq))
		n = rq.argsz - sizeof(rq);
	rp.argsz = (uint32_t)(sizeof(rp) + n);
	rp.size = (uint32_t)n;
	iov[0] = (struct iovec){ &rp, sizeof(rp) };
	iov[1] = (struct iovec){ m->out.p + m->out.off, n };
	h.msg_size = (uint32_t)(sizeof(h) + sizeof(rp) + n);
	if (!(msg->hdr.flags & VFIO_USER_F_NO_REPLY)) {
		err = dev_send(dev, &h, iov, 2, NULL, 0);
		if (err)
			return err;
	}
	m->out.off += n;
	if (m->out.off == m->out.len)
		m->out.off = m->out.len = 0;
	return 1;
}

int handle_mig_data_write(struct uvfio_dev *dev, struct uvfio_msg *msg)
{
	struct mig *m = dev->mig;
	struct vfio_user_mig_data rq;
	int err;

	if (!m)
		return -ENOTTY;
	if (msg->size < sizeof(rq))
		return -EINVAL;
	memcpy(&rq, msg->payload, sizeof(rq));
	if (rq.size > msg->size - sizeof(rq) ||
	    m->state != VFIO_DEVICE_STATE_RESUMING)
		return -EINVAL;
	if (m->in_err)
		return m->in_err;
	err = buf_put(&m->in, msg->payload + sizeof(rq), rq.size);
	if (!err)
		err = load_records(dev);
	if (err)
		m->in_err = err;
	return err;
}

/* Setup */

int uvfio_dev_set_migration(struct uvfio_dev *dev,
			    const struct uvfio_mig_ops *ops, void *priv)
{
	struct mig *m;

	if (!ops || dev->connected || dev->mig ||
	    !(ops->flags & VFIO_MIGRATION_STOP_COPY) ||
	    (ops->flags & ~(uint64_t)(VFIO_MIGRATION_STOP_COPY |
				      VFIO_MIGRATION_P2P |
				      VFIO_MIGRATION_PRE_COPY)))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ops = *ops;
	m->priv = priv;
	m->state = VFIO_DEVICE_STATE_RUNNING;
	m->level = LV_RUNNING;
	dev->mig = m;
	return 0;
}

enum uvfio_mig_state uvfio_dev_mig_state(struct uvfio_dev *dev)
{
	return dev->mig ? (enum uvfio_mig_state)dev->mig->state :
			  UVFIO_MIG_RUNNING;
}

void mig_free(struct uvfio_dev *dev)
{
	struct mig *m = dev->mig;

	if (!m)
		return;
	buf_clear(&m->out);
	buf_clear(&m->in);
	free(m->held);
	free(m);
	dev->mig = NULL;
}
