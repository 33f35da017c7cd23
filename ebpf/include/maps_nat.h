#ifndef S6NF_MAPS_NAT_H
#define S6NF_MAPS_NAT_H

#include "consts.h"
#include "structs.h"

/* canonical flow_key → nat_entry: forward and reverse entries, each a SingleWriter object. */
S6_MAP("hash", struct flow_key, struct nat_entry, nat_flows, MAX_FLOWS);

/* direction → where packets leave: 0 forward (the "out" link), 1 replies (the "in" link). */
S6_MAP("array", __u32, struct nf_config, nf_config, 2);

#endif
