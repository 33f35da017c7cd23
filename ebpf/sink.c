/* The testbed's sink (XDP on each of its links): parse → count the flow → measure → consume,
 * or, when meas_config.reflect is set, send the packet back as its reply.
 *
 * Measurement (docs/measurement.md): packets carrying the measurement header add a latency
 * sample (now - send time) to the current phase's histogram and to their time slot's, and
 * advance their flow's sequence state (loss, reordering); every packet counts in its
 * throughput slot. A reflected packet keeps its payload, measurement header included, so the
 * same program at the far end (gen) measures the replies. */
#define PARSE_OFFSETS
#include "include/consts.h"
#include "include/histogram.h"
#include "include/maps_sink.h"
#include "include/maps_stats.h"
#include "include/meas.h"
#include "include/parsing.h"

static __always_inline struct sink_flow *flow_entry(const struct parsed *p)
{
    struct sink_flow *f = sink_flows.lookup((struct flow_key *)&p->key);
    if (f)
        return f;
    struct sink_flow fresh = {};
    sink_flows.update((struct flow_key *)&p->key, &fresh);
    return sink_flows.lookup((struct flow_key *)&p->key);
}

static __always_inline void count_sequence(struct sink_flow *f, __u64 seq)
{
    __sync_fetch_and_add(&f->measured, 1);
    if (seq + 1 > f->next_seq) {
        f->next_seq = seq + 1;
    } else if (seq + 1 < f->next_seq) {
        __sync_fetch_and_add(&f->reordered, 1);
        count_reason(NOTE_REORDERED);
    }
}

static __always_inline void count_flow(const struct parsed *p, const struct meas_hdr *h)
{
    struct sink_flow *f = flow_entry(p);
    if (!f) {
        count_reason(NOTE_FLOW_TABLE_FULL);
        return;
    }
    __sync_fetch_and_add(&f->packets, 1);
    __sync_fetch_and_add(&f->bytes, p->pkt_len);
    if (h)
        count_sequence(f, bpf_ntohl(h->seq));
}

static __always_inline __u64 slot_of(const struct meas_config *cfg, __u64 now)
{
    __u64 slot_ns = cfg->slot_ns ? cfg->slot_ns : DEFAULT_SLOT_NS;
    return now > cfg->start_ns ? (now - cfg->start_ns) / slot_ns : 0;
}

/* The slot's histogram on this CPU, restarted when it still holds an earlier lap's. */
static __always_inline void count_slot_latency(__u64 slot, __u32 bucket)
{
    __u32 index = slot % THROUGHPUT_SLOTS;
    struct slot_hist *h = slot_latency.lookup(&index);
    if (!h)
        return;
    if (h->slot != slot) {
        volatile __u64 *counts = h->counts; /* volatile: clang would emit a memset call */
        for (__u32 i = 0; i < HIST_BUCKETS; i++)
            counts[i] = 0;
        h->slot = slot;
    }
    if (bucket < HIST_BUCKETS)
        h->counts[bucket] += 1;
}

static __always_inline void record_latency(const struct meas_config *cfg, __u64 now,
                                           __u64 slot, __u64 send_ns)
{
    if (!send_ns) {
        count_reason(NOTE_UNSTAMPED);
        return;
    }
    if (send_ns > now) {
        count_reason(NOTE_CLOCK_SKEW);
        return;
    }
    __u32 phase = cfg->phase < MAX_PHASES ? cfg->phase : 0;
    __u32 bucket = hist_bucket(now - send_ns);
    __u32 key = phase * HIST_BUCKETS + bucket;
    __u64 *count = latency_hist.lookup(&key);
    if (count)
        *count += 1;
    count_slot_latency(slot, bucket);
}

static __always_inline void count_slot(__u64 slot, __u32 len)
{
    __u32 index = slot % THROUGHPUT_SLOTS;
    struct slot_count *c = throughput.lookup(&index);
    if (!c)
        return;
    if (c->slot != slot) {
        c->slot = slot;
        c->packets = 0;
        c->bytes = 0;
    }
    c->packets += 1;
    c->bytes += len;
}

/* Turns the frame into its reply in place: Ethernet addresses, IPv4 addresses and L4 ports
 * swapped, everything else (payload, measurement header) kept. Swapping leaves the IPv4 and
 * TCP/UDP checksums valid: a one's complement sum does not depend on the order of its words.
 * Returns 0 (consume instead) only where the verifier's bounds would fail, which a parsed
 * packet never does. */
static __always_inline int reflect(void *data, void *data_end, const struct parsed *p)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end || p->vlan_tags > MAX_VLAN_DEPTH || p->l4_off > MEAS_MAX_OFFSET)
        return 0;
    struct iphdr *ip = data + sizeof(*eth) + p->vlan_tags * sizeof(struct vlan_tag);
    __be16 *ports = data + p->l4_off;
    if ((void *)(ip + 1) > data_end || (void *)(ports + 2) > data_end)
        return 0;
    __u8 mac[ETH_ALEN];
    __builtin_memcpy(mac, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
    __be32 addr = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = addr;
    __be16 port = ports[0];
    ports[0] = ports[1];
    ports[1] = port;
    return 1;
}

int xdp_sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct parsed p = {};
    __u32 zero = 0;

    if (admit(data, data_end, &p) != REASON_FORWARD)
        return XDP_DROP;
    struct meas_config *cfg = meas_config.lookup(&zero);
    if (!cfg)
        return drop(REASON_DROP_NOT_CONFIGURED);
    __u64 now = cfg->clock_ns ? cfg->clock_ns : bpf_ktime_get_ns();
    __u64 slot = slot_of(cfg, now);
    struct meas_hdr *h = meas_header(data, data_end, &p);
    count_flow(&p, h);
    if (h) {
        count_reason(NOTE_MEASURED);
        record_latency(cfg, now, slot, be64_to_host(h->send_ns));
    }
    count_slot(slot, p.pkt_len);
    if (cfg->reflect && reflect(data, data_end, &p)) {
        count_reason(REASON_FORWARD);
        return XDP_TX;
    }
    count_reason(REASON_CONSUMED);
    return XDP_DROP;
}
