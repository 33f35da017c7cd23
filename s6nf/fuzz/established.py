"""The established flow a fuzz campaign keeps sending between hostile frames, and what each
program must make of its packets: built with scapy from the flow and the program's
configuration, never read back from the program's own output."""

from __future__ import annotations

from dataclasses import dataclass

from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

INSIDE, SERVER = "192.0.2.77", "198.51.100.200"
"""Far (in bits) from every fuzz seed's addresses, so no mutation lands on this flow."""
INSIDE_PORT, SERVER_PORT = 47001, 443
NAT_PUBLIC = "203.0.113.250"
STEER_MAC = bytes.fromhex("02ee00000001")


def packet(direction: int, flags: str, payload: bytes = b"", *, public_port: int = 0) -> bytes:
    """Direction 0: inside → server; 1: server → inside (to the NAT's public address and
    port when ``public_port`` is given)."""
    eth = Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb")
    if direction == 0:
        ip, tcp = IP(src=INSIDE, dst=SERVER), TCP(sport=INSIDE_PORT, dport=SERVER_PORT)
    elif public_port:
        ip, tcp = IP(src=SERVER, dst=NAT_PUBLIC), TCP(sport=SERVER_PORT, dport=public_port)
    else:
        ip, tcp = IP(src=SERVER, dst=INSIDE), TCP(sport=SERVER_PORT, dport=INSIDE_PORT)
    tcp.flags = flags
    return raw(eth / ip / tcp / payload)


def fresh_flow() -> bytes:
    """A new flow's first packet, unlike any fuzz seed and the established flow."""
    return raw(Ether() / IP(src="192.0.2.99", dst="198.51.100.99") / UDP(sport=999, dport=9)
               / b"alive?")


def with_macs(frame: bytes, smac: bytes, dmac: bytes) -> bytes:
    return dmac + smac + frame[12:]


def translated(frame: bytes, smac: bytes, dmac: bytes, *, src: tuple[str, int] | None = None,
               dst: tuple[str, int] | None = None) -> bytes:
    """``frame`` with its source or destination address and port rewritten and both
    checksums computed afresh, as a NAT must leave it."""
    pkt = Ether(frame)
    ip, tcp = pkt[IP], pkt[TCP]
    if src is not None:
        ip.src, tcp.sport = src
    if dst is not None:
        ip.dst, tcp.dport = dst
    del ip.chksum, tcp.chksum
    return with_macs(raw(pkt), smac, dmac)


@dataclass
class EstablishedCheck:
    """Packets of the established flow sent during a campaign and how many left as they
    must (forwarded, rewritten as the program's configuration says, byte for byte)."""

    sent: int = 0
    delivered: int = 0
    first_wrong: str = ""

    def record(self, action_ok: bool, got: bytes, want: bytes) -> None:
        self.sent += 1
        if action_ok and got == want:
            self.delivered += 1
        elif not self.first_wrong:
            self.first_wrong = (f"packet {self.sent}: "
                                + ("not forwarded" if not action_ok else
                                   f"left as {got.hex()}, expected {want.hex()}"))
