import re
from pathlib import Path

import pytest

from s6nf.measure.header import HEADER_LEN, MAGIC, SEND_NS_OFFSET, MeasHeader


def test_the_header_round_trips_in_network_order():
    raw = MeasHeader(seq=0x01020304, send_ns=0x1122334455667788).pack()
    assert len(raw) == HEADER_LEN == 16
    assert raw[:4] == MAGIC.to_bytes(4, "big") == b"S6M1"
    assert raw[4:8] == bytes([1, 2, 3, 4])
    assert raw[SEND_NS_OFFSET:] == bytes.fromhex("1122334455667788")
    assert MeasHeader.unpack(raw + b"rest") == MeasHeader(0x01020304, 0x1122334455667788)


@pytest.mark.parametrize("payload", [b"", MeasHeader(1).pack()[:15], b"S6M2" + bytes(12)])
def test_payloads_without_a_header_give_none(payload):
    assert MeasHeader.unpack(payload) is None


def test_the_c_header_agrees():
    text = (Path(__file__).parents[2] / "ebpf" / "include" / "meas.h").read_text()
    magic = re.search(r"#define MEAS_MAGIC (0x[0-9A-Fa-f]+)", text)
    assert magic and int(magic.group(1), 16) == MAGIC
    body = re.search(r"struct meas_hdr \{(.*?)\};", text, re.S)
    assert body
    fields = re.findall(r"__be(\d+)\s+(\w+);", body.group(1))
    assert [(name, int(bits) // 8) for bits, name in fields] == [
        ("magic", 4), ("seq", 4), ("send_ns", 8)]
