"""The controller's state on disk: written atomically after every change that matters."""

from __future__ import annotations

import json
import os
from pathlib import Path

from s6nf.controller.model import ControllerState, Member
from s6nf.keyspace import KeySpace

FORMAT = 1


def save(state: ControllerState, path: Path) -> None:
    """Write to a temporary file, fsync, then rename over ``path``: a crash leaves the old or
    the new state, never a torn one."""
    data = {
        "format": FORMAT,
        "key_space": None if state.key_space is None else {
            "epoch": state.key_space.epoch, "owners": list(state.key_space.owners)},
        "members": [m.to_json() for m in state.members.values()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path, now: float) -> ControllerState:
    """The saved state (members count as just seen), or an empty one if there is no file."""
    if not path.exists():
        return ControllerState()
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        ks = data["key_space"]
        key_space = None if ks is None else KeySpace(int(ks["epoch"]), tuple(ks["owners"]))
        members = {m.instance: m for m in (Member.from_json(d, now) for d in data["members"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"controller state {path} is unreadable ({exc}); move it away to "
                         "start from nothing, or restore a good copy") from exc
    return ControllerState(key_space, members)
