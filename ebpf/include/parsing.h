/* Packet parsing shared by XDP and TC programs: every parser takes (data, data_end). */
#ifndef S6NF_PARSING_H
#define S6NF_PARSING_H

#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/tcp.h>
#include <uapi/linux/udp.h>

#include "consts.h"
#include "flow_key.h"
#include "structs.h"
#include "verdicts.h"

struct vlan_tag {
    __be16 tci;
    __be16 encap_proto;
};

static __always_inline int is_vlan(__be16 proto)
{
    return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Skips up to MAX_VLAN_DEPTH tags; returns the IPv4 header's start or the reason to drop. */
static __always_inline int parse_l2(void *data, void *data_end, struct parsed *p, void **l3)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return REASON_DROP_TRUNC_ETH;
    __be16 proto = eth->h_proto;
    void *cursor = eth + 1;
#pragma unroll
    for (int i = 0; i < MAX_VLAN_DEPTH; i++) {
        if (!is_vlan(proto))
            break;
        struct vlan_tag *tag = cursor;
        if ((void *)(tag + 1) > data_end)
            return REASON_DROP_TRUNC_ETH;
        proto = tag->encap_proto;
        cursor = tag + 1;
        p->vlan_tags++;
    }
    if (is_vlan(proto))
        return REASON_DROP_VLAN_DEPTH;
    if (proto != bpf_htons(ETH_P_IPV4))
        return REASON_DROP_NOT_IPV4;
    *l3 = cursor;
    return REASON_FORWARD;
}

static __always_inline int parse_ipv4(void *l3, void *data_end, struct parsed *p, void **l4,
                                      __u8 *proto)
{
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > data_end)
        return REASON_DROP_TRUNC_IP;
    if (ip->version != 4 || ip->ihl < 5)
        return REASON_DROP_BAD_IP;
    __u32 hdr_len = ip->ihl * 4;
    if (l3 + hdr_len > data_end)
        return REASON_DROP_TRUNC_IP;
    __u32 tot_len = bpf_ntohs(ip->tot_len);
    if (tot_len < hdr_len)
        return REASON_DROP_BAD_IP;
    if (l3 + tot_len > data_end)
        return REASON_DROP_TRUNC_IP;
    if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
        return REASON_DROP_FRAGMENT;
    p->ip_options = ip->ihl > 5;
    *l4 = l3 + hdr_len;
    *proto = ip->protocol;
    return REASON_FORWARD;
}

/* Parses Ethernet, VLAN tags, IPv4 and TCP/UDP into p (which must start zeroed). The L4 and
 * payload offsets are filled only in programs that define PARSE_OFFSETS before including this
 * header (the sink and the stamper): the others do not pay for them on every packet.
 * Returns REASON_FORWARD when the packet has a flow key, else the reason to drop it. */
static __always_inline int parse_packet(void *data, void *data_end, struct parsed *p)
{
    void *l3 = data, *l4 = data;
    __u8 proto = 0;
    int reason = parse_l2(data, data_end, p, &l3);
    if (reason != REASON_FORWARD)
        return reason;
    reason = parse_ipv4(l3, data_end, p, &l4, &proto);
    if (reason != REASON_FORWARD)
        return reason;
    struct iphdr *ip = l3;
    __be16 sport, dport;
    if (proto == IPPROTO_TCP_) {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > data_end)
            return REASON_DROP_TRUNC_L4;
        sport = th->source;
        dport = th->dest;
        p->tcp_flags = ((__u8 *)th)[13];
#ifdef PARSE_OFFSETS
        p->payload_off = (l4 - data) + th->doff * 4;
#endif
    } else if (proto == IPPROTO_UDP_) {
        struct udphdr *uh = l4;
        if ((void *)(uh + 1) > data_end)
            return REASON_DROP_TRUNC_L4;
        sport = uh->source;
        dport = uh->dest;
#ifdef PARSE_OFFSETS
        p->payload_off = (l4 - data) + sizeof(*uh);
#endif
    } else {
        return REASON_DROP_UNSUPPORTED_L4;
    }
    canonical_key(ip->saddr, ip->daddr, sport, dport, proto, &p->key);
    p->pkt_len = data_end - data;
#ifdef PARSE_OFFSETS
    p->l4_off = l4 - data;
#endif
    return REASON_FORWARD;
}

#endif
