"""The Coalescer: concurrent single-item calls become bulk calls, each caller gets its own
outcome, failures reach exactly the callers they concern."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from smartpapers.common.coalescing import Coalescer
from smartpapers.common.errors import OverloadedError


class Bulk:
    def __init__(self, *, broken: bool = False, bad: frozenset[int] = frozenset()) -> None:
        self.calls: list[list[int]] = []
        self.broken = broken
        self.bad = bad

    async def __call__(self, items: list[int]) -> Sequence[int | BaseException]:
        self.calls.append(items)
        await asyncio.sleep(0.01)
        if self.broken:
            raise ConnectionError("database down")
        return [ValueError(f"bad {i}") if i in self.bad else i * 10 for i in items]


async def test_concurrent_calls_share_bulk_calls_of_at_most_max_size() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, max_size=10, linger_seconds=0.01)
    assert await asyncio.gather(*(c.submit(i) for i in range(23))) == [i * 10 for i in range(23)]
    assert sorted(len(call) for call in bulk.calls) == [3, 10, 10]


async def test_max_size_one_is_one_call_per_item() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, max_size=1)
    await asyncio.gather(*(c.submit(i) for i in range(3)))
    assert bulk.calls == [[0], [1], [2]]


async def test_an_item_error_reaches_only_its_caller() -> None:
    c = Coalescer[int, int](Bulk(bad=frozenset({2})), linger_seconds=0.01)
    results = await asyncio.gather(*(c.submit(i) for i in range(4)), return_exceptions=True)
    assert results[:2] == [0, 10] and results[3] == 30
    assert isinstance(results[2], ValueError)


async def test_a_failed_bulk_call_reaches_every_caller_of_that_bulk() -> None:
    c = Coalescer[int, int](Bulk(broken=True), linger_seconds=0.01)
    results = await asyncio.gather(*(c.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, linger_seconds=0.005)
    victim = asyncio.ensure_future(c.submit(1))
    other = asyncio.ensure_future(c.submit(2))
    await asyncio.sleep(0.008)  # the bulk call is in flight
    victim.cancel()
    assert await other == 20
    with pytest.raises(asyncio.CancelledError):
        await victim
    assert bulk.calls == [[1, 2]]  # the cancelled item was still written


async def test_close_flushes_what_is_pending() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, linger_seconds=60)
    pending = asyncio.ensure_future(c.submit(7))
    await asyncio.sleep(0)
    await c.close()
    assert bulk.calls == [[7]] and await pending == 70


async def test_a_bulk_answering_the_wrong_count_fails_its_callers() -> None:
    async def short(items: list[int]) -> Sequence[int]:
        return items[:-1]

    c = Coalescer[int, int](short, linger_seconds=0.001)
    results = await asyncio.gather(c.submit(1), c.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Coalescer[int, int](Bulk(), max_size=0)
    with pytest.raises(ValueError):
        Coalescer[int, int](Bulk(), max_inflight=0)


class Gated:
    """A bulk call that blocks until released, to hold calls in flight."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()

    async def __call__(self, items: list[int]) -> Sequence[int]:
        self.calls.append(items)
        await self.gate.wait()
        return items


async def test_group_commit_starts_at_once_when_idle_and_batches_while_busy() -> None:
    bulk = Gated()
    c = Coalescer[int, int](bulk, max_size=50, linger_seconds=0, max_inflight=2)
    first = [asyncio.ensure_future(c.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0.01)
    assert bulk.calls == [[1], [2]]  # idle: no linger, each started at once
    queued = [asyncio.ensure_future(c.submit(i)) for i in range(3, 8)]
    await asyncio.sleep(0.01)
    assert len(bulk.calls) == 2  # max_inflight reached: the rest wait
    bulk.gate.set()
    assert await asyncio.gather(*first, *queued) == list(range(1, 8))
    assert bulk.calls[2:] == [[3, 4, 5, 6, 7]]  # what queued up went out as one bulk


async def test_group_commit_respects_max_size() -> None:
    bulk = Gated()
    c = Coalescer[int, int](bulk, max_size=2, linger_seconds=0, max_inflight=1)
    futures = [asyncio.ensure_future(c.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    bulk.gate.set()
    await asyncio.gather(*futures)
    assert bulk.calls == [[0], [1, 2], [3, 4]]


async def test_past_max_pending_callers_are_refused_at_once() -> None:
    """The admission bound: a full queue answers OverloadedError instead of growing."""
    bulk = Gated()
    c = Coalescer[int, int](bulk, max_size=10, linger_seconds=0, max_inflight=1, max_pending=3)
    running = asyncio.ensure_future(c.submit(0))  # in flight, not pending
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(c.submit(i)) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    with pytest.raises(OverloadedError):  # three wait already
        await c.submit(4)
    bulk.gate.set()
    assert await asyncio.gather(running, *waiting) == [0, 1, 2, 3]
    assert await c.submit(5) == 5  # room again once the queue drained
