/* The testbed's sink (XDP on each of its links): parse → count the flow's packets → consume. */
#include "include/consts.h"
#include "include/maps_sink.h"
#include "include/maps_stats.h"
#include "include/parsing.h"

static __always_inline void count_flow(const struct parsed *p)
{
    struct counter *c = sink_flows.lookup((struct flow_key *)&p->key);
    if (!c) {
        struct counter fresh = {};
        sink_flows.update((struct flow_key *)&p->key, &fresh);
        c = sink_flows.lookup((struct flow_key *)&p->key);
        if (!c) {
            count_reason(NOTE_FLOW_TABLE_FULL);
            return;
        }
    }
    __sync_fetch_and_add(&c->packets, 1);
    __sync_fetch_and_add(&c->bytes, p->pkt_len);
}

int xdp_sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    int reason = parse_packet(data, data_end, &p);
    if (reason != REASON_FORWARD)
        return drop(reason);
    note_parse(&p);
    count_flow(&p);
    count_reason(REASON_CONSUMED);
    return XDP_DROP;
}
