"""The one-way barrier: untether calls are handled before an epoch is reported drained.

A cast has no answer, so without a barrier nothing keeps an instance from leaving while casts
to it are batched at a sender or on the wire, or while casts it forwarded (it was their home
before the switch) are still batched at it: ``close`` drops them. A SYNC is a request on the
same stream as the casts before it; the receiver handles its messages in order, and applies a
cast, queues it at its home or hands it on to the current home (into that link's batch) in
the same step, so its answer covers every cast sent before it on that stream. A DEEP sync is
answered only after the receiver has synced, in turn, every link on which it has sent one-way
messages since its last sync (the casts it forwarded among them).

``wait_drained`` ends with a deep sync of every link with unsynced one-way messages. Casts
are forwarded at most once in an epoch (to the current home, which applies or queues them),
so one level of depth covers them: when every agent has returned from ``wait_drained(e)``,
every cast sent in epoch e or before is at an instance of epoch e + 1, applied or queued at
its home, or covered by that instance's next barrier.
"""

from __future__ import annotations

import asyncio
import logging

from s6nf.agent.dso.core import AgentCore
from s6nf.agent.dso.errors import DsoError
from s6nf.agent.dso.transport import Link
from s6nf.agent.dso.wire import Flag, Kind, Message, Status

log = logging.getLogger(__name__)


class SyncMixin(AgentCore):
    async def sync_links(self, deep: bool) -> int:
        """Sync every open link with one-way messages sent since its last sync; returns how
        many links failed to answer (their casts may be lost: the failure is logged)."""
        targets = [(peer, link, link.batched) for peer, link in list(self.channel.links.items())
                   if link.closed is None and link.batched > link.synced]
        if not targets:
            return 0
        results = await asyncio.gather(*(self._sync_one(peer, link, upto, deep)
                                         for peer, link, upto in targets))
        return sum(1 for ok in results if not ok)

    async def _sync_one(self, peer: int, link: Link, upto: int, deep: bool) -> bool:
        try:
            self.check(await self.request(peer, Kind.SYNC, Flag.DEEP if deep else 0, 0, 0,
                                          b"", b""),
                       f"sync with instance {peer}")
        except DsoError as exc:
            log.warning("agent %d: one-way calls to instance %d not confirmed, they may be "
                        "lost: %s", self.me, peer, exc)
            return False
        link.synced = max(link.synced, upto)
        return True

    def on_sync(self, link: Link, msg: Message) -> None:
        """Everything before ``msg`` on its stream has been handled: answer (a deep sync
        after syncing what this agent sent on)."""
        if not msg.status & Flag.DEEP:
            self.reply(link, msg, Status.OK)
            return
        self.spawn(self._deep_sync(link, msg), "sync")

    async def _deep_sync(self, link: Link, msg: Message) -> None:
        failed = await self.sync_links(deep=False)
        if failed:
            self.fail(link, msg, Status.UNREACHABLE,
                      f"{failed} links of instance {self.me} did not confirm their one-way calls")
            return
        self.reply(link, msg, Status.OK)
