"""s6nf: elastic scaling of stateful network functions (the S6 design, hybrid eBPF/P4 + Python)."""
