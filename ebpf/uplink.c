/* The steering host's way back (XDP on each of its links to the instances): replies from the
 * instances → rewrite MACs → redirect to gen. No steering decision: every reply leaves by the
 * one link to gen. Everything without a flow key is dropped and counted under its reason, as
 * in steer.c. */
#include "include/consts.h"
#include "include/eth.h"
#include "include/maps_stats.h"
#include "include/maps_uplink.h"
#include "include/parsing.h"

int xdp_uplink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    if (admit(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;

    __u32 zero = 0;
    struct nf_config *cfg = uplink_config.lookup(&zero);
    if (!cfg || !cfg->out_ifindex)
        return drop(REASON_DROP_NOT_CONFIGURED);

    set_macs(data, cfg->smac, cfg->dmac);
    count_reason(REASON_FORWARD);
    return bpf_redirect(cfg->out_ifindex, 0);
}
