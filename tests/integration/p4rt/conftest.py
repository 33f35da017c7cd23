from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from p4.v1 import p4runtime_pb2

from s6nf.agent.p4rt import MemoryBackend, RunningServer, serve
from tests.p4rt_client import Client

TEST_TIMEOUT = 20


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Bound every test here: a protocol step that never comes must fail, not hang."""
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


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
