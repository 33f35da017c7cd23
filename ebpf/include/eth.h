#ifndef S6NF_ETH_H
#define S6NF_ETH_H

#include <uapi/linux/if_ether.h>

static __always_inline void set_macs(void *data, const __u8 *smac, const __u8 *dmac)
{
    struct ethhdr *eth = data;
    if (smac)
        __builtin_memcpy(eth->h_source, smac, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
}

#endif
