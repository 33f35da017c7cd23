import ctypes as ct
import re
from pathlib import Path

import pytest

from s6nf.agent import structs
from s6nf.keys import FlowKey

HEADER = (Path(__file__).parents[2] / "ebpf" / "include" / "structs.h").read_text()
MIRRORS = {
    "flow_key": structs.FlowKeyC,
    "fwd_target": structs.FwdTarget,
    "steer_config": structs.SteerConfig,
    "port_entry": structs.PortEntry,
    "counter": structs.Counter,
    "flow_stats": structs.FlowStats,
    "nf_config": structs.NfConfig,
    "sink_flow": structs.SinkFlow,
    "meas_config": structs.MeasConfig,
    "slot_count": structs.SlotCount,
    "slot_hist": structs.SlotHist,
}
C_SIZES = {"__u8": 1, "__u16": 2, "__u32": 4, "__u64": 8}


def c_fields(name: str) -> list[tuple[str, int]]:
    body = re.search(rf"struct {name} \{{(.*?)\}};", HEADER, re.S)
    assert body, name
    out = []
    for ctype, field, count in re.findall(r"(__u\d+)\s+(\w+)(?:\[(\d+)\])?;", body.group(1)):
        out.append((field, C_SIZES[ctype] * int(count or 1)))
    return out


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_mirror_has_the_c_fields_in_order_with_their_sizes(name):
    mirror = MIRRORS[name]
    py = [(f[0], ct.sizeof(f[1])) for f in mirror._fields_]
    assert py == c_fields(name)


def test_flow_key_round_trips_through_the_c_layout():
    key = FlowKey.of("10.2.0.1", "10.1.0.1", 80, 40000, 6)
    c = structs.FlowKeyC.from_flow(key)
    assert ct.sizeof(c) == 16 and c.canonical() == key.canonical()
    assert c.to_flow().canonical() == key.canonical()


def test_bad_macs_are_refused():
    with pytest.raises(ValueError, match="MAC"):
        structs.mac_bytes("02:00:00:00:00")
    with pytest.raises(ValueError, match="6 bytes"):
        structs.FwdTarget.of(1, b"\x00")


def test_nf_directions_are_the_nf_dir_constants_of_the_flows_maps():
    header = (Path(__file__).parents[2] / "ebpf" / "include" / "maps_flows.h").read_text()
    defined = {name: int(value) for name, value in
               re.findall(r"#define NF_DIR_(\w+) (\d+)", header)}
    assert defined == {d.name: d.value for d in structs.NfDirection}
    assert f"#define NF_DIRECTIONS {len(structs.NfDirection)}" in header
