"""``python -m s6nf.agent.p4rt``: serve the steering pipeline over the in-memory backend.

A software target for tests and trials; ``s6nf p4 server`` serves a testbed's eBPF maps instead.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from s6nf.agent.p4rt.memory_backend import DEFAULT_MAX_PINS, MemoryBackend
from s6nf.agent.p4rt.pipeline import DEFAULT_P4INFO
from s6nf.agent.p4rt.runner import DEFAULT_ADDRESS, serve
from s6nf.keys import DEFAULT_BUCKETS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s6nf.agent.p4rt", description=__doc__)
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="host:port to listen on")
    parser.add_argument("--device-id", type=int, default=1)
    parser.add_argument("--p4info", type=Path, default=DEFAULT_P4INFO)
    parser.add_argument("--buckets", type=int, default=DEFAULT_BUCKETS)
    parser.add_argument("--max-pins", type=int, default=DEFAULT_MAX_PINS)
    parser.add_argument("--preloaded", action="store_true",
                        help="start with the pipeline set, as a running data plane would")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    backend = MemoryBackend(args.buckets, args.max_pins)
    server = serve(backend, args.address, args.device_id, p4info=args.p4info,
                   preloaded=args.preloaded)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"P4Runtime server for device {args.device_id} on {server.address}", flush=True)
    stop.wait()
    server.stop(grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
