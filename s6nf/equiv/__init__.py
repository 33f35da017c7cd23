"""The output-equivalence checker (DESIGN.md §8, docs/equivalence.md): N instances under a
scale schedule must emit, per flow, what one instance that never scales emits, and end with
the same NF state."""
