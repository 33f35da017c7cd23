"""Hostile input: a generator of malformed frames and campaigns that run them through the
steering and NF programs and the NFs' slow paths (docs/hostile-input.md)."""
