/* Sizes and constants shared by every s6nf program. Each size may be overridden by the
 * loader's cflags (-DBUCKETS=...), which is how the Python side keeps them in step. */
#ifndef S6NF_CONSTS_H
#define S6NF_CONSTS_H

#ifndef BUCKETS
#define BUCKETS 4096
#endif

#ifndef MAX_FLOWS
#define MAX_FLOWS 65536
#endif

#ifndef MAX_PINS
#define MAX_PINS 1024
#endif

#ifndef MAX_PORTS
#define MAX_PORTS 64
#endif

/* Maps are pinned under PIN_DIR when the loader gives one (an instance's state outlives its
 * process); without it (tests, benchmarks) they live as long as the program. */
#ifdef PIN_DIR
#define S6_MAP(type, key, value, name, size) \
    BPF_TABLE_PINNED(type, key, value, name, size, PIN_DIR "/" #name)
#else
#define S6_MAP(type, key, value, name, size) BPF_TABLE(type, key, value, name, size)
#endif

#define MAX_VLAN_DEPTH 2
#define ETH_P_IPV4 0x0800
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define CANONICAL_KEY_LEN 13

#endif
