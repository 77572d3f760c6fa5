/*
 * pktgen: a traffic generator for the lab on BPF_F_TEST_XDP_LIVE_FRAMES.
 *
 * A template frame (UDP, TCP SYN or ACK; IPv4 or IPv6) is handed to the
 * kernel, which runs tools/bpf/pktgen.bpf.c on live frames built from it; the
 * program gives each frame its flow's source port and address and sends it
 * out of --dev (XDP_TX, which live-frame mode turns into a transmit on that
 * interface).  Runs only on a veth outside the host's network namespace.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include "xlb_pktgen.h"
#include "pktgen.skel.h"
#include "pktbuild.h"
#include "labnet.h"
#include "pktgen.h"

#define MAX_DURATION	3600
#define PROG		"pktgen"

struct opts {
	struct pktgen_spec spec;
	const char *dev;
	bool have_smac, have_dmac, json, quiet;
	unsigned long batch;
	double rate, duration;
	unsigned long long count;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: pktgen --dev IF --dst-mac MAC --src ADDR --dst ADDR [OPTIONS]\n"
"  --dev IF          veth to send from (in a lab namespace, never the host's)\n"
"  --dst-mac MAC     destination MAC (the peer's)   --src-mac MAC  default: IF's\n"
"  --src ADDR        first source address; --dst ADDR destination (same family)\n"
"  --proto P         udp (default), syn or ack\n"
"  --sport N         first source port (default 1024)   --dport N (default 53)\n"
"  --flows N         distinct flows (default 1): source ports, then addresses\n"
"  --ports N         source ports per address (default: up to 65535)\n"
"  --size N          frame bytes with FCS, as on the wire (default 64)\n"
"  --rate PPS        packets per second (default 0: as fast as possible)\n"
"  --count N         stop after N packets (default: no limit)\n"
"  --duration S      stop after S seconds (default 10, at most %d)\n"
"  --batch N         live frames per kernel batch (default 64)\n"
"  -j                JSON lines: one per second, then the total\n"
"  -q                the total only\n", MAX_DURATION);
}

static int parse_ul(const char *opt, const char *s, unsigned long lo, unsigned long hi,
		    unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *v < lo || *v > hi) {
		fprintf(stderr, "pktgen: %s: '%s' is not a number in %lu..%lu\n", opt, s, lo, hi);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "dev", 1, 0, 'd' }, { "dst-mac", 1, 0, 'M' }, { "src-mac", 1, 0, 'm' },
		{ "src", 1, 0, 's' }, { "dst", 1, 0, 't' }, { "proto", 1, 0, 'P' },
		{ "sport", 1, 0, 'S' }, { "dport", 1, 0, 'D' }, { "flows", 1, 0, 'f' },
		{ "ports", 1, 0, 'p' }, { "size", 1, 0, 'z' }, { "rate", 1, 0, 'r' },
		{ "count", 1, 0, 'c' }, { "duration", 1, 0, 'T' }, { "batch", 1, 0, 'b' },
		{ "help", 0, 0, 'h' }, { 0 }
	};
	unsigned long v;
	double d;
	char *end;
	int c;

	*o = (struct opts){ .spec = { .proto = "udp", .sport = 1024, .dport = 53, .flows = 1,
				      .size = 64 }, .batch = 64, .duration = 10 };
	while ((c = getopt_long(argc, argv, "jqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dev = optarg; break;
		case 's': o->spec.src = optarg; break;
		case 't': o->spec.dst = optarg; break;
		case 'P': o->spec.proto = optarg; break;
		case 'j': o->json = true; break;
		case 'q': o->quiet = true; break;
		case 'M':
		case 'm':
			if (labnet_mac_parse(optarg, c == 'M' ? o->spec.dmac : o->spec.smac)) {
				fprintf(stderr, "pktgen: --%s: '%s' is not a MAC address\n",
					c == 'M' ? "dst-mac" : "src-mac", optarg);
				return -EINVAL;
			}
			*(c == 'M' ? &o->have_dmac : &o->have_smac) = true;
			break;
		case 'S': if (parse_ul("--sport", optarg, 1, 65535, &o->spec.sport)) return -EINVAL; break;
		case 'D': if (parse_ul("--dport", optarg, 1, 65535, &o->spec.dport)) return -EINVAL; break;
		case 'f': if (parse_ul("--flows", optarg, 1, 1UL << 24, &o->spec.flows)) return -EINVAL; break;
		case 'p': if (parse_ul("--ports", optarg, 1, 65535, &o->spec.ports)) return -EINVAL; break;
		case 'z': if (parse_ul("--size", optarg, 64, 1518, &o->spec.size)) return -EINVAL; break;
		case 'b': if (parse_ul("--batch", optarg, 1, 256, &o->batch)) return -EINVAL; break;
		case 'c':
			if (parse_ul("--count", optarg, 1, ~0UL, &v))
				return -EINVAL;
			o->count = v;
			break;
		case 'r':
		case 'T':
			errno = 0;
			d = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(d) || d < 0 ||
			    (c == 'T' && (d <= 0 || d > MAX_DURATION))) {
				fprintf(stderr, "pktgen: --%s: '%s' is not %s\n",
					c == 'r' ? "rate" : "duration", optarg,
					c == 'r' ? "a rate >= 0" : "a duration in (0, 3600] seconds");
				return -EINVAL;
			}
			*(c == 'T' ? &o->duration : &o->rate) = d;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pktgen: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->dev || !o->spec.src || !o->spec.dst || !o->have_dmac) {
		fprintf(stderr, "pktgen: --dev, --dst-mac, --src and --dst are required\n");
		return -EINVAL;
	}
	if (strcmp(o->spec.proto, "udp") && strcmp(o->spec.proto, "syn") && strcmp(o->spec.proto, "ack")) {
		fprintf(stderr, "pktgen: --proto: '%s' is not udp, syn or ack\n", o->spec.proto);
		return -EINVAL;
	}
	return 0;
}

struct tally {
	double t0, last;		/* start, last report */
	unsigned long long sent, last_sent;
	__u64 xmit0, err0, last_err;
};

static void xmit_counts(const char *dev, __u64 *xmit, __u64 *err)
{
	if (labnet_ethtool_sum(dev, "_xdp_xmit", xmit))
		*xmit = 0;
	if (labnet_ethtool_sum(dev, "_xdp_xmit_errors", err))
		*err = 0;
}

static void report_second(const struct opts *o, struct tally *t, double now)
{
	double dt = now - t->last;
	__u64 xmit, err;

	xmit_counts(o->dev, &xmit, &err);
	if (o->json)
		printf("{\"t\":%.2f,\"sent\":%llu,\"pps\":%.0f,\"xmit_errors\":%llu}\n",
		       now - t->t0, t->sent - t->last_sent, (t->sent - t->last_sent) / dt,
		       (unsigned long long)(err - t->last_err));
	else
		printf("pktgen: %6.2f s %12.0f pps %8.3f Gbit/s  xmit errors %llu\n",
		       now - t->t0, (t->sent - t->last_sent) / dt,
		       (t->sent - t->last_sent) * o->spec.size * 8 / dt / 1e9,
		       (unsigned long long)(err - t->last_err));
	fflush(stdout);
	t->last = now;
	t->last_sent = t->sent;
	t->last_err = err;
}

static void report_total(const struct opts *o, const struct tally *t, double now)
{
	double secs = now - t->t0, pps = secs > 0 ? t->sent / secs : 0;
	__u64 xmit, err;

	xmit_counts(o->dev, &xmit, &err);
	if (o->json)
		printf("{\"total\":true,\"sent\":%llu,\"seconds\":%.3f,\"pps\":%.0f,\"gbps\":%.3f,"
		       "\"xmit\":%llu,\"xmit_errors\":%llu,\"size\":%lu,\"flows\":%lu,"
		       "\"proto\":\"%s\"}\n", t->sent, secs, pps, pps * o->spec.size * 8 / 1e9,
		       (unsigned long long)(xmit - t->xmit0), (unsigned long long)(err - t->err0),
		       o->spec.size, o->spec.flows, o->spec.proto);
	else
		printf("pktgen: sent %llu packets in %.2f s: %.0f pps, %.3f Gbit/s "
		       "(%lu-byte %s frames, %lu flows); xmit %llu, xmit errors %llu\n",
		       t->sent, secs, pps, pps * o->spec.size * 8 / 1e9, o->spec.size,
		       o->spec.proto, o->spec.flows, (unsigned long long)(xmit - t->xmit0),
		       (unsigned long long)(err - t->err0));
}

/*
 * Frames for the next call.  Each call costs tens of milliseconds of set-up
 * (a page pool made and torn down), so calls are long: about 200 ms of work
 * at the kernel's own rate (ns_per_frame), or, under --rate, the frames due
 * by 100 ms from now, sent as one burst.
 */
static __u32 next_chunk(const struct opts *o, const struct tally *t, double now,
			double ns_per_frame)
{
	double want = ns_per_frame > 0 ? 0.2e9 / ns_per_frame : 65536;

	if (want < 4096)
		want = 4096;
	if (want > 1 << 24)
		want = 1 << 24;
	if (o->rate > 0) {
		double end = now - t->t0 + 0.1 < o->duration ? now - t->t0 + 0.1 : o->duration;
		double due = o->rate * end - t->sent;

		want = due < 0.05 * o->rate ? 0 : due;	/* under half a tick due: wait */
	}
	if (o->count && o->count - t->sent < want)
		want = o->count - t->sent;
	return want < 1 ? 0 : (__u32)want;
}

/* Send until a bound or a signal: 0 or -errno. */
static int run(const struct opts *o, int prog_fd, const struct pb *pkt, int ifindex)
{
	struct xdp_md ctx = { .data_end = pkt->len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = pkt->d, .data_size_in = pkt->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = o->batch);
	struct tally t = { 0 };
	sigset_t block, old;
	double ns_per_frame = 0, now;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	xmit_counts(o->dev, &t.xmit0, &t.err0);
	t.last_err = t.err0;
	t.t0 = t.last = now = labnet_now();
	while (!stop && now - t.t0 < o->duration && (!o->count || t.sent < o->count)) {
		__u32 chunk = next_chunk(o, &t, now, ns_per_frame);

		if (!chunk) {		/* ahead of --rate: wait for the next tick */
			usleep(10000);
		} else {
			ro.repeat = chunk;
			/* a signal mid-call would lose the call's count: take it after */
			sigprocmask(SIG_BLOCK, &block, &old);
			int err = bpf_prog_test_run_opts(prog_fd, &ro);
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (err) {
				fprintf(stderr, "pktgen: BPF_PROG_RUN with live frames on %s: %s\n",
					o->dev, strerror(errno));
				return -errno;
			}
			t.sent += chunk;
			ns_per_frame = ro.duration;	/* the kernel's time per frame */
		}
		now = labnet_now();
		if (!o->quiet && now - t.last >= 1.0)
			report_second(o, &t, now);
	}
	report_total(o, &t, now);
	return 0;
}

int main(int argc, char **argv)
{
	struct pktgen_bpf *skel;
	struct pktgen_cfg cfg;
	struct opts o;
	struct pb pkt;
	char why[256];
	int ifindex, err;

	if (parse_args(argc, argv, &o))
		return 1;
	if (labnet_guard(PROG, o.dev))
		return 1;
	ifindex = if_nametoindex(o.dev);
	if (!o.have_smac && labnet_mac(o.dev, o.spec.smac)) {
		fprintf(stderr, "pktgen: cannot read the MAC of %s: %s\n", o.dev, strerror(errno));
		return 2;
	}
	if (pktgen_template(&o.spec, &pkt, &cfg, why, sizeof(why))) {
		fprintf(stderr, "pktgen: %s\n", why);
		return 1;
	}
	skel = pktgen_bpf__open();
	if (!skel) {
		fprintf(stderr, "pktgen: cannot open the BPF program: %s\n", strerror(errno));
		return 2;
	}
	skel->rodata->cfg = cfg;
	err = pktgen_bpf__load(skel);
	if (err) {
		fprintf(stderr, "pktgen: cannot load the BPF program: %s\n", strerror(-err));
		pktgen_bpf__destroy(skel);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	err = run(&o, bpf_program__fd(skel->progs.pktgen_tx), &pkt, ifindex);
	pktgen_bpf__destroy(skel);
	return err ? 2 : 0;
}
