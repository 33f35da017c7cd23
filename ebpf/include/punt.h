/* The punt path (docs/punt-design.md): packets the fast path cannot finish go to the agent
 * through a ring buffer, and a flow returns to the fast path only when every packet punted
 * before has left the agent, so no packet overtakes another of its flow. */
#ifndef S6NF_PUNT_H
#define S6NF_PUNT_H

#include "consts.h"
#include "flow_key.h"
#include "maps_stats.h"
#include "structs.h"
#include "verdicts.h"

struct punt_record {
    struct punt_meta meta;
    __u8 data[PUNT_MAX];
};

S6_RINGBUF(punt_ring, PUNT_RING_PAGES);

/* One record being assembled, per CPU. */
S6_MAP("percpu_array", __u32, struct punt_record, punt_scratch, 1);

/* flow → punted so far in this episode; written by the kernel only. */
S6_MAP("hash", struct flow_key, struct punt_pend, pend, MAX_PEND);

/* flow → seq of the last punted packet the agent let go; written by the agent only. */
S6_MAP("hash", struct flow_key, __u64, released, MAX_PEND);

/* bucket (CRC-32 of the canonical key & (BUCKETS - 1)) → 1 while a scale event hands it over
 * to this instance and its previous target may still queue punted packets of its flows: no
 * entry of those flows turns ready; written by the agent only (s6nf/agent/dso/handoff.py). */
S6_MAP("array", __u32, __u32, hold_buckets, BUCKETS);

/* [0] → how many hold_buckets entries are set (0: no flow is held, skip the hash); written
 * by the agent only, after hold_buckets. */
S6_MAP("array", __u32, __u32, hold_count, 1);

enum gate {
    GATE_FAST = 0,   /* the entry is ready: finish the packet on the fast path */
    GATE_HANDLED = 1 /* punted or dropped, and counted: return XDP_DROP */
};

/* The record is assembled in a per-CPU scratch buffer and copied into the ring at its own
 * length (metadata + frame), so small frames take little room: a ring reservation must have a
 * constant size, a ring output need not. */
static __always_inline int punt(struct xdp_md *ctx, const struct parsed *p,
                                struct punt_pend *pd, __u32 dir)
{
    __u32 len = p->pkt_len;
    if (len > PUNT_MAX) {
        count_reason(REASON_DROP_PUNT_TOO_BIG);
        return GATE_HANDLED;
    }
    __u32 zero = 0;
    struct punt_record *rec = punt_scratch.lookup(&zero);
    if (!rec)
        return GATE_HANDLED;
    __u32 n = ((len - 1) & (PUNT_MAX - 1)) + 1;
    if (bpf_xdp_load_bytes(ctx, 0, rec->data, n) != 0) {
        count_reason(REASON_DROP_TRUNC_ETH);
        return GATE_HANDLED;
    }
    __builtin_memcpy(&rec->meta.key, &p->key, sizeof(struct flow_key));
    /* A flow's packets arrive on one CPU (one queue), so taking the number back after a
     * failed output cannot interleave with another packet of the same flow. */
    rec->meta.seq = __sync_fetch_and_add(&pd->punted, 1) + 1;
    rec->meta.len = n;
    rec->meta.dir = dir;
    if (punt_ring.ringbuf_output(rec, sizeof(struct punt_meta) + n, 0) != 0) {
        __sync_fetch_and_add(&pd->punted, -1);
        count_reason(REASON_DROP_PUNT_FULL);
        return GATE_HANDLED;
    }
    count_reason(REASON_PUNTED);
    return GATE_HANDLED;
}

/* Whether the flow's bucket is being handed over to this instance (see hold_buckets). */
static __always_inline int held(const struct flow_key *key)
{
    __u32 zero = 0;
    __u32 *count = hold_count.lookup(&zero);
    if (!count || !*count)
        return 0;
    __u32 bucket = flow_hash(key) & (BUCKETS - 1);
    __u32 *hold = hold_buckets.lookup(&bucket);
    return hold && *hold;
}

/* For a packet whose entry is absent (ready == NULL) or not ready: flips the entry to ready
 * when the agent has released every packet punted so far and the flow is not held
 * (GATE_FAST), else punts. */
static __always_inline int gate(struct xdp_md *ctx, const struct parsed *p, __u8 *ready, __u32 dir)
{
    struct flow_key *key = (struct flow_key *)&p->key;
    struct punt_pend *pd = pend.lookup(key);
    if (!pd) {
        struct punt_pend fresh = {};
        pend.insert(key, &fresh);
        pd = pend.lookup(key);
        if (!pd) {
            count_reason(REASON_DROP_PEND_FULL);
            return GATE_HANDLED;
        }
    }
    if (ready && !held(key)) {
        __u64 *rel = released.lookup(key);
        __u64 let_go = rel ? *rel : 0;
        if (let_go == pd->punted) {
            *ready = 1;
            released.delete(key);
            pend.delete(key);
            count_reason(NOTE_READY);
            return GATE_FAST;
        }
    }
    return punt(ctx, p, pd, dir);
}

#endif
