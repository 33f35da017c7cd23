#ifndef S6NF_MAPS_SINK_H
#define S6NF_MAPS_SINK_H

#include "consts.h"
#include "structs.h"

/* canonical flow_key → sink_flow (packets, bytes, sequence state); sink writes, the
 * accounting and the measurement readers read. */
S6_MAP("hash", struct flow_key, struct sink_flow, sink_flows, MAX_FLOWS);

/* 0 → meas_config; the harness writes (start, slot length, phase), the sink reads. */
S6_MAP("array", __u32, struct meas_config, meas_config, 1);

/* phase * HIST_BUCKETS + bucket → latency samples (per CPU); sink writes, harness reads. */
S6_MAP("percpu_array", __u32, __u64, latency_hist, MAX_PHASES * HIST_BUCKETS);

/* slot % THROUGHPUT_SLOTS → slot_hist: latency samples of that time slot (per CPU); sink
 * writes, harness reads between slots. */
S6_MAP("percpu_array", __u32, struct slot_hist, slot_latency, THROUGHPUT_SLOTS);

/* slot % THROUGHPUT_SLOTS → slot_count (per CPU); sink writes, harness reads between slots. */
S6_MAP("percpu_array", __u32, struct slot_count, throughput, THROUGHPUT_SLOTS);

#endif
