/*
 * pktgen: a traffic generator for the lab.
 *
 * A template frame (UDP, TCP SYN or ACK; IPv4 or IPv6) is sent out of --dev
 * as fast as the kernel allows, or at --rate, each frame with its flow's
 * source port and address.  Engines, tried in this order (--engine auto)
 * unless one is named: live frames (BPF_PROG_RUN, pktgen-live.c), an AF_XDP
 * socket (pktgen-xsk.c), an AF_PACKET TX ring (pktgen-packet.c), a tc
 * program that clones trigger frames (pktgen-tc.c).  Which one runs, and why
 * the ones before it could not, is always said.  Runs only on a veth outside
 * the host's network namespace.
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
#include <linux/if_ether.h>
#include <netinet/in.h>
#include "xlb_pktgen.h"
#include "pktbuild.h"
#include "labnet.h"
#include "pktgen.h"

#define MAX_DURATION	3600
#define PROG		"pktgen"

struct opts {
	struct pktgen_spec spec;
	const char *dev;
	const char *engine;	/* a name, or "auto" */
	bool have_smac, have_dmac, json, quiet;
	unsigned long batch;
	double rate, duration;
	unsigned long long count;
};

/*
 * auto's order, on medians of 3 runs on the lab's veths (one core, 64-byte
 * UDP into an XDP sink on the peer; Linux 6.18, 1 and 1000 flows): live
 * 4.8-5.1 Mpps, af_xdp 0.74-0.95, af_packet 0.47-0.55.  tc is faster than
 * af_xdp (1.0-1.15) but comes last: its frames are clones the kernel marks as
 * redirected, which generic-mode XDP on the receiving end skips (they reach
 * the stack instead), so xlb --mode generic would never see them.
 */
static const struct pktgen_engine *const engines[] = {
	&pktgen_live, &pktgen_xsk, &pktgen_packet, &pktgen_tc,
};
#define NR_ENGINES	(sizeof(engines) / sizeof(engines[0]))
#define ENGINE_NAMES	"live, af_xdp, af_packet, tc"

static const struct pktgen_engine *engine_named(const char *name)
{
	for (size_t i = 0; i < NR_ENGINES; i++)
		if (!strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}

void pktgen_counts_fill(const struct pktgen_ctx *ctx, __u64 dropped0, __u64 sent,
			struct pktgen_counts *c)
{
	__u64 dropped;

	if (labnet_tx_dropped(ctx->dev, &dropped))
		dropped = dropped0;
	c->sent = sent;
	c->xmit_errors = dropped - dropped0;
	c->xmit = c->sent > c->xmit_errors ? c->sent - c->xmit_errors : 0;
}

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
"  --batch N         frames per kernel call (default: live 64 (at most 256),\n"
"                    af_xdp 1024, af_packet 256, tc 64 triggers of %d frames)\n"
"  --engine E        auto (default), or one of: %s\n"
"                    (auto: the first of them that works here, said on stderr;\n"
"                    under --rate, those that pace in small steps first)\n"
"  -j                JSON lines: one per second, then the total\n"
"  -q                the total only\n", MAX_DURATION, PKTGEN_TC_BURST, ENGINE_NAMES);
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
		{ "engine", 1, 0, 'e' }, { "help", 0, 0, 'h' }, { 0 }
	};
	unsigned long v;
	double d;
	char *end;
	int c;

	*o = (struct opts){ .spec = { .proto = "udp", .sport = 1024, .dport = 53, .flows = 1,
				      .size = 64 }, .duration = 10, .engine = "auto" };
	while ((c = getopt_long(argc, argv, "jqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dev = optarg; break;
		case 's': o->spec.src = optarg; break;
		case 't': o->spec.dst = optarg; break;
		case 'P': o->spec.proto = optarg; break;
		case 'e': o->engine = optarg; break;
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
		case 'b': if (parse_ul("--batch", optarg, 1, 2048, &o->batch)) return -EINVAL; break;
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
	if (strcmp(o->engine, "auto") && !engine_named(o->engine)) {
		fprintf(stderr, "pktgen: --engine: '%s' is not auto, %s\n", o->engine, ENGINE_NAMES);
		return -EINVAL;
	}
	return 0;
}

struct tally {
	double t0, last;		/* start, last report */
	unsigned long long sent, last_sent;
	__u64 last_err;
};

static void report_second(const struct opts *o, const struct pktgen_engine *e, void *state,
			  struct tally *t, double now)
{
	double dt = now - t->last;
	struct pktgen_counts c;

	e->counts(state, &c);
	if (o->json)
		printf("{\"t\":%.2f,\"sent\":%llu,\"pps\":%.0f,\"xmit_errors\":%llu}\n",
		       now - t->t0, t->sent - t->last_sent, (t->sent - t->last_sent) / dt,
		       (unsigned long long)(c.xmit_errors - t->last_err));
	else
		printf("pktgen: %6.2f s %12.0f pps %8.3f Gbit/s  xmit errors %llu\n",
		       now - t->t0, (t->sent - t->last_sent) / dt,
		       (t->sent - t->last_sent) * o->spec.size * 8 / dt / 1e9,
		       (unsigned long long)(c.xmit_errors - t->last_err));
	fflush(stdout);
	t->last = now;
	t->last_sent = t->sent;
	t->last_err = c.xmit_errors;
}

/* sent: frames the kernel took; xmit: of those, what the veth took; xmit errors: what it refused */
static void report_total(const struct opts *o, const struct pktgen_engine *e, void *state,
			 const struct tally *t, double now)
{
	double secs = now - t->t0, pps;
	struct pktgen_counts c;

	e->finish(state, &c);
	pps = secs > 0 ? c.sent / secs : 0;
	if (o->json)
		printf("{\"total\":true,\"engine\":\"%s\",\"sent\":%llu,\"seconds\":%.3f,"
		       "\"pps\":%.0f,\"gbps\":%.3f,\"xmit\":%llu,\"xmit_errors\":%llu,\"size\":%lu,"
		       "\"flows\":%lu,\"proto\":\"%s\"}\n", e->name, (unsigned long long)c.sent, secs,
		       pps, pps * o->spec.size * 8 / 1e9, (unsigned long long)c.xmit,
		       (unsigned long long)c.xmit_errors, o->spec.size, o->spec.flows, o->spec.proto);
	else
		printf("pktgen: %s engine sent %llu packets in %.2f s: %.0f pps, %.3f Gbit/s "
		       "(%lu-byte %s frames, %lu flows); xmit %llu, xmit errors %llu\n",
		       e->name, (unsigned long long)c.sent, secs, pps, pps * o->spec.size * 8 / 1e9,
		       o->spec.size, o->spec.proto, o->spec.flows, (unsigned long long)c.xmit,
		       (unsigned long long)c.xmit_errors);
}

/*
 * Frames for the next call: about chunk_s of work at the rate seen so far
 * (the live engine's calls cost tens of milliseconds of set-up: they are
 * long), or, under --rate, the frames due by chunk_s / 2 from now, sent as
 * one burst once a quarter of chunk_s is due.
 */
static __u32 next_chunk(const struct opts *o, const struct pktgen_engine *e,
			const struct tally *t, double now, double s_per_frame)
{
	double want = s_per_frame > 0 ? e->chunk_s / s_per_frame : e->chunk_s * 1e6;

	if (want < 64)
		want = 64;
	if (want > 1 << 24)
		want = 1 << 24;
	if (o->rate > 0) {
		double ahead = now - t->t0 + e->chunk_s / 2;
		double due = o->rate * (ahead < o->duration ? ahead : o->duration) - t->sent;

		want = due < e->chunk_s / 4 * o->rate ? 0 : due;
	}
	if (o->count && o->count - t->sent < want)
		want = o->count - t->sent;
	return want < 1 ? 0 : (__u32)want;
}

/* Send until a bound or a signal: 0 or -errno. */
static int run(const struct opts *o, const struct pktgen_engine *e, void *state)
{
	struct tally t = { 0 };
	double s_per_frame = 0, now;

	t.t0 = t.last = now = labnet_now();
	while (!stop && now - t.t0 < o->duration && (!o->count || t.sent < o->count)) {
		__u32 chunk = next_chunk(o, e, &t, now, s_per_frame);

		if (!chunk) {		/* ahead of --rate: wait for the next tick */
			usleep(e->chunk_s * 1e6 / 20);
		} else {
			long taken = e->send(state, chunk);

			if (taken < 0)
				return taken;
			t.sent += taken;
			if (taken)
				s_per_frame = (labnet_now() - now) / taken;
		}
		now = labnet_now();
		if (!o->quiet && now - t.last >= 1.0)
			report_second(o, e, state, &t, now);
	}
	report_total(o, e, state, &t, now);
	return 0;
}

/*
 * Open the named engine, or under auto the first that works, and say which
 * and why on stderr: never a silent fallback.  Under --rate, auto tries the
 * engines that pace in small steps first: a receiver with a small buffer (a
 * userspace proxy) must see the rate asked for, not bursts of it.  0 or -errno.
 */
static int engine_open(const struct opts *o, struct pktgen_ctx *ctx,
		       const struct pktgen_engine **e, void **state)
{
	bool automatic = !strcmp(o->engine, "auto"), paced_first = automatic && o->rate > 0;
	const struct pktgen_engine *order[NR_ENGINES];
	char why[256], notes[1024] = "", later[256] = "";
	size_t nr = 0, used = 0;
	int err = -ENOENT;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < NR_ENGINES; i++) {
			bool last = paced_first && engines[i]->bursts;

			if ((automatic || !strcmp(o->engine, engines[i]->name)) && last == (pass == 1))
				order[nr++] = engines[i];
			if (last && !pass)
				snprintf(later, sizeof(later), " (--rate: %s, tried last)",
					 engines[i]->bursts);
		}
	}
	for (size_t i = 0; i < nr; i++) {
		why[0] = 0;
		ctx->batch = o->batch ? o->batch : order[i]->batch;
		err = order[i]->open(state, ctx, why, sizeof(why));
		if (!err) {
			*e = order[i];
			fprintf(stderr, "pktgen: %s%susing %s%s\n", notes, used ? ": " : "",
				order[i]->name, automatic ? (order[i]->bursts ? "" : later) : " (--engine)");
			return 0;
		}
		used += snprintf(notes + used, sizeof(notes) - used, "%s%s", used ? "; " : "", why);
		if (used >= sizeof(notes))
			used = sizeof(notes) - 1;
	}
	fprintf(stderr, "pktgen: no engine can send on %s: %s\n", o->dev, notes);
	return err;
}

int main(int argc, char **argv)
{
	const struct pktgen_engine *e;
	struct pktgen_ctx ctx;
	struct pktgen_cfg cfg;
	struct opts o;
	struct pb pkt;
	void *state;
	char why[256];
	int err;

	if (parse_args(argc, argv, &o))
		return 1;
	if (labnet_guard(PROG, o.dev))
		return 1;
	if (!o.have_smac && labnet_mac(o.dev, o.spec.smac)) {
		fprintf(stderr, "pktgen: cannot read the MAC of %s: %s\n", o.dev, strerror(errno));
		return 2;
	}
	if (pktgen_template(&o.spec, &pkt, &cfg, why, sizeof(why))) {
		fprintf(stderr, "pktgen: %s\n", why);
		return 1;
	}
	ctx = (struct pktgen_ctx){ .dev = o.dev, .ifindex = if_nametoindex(o.dev), .pkt = &pkt,
				   .cfg = &cfg };
	if (engine_open(&o, &ctx, &e, &state))
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	err = run(&o, e, state);
	e->close(state);
	return err ? 2 : 0;
}
