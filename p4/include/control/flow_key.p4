/* The canonical flow key, its CRC-32 and its bucket, as s6nf/keys.py computes them. */
#ifndef S6NF_FLOW_KEY_P4
#define S6NF_FLOW_KEY_P4

#include "../headers.p4"
#include "../sizes.p4"

control FlowKey(in parsed_headers_t hdr, inout steer_metadata_t meta) {
    apply {
        ipv4_addr_t src = hdr.ipv4.src_addr;
        ipv4_addr_t dst = hdr.ipv4.dst_addr;
        if (src < dst || (src == dst && meta.l4_sport <= meta.l4_dport)) {
            meta.flow_key.addr_lo = src;
            meta.flow_key.addr_hi = dst;
            meta.flow_key.port_lo = meta.l4_sport;
            meta.flow_key.port_hi = meta.l4_dport;
        } else {
            meta.flow_key.addr_lo = dst;
            meta.flow_key.addr_hi = src;
            meta.flow_key.port_lo = meta.l4_dport;
            meta.flow_key.port_hi = meta.l4_sport;
        }
        meta.flow_key.proto = hdr.ipv4.protocol;
        /* The 13 bytes in exactly the order of the canonical key; crc32 is zlib's CRC-32. */
        hash(meta.hash, HashAlgorithm.crc32, (flow_hash_t)0,
             { meta.flow_key.addr_lo,
               meta.flow_key.addr_hi,
               meta.flow_key.port_lo,
               meta.flow_key.port_hi,
               meta.flow_key.proto },
             HASH_MAX);
        meta.bucket = (bucket_t)(meta.hash & (BUCKETS - 1));
    }
}

#endif
