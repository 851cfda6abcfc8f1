"""Runs concurrent single-item calls as one bulk call.

The jobs of one SQS receive batch are graded concurrently and reach the same MongoDB write
within milliseconds of each other; a :class:`Coalescer` gathers the items that arrive within
``linger_seconds`` (or until ``max_size`` are waiting) into ONE bulk call and hands every
caller its own outcome, so a batch of ten costs one round trip instead of ten. A failure of
the bulk call as a whole (MongoDB unreachable) is raised to every caller of that bulk; a
per-item failure only to its caller — exactly what each would have seen alone.

``tracked=True`` removes the guesswork from the linger: callers announce themselves first with
:meth:`Coalescer.expect` (a worker does so for every job it starts), and a bulk goes out as
soon as every announced caller has submitted or withdrawn its :class:`Ticket` —
``linger_seconds`` is then only the cap that one slow caller can make the others wait. A lone
job is written at once; the ten jobs of a receive batch are written together however far
apart the database lets their claims finish (within the cap).

``linger_seconds=0`` is group commit instead: an item waits only while ``max_inflight`` bulk
calls are already running, and joins the next one. An idle service adds no latency; a busy
one sends bigger bulks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BulkCall = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class Ticket:
    """A caller announced to a tracked :class:`Coalescer`: it will either submit (pass the
    ticket to :meth:`Coalescer.submit`) or :meth:`withdraw`. Withdrawing twice, or after
    submitting, does nothing."""

    __slots__ = ("_coalescer", "_open")

    def __init__(self, coalescer: Coalescer[Any, Any]) -> None:
        self._coalescer = coalescer
        self._open = True
        coalescer._expected += 1

    def _close(self) -> bool:
        if not self._open:
            return False
        self._open = False
        self._coalescer._expected -= 1
        return True

    def withdraw(self) -> None:
        if self._close():
            self._coalescer._flush_if_all_arrived()


def _retrieve(future: asyncio.Future[R]) -> None:
    if not future.cancelled():
        future.exception()


class Coalescer(Generic[T, R]):
    def __init__(
        self,
        bulk: BulkCall[T, R],
        *,
        max_size: int = 10,
        linger_seconds: float = 0.002,
        max_inflight: int = 1,
        tracked: bool = False,
    ) -> None:
        if max_size < 1 or max_inflight < 1:
            raise ValueError("max_size and max_inflight must be >= 1")
        if tracked and linger_seconds <= 0:
            raise ValueError("a tracked coalescer needs linger_seconds > 0 (its cap)")
        self._bulk = bulk
        self._max_size = max_size
        self._linger = linger_seconds
        self._max_inflight = max_inflight
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._tracked = tracked
        self._expected = 0  # announced callers that have neither submitted nor withdrawn

    def expect(self) -> Ticket:
        """Announce a caller that will submit soon (tracked coalescers; see the module)."""
        return Ticket(self)

    async def submit(self, item: T, *, ticket: Ticket | None = None) -> R:
        """The outcome of ``item`` within a bulk call (raises that item's error)."""
        if ticket is not None:
            ticket._close()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        # a caller cancelled while waiting never reads its outcome: mark it retrieved
        future.add_done_callback(_retrieve)
        self._pending.append((item, future))
        if self._linger <= 0:
            self._pump()
        elif len(self._pending) >= self._max_size or self._all_arrived():
            self._flush_now()
        elif self._timer is None:
            self._timer = loop.call_later(self._linger, self._flush_now)
        # shielded: a cancelled caller (drain timeout) does not cancel the others' bulk
        return await asyncio.shield(future)

    def _all_arrived(self) -> bool:
        return self._tracked and self._expected == 0

    def _flush_if_all_arrived(self) -> None:
        if self._pending and self._all_arrived():
            self._flush_now()

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            self._start_one()

    def _pump(self) -> None:
        """Group commit: start bulk calls while fewer than ``max_inflight`` run."""
        while self._pending and len(self._flushes) < self._max_inflight:
            self._start_one()

    def _start_one(self) -> None:
        batch = self._pending[: self._max_size]
        self._pending = self._pending[self._max_size :]
        task = asyncio.create_task(self._run(batch))
        self._flushes.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if self._linger <= 0:
            self._pump()  # what queued up meanwhile goes out in the next bulk

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._bulk([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"bulk call answered {len(outcomes)} of {len(batch)} items")
        except BaseException as e:  # every caller of this bulk sees the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            if isinstance(e, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def close(self) -> None:
        """Flush what is pending and wait for the bulk calls in flight."""
        self._flush_now()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
