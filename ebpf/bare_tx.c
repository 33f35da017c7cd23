/* Benchmark reference, not deployed: the cost of running any XDP program at all. */
int xdp_bare_tx(struct xdp_md *ctx)
{
    return XDP_TX;
}
