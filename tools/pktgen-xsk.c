/*
 * pktgen's AF_XDP engine: a transmit-only XDP socket (libxdp's xsk API) on
 * the veth, copy mode.  Frames are written into the socket's memory (UMEM)
 * and handed over through its TX ring; the kernel builds an skb of each and
 * transmits it directly on the device's queue, without the qdisc.  A frame
 * counts as sent when its completion comes back; one the veth dropped shows
 * in its tx_dropped counter.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>
#include "labnet.h"
#include "pktgen.h"

#define XSK_FRAMES	4096	/* UMEM frames: at most this many in flight */
#define XSK_FRAME_SIZE	2048
#define XSK_RING	2048	/* TX and completion ring entries */
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET	9	/* Linux 6.17: frames one sendto() may transmit */
#endif

struct xsk {
	const struct pktgen_ctx *ctx;
	struct xsk_umem *umem;
	struct xsk_socket *sock;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp;
	void *area;
	__u64 submitted, completed, dropped0;
	int fd;
};

static void xsk_close(void *state)
{
	struct xsk *x = state;

	if (!x)
		return;
	if (x->sock)
		xsk_socket__delete(x->sock);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area)
		munmap(x->area, (size_t)XSK_FRAMES * XSK_FRAME_SIZE);
	free(x);
}

static int xsk_open(void **state, const struct pktgen_ctx *ctx, char *why, size_t whylen)
{
	struct xsk_umem_config ucfg = { .fill_size = XSK_RING, .comp_size = XSK_RING,
					.frame_size = XSK_FRAME_SIZE };
	struct xsk_socket_config scfg = { .tx_size = XSK_RING,
					  .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					  .bind_flags = XDP_COPY };
	struct xsk *x = calloc(1, sizeof(*x));
	size_t len = (size_t)XSK_FRAMES * XSK_FRAME_SIZE;
	int err, budget = 1024;

	if (!x)
		return -ENOMEM;
	x->ctx = ctx;
	x->area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		err = -errno;
		snprintf(why, whylen, "af_xdp: cannot map %zu bytes (%s)", len, strerror(-err));
		goto err_close;
	}
	/* the payload never changes: every frame holds the template */
	for (int i = 0; i < XSK_FRAMES; i++)
		memcpy((char *)x->area + (size_t)i * XSK_FRAME_SIZE, ctx->pkt->d, ctx->pkt->len);
	err = xsk_umem__create(&x->umem, x->area, len, &x->fill, &x->comp, &ucfg);
	if (err) {
		x->umem = NULL;
		snprintf(why, whylen, "af_xdp: cannot register the frame memory (%s)", strerror(-err));
		goto err_close;
	}
	/* a socket closed just before (the previous run's) frees the queue a
	 * moment later: busy for up to a second is waited out */
	for (int tries = 0; tries < 100; tries++) {
		err = xsk_socket__create(&x->sock, ctx->dev, 0, x->umem, NULL, &x->tx, &scfg);
		if (err != -EBUSY)
			break;
		usleep(10000);
	}
	if (err) {
		x->sock = NULL;
		snprintf(why, whylen, "af_xdp: cannot bind a socket to %s queue 0 (%s)", ctx->dev,
			 strerror(-err));
		goto err_close;
	}
	x->fd = xsk_socket__fd(x->sock);
	/* more frames per sendto() where the kernel allows it (6.17+); else 32 */
	setsockopt(x->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
	err = labnet_tx_dropped(ctx->dev, &x->dropped0);
	if (err) {
		snprintf(why, whylen, "af_xdp: cannot read the drops of %s (%s)", ctx->dev,
			 strerror(-err));
		goto err_close;
	}
	*state = x;
	return 0;
err_close:
	xsk_close(x);
	return err;
}

static void xsk_reclaim(struct xsk *x)
{
	__u32 idx, n = xsk_ring_cons__peek(&x->comp, XSK_RING, &idx);

	if (n) {
		xsk_ring_cons__release(&x->comp, n);
		x->completed += n;
	}
}

/* Ask the kernel to transmit what the TX ring holds: 0 or -errno. */
static int xsk_kick(struct xsk *x)
{
	if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	/* busy device (retried), dropped frame (counted by the device), or
	 * completion ring full (reclaimed next): all transient */
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == EINTR)
		return 0;
	return -errno;
}

static long xsk_send(void *state, __u32 n)
{
	struct xsk *x = state;
	__u32 taken = 0, room, idx;
	double stalled = 0;
	int err;

	while (taken < n) {
		__u64 before = x->completed;

		xsk_reclaim(x);
		if (x->completed != before || !stalled) {
			stalled = labnet_now();
		} else if (labnet_now() - stalled > 1) {
			fprintf(stderr, "pktgen: af_xdp: %s took no frame for a second\n", x->ctx->dev);
			return -EBUSY;
		}
		room = XSK_FRAMES - (__u32)(x->submitted - x->completed);
		if (room > n - taken)
			room = n - taken;
		if (room > x->ctx->batch)
			room = x->ctx->batch;
		room = room ? xsk_ring_prod__reserve(&x->tx, room, &idx) : 0;
		for (__u32 i = 0; i < room; i++) {
			struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);
			__u64 addr = (x->submitted + i) % XSK_FRAMES * XSK_FRAME_SIZE;

			pktgen_frame(x->ctx->cfg, xsk_umem__get_data(x->area, addr), x->submitted + i);
			d->addr = addr;
			d->len = x->ctx->pkt->len;
		}
		if (room) {
			xsk_ring_prod__submit(&x->tx, room);
			x->submitted += room;
			taken += room;
		}
		err = xsk_kick(x);
		if (err) {
			fprintf(stderr, "pktgen: af_xdp transmit on %s: %s\n", x->ctx->dev,
				strerror(-err));
			return err;
		}
	}
	return taken;
}

static void xsk_counts(void *state, struct pktgen_counts *c)
{
	struct xsk *x = state;

	xsk_reclaim(x);
	pktgen_counts_fill(x->ctx, x->dropped0, x->completed, c);
}

/* Kick until every frame handed over is completed, for up to a second. */
static void xsk_finish(void *state, struct pktgen_counts *c)
{
	struct xsk *x = state;
	double end = labnet_now() + 1;

	for (xsk_reclaim(x); x->completed < x->submitted && labnet_now() < end; xsk_reclaim(x)) {
		if (xsk_kick(x))
			break;
	}
	if (x->completed < x->submitted)
		fprintf(stderr, "pktgen: af_xdp: %llu frames never completed: not counted as sent\n",
			(unsigned long long)(x->submitted - x->completed));
	xsk_counts(x, c);
}

const struct pktgen_engine pktgen_xsk = {
	.name = "af_xdp", .chunk_s = 0.01, .batch = 1024, .open = xsk_open, .send = xsk_send,
	.finish = xsk_finish, .counts = xsk_counts, .close = xsk_close,
};
