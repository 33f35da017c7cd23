from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.loader import Program, load
from s6nf.agent.maps import SteeringMaps
from s6nf.agent.p4rt import MemoryBackend, RunningServer, SteeringBackend, serve
from s6nf.agent.p4rt.ebpf_backend import EbpfBackend
from tests.p4rt_client import Client

TEST_TIMEOUT = 20


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Bound every test here: a protocol step that never comes must fail, not hang."""
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture(scope="module")
def steer_program() -> Iterator[Program]:
    prog = load("steer")
    yield prog
    prog.close()


@pytest.fixture(params=["memory", pytest.param("ebpf", marks=pytest.mark.root)])
def backend(request: pytest.FixtureRequest) -> Iterator[SteeringBackend]:
    """Each test runs against both targets: the in-memory one and the eBPF maps (emptied)."""
    if request.param == "memory":
        yield MemoryBackend()
        return
    prog = request.getfixturevalue("steer_program")
    with SteeringMaps.of(prog) as maps:
        maps.apply_key_space(dict.fromkeys(range(maps.buckets)))
        for key in maps.pins():
            maps.unpin(key)
        yield EbpfBackend(maps)


@pytest.fixture
def server(backend) -> Iterator[RunningServer]:
    with serve(backend, "127.0.0.1:0", device_id=1) as running:
        yield running


@pytest.fixture
def connect(server) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(role: str = "", device_id: int = 1) -> Client:
        client = Client(server.address, device_id=device_id, role=role)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def primary(connect):
    """A primary client that has set the pipeline."""
    client = connect()
    assert client.arbitrate((0, 1)).status.code == 0
    client.set_pipeline(p4runtime_pb2.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
    return client
