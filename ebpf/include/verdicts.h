/* The one reason enum of every s6nf program, mirrored in s6nf/agent/verdicts.py (a test holds
 * the two together). Every packet a program sees is counted under exactly one verdict reason
 * (values below NOTE_FIRST); NOTE_* entries count properties of packets that were handled
 * normally and do not add to the per-packet total. */
#ifndef S6NF_VERDICTS_H
#define S6NF_VERDICTS_H

enum s6_reason {
    REASON_FORWARD = 0,          /* steered / processed and sent on */
    REASON_CONSUMED = 1,         /* reached its destination (the sink) */
    REASON_DROP_NOT_IPV4 = 2,    /* ethertype other than IPv4 after VLAN tags */
    REASON_DROP_TRUNC_ETH = 3,   /* shorter than an Ethernet header or a VLAN tag */
    REASON_DROP_TRUNC_IP = 4,    /* shorter than the IPv4 header its IHL announces */
    REASON_DROP_BAD_IP = 5,      /* version != 4, IHL < 5, or total length too small */
    REASON_DROP_FRAGMENT = 6,    /* IPv4 fragment (MF set or offset != 0) */
    REASON_DROP_TRUNC_L4 = 7,    /* shorter than the TCP/UDP header */
    REASON_DROP_UNSUPPORTED_L4 = 8, /* IPv4 protocol other than TCP and UDP */
    REASON_DROP_NO_ROUTE = 9,    /* the key space names no port for the bucket */
    REASON_DROP_VLAN_DEPTH = 10, /* more VLAN tags than MAX_VLAN_DEPTH */
    REASON_DROP_NOT_CONFIGURED = 11, /* the program's config map was never written */
    REASON_DROP_BY_ENTRY = 12,   /* a steering entry's action is drop */
    NOTE_FIRST = 16,
    NOTE_VLAN = 16,              /* carried VLAN tags */
    NOTE_IP_OPTIONS = 17,        /* IPv4 header with options */
    NOTE_FLOW_TABLE_FULL = 18,   /* a new flow found the flow table full (still forwarded) */
    NOTE_PINNED = 19,            /* steered by a flow_pin entry, not the key space */
    NOTE_MEASURED = 20,          /* carried the measurement header (sink); stamped (stamper) */
    NOTE_REORDERED = 21,         /* sequence number below the highest seen for its flow (sink) */
    NOTE_UNSTAMPED = 22,         /* measurement header with send time 0: no latency sample */
    NOTE_CLOCK_SKEW = 23,        /* send time after the sink's now: no latency sample */
    REASON_MAX = 24,
};

#endif
