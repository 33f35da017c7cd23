#ifndef S6NF_MAPS_CRC_H
#define S6NF_MAPS_CRC_H

/* byte → CRC-32 table entry; the loader fills it once before attaching, nobody else writes. */
BPF_ARRAY(crc32_table, __u32, 256);

#endif
