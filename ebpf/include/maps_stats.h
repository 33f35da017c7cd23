#ifndef S6NF_MAPS_STATS_H
#define S6NF_MAPS_STATS_H

#include "consts.h"
#include "parsing.h"
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

/* Parses the packet into p (zeroed) and counts it: REASON_FORWARD for a packet with a flow
 * key (its notes counted), else the drop reason, already counted. */
static __always_inline int admit(void *data, void *data_end, struct parsed *p)
{
    int reason = parse_packet(data, data_end, p);
    if (reason != REASON_FORWARD) {
        count_reason(reason);
        return reason;
    }
    note_parse(p);
    return REASON_FORWARD;
}

#endif
