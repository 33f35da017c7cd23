"""Epochs and migration at one agent: the interface the controller drives (DESIGN.md §5).

``prepare`` stores key space e+1 and the peers' addresses; ``switch`` makes it current (an
agent that receives a message stamped e+1 switches by itself, so homes never disagree for
long); objects held here from older epochs whose home is now elsewhere are pushed to it in
background batches (``Storage.export``), and the new homes pull single keys on first access;
``status``/``wait_drained`` tell when nothing of epoch e is left here; ``retire`` lets the
agent forget the previous key space once every agent is drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from s6nf.agent.dso.config import EpochStatus, Mode, Prepare, Switch
from s6nf.agent.dso.errors import DsoError
from s6nf.agent.dso.handoff import HandoffMixin
from s6nf.agent.dso.state import MapState
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import (
    Flag,
    Kind,
    MalformedFrame,
    Message,
    Status,
    decode_entries,
    encode_entries,
)

log = logging.getLogger(__name__)

_RETRY_S = 0.05
_POLL_S = 0.005


class MigrationMixin(HandoffMixin):
    _push_task: asyncio.Task[None] | None = None
    _push_wanted: asyncio.Event | None = None

    async def prepare(self, msg: Prepare) -> None:
        """Accept key space e+1; raises ValueError if it does not follow the current one."""
        ks = msg.key_space
        if ks.epoch != self.epoch + 1:
            raise ValueError(f"prepare: epoch {ks.epoch} does not follow current {self.epoch}")
        if ks.buckets != self.key_space.buckets:
            raise ValueError(f"prepare: {ks.buckets} buckets, current has {self.key_space.buckets}")
        if self.previous is not None:
            raise ValueError(
                f"prepare: epoch {self.previous.epoch} is not retired yet; call retire() first"
            )
        self.channel.set_addresses(msg.addresses)
        self.next = ks
        self.hold_incoming(ks)

    async def switch(self, msg: Switch) -> None:
        """Make the prepared epoch current (no-op if a peer's message already did)."""
        if msg.epoch == self.epoch and self.previous is not None:
            pass
        elif self.next is None or self.next.epoch != msg.epoch:
            raise ValueError(f"switch: epoch {msg.epoch} is not prepared (current {self.epoch})")
        else:
            self.switched()
        if self.config.mode is Mode.STOP_AND_COPY:
            await self.wait_drained(msg.epoch - 1, self.config.call_timeout_s * 6, copied=True)

    def switched(self) -> None:
        assert self.next is not None
        self.previous, self.key_space, self.next = self.key_space, self.next, None
        if self.config.mode is Mode.LOCAL_ONLY:
            self.previous = None
            return
        me, epoch = self.me, self.epoch
        for ms in self.maps.values():
            for key, owner in list(ms.directory.items()):
                if self.home_of(key) != me:
                    del ms.directory[key]
                    ms.old_directory[key] = owner
            for key in ms.storage.snapshot():
                if self.home_of(key) == me:
                    ms.directory[key] = me
                    ms.owned_epoch[key] = epoch
            ms.stale_cache.clear()
        log.info("agent %d: switched to epoch %d", me, epoch)
        if self.config.mode is Mode.STOP_AND_COPY:
            self._resumed.clear()
        self.start_handoff()
        self.push_soon(None)

    def push_soon(self, ms: MapState | None) -> None:
        if self._push_wanted is None:
            self._push_wanted = asyncio.Event()
        self._push_wanted.set()
        if self._push_task is None or self._push_task.done():
            self._push_task = self.spawn(self._push_loop(), "push")

    async def _push_loop(self) -> None:
        """Export and send what must leave; repeat only while some objects are busy here."""
        assert self._push_wanted is not None
        while True:
            self._push_wanted.clear()
            blocked = False
            for ms in self.maps.values():
                blocked |= self._push_pass(ms)
            if not blocked and not self._push_wanted.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._push_wanted.wait(), _POLL_S)

    def promoted_copies(self, ms: MapState) -> set[bytes]:
        """Keys of objects held here that a failover promoted from a copy (``takeover``)."""
        return set()

    def _push_pass(self, ms: MapState) -> bool:
        """Start pushing every free object that must leave; True if some were busy."""
        blocked = False
        by_home: dict[tuple[int, bool], list[bytes]] = {}
        copies = self.promoted_copies(ms)
        me, epoch = self.me, self.epoch
        keep_current = self.member and self.config.mode is not Mode.REMOTE_ONLY
        owned = ms.owned_epoch
        for key in ms.storage.snapshot():
            if keep_current and owned.get(key, 0) >= epoch:
                continue
            home = self.home_of(key)
            if home == me:
                continue
            if key in ms.pins or key in ms.fetching or key in ms.mw_queues:
                blocked = True
                continue
            by_home.setdefault((home, key in copies), []).append(key)
        size = self.config.push_batch
        for (home, copy), keys in by_home.items():
            for start in range(0, len(keys), size):
                entries = ms.storage.export(keys[start:start + size])
                for key, _ in entries:
                    ms.owned_epoch.pop(key, None)
                    ms.pushing[key] = home
                self.spawn(self._push_batch(ms, home, entries, Flag.COPY if copy else 0),
                           "push-batch")
        return blocked

    async def _push_batch(
        self, ms: MapState, home: int, entries: list[tuple[bytes, bytes]], flags: int = 0
    ) -> None:
        try:
            self.check(
                await self.request(home, Kind.PUSH, flags, ms.map_id, 0, b"",
                                   encode_entries(entries)),
                f"push of {len(entries)} {ms.decl.name} objects to instance {home}",
            )
        except DsoError as exc:
            log.warning("agent %d: %s; keeping them and retrying", self.me, exc)
            back = [(k, d) for k, d in entries if ms.storage.get(k) is None]
            ms.storage.import_(back)
            for key, _ in back:
                ms.owned_epoch[key] = -1
                ms.pushing.pop(key, None)
            await asyncio.sleep(_RETRY_S)
            self.push_soon(ms)
            return
        self.counters.pushed += len(entries)
        pushing, old, me = ms.pushing, ms.old_directory, self.me
        copies = self.promoted_copies(ms) if flags else set()
        for key, _ in entries:
            pushing.pop(key, None)
            copies.discard(key)
            if old.get(key) == me:
                del old[key]

    def on_push(self, link: Link, msg: Message, ms: MapState) -> None:
        if self.accept_push(link, msg, ms):
            self.reply(link, msg, Status.OK)

    def accept_push(self, link: Link, msg: Message, ms: MapState,
                    entries: list[tuple[bytes, bytes]] | None = None) -> bool:
        """Store pushed objects (``entries``: those of the push to take, default all) not
        held here already; False if the push was refused (and answered with the error). The
        caller acknowledges it."""
        try:
            if entries is None:
                entries = decode_entries(msg.body)
        except MalformedFrame as exc:
            self.fail(link, msg, Status.MALFORMED, f"push body: {exc}")
            return False
        me, epoch, held = self.me, self.epoch, ms.storage.get
        fresh = [(key, data) for key, data in entries if held(key) is None]
        if len(fresh) != len(entries):
            log.error("agent %d: %d pushed %s objects are already held here; keeping these copies",
                      me, len(entries) - len(fresh), ms.decl.name)
        try:
            ms.storage.import_(fresh)
        except Exception as exc:
            self.fail(link, msg, Status.MALFORMED, f"push of {len(fresh)} objects: {exc!r}")
            return False
        forward = False
        directory, owned, home_of = ms.directory, ms.owned_epoch, self.home_of
        for key, _ in fresh:
            if home_of(key) == me:
                directory[key] = me
                owned[key] = epoch
            else:
                owned[key] = -1
                forward = True
        if ms.arrivals:
            for key, _ in fresh:
                ms.arrived(key)
        self.counters.received_pushes += len(fresh)
        if forward:
            self.push_soon(ms)
        return True

    def to_push(self) -> int:
        return sum(
            1
            for ms in self.maps.values()
            for key in ms.storage.snapshot()
            if self.needs_push(ms, key)
        )

    def status(self) -> EpochStatus:
        return EpochStatus(self.me, self.epoch, self.to_push(), self._in_flight())

    def _in_flight(self, copied: bool = False) -> int:
        """Pushes not yet acknowledged, and work begun in an older epoch that may still bring
        an object here (an acquire, or calls queued for an object whose home moved). Unless
        ``copied`` (only the copy is asked about), also requests sent in an older epoch and
        pulls from previous homes: these need the previous key space and its instances."""
        epoch = self.epoch
        count = 0 if copied else self.older_requests() + self.held_buckets()
        for ms in self.maps.values():
            count += len(ms.pushing) + (0 if copied else ms.locating)
            count += sum(1 for _, _, began in ms.fetching.values() if began < epoch)
            count += sum(1 for key in ms.mw_queues if self.home_of(key) != self.me)
        return count

    def is_drained(self, epoch: int, copied: bool = False) -> bool:
        """True when this agent acts in a later epoch and holds nothing it must still push;
        ``copied``: see ``_in_flight`` (what a stop-and-copy switch waits for)."""
        return (self.epoch > epoch and self._in_flight(copied) == 0
                and self.to_push() == 0)

    async def wait_drained(self, epoch: int, timeout_s: float = 30.0,
                           copied: bool = False) -> EpochStatus:
        """Wait until ``is_drained(epoch)``, then until every one-way call sent from here has
        been handled by its receiver (``sync.py``; not for ``copied``, the copy only);
        TimeoutError (naming what is left) otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            while not self.is_drained(epoch, copied):
                if loop.time() > deadline:
                    raise TimeoutError(f"agent {self.me}: epoch {epoch} not drained after "
                                       f"{timeout_s} s: {self.status()}")
                await asyncio.sleep(_POLL_S)
            if copied:
                break
            try:
                await asyncio.wait_for(self.sync_links(deep=True),
                                       max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise TimeoutError(f"agent {self.me}: epoch {epoch}: one-way calls not "
                                   f"confirmed after {timeout_s} s") from None
            if self.is_drained(epoch, copied):
                break
        self._resumed.set()
        return self.status()

    def retire(self, epoch: int) -> None:
        """Every agent is drained of ``epoch``: forget its key space and old directory."""
        if self.previous is not None and self.previous.epoch <= epoch:
            self.previous = None
            for ms in self.maps.values():
                ms.old_directory.clear()
