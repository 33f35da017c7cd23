"""Records: one definition gives the C struct, the ctypes mirror and the Python value."""

import ctypes as ct
import re
from pathlib import Path
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s6nf.agent import structs
from s6nf.agent.records import U8, U16, U32, U64, Record, byte_array

HEADER = (Path(__file__).parents[2] / "ebpf" / "include" / "structs.h").read_text()
RECORDS = [structs.FlowStatsRecord, structs.SinkFlowRecord, structs.NfConfigRecord,
           structs.NatEntryRecord, structs.PuntPendRecord, structs.IdsFlowRecord]
MIRRORS = {structs.FlowStatsRecord: structs.FlowStats, structs.SinkFlowRecord: structs.SinkFlow,
           structs.NfConfigRecord: structs.NfConfig,
           structs.NatEntryRecord: structs.NatEntry, structs.PuntPendRecord: structs.PuntPend,
           structs.IdsFlowRecord: structs.IdsFlow}


def header_struct(c_name: str) -> str:
    match = re.search(rf"^struct {c_name} \{{\n.*?^\}};", HEADER, re.S | re.M)
    assert match, f"struct {c_name} not in structs.h"
    return match.group(0)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.C_NAME)
def test_generated_c_is_the_struct_in_the_header(record):
    assert record.c_struct() == header_struct(record.C_NAME)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.C_NAME)
def test_ctypes_mirrors_have_the_record_layout(record):
    for mirror in (record.ctype(), MIRRORS[record]):
        assert ct.sizeof(mirror) == record.size()
        for spec in record.LAYOUT.fields:
            assert getattr(mirror, spec.name).offset == spec.offset


def values_of(record):
    fields: dict[str, st.SearchStrategy[object]] = {}
    for spec in record.LAYOUT.fields:
        if spec.kind.count > 1:
            fields[spec.name] = st.binary(min_size=spec.kind.count, max_size=spec.kind.count)
        else:
            fields[spec.name] = st.integers(0, (1 << (8 * spec.kind.size)) - 1)
    return st.builds(record, **fields)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.C_NAME)
@given(data=st.data())
def test_bytes_round_trip_and_agree_with_ctypes(record, data):
    value = data.draw(values_of(record))
    raw = value.to_bytes()
    assert len(raw) == record.size()
    assert record.from_bytes(raw) == value
    assert bytes(record.ctype().from_buffer_copy(raw)) == raw
    mirror = MIRRORS[record].from_buffer_copy(raw)
    for spec in record.LAYOUT.fields:
        got = getattr(mirror, spec.name)
        assert (bytes(got) if spec.kind.count > 1 else got) == getattr(value, spec.name)


def test_defaults_are_zero_and_values_are_mutable():
    stats = structs.FlowStatsRecord()
    assert stats.to_bytes() == bytes(48)
    stats.packets += 2
    assert structs.FlowStatsRecord.from_bytes(stats.to_bytes()).packets == 2


def test_all_field_kinds_lay_out_as_c_does():
    class Mixed(Record, c_name="mixed"):
        a: U8 = 0
        b: U8 = 0
        c: U16 = 0
        d: U32 = 0
        e: U64 = 0
        tag: Annotated[bytes, byte_array(8)] = bytes(8)

    assert Mixed.c_struct() == ("struct mixed {\n    __u8 a;\n    __u8 b;\n    __u16 c;\n"
                                "    __u32 d;\n    __u64 e;\n    __u8 tag[8];\n};")
    assert [f.offset for f in Mixed.LAYOUT.fields] == [0, 1, 2, 4, 8, 16]
    value = Mixed(1, 2, 3, 4, 5, b"abcdefgh")
    assert Mixed.from_bytes(value.to_bytes()) == value


def test_implicit_padding_is_refused():
    with pytest.raises(TypeError, match=r"offset 1 .* pad"):
        class Gap(Record, c_name="gap"):
            a: U8 = 0
            b: U32 = 0



def test_tail_padding_is_zero_bytes_as_in_c():
    class Tail(Record, c_name="tail"):
        a: U64 = 0
        b: U8 = 0

    assert Tail.size() == ct.sizeof(Tail.ctype()) == 16
    assert Tail(1, 2).to_bytes() == bytes([1]) + bytes(7) + bytes([2]) + bytes(7)


def test_bad_values_name_what_is_wrong():
    with pytest.raises(ValueError, match="48 bytes, got 3"):
        structs.FlowStatsRecord.from_bytes(b"abc")
    with pytest.raises(ValueError, match="smac must be 6 bytes, got 2"):
        structs.NfConfigRecord(smac=b"\x01\x02").to_bytes()
    with pytest.raises(ValueError, match="does not fit flow_stats"):
        structs.FlowStatsRecord(packets=-1).to_bytes()
    with pytest.raises(TypeError, match="one C type"):
        class Untyped(Record, c_name="untyped"):
            a: int = 0
