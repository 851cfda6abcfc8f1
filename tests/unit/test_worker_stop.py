"""Worker.stop() with a receive in flight (a fake queue; no servers): the messages a receive
brings just after the stop are released at once (visibility 0), not left invisible for a
visibility timeout — also when it answers after the grace while batches still drain; an idle
long poll is abandoned after the grace, not waited for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

from smartpapers.common.lease import Lease
from smartpapers.common.queue import ReceivedMessage, SqsQueue
from smartpapers.worker.consumer import Worker
from smartpapers.worker.processing import Ack, ClaimedBatch, JobProcessor


class SlowQueue:
    """Answers the first receive after ``answer_after`` seconds with ``count`` messages."""

    url = "fake://queue"
    max_batch = 10

    def __init__(self, *, answer_after: float, count: int) -> None:
        self.answer_after = answer_after
        self.count = count
        self.receiving = asyncio.Event()
        self.released: list[tuple[str, int]] = []

    async def receive(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        self.receiving.set()
        await asyncio.sleep(self.answer_after)
        return [ReceivedMessage(f"m{i}", f"r{i}", '{"jobId": "j"}', 1) for i in range(self.count)]

    async def change_visibility(self, entries: Sequence[tuple[str, int]]) -> int:
        self.released.extend(entries)
        return len(entries)


def worker(queue: SlowQueue, **kw: Any) -> Worker:
    # the processor is never reached: the messages arrive after the stop
    return Worker(queue=cast(SqsQueue, queue), processor=cast(JobProcessor, None), **kw)


async def stop_during_receive(queue: SlowQueue, **kw: Any) -> float:
    w = worker(queue, **kw)
    run = asyncio.create_task(w.run())
    await asyncio.wait_for(queue.receiving.wait(), timeout=5)
    began = time.monotonic()
    w.stop()
    await asyncio.wait_for(run, timeout=30)
    return time.monotonic() - began


async def test_messages_received_just_after_stop_are_released_not_left_invisible() -> None:
    queue = SlowQueue(answer_after=0.3, count=10)
    await stop_during_receive(queue, stop_receive_grace=2.0)
    assert queue.released == [(f"r{i}", 0) for i in range(10)]


async def test_without_a_grace_the_receive_is_abandoned_and_its_messages_never_seen() -> None:
    queue = SlowQueue(answer_after=0.3, count=10)
    await stop_during_receive(queue, stop_receive_grace=0)
    assert queue.released == []  # what the grace prevents: these would stay invisible


async def test_an_idle_long_poll_does_not_hold_the_stop_beyond_the_grace() -> None:
    queue = SlowQueue(answer_after=20, count=0)
    took = await stop_during_receive(queue, stop_receive_grace=0.5)
    assert 0.4 < took < 5
    assert queue.released == []


class DrainingQueue(SlowQueue):
    """The first receive answers at once (a batch that takes ``grading`` s to process);
    the second answers ``answer_after`` s later — after the grace, while that batch drains."""

    def __init__(self, *, answer_after: float) -> None:
        super().__init__(answer_after=answer_after, count=10)
        self.receives = 0
        self.deleted: list[str] = []

    async def receive(self, *, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        self.receives += 1
        if self.receives == 1:
            return [ReceivedMessage(f"a{i}", f"ra{i}", '{"jobId": "j"}', 1) for i in range(3)]
        return await super().receive(max_messages=max_messages, wait_seconds=wait_seconds)

    async def delete(self, receipt_handles: Sequence[str]) -> int:
        self.deleted.extend(receipt_handles)
        return 0


class SlowProcessor:
    """Claims nothing to grade, slowly: the batch stays in flight for ``grading`` seconds."""

    def __init__(self, grading: float) -> None:
        self.grading = grading

    def backoff(self, receive_count: int) -> int:
        return 1

    async def claim(self, messages: list[ReceivedMessage]) -> ClaimedBatch:
        await asyncio.sleep(self.grading)
        return ClaimedBatch(
            lease=cast(Lease, None), decisions={m.receipt_handle: Ack() for m in messages}
        )


async def test_a_receive_answering_after_the_grace_is_kept_while_batches_drain() -> None:
    queue = DrainingQueue(answer_after=0.6)
    w = Worker(
        queue=cast(SqsQueue, queue),
        processor=cast(JobProcessor, SlowProcessor(grading=1.2)),
        stop_receive_grace=0.2,
        drain_timeout=10,
    )
    run = asyncio.create_task(w.run())
    while queue.receives < 2:
        await asyncio.sleep(0.01)
    w.stop()  # the second receive answers 0.6 s later: after the grace, before the drain ends
    await asyncio.wait_for(run, timeout=10)
    assert queue.deleted == [f"ra{i}" for i in range(3)]  # the in-flight batch finished
    assert queue.released == [(f"r{i}", 0) for i in range(10)]  # released, not left invisible
