"""The committed P4Info is the contract with controller/ and the P4Runtime server: it must
describe exactly what p4/steer.p4 declares."""

import re
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from p4.config.v1 import p4info_pb2

from tests.p4source import P4_DIR, read_p4info, read_source

P4INFO = P4_DIR / "steer.p4info.txtpb"
PREFIXES = {"tables": 0x02, "actions": 0x01, "counters": 0x12}


def load_p4info(path: Path = P4INFO) -> p4info_pb2.P4Info:
    return text_format.Parse(path.read_text(), p4info_pb2.P4Info())


def test_p4info_matches_source():
    source, info = read_source(), read_p4info(load_p4info())
    assert source.tables == info.tables
    assert source.actions == info.actions
    assert source.counters == info.counters


def test_source_reader_sees_the_whole_pipeline():
    source = read_source()
    assert set(source.tables) == {
        "SteerIngress.steering.key_space",
        "SteerIngress.steering.flow_pin",
    }
    assert source.tables["SteerIngress.steering.key_space"]["keys"] == [("bucket", 16, "EXACT")]
    assert source.actions["SteerIngress.steering.forward"] == [("port", 9), ("dmac", 48)]
    assert source.counters == {"SteerIngress.steering.bucket_counter": ("BOTH", 4096)}


def test_ids_are_unique_and_carry_their_prefix():
    info = load_p4info()
    seen: set[int] = set()
    for kind, prefix in PREFIXES.items():
        for entity in getattr(info, kind):
            assert entity.preamble.id >> 24 == prefix, entity.preamble.name
            assert entity.preamble.id not in seen
            seen.add(entity.preamble.id)
    for table in info.tables:
        assert [f.id for f in table.match_fields] == list(range(1, len(table.match_fields) + 1))
    for action in info.actions:
        assert [p.id for p in action.params] == list(range(1, len(action.params) + 1))


SOURCE_MUTATIONS = [
    ("include/defines.p4", "typedef bit<9>  port_t;", "typedef bit<10> port_t;"),
    ("include/sizes.p4", "#define MAX_PINS 1024", "#define MAX_PINS 2048"),
    ("include/control/steering.p4", '@name("bucket")', '@name("bkt")'),
    ("include/control/steering.p4", "default_action = drop();", "default_action = forward();"),
    ("include/control/steering.p4", "packets_and_bytes", "packets"),
    ("include/headers.p4", "ip_proto_t  proto;", "bit<16>     proto;"),
    ("steer.p4", "Steering() steering;", "Steering() steer;"),
]


@pytest.mark.parametrize(("path", "old", "new"), SOURCE_MUTATIONS)
def test_an_altered_source_is_detected(tmp_path, path, old, new):
    copy = tmp_path / "p4"
    shutil.copytree(P4_DIR, copy)
    target = copy / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    assert read_source(copy) != read_source(P4_DIR)
    assert read_source(copy) != read_p4info(load_p4info())


P4INFO_MUTATIONS = [
    ("bitwidth: 48", "bitwidth: 47"),
    ('name: "port_hi"', 'name: "port_high"'),
    ("size: 1024", "size: 1000"),
    ("match_type: EXACT", "match_type: LPM"),
    ("scope: DEFAULT_ONLY", "scope: TABLE_AND_DEFAULT"),
    ("unit: BOTH", "unit: PACKETS"),
]


@pytest.mark.parametrize(("old", "new"), P4INFO_MUTATIONS)
def test_an_altered_p4info_is_detected(tmp_path, old, new):
    text = P4INFO.read_text()
    assert old in text
    altered = tmp_path / "steer.p4info.txtpb"
    altered.write_text(re.sub(re.escape(old), new, text, count=1))
    assert read_p4info(load_p4info(altered)) != read_source()
