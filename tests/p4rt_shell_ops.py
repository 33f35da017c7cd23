"""p4runtime-shell operations on a running target, as a program: the testbed's tests run it in
the controller host's namespace so the shell reaches the target over the management network.

    python -m tests.p4rt_shell_ops ADDRESS '{"op": "read"}'
    python -m tests.p4rt_shell_ops ADDRESS '{"op": "steer", "bucket": B, "port": P, "dmac": M,
                                             "pin": {...}}'
    python -m tests.p4rt_shell_ops ADDRESS '{"op": "unpin", "pin": {...}}'

Prints one JSON object: ``read`` the key_space's ports by bucket and the flow_pin entries,
``steer`` the flow_pin entries after it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import p4runtime_sh.shell as sh

PIN_FIELDS = ("addr_lo", "addr_hi", "port_lo", "port_hi", "proto")


def _pin(spec: dict[str, Any], action: str = "forward") -> Any:
    pin = sh.TableEntry("flow_pin")(action=action)
    for name in PIN_FIELDS:
        pin.match[name] = str(spec[name])
    return pin


def run(op: dict[str, Any]) -> dict[str, Any]:
    if op["op"] == "read":
        ports = {int.from_bytes(e.match["bucket"].exact.value, "big"):
                 int.from_bytes(e.action["port"].value, "big")
                 for e in sh.TableEntry("key_space").read()}
        return {"key_space": ports, "pins": len(list(sh.TableEntry("flow_pin").read()))}
    if op["op"] == "steer":
        entry = sh.TableEntry("key_space")(action="forward")
        entry.match["bucket"] = str(op["bucket"])
        entry.action["port"] = str(op["port"])
        entry.action["dmac"] = op["dmac"]
        entry.modify()
        pin = _pin(op["pin"])
        pin.action["port"] = str(op["pin"]["port"])
        pin.action["dmac"] = op["pin"]["dmac"]
        pin.insert()
        return {"pins": len(list(sh.TableEntry("flow_pin").read()))}
    if op["op"] == "unpin":
        _pin(op["pin"]).delete()
        return {"pins": len(list(sh.TableEntry("flow_pin").read()))}
    raise SystemExit(f"unknown op {op['op']!r}; one of read, steer, unpin")


def main(argv: list[str]) -> int:
    address, op = argv
    sh.setup(device_id=1, grpc_addr=address, election_id=(0, 1), verbose=False)
    try:
        print(json.dumps(run(json.loads(op))))
    finally:
        sh.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
