"""The distributed shared object space (DSO) runtime of an s6nf agent (DESIGN.md §2-§6)."""

from s6nf.agent.dso.agent import DsoAgent
from s6nf.agent.dso.config import AgentConfig, EpochStatus, Mode, Prepare, Replicas, Switch
from s6nf.agent.dso.errors import (
    CallTimeout,
    DsoError,
    Overflow,
    PeerLost,
    RemoteError,
    UnknownMap,
)
from s6nf.agent.dso.keys import BytesKey, FlowKey, IpKey, Key
from s6nf.agent.dso.maps import MwMap, Replication, Schema, SwMap, stale, strict, untether
from s6nf.agent.dso.storage import Codec, ObjectCodec, PyStorage, Storage, StructCodec

__all__ = [
    "AgentConfig",
    "BytesKey",
    "CallTimeout",
    "Codec",
    "DsoAgent",
    "DsoError",
    "EpochStatus",
    "FlowKey",
    "IpKey",
    "Key",
    "Mode",
    "MwMap",
    "ObjectCodec",
    "Overflow",
    "PeerLost",
    "Prepare",
    "PyStorage",
    "RemoteError",
    "Replicas",
    "Replication",
    "Schema",
    "Storage",
    "StructCodec",
    "SwMap",
    "Switch",
    "UnknownMap",
    "stale",
    "strict",
    "untether",
]
