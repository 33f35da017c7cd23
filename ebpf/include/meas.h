/* The measurement header (s6nf/measure/header.py): where it sits, how to find it. */
#ifndef S6NF_MEAS_H
#define S6NF_MEAS_H

#include "structs.h"

#define MEAS_MAGIC 0x53364D31
/* The furthest a header can start: Ethernet, two VLAN tags, IPv4 and TCP with options. */
#define MEAS_MAX_OFFSET 256

/* At the start of the L4 payload, every field in network order; send_ns is 0 until stamped. */
struct meas_hdr {
    __be32 magic;
    __be32 seq;
    __be64 send_ns;
};

static __always_inline __u64 be64_to_host(__u64 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

/* The header of a parsed packet, or NULL when it carries none. */
static __always_inline struct meas_hdr *meas_header(void *data, void *data_end,
                                                    const struct parsed *p)
{
    __u32 off = p->payload_off;
    if (off > MEAS_MAX_OFFSET)
        return NULL;
    struct meas_hdr *h = data + off;
    if ((void *)(h + 1) > data_end)
        return NULL;
    if (h->magic != bpf_htonl(MEAS_MAGIC))
        return NULL;
    return h;
}

#endif
