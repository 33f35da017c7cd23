#ifndef S6NF_MAPS_STEER_H
#define S6NF_MAPS_STEER_H

#include "consts.h"
#include "structs.h"

/* copy * BUCKETS + bucket → fwd_target: two copies of the key space; the P4Runtime server
 * (or testbed) writes the inactive one and flips steer_config.active, steer reads the active. */
S6_MAP("array", __u32, struct fwd_target, key_space, 2 * BUCKETS);

/* canonical flow_key → fwd_target, overriding the bucket; the controller writes. */
S6_MAP("hash", struct flow_key, struct fwd_target, flow_pin, MAX_PINS);

/* 0 → steer_config; its one writer keeps pins equal to flow_pin's size and flips active. */
S6_MAP("array", __u32, struct steer_config, steer_config, 1);

/* logical port (1..MAX_PORTS-1; 0 means none) → ifindex on the steering host; testbed writes. */
S6_MAP("array", __u32, struct port_entry, ports, MAX_PORTS);

/* bucket → packets and bytes steered (per CPU); steer writes, controller and tests read. */
S6_MAP("percpu_array", __u32, struct counter, bucket_stats, BUCKETS);

#endif
