#ifndef S6NF_MAPS_IDS_H
#define S6NF_MAPS_IDS_H

#include "consts.h"
#include "structs.h"

/* canonical flow_key → ids_flow; the agent creates (SingleWriter objects), the datapath counts
 * established flows and flips ready, the DSO exports on migration. */
S6_MAP("hash", struct flow_key, struct ids_flow, ids_flows, MAX_FLOWS);

/* direction → where packets leave: 0 forward (the "out" link), 1 replies (the "in" link). */
S6_MAP("array", __u32, struct nf_config, nf_config, 2);

#endif
