/* Map keys and values, mirrored field for field in s6nf/agent/structs.py. Multi-byte packet
 * fields (addresses, ports) stay in network order, as on the wire. */
#ifndef S6NF_STRUCTS_H
#define S6NF_STRUCTS_H

/* The canonical flow key: its first CANONICAL_KEY_LEN bytes are what the CRC-32 covers. */
struct flow_key {
    __u32 addr_lo;
    __u32 addr_hi;
    __u16 port_lo;
    __u16 port_hi;
    __u8 proto;
    __u8 pad[3];
};

/* A steering table entry (P4 action): none (no entry: the default drop), forward to a
 * logical port with this destination MAC, or an explicit drop. */
enum fwd_action {
    FWD_NONE = 0,
    FWD_FORWARD = 1,
    FWD_DROP = 2,
};

struct fwd_target {
    __u32 port;
    __u8 dmac[6];
    __u16 action;
};

/* Steering switches. pins counts flow_pin entries, so an empty pin table costs nothing;
 * active names the key_space copy in use (0 or 1, entries active * BUCKETS + bucket): a batch
 * is written into the other copy and takes effect at once when active flips. */
struct steer_config {
    __u32 pins;
    __u32 active;
};

struct port_entry {
    __u32 ifindex;
};

struct counter {
    __u64 packets;
    __u64 bytes;
};

/* The monitor's per-flow state; tcp_flags is the OR of every flag seen. ready is flipped to 1
 * by the kernel only (docs/punt-design.md); synack_seen is set by whichever side counted the
 * flow's first SYN-ACK. The TTL and window of the first SYN (client) and SYN-ACK (server) are
 * the asset monitor's OS hints, written by the agent (0: not seen by the agent). */
struct flow_stats {
    __u64 packets;
    __u64 bytes;
    __u64 first_seen_ns;
    __u64 last_seen_ns;
    __u64 tcp_flags;
    __u8 ready;
    __u8 synack_seen;
    __u8 client_ttl;
    __u8 server_ttl;
    __u16 client_window;
    __u16 server_window;
};

/* How an NF entry ends its packets on the fast path. */
enum nf_action {
    NF_PASS = 0,
    NF_DROP = 1,
};

/* The NAT's per-flow entry, keyed by the canonical key of the packets it applies to. A packet
 * from (orig_saddr, orig_sport) leaves as (new_saddr, new_sport) → (new_daddr, new_dport); the
 * forward entry rewrites the source, the reverse entry the destination. ready is flipped to 1
 * by the kernel only (docs/punt-design.md); closing ORs the FIN/RST flags seen. */
struct nat_entry {
    __u32 orig_saddr;
    __u32 new_saddr;
    __u32 new_daddr;
    __u16 orig_sport;
    __u16 new_sport;
    __u16 new_dport;
    __u8 action;
    __u8 ready;
    __u8 closing;
    __u8 reverse;
    __u16 pad;
    __u64 packets;
    __u64 bytes;
    __u64 last_seen_ns;
};

/* The IDS's per-flow entry. ready is flipped by the kernel only; inspect is set by the agent
 * when the flow's first packet makes it a candidate for the rules: then every packet carrying
 * payload goes to the agent. tcp_state (enum tcp_state in ids.c, s6nf/nfs/tcpstate.py) is
 * advanced by whichever side handles a packet: the kernel on the fast path, the agent on
 * punted packets; the two never run for one flow at once. */
struct ids_flow {
    __u64 packets;
    __u64 bytes;
    __u64 last_seen_ns;
    __u8 ready;
    __u8 tcp_state;
    __u8 inspect;
    __u8 pad;
    __u32 pad2;
};

/* Kernel-owned per-flow punt state: packets of this flow punted in the current episode. */
struct punt_pend {
    __u64 punted;
};

/* What precedes a punted frame in the ring: seq is the packet's number in its flow's episode
 * (1, 2, …), what the agent writes to the released map once the packet has left. */
struct punt_meta {
    struct flow_key key;
    __u64 seq;
    __u32 len;
    __u32 dir;
};

/* An NF instance's forwarding: out of out_ifindex with these MACs. */
struct nf_config {
    __u32 out_ifindex;
    __u8 smac[6];
    __u8 dmac[6];
    __u16 pad;
};

/* What the parser hands to a program; l4_off and payload_off count from the frame's start and
 * are filled only under PARSE_OFFSETS (see parsing.h). */
struct parsed {
    struct flow_key key;
    __u32 pkt_len;
    __u8 tcp_flags;
    __u8 vlan_tags;
    __u8 ip_options;
    __u8 pad;
    __u16 l4_off;
    __u16 payload_off;
};

/* The sink's per-flow record. next_seq is one past the highest measurement sequence number
 * seen (0: none yet); measured counts packets that carried the header, reordered those whose
 * sequence number was below the highest seen. */
struct sink_flow {
    __u64 packets;
    __u64 bytes;
    __u64 next_seq;
    __u64 measured;
    __u64 reordered;
};

/* The sink's settings, written by the harness. Slot n of the throughput ring
 * covers [start_ns + n * slot_ns, start_ns + (n + 1) * slot_ns); slot_ns 0 means
 * DEFAULT_SLOT_NS. clock_ns, when not 0, replaces bpf_ktime_get_ns() as the sink's "now"
 * (tests). Latencies go to the histogram of phase (< MAX_PHASES; others count as phase 0).
 * reflect, when not 0, sends every packet back as its reply (XDP_TX) instead of consuming it. */
struct meas_config {
    __u64 start_ns;
    __u64 slot_ns;
    __u64 clock_ns;
    __u32 phase;
    __u32 reflect;
};

/* One CPU's latency histogram of one time slot (HIST_BUCKETS buckets, spelled out so the
 * Python mirror's test can read the size; histogram.h asserts they agree); slot as below. */
struct slot_hist {
    __u64 slot;
    __u64 counts[1024];
};

/* One CPU's count of one throughput slot; slot is the absolute slot number, so an entry
 * left from an earlier lap of the ring is recognised and restarted. */
struct slot_count {
    __u64 slot;
    __u64 packets;
    __u64 bytes;
};

#endif
