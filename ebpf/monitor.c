/* The per-flow monitor NF's fast path (XDP on an instance's "in" link): parse → canonical
 * key → per-flow stats (packets, bytes, first/last seen, TCP flags) → forward to the sink.
 * With an agent (monitor_mode punt_new_flows = 1) a flow without a ready entry, and a flow's
 * first SYN-ACK, go to the agent through the punt path (the asset monitor, s6nf/nfs/monitor.py);
 * without one the kernel creates entries itself. Replies (XDP on the "out" link,
 * xdp_monitor_reply) take the same way on the same canonical flow entry and leave by "in", as
 * nf_config's reply entry says. Times come from the coarse monotonic clock
 * (jiffy resolution): enough for idle timeouts and reports, and about 20 ns a packet cheaper
 * than bpf_ktime_get_ns on a VM's clock source. */
#include "include/consts.h"
#include "include/eth.h"
#include "include/maps_flows.h"
#include "include/maps_stats.h"
#include "include/parsing.h"
#include "include/punt.h"

#define TCP_SYN_ACK 0x12

static __always_inline int punts_new_flows(void)
{
    __u32 zero = 0;
    __u32 *mode = monitor_mode.lookup(&zero);
    return mode && *mode;
}

static __always_inline int unseen_synack(const struct flow_stats *fs, const struct parsed *p)
{
    return (p->tcp_flags & TCP_SYN_ACK) == TCP_SYN_ACK && !fs->synack_seen;
}

/* No agent: the kernel makes the entry (or takes one imported with ready = 0). */
static __always_inline struct flow_stats *own_entry(const struct parsed *p, struct flow_stats *fs)
{
    if (fs) {
        if (!fs->ready)
            fs->ready = 1;
        return fs;
    }
    struct flow_stats fresh = {.first_seen_ns = bpf_ktime_get_coarse_ns(), .ready = 1};
    /* BPF_NOEXIST: a flow inserted meanwhile on another CPU is kept, not reset. */
    if (flows.update((struct flow_key *)&p->key, &fresh) != 0 && !flows.lookup((struct flow_key *)&p->key)) {
        count_reason(NOTE_FLOW_TABLE_FULL);
        return 0;
    }
    return flows.lookup((struct flow_key *)&p->key);
}

/* With an agent: GATE_FAST when the entry may be counted here, else the packet was punted. */
static __always_inline int to_agent(struct xdp_md *ctx, const struct parsed *p,
                                    struct flow_stats *fs, __u32 direction)
{
    if (!fs || !fs->ready) {
        if (gate(ctx, p, fs ? &fs->ready : 0, direction) != GATE_FAST || !fs)
            return GATE_HANDLED;
    }
    if (!unseen_synack(fs, p))
        return GATE_FAST;
    fs->ready = 0; /* the handshake's answer goes to the agent, and its flow behind it */
    return gate(ctx, p, 0, direction);
}

static __always_inline void account_flow(struct flow_stats *fs, const struct parsed *p)
{
    __sync_fetch_and_add(&fs->packets, 1);
    __sync_fetch_and_add(&fs->bytes, p->pkt_len);
    fs->last_seen_ns = bpf_ktime_get_coarse_ns();
    if ((fs->tcp_flags & p->tcp_flags) != p->tcp_flags)
        __sync_fetch_and_or(&fs->tcp_flags, (__u64)p->tcp_flags);
    if ((p->tcp_flags & TCP_SYN_ACK) == TCP_SYN_ACK && !fs->synack_seen)
        fs->synack_seen = 1;
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

    struct flow_stats *fs = flows.lookup((struct flow_key *)&p.key);
    if (!fs || !fs->ready || unseen_synack(fs, &p)) {
        if (!punts_new_flows())
            fs = own_entry(&p, fs);
        else if (to_agent(ctx, &p, fs, direction) != GATE_FAST)
            return XDP_DROP;
    }
    if (fs)
        account_flow(fs, &p);
    if (data + sizeof(struct ethhdr) > data_end)
        return drop(REASON_DROP_TRUNC_ETH);
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
