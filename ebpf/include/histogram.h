/* Log-linear latency buckets (HDR-style), mirrored by s6nf/measure/histogram.py.
 *
 * Values below HIST_SUB have a bucket each. Above, each power of two [2^m, 2^(m+1)) splits
 * into HIST_SUB equal buckets of width 2^(m - HIST_SUB_BITS): relative width at most
 * 1/HIST_SUB. Values of 2^(HIST_MAX_LOG2 + 1) and more fall into the last bucket. */
#ifndef S6NF_HISTOGRAM_H
#define S6NF_HISTOGRAM_H

#include "consts.h"
#include "structs.h"

_Static_assert(sizeof(((struct slot_hist *)0)->counts) == HIST_BUCKETS * sizeof(__u64),
               "struct slot_hist must hold HIST_BUCKETS counts");

static __always_inline __u32 log2_u32(__u32 v)
{
    __u32 r, shift;
    r = (v > 0xFFFF) << 4;
    v >>= r;
    shift = (v > 0xFF) << 3;
    v >>= shift;
    r |= shift;
    shift = (v > 0xF) << 2;
    v >>= shift;
    r |= shift;
    shift = (v > 0x3) << 1;
    v >>= shift;
    r |= shift;
    r |= (v >> 1);
    return r;
}

static __always_inline __u32 log2_u64(__u64 v)
{
    __u32 hi = v >> 32;
    return hi ? log2_u32(hi) + 32 : log2_u32((__u32)v);
}

static __always_inline __u32 hist_bucket(__u64 v)
{
    if (v < HIST_SUB)
        return v;
    __u32 m = log2_u64(v);
    if (m > HIST_MAX_LOG2)
        return HIST_BUCKETS - 1;
    __u32 shift = m - HIST_SUB_BITS;
    return (shift + 1) * HIST_SUB + ((v >> shift) & (HIST_SUB - 1));
}

#endif
