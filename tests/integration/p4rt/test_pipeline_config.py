"""SetForwardingPipelineConfig accepts only the steering pipeline; Get and Capabilities."""

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt import Forward
from tests.p4rt_client import PIPELINE, Client, Update, ks_entry, update

Set = p4runtime_pb2.SetForwardingPipelineConfigRequest
Get = p4runtime_pb2.GetForwardingPipelineConfigRequest


@pytest.fixture
def client(connect):
    c = connect()
    assert c.arbitrate((0, 1)).status.code == 0
    return c


def get(client: Client, response_type: int = Get.ALL) -> Any:
    request = Get(device_id=1, response_type=response_type)
    return client.stub.GetForwardingPipelineConfig(request, timeout=5).config


def altered_p4info(change: Callable[[Any], object]) -> Any:
    p4info = type(PIPELINE.p4info)()
    p4info.CopyFrom(PIPELINE.p4info)
    change(p4info)
    return p4info


def test_commit_then_get_returns_p4info_and_cookie(client):
    assert get(client) == p4runtime_pb2.ForwardingPipelineConfig()
    client.set_pipeline(Set.VERIFY_AND_COMMIT, cookie=42, device_config=b"ebpf")
    config = get(client)
    assert config.p4info == PIPELINE.p4info
    assert (config.cookie.cookie, config.p4_device_config) == (42, b"ebpf")
    cookie_only = get(client, Get.COOKIE_ONLY)
    assert cookie_only.cookie.cookie == 42
    assert not cookie_only.HasField("p4info")
    assert get(client, Get.P4INFO_AND_COOKIE).p4_device_config == b""


def test_verify_alone_commits_nothing(client):
    client.set_pipeline(Set.VERIFY)
    with pytest.raises(grpc.RpcError) as failure:
        client.write(update(Update.INSERT, ks_entry(1)))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(("change", "words"), [
    (lambda p: setattr(p.actions[1].params[0], "bitwidth", 10), "forward' differs"),
    (lambda p: p.tables.add(), "'' is not part"),
    (lambda p: p.ClearField("counters"), "bucket_counter' is missing"),
    (lambda p: p.registers.add(), "registers"),
    (lambda p: p.Clear(), "is missing"),
])
def test_another_p4info_is_refused_with_the_reason(client, change, words):
    with pytest.raises(grpc.RpcError) as failure:
        client.set_pipeline(Set.VERIFY_AND_COMMIT, p4info=altered_p4info(change))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "steer.p4info.txtpb" in failure.value.details()
    assert words in failure.value.details()
    assert get(client) == p4runtime_pb2.ForwardingPipelineConfig()


def test_verify_and_commit_clears_state_and_reconcile_keeps_it(client, backend):
    client.set_pipeline(Set.VERIFY_AND_COMMIT)
    client.write(update(Update.INSERT, ks_entry(1, port=3)))
    client.set_pipeline(Set.RECONCILE_AND_COMMIT, cookie=2)
    assert backend.read_key_space() == {1: Forward(3, b"\x02\0\0\0\0\x01")}
    client.set_pipeline(Set.VERIFY_AND_COMMIT, cookie=3)
    assert backend.read_key_space() == {}


def test_verify_and_save_then_commit(client):
    with pytest.raises(grpc.RpcError) as failure:
        client.set_pipeline(Set.COMMIT)
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    client.set_pipeline(Set.VERIFY_AND_SAVE, cookie=7)
    assert get(client) == p4runtime_pb2.ForwardingPipelineConfig()
    client.set_pipeline(Set.COMMIT)
    assert get(client).cookie.cookie == 7
    client.write(update(Update.INSERT, ks_entry(1)))


def test_only_the_primary_sets_the_pipeline(connect, client):
    backup = connect()
    backup.arbitrate((0, 0))
    with pytest.raises(grpc.RpcError) as failure:
        backup.set_pipeline(Set.VERIFY_AND_COMMIT)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_unspecified_action_is_invalid(client):
    with pytest.raises(grpc.RpcError) as failure:
        client.set_pipeline(Set.UNSPECIFIED)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_capabilities_report_the_api_version(client):
    reply = client.stub.Capabilities(p4runtime_pb2.CapabilitiesRequest(), timeout=5)
    assert reply.p4runtime_api_version.startswith("1.")
