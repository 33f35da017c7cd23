"""SingleWriter objects: ownership moves to the accessor; the home keeps the directory.

The accessor asks the home (ACQUIRE); the home takes FIFO turns per key, fetches the object
from its current owner (FETCH, which deletes the owner's copy), records the accessor as owner
and grants it the bytes. Concurrent misses on one key at one agent share one ACQUIRE. After a
switch, a home that does not know a key asks the key's previous home, which answers with the
object, forwards the pull to the object's owner, or says it is already on its way (IN_FLIGHT).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Generic, TypeVar

from s6nf.agent.dso.config import Mode
from s6nf.agent.dso.core import HOLDING, AgentCore
from s6nf.agent.dso.errors import DsoError, Moved, PeerLost
from s6nf.agent.dso.keys import KeyLike, key_bytes
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import Flag, Kind, Message, Status

log = logging.getLogger(__name__)

V = TypeVar("V")
_DEST = struct.Struct("!I")
_MAX_HOPS = 3
_ABSENT, _FOUND, _RESERVED = 0, 1, 2
"""Outcomes of a fetch: no object; object here (look again); object here, pinned for you."""


class SingleWriterMixin(AgentCore):
    async def sw_get(self, ms: MapState, key: bytes, create: bool) -> Any | None:
        """The object for ``key``, pinned here (exclusively); None if absent and not ``create``.

        A fetch that fails because a peer vanished is tried again once a failover has ended
        (the object is then at its backup's), if one ends within the call timeout."""
        while True:
            takeovers = self.takeovers_ended
            if self.paused:
                await self._resumed.wait()
            obj = ms.storage.get(key)
            if obj is not None:
                if key in ms.pins:
                    await ms.wait_unpinned(key)
                    continue
                ms.pin(key)
                return obj
            if self.config.mode is Mode.LOCAL_ONLY:
                if not create:
                    return None
                obj = ms.storage.create(key)
                ms.owned_epoch[key] = self.epoch
                ms.pin(key)
                return obj
            if self._absent_everywhere(ms, key):
                if not create:
                    return None
                self.store(ms, key, Status.CREATE, b"", self.epoch)
                ms.pin(key)
                return ms.storage.get(key)
            entry = ms.fetching.get(key)
            mine = entry is None
            if entry is None:
                fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                entry = ms.fetching[key] = (fut, create, self.epoch)
                self.spawn(self._fetch(ms, key, create, fut), "sw-fetch")
            else:
                self.counters.coalesced += 1
            try:
                found = await asyncio.shield(entry[0])
            except asyncio.CancelledError:
                if mine:
                    entry[0].add_done_callback(lambda f: self._drop_reservation(ms, key, f))
                raise
            except DsoError as exc:
                if await self.retry_after_failover(exc, takeovers):
                    continue
                raise
            if found == _RESERVED and mine:
                return ms.storage.get(key)
            if found == _ABSENT and not (create and not entry[1]):
                return None

    def _absent_everywhere(self, ms: MapState, key: bytes) -> bool:
        """This agent is the key's home, knows of no copy (its directory is complete: no
        older epoch to ask) and no acquire of it is under way: what ``home_acquire`` would
        conclude, known without a turn or a task (a new flow's first access)."""
        return (key not in ms.directory and key not in ms.fetching
                and self.home_of(key) == self.me and self.previous_home_of(key) is None
                and not ms.turns.busy(key))

    def _drop_reservation(self, ms: MapState, key: bytes, fut: asyncio.Future[int]) -> None:
        if not fut.cancelled() and fut.exception() is None and fut.result() == _RESERVED:
            self.sw_release(ms, key)

    async def _fetch(
        self, ms: MapState, key: bytes, create: bool, fut: asyncio.Future[int]
    ) -> None:
        """Acquire ``key`` from its home; a granted object is pinned for the task that asked,
        so that a revoke right behind the grant cannot take it before that task used it."""
        began = self.epoch
        try:
            flags = Flag.CREATE if create else 0
            home = self.home_of(key)
            for hop in range(_MAX_HOPS):
                try:
                    status, data, epoch = await self._acquire_at(ms, key, flags, home)
                    break
                except Moved as moved:
                    if hop == _MAX_HOPS - 1:
                        raise
                    home = moved.dest
            if status in (Status.OK, Status.CREATE):
                # An access begun before a switch belongs to the old epoch: after it, the
                # object goes on to its new home like every object held from that epoch.
                self.store(ms, key, status, data, min(epoch, began))
                ms.pin(key)
                fut.set_result(_RESERVED)
            else:
                fut.set_result(_FOUND if status == Status.HELD else _ABSENT)
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()
        finally:
            ms.fetching.pop(key, None)
            ms.granted.discard(key)

    async def _acquire_at(
        self, ms: MapState, key: bytes, flags: int, home: int
    ) -> tuple[Status, bytes, int]:
        if home == self.me:
            return await self.home_acquire(ms, key, self.me, flags)
        self.counters.acquires_sent += 1
        reply = self.check(
            await self.request(home, Kind.ACQUIRE, flags, ms.map_id, 0, key, b"",
                               lambda _: ms.granted.add(key)),
            f"acquire {ms.decl.name}[{key.hex()}] at home {home}",
        )
        return Status(reply.status), reply.body, reply.epoch

    def store(self, ms: MapState, key: bytes, status: int, data: bytes, epoch: int) -> None:
        if status == Status.HELD:
            return
        if status == Status.CREATE:
            ms.storage.create(key)
        else:
            ms.storage.put(key, data)
        ms.owned_epoch[key] = epoch
        if self.home_of(key) == self.me:
            ms.directory[key] = self.me
            ms.owned_epoch[key] = self.epoch
        ms.arrived(key)

    def sw_release(self, ms: MapState, key: bytes) -> None:
        if ms.unpin(key) and self.needs_push(ms, key):
            self.push_soon(ms)

    def needs_push(self, ms: MapState, key: bytes) -> bool:
        """Whether a held object must go to its home (it came from an older epoch, or by mode)."""
        if (
            self.member
            and self.config.mode is not Mode.REMOTE_ONLY
            and ms.owned_epoch.get(key, 0) >= self.epoch
        ):
            return False
        return self.home_of(key) != self.me

    async def sw_remove(self, ms: MapState, key: bytes) -> bool:
        held = ms.storage.get(key) is not None
        if held:
            await ms.wait_unpinned(key)
            held = ms.storage.delete(key)
            ms.owned_epoch.pop(key, None)
        home = self.home_of(key)
        if home == self.me:
            ms.directory.pop(key, None)
            if held:
                return True
            status, _, _ = await self.home_acquire(ms, key, self.me, Flag.REMOVE)
        else:
            reply = self.check(
                await self.request(home, Kind.ACQUIRE, Flag.REMOVE, ms.map_id, 0, key, b""),
                f"remove {ms.decl.name}[{key.hex()}] at home {home}",
            )
            status = Status(reply.status)
        return held or status == Status.OK

    async def serve_acquire(self, link: Link, msg: Message, ms: MapState) -> None:
        """An ACQUIRE: answer as the home, or forward it to the home on the requester's behalf.

        A forwarded ACQUIRE carries the original requester's id in its body, so that the
        home records the real owner, not the forwarder.
        """
        requester = _DEST.unpack(msg.body)[0] if len(msg.body) == _DEST.size else link.peer
        assert requester is not None
        home = self.home_of(msg.key)
        try:
            if home == self.me:
                try:
                    status, data, epoch = await self.home_acquire(
                        ms, msg.key, requester, msg.status
                    )
                    self.reply(link, msg, status, data, epoch)
                    return
                except Moved as moved:
                    home = moved.dest
            self.counters.forwarded += 1
            reply = await self.request(
                home, Kind.ACQUIRE, msg.status, ms.map_id, 0, msg.key, _DEST.pack(requester)
            )
            self.reply(link, msg, reply.status, reply.body, reply.epoch)
        except DsoError as exc:
            self.fail(link, msg, Status.UNREACHABLE, f"acquire {msg.key.hex()}: {exc}")

    async def home_acquire(
        self, ms: MapState, key: bytes, requester: int, flags: int
    ) -> tuple[Status, bytes, int]:
        """At the home: FIFO per key, find the object, hand it to ``requester`` (or remove it).

        Returns the status, the object's bytes and the epoch the grant belongs to: the epoch
        when the turn began, so that an object granted across a switch is still pushed on.
        """
        await ms.turns.acquire(key)
        epoch = self.epoch
        try:
            self._check_home(ms, key)
            status, data = await self._resolve(ms, key, requester, flags)
            if status in (Status.OK, Status.CREATE, Status.HELD) and not flags & Flag.REMOVE:
                if self.home_of(key) == self.me:
                    ms.directory[key] = requester
                else:
                    ms.directory.pop(key, None)
                    ms.old_directory[key] = requester
                if status == Status.OK and requester != self.me and self.home_of(key) == self.me:
                    self.copy_granted(ms, key, requester, data)
            elif status == Status.OK and flags & Flag.REMOVE:
                self.drop_copy(ms, key, None)
            return status, data, epoch
        finally:
            ms.turns.release(key)

    async def _resolve(
        self, ms: MapState, key: bytes, requester: int, flags: int
    ) -> tuple[Status, bytes]:
        owner = ms.directory.get(key)
        if owner is None:
            owner = await self._locate(ms, key)
        data: bytes | None = None
        if owner == requester and requester != self.me:
            if flags & Flag.REMOVE:
                ms.directory.pop(key, None)
                return Status.OK, b""
            if await ms.wait_arrival(key, self.config.call_timeout_s):
                data = await self._take_local(ms, key)
        elif owner == self.me:
            if requester == self.me and ms.storage.get(key) is not None:
                return Status.HELD, b""
            data = await self._take_local(ms, key)
        elif owner is not None:
            data = await self._pull(ms, key, owner, revoke=True,
                                    keep_copy=requester == self.me)
            if data is not None:
                self.drop_copy(ms, key, owner)
            if data is None and ms.storage.get(key) is not None:
                if requester == self.me:
                    ms.directory[key] = self.me
                    return Status.HELD, b""
                data = await self._take_local(ms, key)
        if data is None:
            self._check_home(ms, key)
            if owner is not None:
                log.error("agent %d: %s[%s] was owned by %d but is gone; treating it as absent",
                          self.me, ms.decl.name, key.hex(), owner)
            ms.directory.pop(key, None)
            if flags & Flag.REMOVE or not flags & Flag.CREATE:
                return Status.NOT_FOUND, b""
            return Status.CREATE, b""
        if flags & Flag.REMOVE:
            ms.directory.pop(key, None)
            return Status.OK, b""
        return Status.OK, data

    def _check_home(self, ms: MapState, key: bytes) -> None:
        """Raise ``Moved`` if a switch made another instance the key's home meanwhile: only
        the current home may conclude that an object is absent (and create it)."""
        home = self.home_of(key)
        if home != self.me:
            raise Moved(home, f"{ms.decl.name}[{key.hex()}] is now homed at instance {home}")

    async def _locate(self, ms: MapState, key: bytes) -> int | None:
        """Owner of a key this home has no entry for: here, or pulled from its previous home."""
        if ms.storage.get(key) is not None:
            ms.directory[key] = self.me
            return self.me
        previous = self.previous_home_of(key)
        if previous is None:
            return None
        key_space = self.previous
        ms.locating += 1
        try:
            data = await self._pull(ms, key, previous, keep_copy=True)
        except DsoError:
            if self.previous is key_space or previous in self.fenced:
                raise  # not retired (a previous home declared dead left nothing drained)
            # Retired meanwhile: every agent was drained of that epoch, so nothing of it is
            # left at the previous home, which may have left (a pull can begin after this
            # agent reported drained and before the controller retired the epoch).
            data = None
        finally:
            ms.locating -= 1
        if data is not None:
            self.counters.pulled += 1
            self.store(ms, key, Status.OK, data, self.epoch)
        elif ms.storage.get(key) is None:
            return None
        ms.directory[key] = self.me
        return self.me

    async def _take_local(self, ms: MapState, key: bytes) -> bytes | None:
        await ms.wait_unpinned(key)
        ms.owned_epoch.pop(key, None)
        return ms.storage.take(key)

    async def _pull(
        self, ms: MapState, key: bytes, holder: int, revoke: bool = False,
        keep_copy: bool = False,
    ) -> bytes | None:
        """FETCH ``key`` from ``holder``: its bytes, or None if it is not there.

        ``revoke``: this home granted the object to ``holder``, which must hand it back even
        if it has not yet read that grant. ``keep_copy``: this home will hold the object, and
        ``holder`` keeps what it gave as this home's copy until this home's backup has one.

        None with the object in local storage means it was pushed here meanwhile; it is left
        in place, because the caller may be the object's own queue (taking would deadlock).
        """
        self.counters.fetches_sent += 1
        flags = (Flag.REVOKE if revoke else 0) | (Flag.KEEP_COPY if keep_copy else 0)
        reply = self.check(
            await self.request(holder, Kind.FETCH, flags, ms.map_id, 0, key, b""),
            f"fetch {ms.decl.name}[{key.hex()}] from instance {holder}",
        )
        if reply.status == Status.OK:
            if keep_copy and reply.body:
                self.pulled_from(ms, key, holder)
            return reply.body
        if reply.status == Status.IN_FLIGHT and len(reply.body) == _DEST.size:
            dest = _DEST.unpack(reply.body)[0]
            if dest != self.me:
                raise Moved(dest, f"{ms.decl.name}[{key.hex()}] is on its way to instance {dest}")
        if reply.status == Status.IN_FLIGHT and not await ms.wait_arrival(
            key, self.config.call_timeout_s
        ):
            raise PeerLost(f"{ms.decl.name}[{key.hex()}] announced in flight but never arrived")
        return None

    async def serve_fetch(self, link: Link, msg: Message, ms: MapState) -> None:
        """Give a held object away; the key's turn first, so a grant in progress here ends."""
        await ms.turns.acquire(msg.key)
        try:
            revoke = bool(msg.status & Flag.REVOKE)
            status, data = await self._give(ms, msg.key, link.peer, revoke)
            asker = link.peer
            if status == Status.OK and data and msg.status & Flag.KEEP_COPY and asker is not None:
                self.keep_given(ms, msg.key, asker, data)
            self.reply(link, msg, status, data)
        except DsoError as exc:
            self.fail(link, msg, Status.UNREACHABLE, f"fetch {msg.key.hex()}: {exc}")
        finally:
            ms.turns.release(msg.key)

    async def _give(
        self, ms: MapState, key: bytes, requester: int | None, revoke: bool
    ) -> tuple[Status, bytes]:
        """Hand over a held object (lookup-and-delete), or say where it went.

        If our own acquire of the key is under way, a revoke waits for it (the home granted
        it; the grant is on its way), and so does any request once the grant has been read.
        A pull does not wait for an unanswered acquire: that could deadlock with a new home
        that pulls the key from us while we ask it for the key.
        """
        if key in ms.pushing and ms.storage.get(key) is None:
            return Status.IN_FLIGHT, _DEST.pack(ms.pushing[key])
        entry = ms.fetching.get(key)
        if entry is not None and (revoke or key in ms.granted):
            await asyncio.wait([entry[0]])
        if ms.storage.get(key) is not None:
            data = await self._take_local(ms, key)
            if data is not None:
                ms.old_directory.pop(key, None)
                if ms.directory.get(key) == self.me and requester is not None:
                    ms.directory[key] = requester
                return Status.OK, data
        owner = ms.old_directory.get(key)
        if owner is not None and owner not in (self.me, requester):
            reply = await self.request(owner, Kind.FETCH, 0, ms.map_id, 0, key, b"")
            if reply.status in (Status.OK, Status.NOT_FOUND):
                ms.old_directory.pop(key, None)
            return Status(reply.status), reply.body
        if key in ms.pushing:
            return Status.IN_FLIGHT, _DEST.pack(ms.pushing[key])
        return Status.NOT_FOUND, b""


class Access(Generic[V]):
    """The async context manager of one access; a held, free object costs no await.

    Accesses are exclusive between agents and between the tasks of one agent: a second task
    waits until the first leaves its block.
    """

    __slots__ = ("_agent", "_create", "_held", "_key", "_ms")

    def __init__(self, agent: SingleWriterMixin, ms: MapState, key: bytes, create: bool) -> None:
        self._agent = agent
        self._ms = ms
        self._key = key
        self._create = create
        self._held = False
        """The object was here, free, when the block began (not fetched nor created)."""

    async def __aenter__(self) -> V:
        ms, key = self._ms, self._key
        obj: V | None = ms.storage.get(key)
        if obj is not None and key not in ms.pins and not self._agent.paused:
            self._held = True
            ms.pins[key] = 1
            HOLDING.set(HOLDING.get() + 1)
            return obj
        got: V | None = await self._agent.sw_get(ms, key, self._create)
        if got is None:
            raise KeyError(f"{ms.decl.name}: no object for key {key.hex()}")
        HOLDING.set(HOLDING.get() + 1)
        return got

    async def __aexit__(self, *exc: object) -> None:
        HOLDING.set(HOLDING.get() - 1)
        try:
            if self._ms.sync_replica:
                await self._agent.replicate_now(self._ms, self._key, self._held)
        finally:
            self._agent.sw_release(self._ms, self._key)


class SwHandle(Generic[V]):
    """An NF's view of one SingleWriter map at this agent."""

    def __init__(self, agent: SingleWriterMixin, ms: MapState) -> None:
        self._agent = agent
        self._ms = ms

    def access(self, key: KeyLike, create: bool = True) -> Access[V]:
        """``async with handle.access(key) as obj``: exclusive use of the object meanwhile.

        Raises (on entry):
            KeyError: the object does not exist and ``create`` is False.
            DsoError: the home or the current owner could not be reached.
        """
        return Access(self._agent, self._ms, key_bytes(key), create)

    async def remove(self, key: KeyLike) -> bool:
        """Delete the object wherever it is; False if there was none."""
        return await self._agent.sw_remove(self._ms, key_bytes(key))

    def held(self) -> list[bytes]:
        """Keys of the objects this agent holds now."""
        return self._ms.storage.snapshot()

    @property
    def storage(self) -> Any:
        """This agent's storage of the map: for reading and writing objects held here, inside
        an ``access`` block for that key."""
        return self._ms.storage
