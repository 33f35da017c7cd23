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
    REASON_PUNTED = 13,          /* handed to the agent's slow path (it re-injects or drops) */
    REASON_DROP_PUNT_FULL = 14,  /* the punt ring had no room: the slow path's queue is full */
    REASON_DROP_PEND_FULL = 15,  /* a new flow found the pending map full (flood of new flows) */
    REASON_DROP_PUNT_TOO_BIG = 16, /* a frame longer than PUNT_MAX that needed the slow path */
    REASON_DROP_BY_NF = 17,      /* the NF's entry for the flow says drop (its policy) */
    REASON_DROP_WRONG_WAY = 18,  /* the flow's entry was made for the other direction */
    NOTE_FIRST = 32,
    NOTE_VLAN = 32,              /* carried VLAN tags */
    NOTE_IP_OPTIONS = 33,        /* IPv4 header with options */
    NOTE_FLOW_TABLE_FULL = 34,   /* a new flow found the flow table full (still forwarded) */
    NOTE_PINNED = 35,            /* steered by a flow_pin entry, not the key space */
    NOTE_MEASURED = 36,          /* carried the measurement header (sink); stamped (stamper) */
    NOTE_REORDERED = 37,         /* sequence number below the highest seen for its flow (sink) */
    NOTE_UNSTAMPED = 38,         /* measurement header with send time 0: no latency sample */
    NOTE_CLOCK_SKEW = 39,        /* send time after the sink's now: no latency sample */
    NOTE_READY = 40,             /* a flow's entry turned ready: its punted packets had all left */
    REASON_MAX = 48,
};

#endif
