/*
 * bench-node: the benchmark's stand-in nodes, attached with a link that
 * dies with the process (a crashed benchmark leaves nothing attached).
 *
 *   bench-node sink DEV [--mode native|generic] [--duration S]
 *       count and drop IP data frames (tools/bpf/sink.bpf.c) until SIGTERM/SIGINT
 *       or S seconds, then print {"dev":..,"packets":..,"bytes":..,"passed":..}
 *   bench-node fwd DEV --vip ADDR --port N --backend ADDR,IF,MAC... [--l2] [--mode M]
 *       the trivial forwarder (tools/bpf/fwd.bpf.c): IPv4 VIP:port to a backend by
 *       flow hash, destination rewritten, redirected out of IF; --l2: L2 direct
 *       return, only the MACs rewritten (the backend holds the VIP), XDP_TX
 *       when IF is DEV
 *
 * Runs only on veths inside a lab namespace.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include "xlb_pktgen.h"
#include "sink.skel.h"
#include "fwd.skel.h"
#include "labnet.h"

#define MAX_DURATION	86400

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-node sink DEV [--mode native|generic] [--duration S]\n"
		   "       bench-node fwd DEV --vip ADDR --port N --backend ADDR,IF,MAC... "
		   "[--l2] [--mode native|generic] [--duration S]\n");
}

struct node_opts {
	const char *dev;
	__u32 xdp_flags;
	unsigned int duration;
	bool l2;
	struct fwd_cfg fwd;
};

static int parse_backend(const char *arg, struct fwd_backend *be)
{
	char buf[128], *ifname, *mac;

	snprintf(buf, sizeof(buf), "%s", arg);
	ifname = strchr(buf, ',');
	mac = ifname ? strchr(ifname + 1, ',') : NULL;
	if (!mac) {
		fprintf(stderr, "bench-node: --backend '%s': want ADDR,IF,MAC\n", arg);
		return -EINVAL;
	}
	*ifname++ = 0;
	*mac++ = 0;
	if (inet_pton(AF_INET, buf, &be->addr) != 1) {
		fprintf(stderr, "bench-node: --backend '%s': '%s' is not an IPv4 address\n", arg, buf);
		return -EINVAL;
	}
	be->ifindex = if_nametoindex(ifname);
	if (!be->ifindex) {
		fprintf(stderr, "bench-node: --backend '%s': no interface %s\n", arg, ifname);
		return -EINVAL;
	}
	if (labnet_mac_parse(mac, be->dmac)) {
		fprintf(stderr, "bench-node: --backend '%s': '%s' is not a MAC address\n", arg, mac);
		return -EINVAL;
	}
	if (labnet_mac(ifname, be->smac)) {
		fprintf(stderr, "bench-node: cannot read the MAC of %s\n", ifname);
		return -errno;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, bool fwd, struct node_opts *o)
{
	unsigned long port = 0;
	char *end;

	*o = (struct node_opts){ .dev = argv[0], .xdp_flags = XDP_FLAGS_DRV_MODE,
				 .duration = 3600 };
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--l2")) {
			if (!fwd) {
				fprintf(stderr, "bench-node: --l2 is an option of fwd, not sink\n");
				return -EINVAL;
			}
			o->l2 = true;
			continue;
		}
		if (!val) {
			fprintf(stderr, "bench-node: %s needs a value\n", opt);
			return -EINVAL;
		}
		i++;
		if (!strcmp(opt, "--mode") && (!strcmp(val, "native") || !strcmp(val, "generic"))) {
			o->xdp_flags = val[0] == 'n' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
		} else if (!strcmp(opt, "--duration")) {
			o->duration = strtoul(val, &end, 10);
			if (*end || !o->duration || o->duration > MAX_DURATION) {
				fprintf(stderr, "bench-node: --duration '%s': 1..%d seconds\n", val,
					MAX_DURATION);
				return -EINVAL;
			}
		} else if (fwd && !strcmp(opt, "--vip")) {
			if (inet_pton(AF_INET, val, &o->fwd.vip) != 1) {
				fprintf(stderr, "bench-node: --vip '%s' is not an IPv4 address\n", val);
				return -EINVAL;
			}
		} else if (fwd && !strcmp(opt, "--port")) {
			port = strtoul(val, &end, 10);
			if (*end || !port || port > 65535) {
				fprintf(stderr, "bench-node: --port '%s': 1..65535\n", val);
				return -EINVAL;
			}
			o->fwd.port = htons(port);
		} else if (fwd && !strcmp(opt, "--backend")) {
			if (o->fwd.nr_backends == FWD_MAX_BACKENDS) {
				fprintf(stderr, "bench-node: at most %d backends\n", FWD_MAX_BACKENDS);
				return -EINVAL;
			}
			if (parse_backend(val, &o->fwd.backends[o->fwd.nr_backends++]))
				return -EINVAL;
		} else {
			fprintf(stderr, "bench-node: unknown option or value: %s %s\n", opt, val);
			return -EINVAL;
		}
	}
	if (fwd && (!o->fwd.vip || !port || !o->fwd.nr_backends)) {
		fprintf(stderr, "bench-node: fwd needs --vip, --port and at least one --backend\n");
		return -EINVAL;
	}
	return 0;
}

static void wait_for_stop(unsigned int duration)
{
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (unsigned int ticks = 0; !stop && ticks < duration * 10; ticks++)
		usleep(100000);
}

/*
 * Attach prog to the device by a link that goes with this process, say so
 * on stdout, and wait for SIGTERM/SIGINT or the duration.  The link's fd
 * (the caller closes it), or -errno.
 */
static int serve(const struct node_opts *o, struct bpf_program *prog)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = o->xdp_flags);
	int fd;

	fd = bpf_link_create(bpf_program__fd(prog), if_nametoindex(o->dev), BPF_XDP, &lo);
	if (fd < 0) {
		fprintf(stderr, "bench-node: cannot attach to %s (%s mode): %s\n", o->dev,
			o->xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic", strerror(errno));
		return -errno;
	}
	printf("{\"attached\":\"%s\"}\n", o->dev);
	fflush(stdout);
	wait_for_stop(o->duration);
	return fd;
}

static int do_sink(const struct node_opts *o)
{
	struct sink_stats total = { 0 }, *per_cpu;
	int ncpu = libbpf_num_possible_cpus(), link, err = 0;
	struct sink_bpf *skel;
	__u32 key = 0;

	skel = sink_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "bench-node: cannot load the sink: %s\n", strerror(errno));
		return 2;
	}
	link = serve(o, skel->progs.sink_drop);
	if (link < 0) {
		sink_bpf__destroy(skel);
		return 2;
	}
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu || bpf_map_lookup_elem(bpf_map__fd(skel->maps.sink_stats), &key, per_cpu)) {
		fprintf(stderr, "bench-node: cannot read the sink's counters\n");
		err = 2;
	}
	for (int c = 0; !err && c < ncpu; c++) {
		total.packets += per_cpu[c].packets;
		total.bytes += per_cpu[c].bytes;
		total.passed += per_cpu[c].passed;
	}
	if (!err)
		printf("{\"dev\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"passed\":%llu}\n", o->dev,
		       (unsigned long long)total.packets, (unsigned long long)total.bytes,
		       (unsigned long long)total.passed);
	free(per_cpu);
	close(link);
	sink_bpf__destroy(skel);
	return err;
}

static int do_fwd(const struct node_opts *o)
{
	struct fwd_bpf *skel;
	int link, err;

	skel = fwd_bpf__open();
	if (!skel) {
		fprintf(stderr, "bench-node: cannot open the forwarder: %s\n", strerror(errno));
		return 2;
	}
	skel->rodata->cfg = o->fwd;
	skel->rodata->l2 = o->l2;
	err = fwd_bpf__load(skel);
	if (err) {
		fprintf(stderr, "bench-node: cannot load the forwarder: %s\n", strerror(-err));
		fwd_bpf__destroy(skel);
		return 2;
	}
	link = serve(o, skel->progs.fwd);
	if (link < 0) {
		fwd_bpf__destroy(skel);
		return 2;
	}
	close(link);
	fwd_bpf__destroy(skel);
	return 0;
}

int main(int argc, char **argv)
{
	struct node_opts o;
	bool fwd;

	if (argc < 3 || (strcmp(argv[1], "sink") && strcmp(argv[1], "fwd"))) {
		usage(stderr);
		return 1;
	}
	fwd = !strcmp(argv[1], "fwd");
	if (parse_opts(argc - 2, argv + 2, fwd, &o) || labnet_guard("bench-node", o.dev))
		return 1;
	return fwd ? do_fwd(&o) : do_sink(&o);
}
