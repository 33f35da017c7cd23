#ifndef S6NF_MAPS_FLOWS_H
#define S6NF_MAPS_FLOWS_H

#include "consts.h"
#include "structs.h"

/* canonical flow_key → flow_stats; the monitor's datapath writes, the agent exports on
 * migration and reads for queries. */
S6_MAP("hash", struct flow_key, struct flow_stats, flows, MAX_FLOWS);

/* 0 → punt_new_flows: 1 once an agent serves the monitor's slow path (it creates entries and
 * sees each flow's handshake), 0 (the default) and the kernel creates entries itself. The agent
 * writes, the datapath reads on a miss only. */
S6_MAP("array", __u32, __u32, monitor_mode, 1);

/* Where an instance sends what it handled: forward packets out of "out" towards the sink,
 * replies (the sink reflecting) out of "in" back towards the steering host. */
#define NF_DIR_FORWARD 0
#define NF_DIR_REPLY 1
#define NF_DIRECTIONS 2

/* direction → nf_config; the loader writes once per instance, the datapath reads. */
S6_MAP("array", __u32, struct nf_config, nf_config, NF_DIRECTIONS);

#endif
