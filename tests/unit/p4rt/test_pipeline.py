import pytest
from p4.config.v1 import p4info_pb2

from s6nf.agent.p4rt.pipeline import Pipeline

PIPELINE = Pipeline.load()


def copy() -> p4info_pb2.P4Info:
    info = p4info_pb2.P4Info()
    info.CopyFrom(PIPELINE.p4info)
    return info


def test_ids_and_widths_come_from_the_p4info():
    assert PIPELINE.key_space.alias == "key_space"
    assert [(f.name, f.bitwidth) for f in PIPELINE.flow_pin.fields] == [
        ("addr_lo", 32), ("addr_hi", 32), ("port_lo", 16), ("port_hi", 16), ("proto", 8)]
    assert [(p.name, p.bitwidth) for p in PIPELINE.forward.params] == [("port", 9), ("dmac", 48)]
    assert PIPELINE.key_space.action_ids == {PIPELINE.forward.id, PIPELINE.drop.id}
    assert PIPELINE.bucket_counter.size == 4096


def test_its_own_p4info_has_no_differences_whatever_the_docs_say():
    info = copy()
    info.pkg_info.doc.brief = "another description"
    info.tables[0].preamble.annotations.append("@hidden")
    assert PIPELINE.differences(info) == []


def test_differences_name_what_changed():
    info = copy()
    info.tables[1].size = 8
    info.actions[2].preamble.id = 0x01000099
    problems = PIPELINE.differences(info)
    assert any("key_space' differs" in p and "8" in p for p in problems)
    assert any("drop' differs" in p for p in problems)


def test_a_p4info_without_the_steering_tables_cannot_be_served():
    info = copy()
    del info.tables[0]
    with pytest.raises(ValueError, match="flow_pin"):
        Pipeline(info)
