/*
 * bench-prog's harness runs: BPF_PROG_TEST_RUN on one CPU or on two at once
 * (XDP test runs execute on the calling CPU: one thread pinned per CPU), and
 * the balancer's counters that say which path the packets took.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xlb_bench.h"
#include "bpf/xlbtest.h"
#include "testnet.h"
#include "bench-prog.h"

struct baseline_bpf *bp_base;
int bp_repeat = 1000000, bp_rounds = 7;

int bp_online_cpus(void)
{
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

/* Each CPU's flows start at cpu << 28: two CPUs never send the same tuple. */
int bp_arm(const struct bp_load *l, __u32 vary_base)
{
	int ncpus = libbpf_num_possible_cpus();
	struct xlb_bench_pkt *v;
	__u32 zero = 0;
	int err = 0;

	if (ncpus < 1 || l->pkt->len > XLB_BENCH_MAX_PKT)
		return -EINVAL;
	v = calloc(ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int c = 0; c < ncpus; c++) {
		v[c].len = l->pkt->len;
		v[c].head_delta = l->head_delta;
		v[c].vary_off = l->pkt->ip_off[0] + 12;
		v[c].vary_mod = l->vary_mod;
		v[c].vary_base = vary_base + ((__u32)c << 28);
		memcpy(v[c].bytes, l->pkt->d, l->pkt->len);
	}
	if (bpf_map_update_elem(bpf_map__fd(bp_base->maps.bench_pkt), &zero, v, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(bp_base->maps.bench_target), &zero, &l->target_fd,
				BPF_ANY))
		err = -errno;
	free(v);
	return err;
}

/* One test run of the harness: ns per iteration x1000, from the kernel's own timing. */
static int run_once(const struct pb *pkt, int repeat, __u32 *verdict, __u64 *ns_x1000)
{
	struct xdp_md ctx = { .data_end = pkt->len, .ingress_ifindex = testnet_ifindex("xlb0") };
	__u8 out[PB_MAX + 256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt->d, .data_size_in = pkt->len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(bpf_program__fd(bp_base->progs.xlb_harness), &o))
		return -errno;
	*verdict = o.retval;
	*ns_x1000 = (__u64)o.duration * 1000;
	return 0;
}

struct worker {
	pthread_t tid;
	int cpu;
	const struct bp_load *load;
	pthread_barrier_t *start, *done;
	int rounds;		/* timed rounds, plus one untimed when load->warm */
	__u64 ns[32];
	__u32 verdict;
	int err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		w->err = -errno;
	for (int r = 0; r < w->rounds; r++) {
		pthread_barrier_wait(w->start);
		if (!w->err)
			w->err = run_once(w->load->pkt, w->load->repeat, &w->verdict, &w->ns[r]);
		pthread_barrier_wait(w->done);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Rounds: the main thread arms the harness (and empties what the load says), the workers run. */
int bp_time(const struct bp_load *l, int ncpu, __u64 *ns_x1000, __u32 *verdict)
{
	static __u32 vary_base;	/* distinct flows across rounds and rows */
	struct worker w[BP_MAX_CPUS] = { 0 };
	pthread_barrier_t start, done;
	int first = l->warm ? 1 : 0, total = bp_rounds + first, err = 0;
	__u64 t[32], sum = 0;

	if (ncpu < 1 || ncpu > BP_MAX_CPUS || bp_rounds > 31)
		return -EINVAL;
	pthread_barrier_init(&start, NULL, ncpu + 1);
	pthread_barrier_init(&done, NULL, ncpu + 1);
	for (int c = 0; c < ncpu; c++) {
		w[c] = (struct worker){ .cpu = c, .load = l, .start = &start, .done = &done,
					.rounds = total };
		if (pthread_create(&w[c].tid, NULL, worker_main, &w[c]))
			return -EAGAIN;	/* (the first thread would wait forever: not reached
					   on a machine that ran the first) */
	}
	for (int r = 0; r < total; r++) {
		if (l->before_round)
			l->before_round();
		if (!err)
			err = bp_arm(l, vary_base);
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		if (l->vary_mod == BP_VARY_NEW)
			vary_base += l->repeat;	/* the next round's flows are new too */
	}
	for (int c = 0; c < ncpu; c++) {
		pthread_join(w[c].tid, NULL);
		err = err ?: w[c].err;
	}
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&done);
	if (err)
		return err;
	for (int r = 0; r < bp_rounds; r++) {
		t[r] = 0;
		for (int c = 0; c < ncpu; c++)
			t[r] += w[c].ns[first + r];
		t[r] /= ncpu;
	}
	qsort(t, bp_rounds, sizeof(t[0]), cmp_u64);
	for (int r = 1; r < bp_rounds - 1; r++)
		sum += t[r];
	*ns_x1000 = sum / (bp_rounds - 2);
	*verdict = w[0].verdict;
	return 0;
}

int bp_time_direct(int prog_fd, const struct pb *pkt, __u64 *ns_x1000)
{
	struct xdp_md ctx = { .data_end = pkt->len, .ingress_ifindex = testnet_ifindex("xlb0") };
	__u8 out[PB_MAX + 256];
	__u64 t[32], sum = 0;

	for (int r = 0; r < bp_rounds; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt->d, .data_size_in = pkt->len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = bp_repeat);

		if (bpf_prog_test_run_opts(prog_fd, &o))
			return -errno;
		t[r] = (__u64)o.duration * 1000;
	}
	qsort(t, bp_rounds, sizeof(t[0]), cmp_u64);
	for (int r = 1; r < bp_rounds - 1; r++)
		sum += t[r];
	*ns_x1000 = sum / (bp_rounds - 2);
	return 0;
}

int bp_counters(struct bp_counters *c)
{
	struct xlb_stat tx, redirect, pass;
	struct xlb_moved_stats m;
	int err;

	memset(c, 0, sizeof(*c));
	err = xlb_dp_stat(&xt_dp, XLB_STAT_TX, &tx) ?:
	      xlb_dp_stat(&xt_dp, XLB_STAT_REDIRECT, &redirect) ?:
	      xlb_dp_stat(&xt_dp, XLB_PASS_NOT_VIP, &pass) ?:
	      xlb_dp_event(&xt_dp, XLB_EV_FLOW_NEW, &c->flow_new) ?:
	      xlb_dp_event(&xt_dp, XLB_EV_FLOW_HIT, &c->flow_hit) ?:
	      xlb_dp_flood_limited(&xt_dp, &c->limited) ?:
	      xlb_dp_moved_stats(&xt_dp, &m);
	if (err)
		return err;
	c->fwd = tx.packets + redirect.packets;
	c->pass_not_vip = pass.packets;
	c->moved = m.packets;
	for (__u32 id = 1; id < XLB_MAX_BACKENDS; id++) {
		struct xlb_syn_stat s;

		if (xlb_dp_syn_stats(&xt_dp, id, &s))
			return -EIO;
		c->syns += s.syns;
	}
	return 0;
}

__u32 bp_syn_entries(void)
{
	__u32 n = 0;

	xlb_dp_count_syns(&xt_dp, &n);
	return n;
}

__u32 bp_entries(int map_fd)
{
	__u32 n = 0;

	xlb_dp_count_entries(map_fd, sizeof(struct xlb_flow_key), &n);
	return n;
}

/*
 * The keys first (a walk from each key to the next), then the deletes: a
 * walk from the start after each delete would rescan the emptied buckets.
 */
int bp_clear(int map_fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), n = 0;
	struct xlb_flow_key *keys;
	int err = 0;

	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return -errno;
	keys = calloc(info.max_entries + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	if (!bpf_map_get_next_key(map_fd, NULL, &keys[0]))
		for (n = 1; n < info.max_entries; n++)
			if (bpf_map_get_next_key(map_fd, &keys[n - 1], &keys[n]))
				break;
	for (__u32 i = 0; i < n && !err; i++)
		if (bpf_map_delete_elem(map_fd, &keys[i]) && errno != ENOENT)
			err = -errno;
	free(keys);
	return err;
}
