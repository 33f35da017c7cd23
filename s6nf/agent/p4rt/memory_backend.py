"""A steering backend in process memory: the test double, and a software target."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from s6nf.agent.p4rt.backend import BackendError, Drop, PacketsBytes, Verdict
from s6nf.keys import DEFAULT_BUCKETS, FlowKey, bucket_of_bytes, check_buckets

DEFAULT_MAX_PINS = 1024


class MemoryBackend:
    """``SteeringBackend`` over dicts, thread-safe; ``steer`` runs the pipeline's tables."""

    def __init__(self, buckets: int = DEFAULT_BUCKETS, max_pins: int = DEFAULT_MAX_PINS) -> None:
        self._buckets = check_buckets(buckets)
        if max_pins < 0:
            raise ValueError(f"max_pins must be >= 0, got {max_pins}")
        self._max_pins = max_pins
        self._lock = threading.Lock()
        self._key_space: dict[int, Verdict] = {}
        self._pins: dict[bytes, Verdict] = {}
        self._counters = [(0, 0)] * buckets

    @property
    def buckets(self) -> int:
        return self._buckets

    @property
    def max_pins(self) -> int:
        return self._max_pins

    def read_key_space(self) -> dict[int, Verdict]:
        with self._lock:
            return dict(self._key_space)

    def apply_key_space(self, updates: Mapping[int, Verdict | None]) -> None:
        for bucket in updates:
            if not 0 <= bucket < self._buckets:
                raise BackendError(f"bucket {bucket} out of range [0, {self._buckets})")
        with self._lock:
            for bucket, verdict in updates.items():
                if verdict is None:
                    self._key_space.pop(bucket, None)
                else:
                    self._key_space[bucket] = verdict

    def read_flow_pins(self) -> dict[bytes, Verdict]:
        with self._lock:
            return dict(self._pins)

    def insert_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        with self._lock:
            if key in self._pins:
                raise BackendError(f"flow pin {key.hex()} already exists")
            if len(self._pins) >= self._max_pins:
                raise BackendError(f"flow_pin is full ({self._max_pins} entries)")
            self._pins[key] = verdict

    def modify_flow_pin(self, key: bytes, verdict: Verdict) -> None:
        with self._lock:
            if key not in self._pins:
                raise BackendError(f"no flow pin {key.hex()} to modify")
            self._pins[key] = verdict

    def delete_flow_pin(self, key: bytes) -> None:
        with self._lock:
            if self._pins.pop(key, None) is None:
                raise BackendError(f"no flow pin {key.hex()} to delete")

    def read_bucket_counters(self, indices: Iterable[int] | None = None) -> dict[int, PacketsBytes]:
        with self._lock:
            if indices is None:
                return dict(enumerate(self._counters))
            return {i: self._counters[i] for i in indices}

    def steer(self, key: FlowKey, length: int) -> Verdict:
        """What the pipeline does with an admitted packet of ``length`` bytes of flow ``key``.

        Counts the packet in its bucket, then applies ``flow_pin`` and ``key_space`` as
        ``p4/steer.p4`` does; a miss in both drops.
        """
        canonical = key.canonical()
        bucket = bucket_of_bytes(canonical, self._buckets)
        with self._lock:
            packets, nbytes = self._counters[bucket]
            self._counters[bucket] = (packets + 1, nbytes + length)
            pinned = self._pins.get(canonical)
            if pinned is not None:
                return pinned
            return self._key_space.get(bucket, Drop())
