/* The NAT's fast path (XDP): xdp_nat on an instance's "in" link (inside → outside) and
 * xdp_nat_reply on its "out" link (replies). A packet whose flow has a ready entry is rewritten
 * (addresses, ports, IPv4 and TCP/UDP checksums), counted and redirected; anything else goes
 * to the agent through the punt path, which allocates ports and installs the entries. */
#define PARSE_OFFSETS
#include "include/consts.h"
#include "include/csum.h"
#include "include/eth.h"
#include "include/maps_nat.h"
#include "include/maps_stats.h"
#include "include/parsing.h"
#include "include/punt.h"

#define TCP_FIN 0x01
#define TCP_RST 0x04

static __always_inline int rewrite(void *data, void *data_end, const struct parsed *p,
                                   const struct nat_entry *e)
{
    struct iphdr *ip = data + sizeof(struct ethhdr) + p->vlan_tags * sizeof(struct vlan_tag);
    if ((void *)(ip + 1) > data_end)
        return REASON_DROP_TRUNC_IP;
    void *l4 = data + (p->l4_off & 0xFF); /* at most 82: bounded for the verifier */
    __u16 *sport, *dport, *check = 0;
    if (ip->protocol == IPPROTO_TCP_) {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > data_end)
            return REASON_DROP_TRUNC_L4;
        sport = &th->source;
        dport = &th->dest;
        check = &th->check;
    } else {
        struct udphdr *uh = l4;
        if ((void *)(uh + 1) > data_end)
            return REASON_DROP_TRUNC_L4;
        sport = &uh->source;
        dport = &uh->dest;
        if (uh->check)
            check = &uh->check;
    }
    if (ip->saddr != e->orig_saddr || *sport != e->orig_sport)
        return REASON_DROP_WRONG_WAY;
    csum_replace4(&ip->check, ip->saddr, e->new_saddr);
    csum_replace4(&ip->check, ip->daddr, e->new_daddr);
    if (check) {
        csum_replace4(check, ip->saddr, e->new_saddr);
        csum_replace4(check, ip->daddr, e->new_daddr);
        csum_replace2(check, *sport, e->new_sport);
        csum_replace2(check, *dport, e->new_dport);
        if (ip->protocol == IPPROTO_UDP_ && *check == 0)
            *check = 0xFFFF;
    }
    ip->saddr = e->new_saddr;
    ip->daddr = e->new_daddr;
    *sport = e->new_sport;
    *dport = e->new_dport;
    return REASON_FORWARD;
}

static __always_inline int nat(struct xdp_md *ctx, __u32 dir)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};

    if (admit(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;
    struct nf_config *cfg = nf_config.lookup(&dir);
    if (!cfg || !cfg->out_ifindex)
        return drop(REASON_DROP_NOT_CONFIGURED);

    struct nat_entry *e = nat_flows.lookup(&p.key);
    if (!e || !e->ready) {
        if (gate(ctx, &p, e ? &e->ready : 0, dir) != GATE_FAST)
            return XDP_DROP;
        if (!e)
            return XDP_DROP;
    }
    if (e->action != NF_PASS)
        return drop(REASON_DROP_BY_NF);

    int reason = rewrite(data, data_end, &p, e);
    if (reason != REASON_FORWARD)
        return drop(reason);
    __sync_fetch_and_add(&e->packets, 1);
    __sync_fetch_and_add(&e->bytes, p.pkt_len);
    e->last_seen_ns = bpf_ktime_get_coarse_ns();
    __u8 closing = p.tcp_flags & (TCP_FIN | TCP_RST);
    if (closing && (e->closing & closing) != closing)
        e->closing |= closing;
    if (data + sizeof(struct ethhdr) > data_end)
        return drop(REASON_DROP_TRUNC_ETH);
    set_macs(data, cfg->smac, cfg->dmac);
    count_reason(REASON_FORWARD);
    return bpf_redirect(cfg->out_ifindex, 0);
}

int xdp_nat(struct xdp_md *ctx)
{
    return nat(ctx, 0);
}

int xdp_nat_reply(struct xdp_md *ctx)
{
    return nat(ctx, 1);
}
