"""Errors a DSO caller can see; each message names the map, key or peer concerned."""

from __future__ import annotations


class DsoError(Exception):
    """Base of every error the DSO runtime raises to NF code."""


class UnknownMap(DsoError):
    """A map id that this agent's schema does not declare."""


class PeerLost(DsoError):
    """The peer holding or homing a key disconnected or could not be reached."""


class CallTimeout(DsoError):
    """A remote request got no answer within the runtime's call timeout."""


class RemoteError(DsoError):
    """The remote agent answered with an error status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class Overflow(DsoError):
    """A bounded queue was full and the newest work item was refused."""


class Moved(DsoError):
    """The object is on its way to another instance (its home moved); ask ``dest`` instead."""

    def __init__(self, dest: int, text: str) -> None:
        super().__init__(text)
        self.dest = dest


class StorageFull(DsoError):
    """A map's local storage (an eBPF map's ``max_entries``) had no room for an object."""
