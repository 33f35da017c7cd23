"""P4Runtime server for the steering pipeline of ``p4/steer.p4`` over a ``SteeringBackend``.

``serve(backend, address, device_id)`` starts it; ``python -m s6nf.agent.p4rt`` runs it over
the in-memory backend. See docs/p4runtime.md for what it implements.
"""

from s6nf.agent.p4rt.backend import BackendError, Drop, Forward, SteeringBackend, Verdict
from s6nf.agent.p4rt.memory_backend import MemoryBackend
from s6nf.agent.p4rt.runner import RunningServer, serve

__all__ = [
    "BackendError",
    "Drop",
    "Forward",
    "MemoryBackend",
    "RunningServer",
    "SteeringBackend",
    "Verdict",
    "serve",
]
