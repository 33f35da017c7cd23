/* Incremental Internet checksum updates (RFC 1624: HC' = ~(~HC + ~m + m')). One's-complement
 * sums do not depend on byte order, so fields are added as they lie in the packet. */
#ifndef S6NF_CSUM_H
#define S6NF_CSUM_H

static __always_inline __u16 csum_fold(__u32 sum)
{
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return (__u16)sum;
}

static __always_inline void csum_replace4(__u16 *csum, __u32 from, __u32 to)
{
    __u32 sum = (__u16)~*csum;
    __u32 nfrom = ~from;
    sum += (nfrom & 0xFFFF) + (nfrom >> 16) + (to & 0xFFFF) + (to >> 16);
    *csum = (__u16)~csum_fold(sum);
}

static __always_inline void csum_replace2(__u16 *csum, __u16 from, __u16 to)
{
    __u32 sum = (__u16)~*csum;
    sum += (__u16)~from + (__u32)to;
    *csum = (__u16)~csum_fold(sum);
}

#endif
