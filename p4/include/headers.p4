/* Headers the steering pipeline parses, and its metadata. */
#ifndef S6NF_HEADERS_P4
#define S6NF_HEADERS_P4

#include "defines.p4"

header ethernet_t {
    mac_addr_t dst_addr;
    mac_addr_t src_addr;
    bit<16>    ether_type;
}

/* 802.1Q or 802.1ad tag; ether_type is the type of what follows the tag. */
header vlan_tag_t {
    bit<3>  pcp;
    bit<1>  dei;
    bit<12> vlan_id;
    bit<16> ether_type;
}

header ipv4_t {
    bit<4>      version;
    bit<4>      ihl;
    bit<8>      dscp_ecn;
    bit<16>     total_len;
    bit<16>     identification;
    bit<1>      reserved;
    bit<1>      dont_fragment;
    bit<1>      more_fragments;
    bit<13>     frag_offset;
    bit<8>      ttl;
    ip_proto_t  protocol;
    bit<16>     hdr_checksum;
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
}

/* Up to 40 bytes of options (IHL 15). */
header ipv4_options_t {
    varbit<320> options;
}

header tcp_t {
    l4_port_t sport;
    l4_port_t dport;
    bit<32>   seq_no;
    bit<32>   ack_no;
    bit<4>    data_offset;
    bit<4>    res;
    bit<8>    flags;
    bit<16>   window;
    bit<16>   checksum;
    bit<16>   urgent_ptr;
}

header udp_t {
    l4_port_t sport;
    l4_port_t dport;
    bit<16>   len;
    bit<16>   checksum;
}

struct parsed_headers_t {
    ethernet_t     ethernet;
    vlan_tag_t[2]  vlan_tag;
    ipv4_t         ipv4;
    ipv4_options_t ipv4_options;
    tcp_t          tcp;
    udp_t          udp;
}

/* The canonical flow key (s6nf/keys.py): the (addr, port) pair that sorts lower first. */
struct flow_key_t {
    ipv4_addr_t addr_lo;
    ipv4_addr_t addr_hi;
    l4_port_t   port_lo;
    l4_port_t   port_hi;
    ip_proto_t  proto;
}

struct steer_metadata_t {
    l4_port_t     l4_sport;
    l4_port_t     l4_dport;
    drop_reason_t drop_reason;
    flow_key_t    flow_key;
    flow_hash_t   hash;
    bucket_t      bucket;
}

#endif
