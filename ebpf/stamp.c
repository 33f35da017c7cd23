/* The traffic source's stamper (TC egress on gen): parse → find the measurement header →
 * write the send time → patch the L4 checksum → pass every packet on.
 *
 * Only packets carrying the header's magic change. The send time is written in place (the
 * verifier unclones a cloned skb first) and the checksum patched incrementally with
 * bpf_l4_csum_replace, given the one's complement difference of the 8 bytes, so it stays valid
 * on the wire — and is left alone where the stack will still compute it (CHECKSUM_PARTIAL).
 * A UDP checksum of 0 (none) stays 0. Every packet counts as FORWARD, a stamped one also as
 * NOTE_MEASURED. */
#include <uapi/linux/pkt_cls.h>

#define PARSE_OFFSETS
#include "include/consts.h"
#include "include/maps_stats.h"
#include "include/meas.h"
#include "include/parsing.h"

#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define MEAS_PULL_LEN (MEAS_MAX_OFFSET + sizeof(struct meas_hdr))

static __always_inline __u64 host_to_be64(__u64 v)
{
    return be64_to_host(v);
}

/* What bpf_csum_diff(&old, 8, &new, 8, 0) returns, up to one's complement equivalence:
 * the 32-bit end-around-carry sum of new's words and old's complemented words. */
static __always_inline __u32 csum_diff8(__u64 old, __u64 new)
{
    __u64 sum = (__u64)(__u32)~old + (__u32)~(old >> 32) + (__u32)new + (__u32)(new >> 32);
    sum = (sum & 0xFFFFFFFF) + (sum >> 32);
    sum = (sum & 0xFFFFFFFF) + (sum >> 32);
    return sum;
}

/* Makes the bytes a header could occupy direct-readable when the skb is not linear. */
static __always_inline void pull_headers(struct __sk_buff *skb)
{
    __u32 linear = skb->data_end - skb->data;
    if (linear < skb->len && linear < MEAS_PULL_LEN)
        bpf_skb_pull_data(skb, skb->len < MEAS_PULL_LEN ? skb->len : MEAS_PULL_LEN);
}

static __always_inline void stamp(struct __sk_buff *skb, const struct parsed *p,
                                  struct meas_hdr *h)
{
    __u64 old = h->send_ns;
    __u64 now = host_to_be64(bpf_ktime_get_ns());
    __u32 csum_off = p->l4_off + (p->key.proto == IPPROTO_TCP_ ? TCP_CSUM_OFF : UDP_CSUM_OFF);
    __u64 flags = p->key.proto == IPPROTO_UDP_ ? BPF_F_MARK_MANGLED_0 : 0;

    h->send_ns = now;
    bpf_l4_csum_replace(skb, csum_off, 0, csum_diff8(old, now), flags);
    count_reason(NOTE_MEASURED);
}

int tc_stamp(struct __sk_buff *skb)
{
    pull_headers(skb);
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct parsed p = {};

    count_reason(REASON_FORWARD);
    if (parse_packet(data, data_end, &p) != REASON_FORWARD)
        return TC_ACT_OK;
    struct meas_hdr *h = meas_header(data, data_end, &p);
    if (h)
        stamp(skb, &p, h);
    return TC_ACT_OK;
}
