"""The DSO state channel with mutual TLS: two agents share an object; a client without a
valid agent certificate gets no frame delivered and no link made."""

import asyncio
import logging

import grpc
import pytest

from s6nf.agent.dso import AgentConfig, DsoAgent, MwMap, Schema
from s6nf.agent.dso.transport import METHOD_PATH, StateChannel
from s6nf.agent.dso.wire import Kind, encode_frame, encode_message
from s6nf.keyspace import KeySpace
from s6nf.tls.channels import channel_credentials
from tests.integration.tls.conftest import BAD_CLIENTS, TIMEOUT, aio_channel

pytestmark = pytest.mark.timeout(60)
HELLO = encode_frame([encode_message(Kind.HELLO, 0, 0, 0, 0, 0, b"", (1).to_bytes(4, "big"))])
CAST = encode_frame([encode_message(Kind.CAST, 1, 0, 0, 0, 0, b"k", b"x")])


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int) -> int:
        self.n += k
        return self.n


COUNTERS = MwMap(1, "tls.counters", Counter)
SCHEMA = Schema([COUNTERS])


class Recorder:
    """A FrameSink that keeps what arrives."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def on_frame(self, link, frame: bytes) -> None:
        self.frames.append(frame)

    def on_link_lost(self, link, error: str) -> None:
        pass


def test_two_agents_share_an_object_over_mutual_tls(pki):
    async def scenario():
        ks = KeySpace(1, (0, 1) * 2048)
        agents = [DsoAgent(AgentConfig(i, tls=pki.material(f"nf{i}")), SCHEMA, ks)
                  for i in (0, 1)]
        ports = [await a.start("127.0.0.1:0") for a in agents]
        for a in agents:
            a.set_addresses({i: f"127.0.0.1:{p}" for i, p in enumerate(ports)})
        key = next(k for k in (i.to_bytes(4, "big") for i in range(1000)) if ks.home(k) == 1)
        try:
            first = await agents[0].mw(COUNTERS).call(key, Counter.add, 2)
            second = await agents[0].mw(COUNTERS).call(key, Counter.add, 3)
            return first, second
        finally:
            for a in agents:
                await a.close()

    assert asyncio.run(scenario()) == (2, 5)


CORE_WRITE_ERROR = "Internal error from Core"
REFUSED_WHILE_WRITING = grpc.StatusCode.PERMISSION_DENIED
"""What the test reads a write failure that raced the server's refusal as; the server's log
line (checked too) shows the refusal itself."""


async def send_frames(address: str, credentials) -> grpc.StatusCode:
    """Open a stream, say HELLO as instance 1, send one frame; the call's status code."""
    channel = aio_channel(address, credentials)
    try:
        call = channel.stream_stream(METHOD_PATH)(timeout=TIMEOUT)
        try:
            await call.write(HELLO)
            await call.write(CAST)
            await call.done_writing()
            while await call.read() is not grpc.aio.EOF:
                pass
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.UNAVAILABLE:
                return exc.code()
        # A write that races the server's refusal can fail in the client's gRPC core, which
        # then reports that failure instead of the server's status.
        code: grpc.StatusCode = await call.code()
        if code is grpc.StatusCode.INTERNAL and await call.details() == CORE_WRITE_ERROR:
            return REFUSED_WHILE_WRITING
        return code
    finally:
        await channel.close()


async def served(pki, credentials):
    sink = Recorder()
    server = StateChannel(0, sink, tls=pki.material("nf0"))
    port = await server.start("127.0.0.1:0")
    try:
        code = await send_frames(f"127.0.0.1:{port}", credentials)
        await asyncio.sleep(0.2)
        return code, sink.frames
    finally:
        await server.close()


def test_a_peer_with_an_agent_certificate_is_heard(pki):
    code, frames = asyncio.run(served(pki, channel_credentials(pki.material("nf1"))))
    assert code == grpc.StatusCode.OK
    assert frames == [CAST]


@pytest.mark.parametrize("how", BAD_CLIENTS)
def test_a_peer_without_a_valid_certificate_is_not_heard(pki, how):
    code, frames = asyncio.run(served(pki, pki.bad_credentials(how, "nf1")))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert frames == []


def test_a_certificate_of_another_role_is_refused_and_logged(pki, caplog):
    caplog.set_level(logging.WARNING, logger="s6nf.tls.peers")
    code, frames = asyncio.run(served(pki, channel_credentials(pki.material("controller"))))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert frames == []
    assert "s6nf.dso.StateChannel refused" in caplog.text
