"""Writes flow_hash.json: shared CRC-32 test vectors for Python, eBPF and P4.

Computed here with struct and zlib alone, independently of s6nf.keys, so the vectors can
catch a drift in any implementation. Run: python tests/vectors/generate.py
"""

import ipaddress
import json
import random
import struct
import zlib
from pathlib import Path

FIXED = [
    ("10.1.0.1", "10.2.0.1", 40000, 80, 6),
    ("10.2.0.1", "10.1.0.1", 80, 40000, 6),
    ("192.168.1.1", "8.8.8.8", 5353, 53, 17),
    ("10.0.0.1", "10.0.0.1", 9000, 53, 17),
    ("0.0.0.0", "255.255.255.255", 0, 65535, 6),
    ("255.255.255.255", "0.0.0.0", 65535, 0, 17),
]


def canonical(src: str, dst: str, sport: int, dport: int, proto: int) -> bytes:
    a = (int(ipaddress.IPv4Address(src)), sport)
    b = (int(ipaddress.IPv4Address(dst)), dport)
    lo, hi = sorted([a, b])
    return struct.pack("!IIHHB", lo[0], hi[0], lo[1], hi[1], proto)


def main() -> None:
    rng = random.Random(6)
    tuples = list(FIXED)
    for _ in range(250):
        tuples.append((str(ipaddress.IPv4Address(rng.getrandbits(32))),
                       str(ipaddress.IPv4Address(rng.getrandbits(32))),
                       rng.getrandbits(16), rng.getrandbits(16), rng.choice([6, 17])))
    vectors = []
    for src, dst, sport, dport, proto in tuples:
        key = canonical(src, dst, sport, dport, proto)
        crc = zlib.crc32(key)
        vectors.append({"src": src, "dst": dst, "sport": sport, "dport": dport, "proto": proto,
                        "canonical": key.hex(), "crc32": crc, "bucket_4096": crc & 4095})
    out = Path(__file__).with_name("flow_hash.json")
    out.write_text(json.dumps({"buckets": 4096, "vectors": vectors}, indent=1) + "\n")


if __name__ == "__main__":
    main()
