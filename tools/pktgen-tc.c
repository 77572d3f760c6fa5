/*
 * pktgen's tc engine: pktgen_clone (tools/bpf/pktgen.bpf.c) on the veth's
 * tc egress hook (a tcx link, gone with the process) multiplies each trigger
 * frame that pktgen sends from a packet socket: up to PKTGEN_TC_BURST
 * frames leave per trigger, the flow fields set on each, out of the same
 * device.  The program counts what it made; the device's drops, what it
 * refused.  The clones carry the kernel's "redirected" mark: generic-mode
 * XDP on the receiving veth skips such skbs (to the stack), native XDP does
 * not.  For native receivers only (auto tries it last).
 */
#define _GNU_SOURCE	/* sendmmsg */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "labnet.h"
#include "pktgen.h"
#include "pktgen.skel.h"

#ifndef BPF_TCX_EGRESS
#define BPF_TCX_EGRESS	47	/* Linux 6.6; the uapi headers here may predate it */
#endif
#define TC_TRIGGERS	64	/* triggers per sendmmsg(), at most (--batch) */

struct tc {
	const struct pktgen_ctx *ctx;
	struct pktgen_bpf *skel;
	struct sockaddr_ll to;
	int link, fd, map;
	__u64 dropped0;
};

static void tc_close(void *state)
{
	struct tc *t = state;

	if (!t)
		return;
	if (t->fd > 0)
		close(t->fd);
	if (t->link > 0)
		close(t->link);
	pktgen_bpf__destroy(t->skel);
	free(t);
}

static __u64 tc_get(struct tc *t, __u32 key)
{
	__u64 v = 0;

	bpf_map_lookup_elem(t->map, &key, &v);
	return v;
}

static int tc_open(void **state, const struct pktgen_ctx *ctx, char *why, size_t whylen)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	struct tc *t = calloc(1, sizeof(*t));
	__u32 mark = PKTGEN_MARK_BASE + 2 * (getpid() % 65536);
	int err;

	if (!t)
		return -ENOMEM;
	t->ctx = ctx;
	t->skel = pktgen_bpf__open();
	if (!t->skel) {
		err = -errno;
		snprintf(why, whylen, "tc: cannot open the BPF program (%s)", strerror(-err));
		goto err_close;
	}
	t->skel->rodata->cfg = *ctx->cfg;
	t->skel->rodata->tc_trigger_mark = mark;
	bpf_program__set_autoload(t->skel->progs.pktgen_tx, false);
	bpf_program__set_autoload(t->skel->progs.pktgen_probe, false);
	err = pktgen_bpf__load(t->skel);
	if (err) {
		snprintf(why, whylen, "tc: cannot load the BPF program (%s)", strerror(-err));
		goto err_close;
	}
	t->map = bpf_map__fd(t->skel->maps.pktgen_tc);
	t->link = bpf_link_create(bpf_program__fd(t->skel->progs.pktgen_clone), ctx->ifindex,
				  BPF_TCX_EGRESS, &lo);
	if (t->link < 0) {
		err = -errno;
		snprintf(why, whylen, "tc: cannot attach to %s's egress (tcx) (%s)", ctx->dev,
			 strerror(-err));
		goto err_close;
	}
	/* protocol 0: nothing is received on this socket */
	t->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || setsockopt(t->fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		err = -errno;
		snprintf(why, whylen, "tc: cannot open a marked packet socket (%s)", strerror(-err));
		goto err_close;
	}
	t->to = (struct sockaddr_ll){ .sll_family = AF_PACKET, .sll_ifindex = ctx->ifindex,
				      .sll_protocol = htons(ctx->cfg->ipv6 ? ETH_P_IPV6 : ETH_P_IP) };
	err = labnet_tx_dropped(ctx->dev, &t->dropped0);
	if (err) {
		snprintf(why, whylen, "tc: cannot read the drops of %s (%s)", ctx->dev,
			 strerror(-err));
		goto err_close;
	}
	*state = t;
	return 0;
err_close:
	tc_close(t);
	return err;
}

/*
 * Budget n frames, then send triggers until the budget is spent (each makes
 * up to PKTGEN_TC_BURST frames; never more triggers than the budget needs).
 * A trigger the veth refused was spent all the same: its clones left.
 */
static long tc_send(void *state, __u32 n)
{
	struct tc *t = state;
	struct iovec iov = { .iov_base = (void *)t->ctx->pkt->d, .iov_len = t->ctx->pkt->len };
	struct mmsghdr msgs[TC_TRIGGERS];
	__u32 key = PKTGEN_TC_BUDGET;
	__u64 budget = n, made0 = tc_get(t, PKTGEN_TC_MADE), left;
	__u64 most = t->ctx->batch < TC_TRIGGERS ? t->ctx->batch : TC_TRIGGERS;
	double stalled = labnet_now();
	sigset_t block, old;
	int err = 0;

	if (bpf_map_update_elem(t->map, &key, &budget, BPF_ANY)) {
		err = -errno;
		fprintf(stderr, "pktgen: tc: cannot set the budget: %s\n", strerror(-err));
		return err;
	}
	for (int i = 0; i < TC_TRIGGERS; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &t->to,
			.msg_namelen = sizeof(t->to), .msg_iov = &iov, .msg_iovlen = 1 } };
	/* a signal mid-call would leave the budget half spent */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!err && (left = tc_get(t, PKTGEN_TC_BUDGET))) {
		__u64 want = (left + PKTGEN_TC_BURST - 1) / PKTGEN_TC_BURST;

		if (left != budget) {
			budget = left;
			stalled = labnet_now();
		} else if (labnet_now() - stalled > 1) {
			err = -EBUSY;
			break;
		}
		/* ENOBUFS: a trigger the veth refused, spent; the next call goes on */
		if (sendmmsg(t->fd, msgs, want < most ? want : most, 0) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			err = -errno;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (err) {
		fprintf(stderr, "pktgen: tc: triggers on %s: %s\n", t->ctx->dev,
			err == -EBUSY ? "none reached the program for a second" : strerror(-err));
		return err;
	}
	return tc_get(t, PKTGEN_TC_MADE) - made0;
}

static void tc_counts(void *state, struct pktgen_counts *c)
{
	struct tc *t = state;

	/* errors: clones and triggers the veth refused */
	pktgen_counts_fill(t->ctx, t->dropped0, tc_get(t, PKTGEN_TC_MADE), c);
}

/* Triggers are spent within the sendmmsg() that sends them: nothing to wait for. */
static void tc_finish(void *state, struct pktgen_counts *c)
{
	struct tc *t = state;
	__u64 failed = tc_get(t, PKTGEN_TC_FAILED);

	if (failed)
		fprintf(stderr, "pktgen: tc: %llu clones could not be made (not counted as sent)\n",
			(unsigned long long)failed);
	tc_counts(t, c);
}

const struct pktgen_engine pktgen_tc = {
	.name = "tc", .chunk_s = 0.01, .batch = 64, .open = tc_open, .send = tc_send,
	.finish = tc_finish, .counts = tc_counts, .close = tc_close,
};
