"""The fair receive rule (smartpapers.worker.lanes) on its own and inside a Worker polling two
fake queues (no servers): while both lanes have messages at most ``share`` priority batches
run per normal batch; an idle priority poll reaches a saturated worker without waiting for
room; one lane never waits for the other's long poll."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import cast

import pytest

from smartpapers.common.lease import Lease
from smartpapers.common.models import Lane
from smartpapers.common.queue import ReceivedMessage, SqsQueue
from smartpapers.worker.consumer import Worker
from smartpapers.worker.lanes import FairShare
from smartpapers.worker.processing import Ack, ClaimedBatch, JobProcessor

P, N = Lane.PRIORITY, Lane.NORMAL


def test_both_waiting_gives_share_priority_grants_then_one_normal() -> None:
    fair = FairShare(4)
    order = []
    for _ in range(15):
        lane = fair.pick({P, N})
        assert lane is not None
        fair.granted(lane, {P, N})
        order.append(lane)
    assert order == [P, P, P, P, N] * 3


def test_a_lane_alone_always_gets_the_room() -> None:
    fair = FairShare(1)
    for _ in range(5):
        assert fair.pick({P}) is P
        fair.granted(P, {P})  # the normal lane was not waiting: nothing owed to it
    assert fair.pick({P, N}) is P  # the streak counts only grants the normal lane waited for
    fair.granted(P, {P, N})
    assert fair.pick({P, N}) is N
    assert fair.pick({N}) is N
    assert fair.pick(set()) is None


def test_a_share_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        FairShare(0)


class FakeQueue:
    """``backlog`` messages ready at once; beyond them a receive long-polls until ``arrive``
    is called (or the wait ends)."""

    max_batch = 10

    def __init__(self, lane: Lane, backlog: int) -> None:
        self.url = f"fake://{lane.value}"
        self.lane = lane
        self.backlog = backlog
        self._ids = itertools.count()
        self._arrived = asyncio.Event()
        self.deleted: list[str] = []

    def arrive(self, count: int) -> None:
        self.backlog += count
        self._arrived.set()

    async def receive(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        if not self.backlog:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=wait_seconds)
            except TimeoutError:
                return []
        take = min(max_messages, self.backlog)
        self.backlog -= take
        return [self._message() for _ in range(take)]

    def _message(self) -> ReceivedMessage:
        i = next(self._ids)
        return ReceivedMessage(f"{self.lane.value}-{i}", f"{self.lane.value}-{i}", "{}", 1)

    async def delete(self, receipt_handles: Sequence[str]) -> int:
        self.deleted.extend(receipt_handles)
        return 0

    async def change_visibility(self, entries: Sequence[tuple[str, int]]) -> int:
        return 0


class TimedProcessor:
    """Each batch takes ``seconds``; records when each lane's batches started and ended."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: list[tuple[Lane, float]] = []

    def backoff(self, receive_count: int) -> int:
        return 1

    async def claim(self, messages: list[ReceivedMessage]) -> ClaimedBatch:
        lane = Lane(messages[0].message_id.split("-")[0])
        self.started.append((lane, time.monotonic()))
        await asyncio.sleep(self.seconds)
        return ClaimedBatch(
            lease=cast(Lease, None), decisions={m.receipt_handle: Ack() for m in messages}
        )


def two_lane_worker(
    normal: FakeQueue, priority: FakeQueue, processor: TimedProcessor, **kw: object
) -> Worker:
    return Worker(
        queue=cast(SqsQueue, normal),
        priority_queue=cast(SqsQueue, priority),
        processor=cast(JobProcessor, processor),
        concurrency=10,  # one batch at a time: every receive competes for the room
        adaptive=False,
        wait_seconds=20,
        **kw,  # type: ignore[arg-type]
    )


async def run_until(worker: Worker, done: asyncio.Event | None, seconds: float) -> None:
    task = asyncio.create_task(worker.run())
    try:
        if done is not None:
            await asyncio.wait_for(done.wait(), timeout=seconds)
        else:
            await asyncio.sleep(seconds)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)


def runs_of(lane: Lane, order: list[Lane]) -> list[int]:
    return [len(list(g)) for key, g in itertools.groupby(order) if key is lane]


async def test_a_priority_flood_leaves_the_normal_lane_one_batch_in_five() -> None:
    normal, priority = FakeQueue(N, 10_000), FakeQueue(P, 10_000)
    processor = TimedProcessor(0.01)
    await run_until(two_lane_worker(normal, priority, processor), None, 1.5)
    order = [lane for lane, _ in processor.started]
    assert len(order) > 50
    steady = order[2:]  # the first receives raced before both lanes were busy
    assert max(runs_of(P, steady)) == 4
    assert max(runs_of(N, steady)) == 1
    assert 0.15 < steady.count(N) / len(steady) < 0.25


async def test_the_share_setting_changes_the_ratio() -> None:
    normal, priority = FakeQueue(N, 10_000), FakeQueue(P, 10_000)
    processor = TimedProcessor(0.01)
    await run_until(two_lane_worker(normal, priority, processor, priority_share=1), None, 1.0)
    order = [lane for lane, _ in processor.started][2:]
    assert max(runs_of(P, order)) == 1
    assert max(runs_of(N, order)) == 1


async def test_a_premium_message_reaches_a_saturated_worker_without_waiting_for_room() -> None:
    normal, priority = FakeQueue(N, 10_000), FakeQueue(P, 0)
    processor = TimedProcessor(1.0)  # a normal batch holds all the room for 1 s
    worker = two_lane_worker(normal, priority, processor)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(1.2)  # the priority lane is idle in its long poll; batch 2 runs
    arrived = time.monotonic()
    priority.arrive(1)
    await asyncio.sleep(0.4)
    worker.stop()
    await asyncio.wait_for(task, timeout=10)
    started = [t for lane, t in processor.started if lane is P]
    assert started and started[0] - arrived < 0.3  # not when the normal batch ends (0.8 s)
    assert worker.room.inflight == 0  # the limit was passed by one batch, and given back


async def test_an_idle_priority_poll_does_not_hold_up_the_normal_lane() -> None:
    normal, priority = FakeQueue(N, 0), FakeQueue(P, 0)
    processor = TimedProcessor(0.01)
    worker = two_lane_worker(normal, priority, processor)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)  # both lanes idle, both polls waiting (20 s)
    arrived = time.monotonic()
    normal.arrive(3)
    await asyncio.sleep(0.2)
    worker.stop()
    await asyncio.wait_for(task, timeout=10)
    assert [lane for lane, _ in processor.started] == [N]
    assert processor.started[0][1] - arrived < 1  # not after the priority poll's 20 s wait
    assert normal.deleted == ["normal-0", "normal-1", "normal-2"]
