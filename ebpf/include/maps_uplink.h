#ifndef S6NF_MAPS_UPLINK_H
#define S6NF_MAPS_UPLINK_H

#include "consts.h"
#include "structs.h"

/* 0 → nf_config: out of the steering host's link to gen with these MACs; the testbed writes,
 * uplink reads. */
S6_MAP("array", __u32, struct nf_config, uplink_config, 1);

#endif
