"""The Coalescer: concurrent single-item calls become bulk calls, each caller gets its own
outcome, failures reach exactly the callers they concern."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from smartpapers.common.coalescing import Coalescer


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


# --------------------------------------------------------------------------- tracked callers


async def test_tracked_flushes_when_every_announced_caller_has_submitted() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, linger_seconds=60, tracked=True)  # the cap never fires here
    tickets = [c.expect() for _ in range(3)]

    async def caller(i: int, delay: float) -> int:
        await asyncio.sleep(delay)  # claims finishing far apart
        return await c.submit(i, ticket=tickets[i])

    out = await asyncio.wait_for(
        asyncio.gather(caller(0, 0), caller(1, 0.05), caller(2, 0.1)), timeout=5
    )
    assert list(out) == [0, 10, 20]
    assert bulk.calls == [[0, 1, 2]]  # one bulk, sent the moment the last caller arrived


async def test_tracked_lone_caller_is_written_at_once() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, linger_seconds=60, tracked=True)
    ticket = c.expect()
    assert await asyncio.wait_for(c.submit(7, ticket=ticket), timeout=1) == 70


async def test_tracked_withdrawal_releases_the_waiting_callers() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, linger_seconds=60, tracked=True)
    a, b = c.expect(), c.expect()
    waiting = asyncio.ensure_future(c.submit(1, ticket=a))
    await asyncio.sleep(0.02)
    assert bulk.calls == [] and not waiting.done()  # b may still write
    b.withdraw()  # b failed before writing (no submission for a failed job, an error...)
    assert await asyncio.wait_for(waiting, timeout=1) == 10
    b.withdraw()  # twice: nothing happens
    a.withdraw()  # after submitting: nothing happens
    assert bulk.calls == [[1]]
    assert await asyncio.wait_for(c.submit(2, ticket=c.expect()), timeout=1) == 20


async def test_tracked_cap_bounds_the_wait_for_a_slow_caller() -> None:
    bulk = Bulk()
    c = Coalescer[int, int](bulk, linger_seconds=0.05, tracked=True)
    fast, _slow = c.expect(), c.expect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(c.submit(3, ticket=fast), timeout=2) == 30
    assert loop.time() - started >= 0.05  # waited for the slow one, up to the cap
    assert bulk.calls == [[3]]


async def test_tracked_needs_a_cap() -> None:
    with pytest.raises(ValueError, match="cap"):
        Coalescer[int, int](Bulk(), linger_seconds=0, tracked=True)
