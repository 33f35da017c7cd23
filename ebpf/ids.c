/* The IDS's fast path (XDP): xdp_ids on an instance's "in" link, xdp_ids_reply on its "out"
 * link. Every new flow goes to the agent once (port-scan detection, the rules' verdict on
 * whether to inspect it); after that a flow that is not inspected stays in the kernel, which
 * tracks its TCP state and counts it. A packet with payload on an inspected flow goes to the
 * agent (the rules run there), and the flow's later packets behind it, until it has left. */
#define PARSE_OFFSETS
#include "include/consts.h"
#include "include/eth.h"
#include "include/maps_ids.h"
#include "include/maps_stats.h"
#include "include/parsing.h"
#include "include/punt.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Mirrored by s6nf/nfs/tcpstate.py (a test runs both over the same flag sequences). */
enum tcp_state {
    TCP_NONE = 0,
    TCP_SYN_SENT = 1,
    TCP_SYN_RECEIVED = 2,
    TCP_ESTABLISHED = 3,
    TCP_CLOSING = 4,
    TCP_CLOSED = 5,
};

static __always_inline __u8 next_state(__u8 state, __u8 flags)
{
    if (flags & TCP_RST)
        return TCP_CLOSED;
    if (flags & TCP_FIN)
        return state >= TCP_CLOSING ? TCP_CLOSED : TCP_CLOSING;
    if (state >= TCP_CLOSING)
        return state;
    if (flags & TCP_SYN)
        return (flags & TCP_ACK) ? TCP_SYN_RECEIVED : (state == TCP_NONE ? TCP_SYN_SENT : state);
    if ((flags & TCP_ACK) && (state == TCP_SYN_RECEIVED || state == TCP_NONE))
        return TCP_ESTABLISHED;
    return state;
}

/* Payload bytes by the IPv4 total length (an Ethernet pad is not payload). */
static __always_inline int has_payload(void *data, void *data_end, const struct parsed *p)
{
    struct iphdr *ip = data + sizeof(struct ethhdr) + p->vlan_tags * sizeof(struct vlan_tag);
    if ((void *)(ip + 1) > data_end)
        return 0;
    __u32 l3_off = (void *)ip - data;
    return l3_off + bpf_ntohs(ip->tot_len) > p->payload_off;
}

static __always_inline int ids(struct xdp_md *ctx, __u32 dir)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    if (admit(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;
    struct nf_config *cfg = nf_config.lookup(&dir);
    if (!cfg || !cfg->out_ifindex)
        return drop(REASON_DROP_NOT_CONFIGURED);

    struct ids_flow *e = ids_flows.lookup(&p.key);
    if (!e || !e->ready) {
        if (gate(ctx, &p, e ? &e->ready : 0, dir) != GATE_FAST || !e)
            return XDP_DROP;
    }
    if (e->inspect && has_payload(data, data_end, &p)) {
        e->ready = 0;
        gate(ctx, &p, 0, dir);
        return XDP_DROP;
    }
    __sync_fetch_and_add(&e->packets, 1);
    __sync_fetch_and_add(&e->bytes, p.pkt_len);
    e->last_seen_ns = bpf_ktime_get_coarse_ns();
    if (p.key.proto == IPPROTO_TCP_) {
        __u8 state = next_state(e->tcp_state, p.tcp_flags);
        if (state != e->tcp_state)
            e->tcp_state = state;
    }
    if (data + sizeof(struct ethhdr) > data_end)
        return drop(REASON_DROP_TRUNC_ETH);
    set_macs(data, cfg->smac, cfg->dmac);
    count_reason(REASON_FORWARD);
    return bpf_redirect(cfg->out_ifindex, 0);
}

int xdp_ids(struct xdp_md *ctx)
{
    return ids(ctx, 0);
}

int xdp_ids_reply(struct xdp_md *ctx)
{
    return ids(ctx, 1);
}
