#ifndef S6NF_MAPS_STATS_H
#define S6NF_MAPS_STATS_H

#include "consts.h"
#include "structs.h"
#include "verdicts.h"

/* reason → packets (per CPU); the datapath counts, the agent and `testbed status` read. */
S6_MAP("percpu_array", __u32, __u64, stats, REASON_MAX);

static __always_inline void count_reason(__u32 reason)
{
    __u64 *slot = stats.lookup(&reason);
    if (slot)
        *slot += 1;
}

static __always_inline void note_parse(const struct parsed *p)
{
    if (p->vlan_tags)
        count_reason(NOTE_VLAN);
    if (p->ip_options)
        count_reason(NOTE_IP_OPTIONS);
}

static __always_inline int drop(__u32 reason)
{
    count_reason(reason);
    return XDP_DROP;
}

#endif
