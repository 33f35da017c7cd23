/* Table and counter sizes; override with -D at compile time (the eBPF loader uses the same names). */
#ifndef S6NF_SIZES_P4
#define S6NF_SIZES_P4

/* Buckets of the key space: a power of two, at most 2^16 (bucket_t). */
#ifndef BUCKETS
#define BUCKETS 4096
#endif

/* Flow pins: per-flow overrides of the key space. */
#ifndef MAX_PINS
#define MAX_PINS 1024
#endif

#endif
