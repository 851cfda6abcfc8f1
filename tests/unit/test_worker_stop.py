"""Worker.stop() with a receive in flight (a fake queue; no servers): the messages a receive
brings just after the stop are released at once (visibility 0), not left invisible for a
visibility timeout; an idle long poll is abandoned after the grace, not waited for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

from smartpapers.common.queue import ReceivedMessage, SqsQueue
from smartpapers.worker.consumer import Worker
from smartpapers.worker.processing import JobProcessor


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
