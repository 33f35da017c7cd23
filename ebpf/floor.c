/* Benchmark reference, not deployed: the least any stateful fast path must do —
 * parse → one hash-map lookup → XDP_TX. bench/fastpath_cost.py measures against it. */
#include "include/consts.h"
#include "include/maps_flows.h"
#include "include/parsing.h"

int xdp_floor(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    if (parse_packet(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;
    if (!flows.lookup(&p.key))
        return XDP_DROP;
    return XDP_TX;
}
