"""The agent's header rewriting, held to scapy's checksums and to the one-shot rewrite."""

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from s6nf.nfs.frames import Rewriter, parse, rewrite

addrs = st.integers(1, 0xFFFFFFFE)
ports = st.integers(1, 65535)


def dotted(a: int) -> str:
    return ".".join(str(a >> s & 0xFF) for s in (24, 16, 8, 0))


def valid(frame: bytes) -> bool:
    pkt = Ether(frame)
    fresh = Ether(frame)
    del fresh[IP].chksum
    del fresh[IP].payload.chksum
    rebuilt = Ether(raw(fresh))
    if isinstance(pkt[IP].payload, UDP) and pkt[UDP].chksum == 0:
        return bool(rebuilt[IP].chksum == pkt[IP].chksum)
    return bool(rebuilt[IP].chksum == pkt[IP].chksum
                and rebuilt[IP].payload.chksum == pkt[IP].payload.chksum)


@settings(max_examples=200, deadline=None)
@given(src=addrs, dst=addrs, sport=ports, dport=ports, nsrc=addrs, ndst=addrs, nsport=ports,
       ndport=ports, tcp=st.booleans(), payload=st.binary(max_size=64), no_udp_sum=st.booleans())
def test_rewriter_keeps_checksums_valid_and_equals_rewrite(src, dst, sport, dport, nsrc, ndst,
                                                           nsport, ndport, tcp, payload,
                                                           no_udp_sum):
    l4 = TCP(sport=sport, dport=dport, flags="PA") if tcp else UDP(sport=sport, dport=dport)
    built = bytearray(raw(Ether() / IP(src=dotted(src), dst=dotted(dst)) / l4 / payload))
    if not tcp and no_udp_sum:
        built[14 + 20 + 6:14 + 20 + 8] = b"\0\0"
    frame = bytes(built)
    h = parse(frame)
    macs = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    out = Rewriter(h, nsrc, ndst, nsport, ndport, *macs).apply(frame, h)
    assert out == rewrite(frame, h, nsrc, ndst, nsport, ndport, *macs)
    got = Ether(out)
    assert (got[IP].src, got[IP].dst) == (dotted(nsrc), dotted(ndst))
    assert (got[IP].payload.sport, got[IP].payload.dport) == (nsport, ndport)
    assert bytes(got[IP].payload.payload) == payload
    assert valid(out)
    if not tcp and no_udp_sum:
        assert got[UDP].chksum == 0
