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

/* Measurement at the sink: latency histograms per phase, throughput per time slot. */
#ifndef MAX_PHASES
#define MAX_PHASES 8
#endif

#ifndef THROUGHPUT_SLOTS
#define THROUGHPUT_SLOTS 256
#endif

#define DEFAULT_SLOT_NS 100000000ULL
#define HIST_SUB_BITS 5
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MAX_LOG2 35
#define HIST_BUCKETS ((HIST_MAX_LOG2 - HIST_SUB_BITS + 2) * HIST_SUB)

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
