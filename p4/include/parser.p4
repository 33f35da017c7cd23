/* Parser and deparser: Ethernet, up to two VLAN tags, IPv4 with options, TCP or UDP. */
#ifndef S6NF_PARSER_P4
#define S6NF_PARSER_P4

#include "headers.p4"

error { Ipv4IhlTooSmall }

parser SteerParser(packet_in packet,
                   out parsed_headers_t hdr,
                   inout steer_metadata_t meta,
                   inout standard_metadata_t smeta) {
    state start {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_VLAN: parse_vlan_tag;
            ETHERTYPE_QINQ: parse_vlan_tag;
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    /* A third tag overflows the stack and ends the parse with error.StackOutOfBounds. */
    state parse_vlan_tag {
        packet.extract(hdr.vlan_tag.next);
        transition select(hdr.vlan_tag.last.ether_type) {
            ETHERTYPE_VLAN: parse_vlan_tag;
            ETHERTYPE_QINQ: parse_vlan_tag;
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        verify(hdr.ipv4.ihl >= IPV4_MIN_IHL, error.Ipv4IhlTooSmall);
        packet.extract(hdr.ipv4_options, ((bit<32>)(hdr.ipv4.ihl - IPV4_MIN_IHL)) * 32);
        transition select(hdr.ipv4.more_fragments, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (0, 0, PROTO_TCP): parse_tcp;
            (0, 0, PROTO_UDP): parse_udp;
            default: accept;
        }
    }

    state parse_tcp {
        packet.extract(hdr.tcp);
        meta.l4_sport = hdr.tcp.sport;
        meta.l4_dport = hdr.tcp.dport;
        transition accept;
    }

    state parse_udp {
        packet.extract(hdr.udp);
        meta.l4_sport = hdr.udp.sport;
        meta.l4_dport = hdr.udp.dport;
        transition accept;
    }
}

control SteerDeparser(packet_out packet, in parsed_headers_t hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.vlan_tag);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ipv4_options);
        packet.emit(hdr.tcp);
        packet.emit(hdr.udp);
    }
}

#endif
