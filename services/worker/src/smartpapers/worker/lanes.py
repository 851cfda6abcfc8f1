"""The fair receive rule between the two lanes (docs/priority-lane.md#the-fair-receive-rule).

Each lane has its own receiver: a long poll on its queue. Polls run concurrently, so an
empty priority queue never holds up the normal lane (and the other way round) for a long
poll's wait. What the lanes compete for is room under the worker's in-flight limit:

- a lane whose last receive came back empty is **idle**: its next long poll starts at once
  and takes no room (what it brings is processed at once, so the in-flight limit may be
  passed by one receive batch per lane — that is how a premium submission reaches a
  saturated worker within a receive's round trip);
- a lane whose last receive brought messages is **busy**: its next receive waits for room,
  and when both lanes wait, :class:`FairShare` decides — the priority lane, unless it had
  ``share`` batches in a row while the normal lane was waiting; then the normal lane.

So while both queues have messages a worker receives at most ``share`` priority batches per
normal batch: a flood of premium submissions slows the normal lane down to 1/(share + 1) of
the worker, never to nothing; and a normal backlog delays a premium job by at most one
batch's processing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

from smartpapers.common.models import Lane
from smartpapers.worker.adaptive import AdaptiveLimit


class FairShare:
    def __init__(self, share: int = 4) -> None:
        if share < 1:
            raise ValueError("share must be >= 1")
        self.share = share
        self._streak = 0
        """Priority grants in a row while the normal lane was waiting."""

    def pick(self, waiting: Collection[Lane]) -> Lane | None:
        """The lane that gets the next room among the busy lanes ``waiting`` for it."""
        if Lane.PRIORITY in waiting and (Lane.NORMAL not in waiting or self._streak < self.share):
            return Lane.PRIORITY
        return Lane.NORMAL if Lane.NORMAL in waiting else None

    def granted(self, lane: Lane, waiting: Collection[Lane]) -> None:
        """Record that ``lane`` got room while the lanes ``waiting`` (it included) waited."""
        if lane is Lane.NORMAL:
            self._streak = 0
        elif Lane.NORMAL in waiting:
            self._streak += 1


class Room:
    """The in-flight limit the lanes' receivers share: jobs in flight, room reserved by busy
    lanes' receives, and the busy lanes waiting for their turn (the :class:`FairShare`)."""

    def __init__(self, limit: AdaptiveLimit, *, batch: int, share: int) -> None:
        self.limit = limit
        self.batch = batch
        self.fair = FairShare(share)
        self.inflight = 0
        self.reserved = 0
        """Room promised to busy lanes' receives in flight."""
        self._waiting: set[Lane] = set()
        self._changed = asyncio.Condition()

    def left(self) -> int:
        return self.limit.limit - self.inflight - self.reserved

    def has_room(self) -> bool:
        """Room for a whole receive batch (fewer only when the limit itself is smaller): a
        batch costs the same four database round trips whether it holds 3 jobs or 10."""
        return self.left() >= min(self.batch, self.limit.limit)

    async def turn(self, lane: Lane, stopping: asyncio.Event) -> int | None:
        """Wait until there is room and the fair rule picks ``lane``; the room is reserved
        and its size returned (None when ``stopping`` came first)."""
        async with self._changed:
            self._waiting.add(lane)
            try:
                waiter = asyncio.ensure_future(
                    self._changed.wait_for(
                        lambda: (
                            stopping.is_set()
                            or (self.has_room() and self.fair.pick(self._waiting) is lane)
                        )
                    )
                )
                stop = asyncio.ensure_future(stopping.wait())
                await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
                if stopping.is_set():
                    return None
                self.fair.granted(lane, self._waiting)
            finally:
                self._waiting.discard(lane)
            want = min(self.batch, self.left())
            self.reserved += want
            self._changed.notify_all()  # the other lane may go now (or must wait longer)
            return want

    async def unreserve(self, want: int) -> None:
        """A receive that held ``want`` of room answered."""
        if want:
            self.reserved -= want
            await self.notify()

    def take(self, count: int) -> None:
        """``count`` received messages are in flight (may pass the limit: idle lanes)."""
        self.inflight += count

    async def give_back(self, count: int) -> None:
        self.inflight -= count
        await self.notify()

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
