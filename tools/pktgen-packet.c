/*
 * pktgen's AF_PACKET engine: a packet socket with a memory-mapped TX ring
 * (TPACKET_V2) and PACKET_QDISC_BYPASS.  Frames are written into the ring
 * and one send() has the kernel transmit all that are ready, each as an skb
 * straight to the device's queue.  A frame counts as sent when the kernel
 * hands its slot back; one the veth dropped shows in its tx_dropped counter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "labnet.h"
#include "pktgen.h"

#define RING_FRAMES	4096
#define RING_FRAME_SIZE	2048
#define RING_BLOCK	(RING_FRAME_SIZE * 32)
/* TPACKET_V2 data starts here, sockaddr_ll excluded (tp_tx_has_off off) */
#define RING_DATA	(TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

struct packet {
	const struct pktgen_ctx *ctx;
	struct sockaddr_ll to;
	__u8 *ring;
	__u64 queued, done, dropped0;
	int fd;
};

static struct tpacket2_hdr *slot(struct packet *p, __u64 k)
{
	return (struct tpacket2_hdr *)(p->ring + k % RING_FRAMES * RING_FRAME_SIZE);
}

static void packet_close(void *state)
{
	struct packet *p = state;

	if (!p)
		return;
	if (p->ring)
		munmap(p->ring, (size_t)RING_FRAMES * RING_FRAME_SIZE);
	if (p->fd > 0)
		close(p->fd);
	free(p);
}

static int packet_open(void **state, const struct pktgen_ctx *ctx, char *why, size_t whylen)
{
	struct tpacket_req req = { .tp_block_size = RING_BLOCK, .tp_frame_size = RING_FRAME_SIZE,
				   .tp_block_nr = RING_FRAMES * RING_FRAME_SIZE / RING_BLOCK,
				   .tp_frame_nr = RING_FRAMES };
	struct packet *p = calloc(1, sizeof(*p));
	int v2 = TPACKET_V2, one = 1, err;
	const char *step;

	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	/* protocol 0: nothing is received on this socket */
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	p->to = (struct sockaddr_ll){ .sll_family = AF_PACKET, .sll_ifindex = ctx->ifindex,
				      .sll_protocol = htons(ctx->cfg->ipv6 ? ETH_P_IPV6 : ETH_P_IP) };
	if ((step = "socket", p->fd < 0) ||
	    (step = "PACKET_VERSION", setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2))) ||
	    (step = "PACKET_QDISC_BYPASS",
	     setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) ||
	    (step = "PACKET_TX_RING", setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)))) {
		err = -errno;
		snprintf(why, whylen, "af_packet: %s: %s", step, strerror(-err));
		goto err_close;
	}
	p->ring = mmap(NULL, (size_t)RING_FRAMES * RING_FRAME_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, p->fd, 0);
	if (p->ring == MAP_FAILED) {
		p->ring = NULL;
		err = -errno;
		snprintf(why, whylen, "af_packet: cannot map the TX ring (%s)", strerror(-err));
		goto err_close;
	}
	for (__u64 k = 0; k < RING_FRAMES; k++)
		memcpy((__u8 *)slot(p, k) + RING_DATA, ctx->pkt->d, ctx->pkt->len);
	err = labnet_tx_dropped(ctx->dev, &p->dropped0);
	if (err) {
		snprintf(why, whylen, "af_packet: cannot read the drops of %s (%s)", ctx->dev,
			 strerror(-err));
		goto err_close;
	}
	*state = p;
	return 0;
err_close:
	packet_close(p);
	return err;
}

/* Count the slots the kernel has handed back: 0, or -EINVAL for a refused frame. */
static int packet_reclaim(struct packet *p)
{
	while (p->done < p->queued) {
		struct tpacket2_hdr *h = slot(p, p->done);
		__u32 status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

		if (status == TP_STATUS_WRONG_FORMAT) {
			fprintf(stderr, "pktgen: af_packet: the kernel refused frame %llu's format\n",
				(unsigned long long)p->done);
			return -EINVAL;
		}
		if (status != TP_STATUS_AVAILABLE)
			break;
		p->done++;
	}
	return 0;
}

/* Have the kernel transmit every ready frame: 0 or -errno. */
static int packet_flush(struct packet *p)
{
	if (sendto(p->fd, NULL, 0, 0, (struct sockaddr *)&p->to, sizeof(p->to)) >= 0)
		return 0;
	/* a frame the veth dropped (counted by it) ends the call: the next goes on */
	if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
		return 0;
	return -errno;
}

static long packet_send(void *state, __u32 n)
{
	struct packet *p = state;
	__u32 taken = 0;
	double stalled = 0;
	int err;

	while (taken < n) {
		__u64 before = p->done;
		__u32 room;

		err = packet_reclaim(p);
		if (err)
			return err;
		if (p->done != before || !stalled) {
			stalled = labnet_now();
		} else if (labnet_now() - stalled > 1) {
			fprintf(stderr, "pktgen: af_packet: %s took no frame for a second\n", p->ctx->dev);
			return -EBUSY;
		}
		room = RING_FRAMES - (__u32)(p->queued - p->done);
		if (room > n - taken)
			room = n - taken;
		if (room > p->ctx->batch)
			room = p->ctx->batch;
		for (__u32 i = 0; i < room; i++) {
			struct tpacket2_hdr *h = slot(p, p->queued);

			pktgen_frame(p->ctx->cfg, (__u8 *)h + RING_DATA, p->queued);
			h->tp_len = p->ctx->pkt->len;
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			p->queued++;
		}
		taken += room;
		err = packet_flush(p);
		if (err) {
			fprintf(stderr, "pktgen: af_packet transmit on %s: %s\n", p->ctx->dev,
				strerror(-err));
			return err;
		}
	}
	return taken;
}

static void packet_counts(void *state, struct pktgen_counts *c)
{
	struct packet *p = state;

	packet_reclaim(p);
	pktgen_counts_fill(p->ctx, p->dropped0, p->done, c);
}

/* Flush until every queued frame is handed back, for up to a second. */
static void packet_finish(void *state, struct pktgen_counts *c)
{
	struct packet *p = state;
	double end = labnet_now() + 1;

	while (!packet_reclaim(p) && p->done < p->queued && labnet_now() < end) {
		if (packet_flush(p))
			break;
	}
	if (p->done < p->queued)
		fprintf(stderr, "pktgen: af_packet: %llu frames never left: not counted as sent\n",
			(unsigned long long)(p->queued - p->done));
	packet_counts(p, c);
}

const struct pktgen_engine pktgen_packet = {
	.name = "af_packet", .chunk_s = 0.01, .batch = 256, .open = packet_open, .send = packet_send,
	.finish = packet_finish, .counts = packet_counts, .close = packet_close,
};
