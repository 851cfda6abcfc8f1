"""Runs concurrent single-item calls as one bulk call.

Concurrent requests reach the same MongoDB or SQS write within milliseconds of each other;
a :class:`Coalescer` gathers the items that arrive within
``linger_seconds`` (or until ``max_size`` are waiting) into ONE bulk call and hands every
caller its own outcome, so a batch of ten costs one round trip instead of ten. A failure of
the bulk call as a whole (MongoDB unreachable) is raised to every caller of that bulk; a
per-item failure only to its caller — exactly what each would have seen alone.

``linger_seconds=0`` is group commit instead: an item waits only while ``max_inflight`` bulk
calls are already running, and joins the next one. An idle service adds no latency; a busy
one sends bigger bulks, and the slower the bulks get the bigger they grow (up to
``max_size``). ``max_pending`` bounds the items waiting for a bulk: past it,
:meth:`Coalescer.submit` raises :class:`~smartpapers.common.errors.OverloadedError` at once
instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from smartpapers.common.errors import OverloadedError

T = TypeVar("T")
R = TypeVar("R")

BulkCall = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


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
        max_pending: int | None = None,
    ) -> None:
        if max_size < 1 or max_inflight < 1:
            raise ValueError("max_size and max_inflight must be >= 1")
        self._bulk = bulk
        self._max_size = max_size
        self._linger = linger_seconds
        self._max_inflight = max_inflight
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._max_pending = max_pending

    async def submit(self, item: T) -> R:
        """The outcome of ``item`` within a bulk call (raises that item's error)."""
        if self._max_pending is not None and len(self._pending) >= self._max_pending:
            raise OverloadedError(f"{len(self._pending)} items already wait for the database")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        # a caller cancelled while waiting never reads its outcome: mark it retrieved
        future.add_done_callback(_retrieve)
        self._pending.append((item, future))
        if self._linger <= 0:
            self._pump()
        elif len(self._pending) >= self._max_size:
            self._flush_now()
        elif self._timer is None:
            self._timer = loop.call_later(self._linger, self._flush_now)
        # shielded: a cancelled caller (drain timeout) does not cancel the others' bulk
        return await asyncio.shield(future)

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
