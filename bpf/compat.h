/* Lets the role headers compile both as BPF and on the host (tests, fuzzing). */
#ifndef XLB_COMPAT_H
#define XLB_COMPAT_H

#include <linux/types.h>
#include <linux/bpf.h>

#ifdef __BPF__
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#else
#include <bpf/bpf_endian.h>
#include <string.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

/* Loops the BPF backend must unroll; the host compiler decides for itself. */
#ifdef __clang__
#define XLB_UNROLL _Pragma("unroll")
#else
#define XLB_UNROLL
#endif

/* Helper result meaning "no verdict yet, go on". */
#define XLB_CONTINUE	(-1)

#endif /* XLB_COMPAT_H */
