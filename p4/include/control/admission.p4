/* The drop rule (see steer.p4 and docs/steering.md): only unfragmented IPv4 TCP/UDP is steered. */
#ifndef S6NF_ADMISSION_P4
#define S6NF_ADMISSION_P4

#include "../headers.p4"

control Admission(in parsed_headers_t hdr,
                  inout steer_metadata_t meta,
                  inout standard_metadata_t smeta) {
    apply {
        if (smeta.parser_error == error.Ipv4IhlTooSmall) {
            meta.drop_reason = DROP_IPV4_BAD_IHL;
        } else if (smeta.parser_error != error.NoError) {
            meta.drop_reason = DROP_PARSER_ERROR;
        } else if (!hdr.ipv4.isValid()) {
            meta.drop_reason = DROP_NOT_IPV4;
        } else if (hdr.ipv4.more_fragments == 1 || hdr.ipv4.frag_offset != 0) {
            meta.drop_reason = DROP_IPV4_FRAGMENT;
        } else if (!hdr.tcp.isValid() && !hdr.udp.isValid()) {
            meta.drop_reason = DROP_NOT_TCP_UDP;
        } else {
            meta.drop_reason = DROP_NONE;
        }
        if (meta.drop_reason != DROP_NONE) {
            mark_to_drop(smeta);
        }
    }
}

#endif
