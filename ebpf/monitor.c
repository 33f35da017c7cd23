/* The per-flow monitor NF's fast path (XDP on an instance's "in" link): parse → canonical
 * key → per-flow stats (packets, bytes, first/last seen, TCP flags) → forward to the sink.
 * Replies (XDP on the "out" link, xdp_monitor_reply) take the same way on the same canonical
 * flow entry and leave by "in", as nf_config's reply entry says.
 * Times come from the coarse monotonic clock (jiffy resolution): enough for idle timeouts and
 * reports, and about 20 ns a packet cheaper than bpf_ktime_get_ns on a VM's clock source. */
#include "include/consts.h"
#include "include/eth.h"
#include "include/maps_flows.h"
#include "include/maps_stats.h"
#include "include/parsing.h"

static __always_inline void account_flow(const struct parsed *p)
{
    __u64 now = bpf_ktime_get_coarse_ns();
    struct flow_stats *fs = flows.lookup((struct flow_key *)&p->key);
    if (!fs) {
        struct flow_stats fresh = {.first_seen_ns = now};
        /* BPF_NOEXIST: a flow inserted meanwhile on another CPU is kept, not reset. */
        if (flows.update((struct flow_key *)&p->key, &fresh) != 0 && !flows.lookup((struct flow_key *)&p->key)) {
            count_reason(NOTE_FLOW_TABLE_FULL);
            return;
        }
        fs = flows.lookup((struct flow_key *)&p->key);
        if (!fs)
            return;
    }
    __sync_fetch_and_add(&fs->packets, 1);
    __sync_fetch_and_add(&fs->bytes, p->pkt_len);
    fs->last_seen_ns = now;
    if ((fs->tcp_flags & p->tcp_flags) != p->tcp_flags)
        __sync_fetch_and_or(&fs->tcp_flags, (__u64)p->tcp_flags);
}

static __always_inline int monitor(struct xdp_md *ctx, __u32 direction)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    if (admit(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;

    struct nf_config *cfg = nf_config.lookup(&direction);
    if (!cfg || !cfg->out_ifindex)
        return drop(REASON_DROP_NOT_CONFIGURED);

    account_flow(&p);
    set_macs(data, cfg->smac, cfg->dmac);
    count_reason(REASON_FORWARD);
    return bpf_redirect(cfg->out_ifindex, 0);
}

int xdp_monitor(struct xdp_md *ctx)
{
    return monitor(ctx, NF_DIR_FORWARD);
}

int xdp_monitor_reply(struct xdp_md *ctx)
{
    return monitor(ctx, NF_DIR_REPLY);
}
