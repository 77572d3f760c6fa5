/* Benchmark harness ABI (bpf/baseline.bpf.c <-> tools/bench-prog.c); not product ABI. */
#ifndef XLB_BENCH_H
#define XLB_BENCH_H

#include <linux/types.h>

#define XLB_BENCH_MAX_PKT	256
/* Slots of the floor program's flat table (the default Maglev table size). */
#define XLB_BENCH_FLOOR_M	65537

/* bench_pkt[0] (per CPU): the original packet and what to do to it each iteration. */
struct xlb_bench_pkt {
	__u32 len;		/* bytes of the original packet */
	__s32 head_delta;	/* bytes the program under test pushes in front */
	__u32 runs;		/* iterations so far; 0 = packet still original */
	__u32 vary_off;		/* offset of 4 bytes replaced by the flow number */
	__u32 vary_mod;		/* flow number = vary_base + runs % vary_mod; 0: none */
	__u32 vary_base;
	__u8 bytes[XLB_BENCH_MAX_PKT];
};
_Static_assert(sizeof(struct xlb_bench_pkt) == 24 + XLB_BENCH_MAX_PKT, "xlb_bench_pkt ABI");

#endif
