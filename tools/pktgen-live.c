/*
 * pktgen's live-frames engine: the kernel runs tools/bpf/pktgen.bpf.c on
 * frames built from the template (BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES)
 * and transmits each (XDP_TX) out of the device: no socket, no skb.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "labnet.h"
#include "pktgen.h"
#include "pktgen.skel.h"

struct live {
	struct pktgen_bpf *skel;
	const struct pktgen_ctx *ctx;
	struct xdp_md md;
	__u64 sent, xmit0, err0;
};

static void xdp_xmit_counts(const char *dev, __u64 *xmit, __u64 *err)
{
	if (labnet_ethtool_sum(dev, "_xdp_xmit", xmit))
		*xmit = 0;
	if (labnet_ethtool_sum(dev, "_xdp_xmit_errors", err))
		*err = 0;
}

/* A live run of n frames of prog: 0 or -errno. */
static int live_run(struct live *l, struct bpf_program *prog, __u32 n)
{
	LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = l->ctx->pkt->d,
		    .data_size_in = l->ctx->pkt->len, .ctx_in = &l->md, .ctx_size_in = sizeof(l->md),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = n,
		    /* the kernel's limit (TEST_XDP_MAX_BATCH) */
		    .batch_size = l->ctx->batch < 256 ? l->ctx->batch : 256);
	sigset_t block, old;
	int err;

	/* a signal mid-call would lose the call's count: take it after */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &ro);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err ? -errno : 0;
}

static void live_close(void *state)
{
	struct live *l = state;

	if (l)
		pktgen_bpf__destroy(l->skel);
	free(l);
}

static int live_open(void **state, const struct pktgen_ctx *ctx, char *why, size_t whylen)
{
	struct live *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return -ENOMEM;
	l->ctx = ctx;
	l->md = (struct xdp_md){ .data_end = ctx->pkt->len, .ingress_ifindex = ctx->ifindex };
	l->skel = pktgen_bpf__open();
	if (!l->skel) {
		err = -errno;
		snprintf(why, whylen, "cannot open the BPF program (%s)", strerror(-err));
		goto err_free;
	}
	l->skel->rodata->cfg = *ctx->cfg;
	bpf_program__set_autoload(l->skel->progs.pktgen_clone, false);
	err = pktgen_bpf__load(l->skel);
	if (err) {
		snprintf(why, whylen, "cannot load the BPF program (%s)", strerror(-err));
		goto err_free;
	}
	/* one frame, dropped by the probe program: does this kernel run live frames? */
	err = live_run(l, l->skel->progs.pktgen_probe, 1);
	if (err) {
		snprintf(why, whylen, "live frames refused (%s)", strerror(-err));
		goto err_free;
	}
	xdp_xmit_counts(ctx->dev, &l->xmit0, &l->err0);
	*state = l;
	return 0;
err_free:
	live_close(l);
	return err;
}

static long live_send(void *state, __u32 n)
{
	struct live *l = state;
	int err = live_run(l, l->skel->progs.pktgen_tx, n);

	if (err) {
		fprintf(stderr, "pktgen: BPF_PROG_RUN with live frames on %s: %s\n", l->ctx->dev,
			strerror(-err));
		return err;
	}
	l->sent += n;
	return n;
}

static void live_counts(void *state, struct pktgen_counts *c)
{
	struct live *l = state;
	__u64 xmit, err;

	xdp_xmit_counts(l->ctx->dev, &xmit, &err);
	c->sent = l->sent;
	c->xmit = xmit - l->xmit0;
	c->xmit_errors = err - l->err0;
}

/* Live frames are transmitted before the run returns: nothing to wait for. */
const struct pktgen_engine pktgen_live = {
	.name = "live", .chunk_s = 0.2, .batch = 64,
	.bursts = "live frames come in bursts of 100 ms (a run costs ~20 ms to set up)",
	.open = live_open, .send = live_send,
	.finish = live_counts, .counts = live_counts, .close = live_close,
};
