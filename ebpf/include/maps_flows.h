#ifndef S6NF_MAPS_FLOWS_H
#define S6NF_MAPS_FLOWS_H

#include "consts.h"
#include "structs.h"

/* canonical flow_key → flow_stats; the monitor's datapath writes, the agent exports on
 * migration and reads for queries. */
S6_MAP("hash", struct flow_key, struct flow_stats, flows, MAX_FLOWS);

/* 0 → nf_config; the loader writes once per instance, the datapath reads. */
S6_MAP("array", __u32, struct nf_config, nf_config, 1);

#endif
