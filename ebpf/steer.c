/* Steering (XDP on the "sw" host): parse → canonical key → CRC-32 bucket → count the bucket →
 * flow_pin or key_space → rewrite the destination MAC → redirect to the owning instance's
 * port. Everything without a flow key is dropped and counted under its reason
 * (docs/datapath.md); the bucket counter counts every admitted packet, as in p4/steer.p4. */
#include "include/consts.h"
#include "include/eth.h"
#include "include/maps_stats.h"
#include "include/maps_steer.h"
#include "include/parsing.h"

static __always_inline void count_bucket(__u32 bucket, __u32 bytes)
{
    struct counter *c = bucket_stats.lookup(&bucket);
    if (c) {
        c->packets += 1;
        c->bytes += bytes;
    }
}

/* The entry that decides: a pin if there is one, else the active key space copy's. */
static __always_inline struct fwd_target *choose_target(const struct flow_key *key, __u32 bucket)
{
    __u32 zero = 0;
    struct steer_config *cfg = steer_config.lookup(&zero);
    if (!cfg)
        return 0;
    if (cfg->pins) {
        struct fwd_target *pinned = flow_pin.lookup((struct flow_key *)key);
        if (pinned) {
            count_reason(NOTE_PINNED);
            return pinned;
        }
    }
    __u32 slot = (cfg->active & 1) * BUCKETS + bucket;
    return key_space.lookup(&slot);
}

int xdp_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    if (admit(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;

    __u32 bucket = flow_hash(&p.key) & (BUCKETS - 1);
    count_bucket(bucket, p.pkt_len);
    struct fwd_target *target = choose_target(&p.key, bucket);
    if (!target || target->action == FWD_NONE)
        return drop(REASON_DROP_NO_ROUTE);
    if (target->action != FWD_FORWARD)
        return drop(REASON_DROP_BY_ENTRY);
    __u32 port = target->port;
    struct port_entry *out = ports.lookup(&port);
    if (!out || !out->ifindex)
        return drop(REASON_DROP_NO_ROUTE);

    set_macs(data, 0, target->dmac);
    count_reason(REASON_FORWARD);
    return bpf_redirect(out->ifindex, 0);
}
