/* Steering rewrites only the destination MAC, so no checksum is verified or recomputed. */
#ifndef S6NF_CHECKSUM_P4
#define S6NF_CHECKSUM_P4

#include "../headers.p4"

control SteerVerifyChecksum(inout parsed_headers_t hdr, inout steer_metadata_t meta) {
    apply { }
}

control SteerComputeChecksum(inout parsed_headers_t hdr, inout steer_metadata_t meta) {
    apply { }
}

#endif
