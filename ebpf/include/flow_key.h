/* The canonical flow key and its CRC-32 (DESIGN.md §2), as s6nf/keys.py computes them. */
#ifndef S6NF_FLOW_KEY_H
#define S6NF_FLOW_KEY_H

#include "consts.h"
#include "maps_crc.h"
#include "structs.h"

/* Orders the endpoints so both directions share one key; inputs are in network order. */
static __always_inline void canonical_key(__be32 saddr, __be32 daddr, __be16 sport,
                                          __be16 dport, __u8 proto, struct flow_key *k)
{
    __u32 s = bpf_ntohl(saddr), d = bpf_ntohl(daddr);
    int src_first = s < d || (s == d && bpf_ntohs(sport) <= bpf_ntohs(dport));
    k->addr_lo = src_first ? saddr : daddr;
    k->addr_hi = src_first ? daddr : saddr;
    k->port_lo = src_first ? sport : dport;
    k->port_hi = src_first ? dport : sport;
    k->proto = proto;
}

/* CRC-32 (IEEE, reflected, as zlib.crc32) over the key's first CANONICAL_KEY_LEN bytes,
 * a byte at a time through the loader-filled crc32_table. */
static __always_inline __u32 flow_hash(const struct flow_key *k)
{
    const __u8 *bytes = (const __u8 *)k;
    __u32 crc = 0xFFFFFFFF;
#pragma unroll
    for (int i = 0; i < CANONICAL_KEY_LEN; i++) {
        __u32 idx = (crc ^ bytes[i]) & 0xFF;
        __u32 *entry = crc32_table.lookup(&idx);
        if (!entry)
            return 0;
        crc = *entry ^ (crc >> 8);
    }
    return ~crc;
}

#endif
