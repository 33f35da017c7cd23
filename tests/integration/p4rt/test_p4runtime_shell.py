"""p4runtime-shell, the tool people will inspect either target with, against the server."""

import ipaddress

import p4runtime_sh.shell as sh
import pytest
from p4runtime_sh.p4runtime import P4RuntimeWriteException

from s6nf.agent.p4rt import Drop, Forward, MemoryBackend
from s6nf.agent.p4rt.pipeline import DEFAULT_P4INFO
from s6nf.keys import FlowKey


@pytest.fixture
def backend() -> MemoryBackend:
    """The in-memory target: these tests use its model of the data plane (``steer``)."""
    return MemoryBackend()

FLOW = FlowKey.of("10.0.0.9", "10.0.0.1", 4000, 80, 6)


@pytest.fixture
def shell(server, tmp_path):
    device_config = tmp_path / "steer.bin"
    device_config.write_bytes(b"")
    sh.setup(device_id=1, grpc_addr=server.address, election_id=(0, 1),
             config=sh.FwdPipeConfig(str(DEFAULT_P4INFO), str(device_config)), verbose=False)
    try:
        yield sh
    finally:
        sh.teardown()


def test_shell_writes_and_reads_key_space(shell, backend):
    entry = shell.TableEntry("key_space")(action="forward")
    entry.match["bucket"] = "5"
    entry.action["port"] = "3"
    entry.action["dmac"] = "02:00:00:00:00:07"
    entry.insert()
    assert backend.read_key_space() == {5: Forward(3, bytes.fromhex("020000000007"))}
    [read] = list(shell.TableEntry("key_space").read())
    assert read.match["bucket"].exact.value == b"\x05"
    assert read.action["port"].value == b"\x03"
    entry.action["port"] = "4"
    entry.modify()
    assert backend.read_key_space()[5].port == 4
    entry.delete()
    assert backend.read_key_space() == {}


def test_shell_writes_and_reads_flow_pin(shell, backend):
    entry = shell.TableEntry("flow_pin")(action="drop")
    entry.match["addr_lo"] = str(ipaddress.IPv4Address(FLOW.dst))
    entry.match["addr_hi"] = str(ipaddress.IPv4Address(FLOW.src))
    entry.match["port_lo"] = str(FLOW.dport)
    entry.match["port_hi"] = str(FLOW.sport)
    entry.match["proto"] = "6"
    entry.insert()
    assert backend.read_flow_pins() == {FLOW.canonical(): Drop()}
    [read] = list(shell.TableEntry("flow_pin").read())
    assert read.match["proto"].exact.value == b"\x06"
    with pytest.raises(P4RuntimeWriteException, match="ALREADY_EXISTS"):
        entry.insert()


def test_shell_reads_bucket_counter(shell, backend):
    backend.steer(FLOW, 64)
    counter = shell.CounterEntry("bucket_counter")
    counter.index = FLOW.bucket()
    [cell] = list(counter.read())
    assert (cell.packet_count, cell.byte_count) == (1, 64)
