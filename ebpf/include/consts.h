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
#define THROUGHPUT_SLOTS 1024
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

/* The punt path (docs/punt-design.md): frames up to PUNT_MAX bytes (a power of two) go to the
 * agent through a ring of PUNT_RING_PAGES pages (32 MiB by default; [maps] punt_ring_mib);
 * MAX_PEND flows may wait there at once. */
#ifndef PUNT_MAX
#define PUNT_MAX 2048
#endif

#ifndef PUNT_RING_PAGES
#define PUNT_RING_PAGES 8192
#endif

#ifndef MAX_PEND
#define MAX_PEND 16384
#endif

/* A BPF ring buffer, pinned like S6_MAP; bcc's BPF_RINGBUF_OUTPUT cannot be pinned, so the
 * table type (bcc's ringbuf methods) is spelled out here with a pinning section name. */
#define S6_RINGBUF_TYPE(name) \
    struct name##_table_t { \
        int key; \
        u32 leaf; \
        int (*ringbuf_output)(void *, u64, u64); \
        void *(*ringbuf_reserve)(u64); \
        void (*ringbuf_discard)(void *, u64); \
        void (*ringbuf_submit)(void *, u64); \
        u32 max_entries; \
    }
#ifdef PIN_DIR
#define S6_RINGBUF(name, pages) \
    S6_RINGBUF_TYPE(name); \
    __attribute__((section("maps/ringbuf:" PIN_DIR "/" #name))) \
    struct name##_table_t name = {.max_entries = (pages) * PAGE_SIZE}
#else
#define S6_RINGBUF(name, pages) BPF_RINGBUF_OUTPUT(name, pages)
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
