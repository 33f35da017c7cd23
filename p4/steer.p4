/*
 * s6nf steering pipeline (P4_16, v1model). DESIGN.md §1-2, docs/steering.md.
 *
 * Every IPv4 TCP/UDP packet is steered by its canonical flow key:
 *   bucket = crc32(addr_lo, addr_hi, port_lo, port_hi, proto) & (BUCKETS - 1)
 *   flow_pin[key] if it hits, else key_space[bucket]: forward(port, dmac) or drop;
 *   bucket_counter[bucket] counts every steered packet, whatever the tables decide.
 *
 * The drop rule: everything else is dropped, and never reaches the tables or the counter:
 *   DROP_PARSER_ERROR  the parser failed (a truncated header, more than two VLAN tags)
 *   DROP_IPV4_BAD_IHL  an IPv4 header with IHL < 5
 *   DROP_NOT_IPV4      a frame that is not IPv4 (after up to two 802.1Q/802.1ad tags)
 *   DROP_IPV4_FRAGMENT an IPv4 fragment (MF set or fragment offset != 0), first ones too
 *   DROP_NOT_TCP_UDP   an IPv4 protocol other than TCP (6) and UDP (17)
 * checked in this order. The eBPF target (ebpf/steer.c) follows the same rule and counts
 * each drop under the same reason name.
 */
#include <core.p4>
#include <v1model.p4>

#include "include/defines.p4"
#include "include/sizes.p4"
#include "include/headers.p4"
#include "include/parser.p4"
#include "include/control/checksum.p4"
#include "include/control/admission.p4"
#include "include/control/flow_key.p4"
#include "include/control/steering.p4"

control SteerIngress(inout parsed_headers_t hdr,
                     inout steer_metadata_t meta,
                     inout standard_metadata_t smeta) {
    Admission() admission;
    FlowKey() flow_key;
    Steering() steering;

    apply {
        admission.apply(hdr, meta, smeta);
        if (meta.drop_reason == DROP_NONE) {
            flow_key.apply(hdr, meta);
            steering.apply(hdr, meta, smeta);
        }
    }
}

control SteerEgress(inout parsed_headers_t hdr,
                    inout steer_metadata_t meta,
                    inout standard_metadata_t smeta) {
    apply { }
}

V1Switch(SteerParser(),
         SteerVerifyChecksum(),
         SteerIngress(),
         SteerEgress(),
         SteerComputeChecksum(),
         SteerDeparser()) main;
