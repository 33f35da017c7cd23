/* Types and constants shared by every part of the steering pipeline. */
#ifndef S6NF_DEFINES_P4
#define S6NF_DEFINES_P4

typedef bit<48> mac_addr_t;
typedef bit<32> ipv4_addr_t;
typedef bit<16> l4_port_t;
typedef bit<8>  ip_proto_t;
typedef bit<9>  port_t;
typedef bit<16> bucket_t;
typedef bit<32> flow_hash_t;
typedef bit<8>  drop_reason_t;

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_VLAN = 0x8100;
const bit<16> ETHERTYPE_QINQ = 0x88A8;

const ip_proto_t PROTO_TCP = 6;
const ip_proto_t PROTO_UDP = 17;

const bit<4> IPV4_MIN_IHL = 5;

/* Drop reasons of the rule in steer.p4; ebpf/ counts the same reasons under these names. */
const drop_reason_t DROP_NONE          = 0;
const drop_reason_t DROP_NOT_IPV4      = 1;
const drop_reason_t DROP_IPV4_FRAGMENT = 2;
const drop_reason_t DROP_IPV4_BAD_IHL  = 3;
const drop_reason_t DROP_NOT_TCP_UDP   = 4;
const drop_reason_t DROP_PARSER_ERROR  = 5;

/* v1model's hash() returns base + (h % max); a max of 2^32 keeps the whole CRC-32. */
const bit<64> HASH_MAX = 64w0x100000000;

#endif
