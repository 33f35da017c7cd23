"""The state channel's transport: one bidirectional gRPC stream per peer, batched frames.

No protoc step: the stream's messages are raw bytes (``wire`` frames). A client opens a stream
on demand and says HELLO with its instance id; either side then sends requests and replies
on any stream it has to the peer. Sends never block: messages are appended to the link's
buffer and a writer task packs them into frames. Urgent messages (requests that someone
waits for) are flushed at the end of the current loop iteration; one-way ones on size or on
a short timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import grpc

from s6nf.agent.dso.errors import Overflow, PeerLost
from s6nf.agent.dso.wire import Kind, MalformedFrame, decode_frame, encode_frame, encode_message
from s6nf.tls import Material, add_port, aio_channel, aio_server
from s6nf.tls.peers import STATE_CHANNEL

log = logging.getLogger(__name__)

METHOD_PATH = "/s6nf.dso.StateChannel/Stream"
_GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
]
MAX_FRAME_BYTES = 1 << 20
_U32 = struct.Struct("!I")


class FrameSink(Protocol):
    def on_frame(self, link: Link, frame: bytes) -> None: ...

    def on_link_lost(self, link: Link, error: str) -> None: ...


class Link:
    """One stream to one peer; ``peer`` is None on a server stream until its HELLO."""

    def __init__(
        self,
        peer: int | None,
        write: Callable[[bytes], Awaitable[None]],
        flush_interval_s: float,
        max_batch: int,
        max_buffered: int,
        first_frame: bytes | None = None,
        on_failure: Callable[[Link, str], None] | None = None,
    ) -> None:
        self.peer = peer
        self._first_frame = first_frame
        self._on_failure = on_failure
        self._write = write
        self._flush_interval_s = flush_interval_s
        self._max_batch = max_batch
        self._max_buffered = max_buffered
        self._buf: list[bytes] = []
        self._ready = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self.closed: str | None = None
        self.frames_sent = 0
        self.overflows = 0
        """Sends refused because ``max_buffered`` messages were waiting (drop-newest)."""
        self.batched = 0
        """One-way messages sent (those not urgent), counted from the link's start."""
        self.synced = 0
        """``batched`` as it was when the last SYNC the peer answered was sent: those
        messages have been handled at the peer (``sync.py``)."""
        loop = asyncio.get_running_loop()
        self.writer = loop.create_task(self._run_writer(), name=f"link-w{peer}")

    def send(self, message: bytes, urgent: bool = True) -> None:
        if self.closed is not None:
            raise PeerLost(f"link to instance {self.peer} is closed: {self.closed}")
        if len(self._buf) >= self._max_buffered:
            self.overflows += 1
            raise Overflow(f"link to instance {self.peer}: {len(self._buf)} messages buffered")
        self._buf.append(message)
        if not urgent:
            self.batched += 1
        if urgent or len(self._buf) >= self._max_batch:
            self._ready.set()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self._flush_interval_s, self._ready.set
            )

    async def _run_writer(self) -> None:
        try:
            if self._first_frame is not None:
                await self._write(self._first_frame)
            while True:
                await self._ready.wait()
                self._ready.clear()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                while self._buf:
                    batch, size = 0, 0
                    for msg in self._buf:
                        size += len(msg)
                        batch += 1
                        if batch >= self._max_batch or size >= MAX_FRAME_BYTES:
                            break
                    frame = encode_frame(self._buf[:batch])
                    del self._buf[:batch]
                    await self._write(frame)
                    self.frames_sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.closed = self.closed or f"write failed: {exc!r}"
            if self._on_failure is not None:
                self._on_failure(self, self.closed)

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
        if self._timer is not None:
            self._timer.cancel()
        self.writer.cancel()


class StateChannel:
    """The gRPC server of one agent and its on-demand streams to peers; with ``tls``, both
    use mutual TLS and only agents' certificates are admitted."""

    def __init__(
        self,
        me: int,
        sink: FrameSink,
        flush_interval_s: float = 0.0005,
        max_batch: int = 4096,
        max_buffered: int = 1 << 20,
        tls: Material | None = None,
    ) -> None:
        self.me = me
        self.tls = tls
        self.sink = sink
        self.addresses: dict[int, str] = {}
        self.links: dict[int, Link] = {}
        self._link_args = (flush_interval_s, max_batch, max_buffered)
        self._server: Any = None
        self._channels: dict[int, Any] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.aborted = False
        """Set by ``abort``: nothing received is handed on, nothing is sent any more."""

    async def start(self, bind: str) -> int:
        """Serve on ``bind`` ("host:port", port 0 picks one); returns the bound port."""
        handler = grpc.method_handlers_generic_handler(
            "s6nf.dso.StateChannel",
            {"Stream": grpc.stream_stream_rpc_method_handler(self._serve)},
        )
        self._server = aio_server(self.tls, "s6nf.dso.StateChannel", STATE_CHANNEL,
                                  _GRPC_OPTIONS)
        self._server.add_generic_rpc_handlers((handler,))
        port = add_port(self._server, bind, self.tls)
        if port == 0:
            raise OSError(f"could not bind the state channel to {bind!r}")
        await self._server.start()
        return port

    def set_addresses(self, addresses: Mapping[int, str]) -> None:
        """Learn peers' addresses; a peer that moved (a restarted agent) is dialled anew."""
        for peer, address in addresses.items():
            if self.addresses.get(peer, address) != address:
                self.drop(peer, f"moved to {address}")
        self.addresses.update(addresses)

    def drop(self, peer: int, reason: str) -> None:
        """Close the stream and channel to ``peer``; what waits on it fails with PeerLost."""
        link = self.links.get(peer)
        if link is not None:
            self._lost(link, reason)
        channel = self._channels.pop(peer, None)
        if channel is not None:
            self._spawn(channel.close(), f"close-{peer}")

    def link_to(self, peer: int) -> Link:
        link = self.links.get(peer)
        if link is not None and link.closed is None:
            return link
        addr = self.addresses.get(peer)
        if addr is None:
            raise PeerLost(f"no address for instance {peer}; known: {sorted(self.addresses)}")
        channel = self._channels.get(peer)
        if channel is None:
            channel = self._channels[peer] = aio_channel(addr, self.tls, _GRPC_OPTIONS)
        call = channel.stream_stream(METHOD_PATH)()
        hello = encode_frame([encode_message(Kind.HELLO, 0, 0, 0, 0, 0, b"", _U32.pack(self.me))])
        link = Link(peer, call.write, *self._link_args, first_frame=hello, on_failure=self._lost)
        self.links[peer] = link
        self._spawn(self._read_client(link, call), f"link-r{peer}")
        return link

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_client(self, link: Link, call: Any) -> None:
        error = "stream ended"
        try:
            while True:
                frame = await call.read()
                if frame is grpc.aio.EOF or self.aborted:
                    break
                self.sink.on_frame(link, frame)
        except asyncio.CancelledError:
            error = "closed"
            raise
        except grpc.aio.AioRpcError as exc:
            error = f"{exc.code().name}: {exc.details()}"
        finally:
            self._lost(link, error)
            call.cancel()

    async def _serve(self, requests: AsyncIterator[bytes], context: Any) -> None:
        link = Link(None, context.write, *self._link_args, on_failure=self._lost)
        error = "stream ended"
        try:
            async for frame in requests:
                if link.peer is None:
                    link.peer = self._hello(frame)
                    if link.peer is None:
                        error = "first frame was not a HELLO"
                        break
                    current = self.links.get(link.peer)
                    if current is None or current.closed is not None:
                        self.links[link.peer] = link
                    continue
                if self.aborted:
                    break
                self.sink.on_frame(link, frame)
                if link.closed is not None:
                    break
        except asyncio.CancelledError:
            error = "closed"
            raise
        finally:
            self._lost(link, error)

    @staticmethod
    def _hello(frame: bytes) -> int | None:
        try:
            msgs = decode_frame(frame)
        except MalformedFrame as exc:
            log.warning("state channel: refused a stream whose first frame is malformed: %s", exc)
            return None
        if len(msgs) != 1 or msgs[0].kind != Kind.HELLO or len(msgs[0].body) != _U32.size:
            log.warning("state channel: refused a stream that did not start with a HELLO")
            return None
        peer: int = _U32.unpack(msgs[0].body)[0]
        return peer

    def _lost(self, link: Link, error: str) -> None:
        """A stream ended or failed (reader or writer side): fail what waits on it."""
        link.close(error)
        if link.peer is not None and self.links.get(link.peer) is link:
            del self.links[link.peer]
        self.sink.on_link_lost(link, error)

    async def abort(self) -> None:
        """Stop as a killed process does: buffered messages are dropped unsent, frames that
        arrive are not handed on, every stream is cut at once (no grace), no link is dialled
        again. Peers see their streams fail."""
        self.aborted = True
        self.addresses.clear()
        await self.close(grace=None)

    async def close(self, grace: float | None = 0.1) -> None:
        for link in list(self.links.values()):
            link.close("agent stopping")
        for task in list(self._tasks):
            task.cancel()
        for channel in self._channels.values():
            with contextlib.suppress(Exception):
                await channel.close()
        if self._server is not None:
            await self._server.stop(grace=grace)
