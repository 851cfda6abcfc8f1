"""The WebSocket's bounds without a network: a client that does not read is disconnected
(1008) — by the send timeout or a full outbox — and every watch is released."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from starlette.websockets import WebSocket, WebSocketDisconnect

from smartpapers.api.notifier import JobNotifier
from smartpapers.api.ws import OUTBOX_SIZE, POLICY_VIOLATION, Subscriptions
from smartpapers.common.models import JobStatus, JobView
from tests.unit.test_notifier import FakeJobs, make, view


class FakeSocket:
    """Hands out queued client messages; ``send_text`` blocks while ``reading`` is clear."""

    def __init__(self, *messages: str) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        for m in messages:
            self.incoming.put_nowait(m)
        self.sent: list[str] = []
        self.reading = asyncio.Event()
        self.reading.set()
        self.closed: tuple[int, str | None] | None = None

    async def receive_text(self) -> str:
        message = await self.incoming.get()
        if message is None:
            raise WebSocketDisconnect(1000)
        return message

    async def send_text(self, text: str) -> None:
        await self.reading.wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def subscriptions(
    sock: FakeSocket, jobs: FakeJobs, *, send_timeout: float = 0.2, outbox_size: int = OUTBOX_SIZE
) -> tuple[Subscriptions, JobNotifier]:
    async def read_view(job_id: str) -> JobView:
        return jobs.views[job_id]

    notifier = make(jobs)
    subs = Subscriptions(
        cast(WebSocket, sock),
        notifier=notifier,
        read_view=read_view,
        send_timeout_seconds=send_timeout,
        outbox_size=outbox_size,
    )
    return subs, notifier


async def test_a_client_that_stops_reading_is_disconnected_after_the_send_timeout() -> None:
    jobs = FakeJobs()
    jobs.views = {"a": view("a")}
    sock = FakeSocket(json.dumps({"subscribe": ["a"]}))
    sock.reading.clear()  # the client never takes a message
    subs, notifier = subscriptions(sock, jobs)
    await asyncio.wait_for(subs.serve(), timeout=5)
    assert sock.closed == (POLICY_VIOLATION, "slow_client")
    assert notifier.watched_jobs == 0  # the watch was released


async def test_a_full_outbox_disconnects_without_waiting_for_the_timeout() -> None:
    jobs = FakeJobs()
    jobs.views = {k: view(k) for k in "abcd"}
    sock = FakeSocket(json.dumps({"subscribe": list("abcd")}))
    sock.reading.clear()
    subs, _ = subscriptions(sock, jobs, send_timeout=30, outbox_size=2)
    await asyncio.wait_for(subs.serve(), timeout=5)  # far below the 30 s send timeout
    assert sock.closed == (POLICY_VIOLATION, "slow_client")


async def test_a_reading_client_gets_every_change_and_leaves_cleanly() -> None:
    jobs = FakeJobs()
    jobs.views = {"a": view("a")}
    sock = FakeSocket(json.dumps({"subscribe": ["a", "a"]}))  # a duplicate is one watch
    subs, notifier = subscriptions(sock, jobs)
    serving = asyncio.create_task(subs.serve())
    runner = asyncio.create_task(notifier.run())
    try:
        while not sock.sent:
            await asyncio.sleep(0.01)
        jobs.views["a"] = view("a", JobStatus.PROCESSING, attempts=1)
        while len(sock.sent) < 2:
            await asyncio.sleep(0.01)
        assert notifier.watched_jobs == 1
        await sock.incoming.put(None)  # the client hangs up
        await asyncio.wait_for(serving, timeout=5)
    finally:
        runner.cancel()
    assert [json.loads(m)["status"] for m in sock.sent] == ["queued", "processing"]
    assert sock.closed is None  # it left by itself: nothing to close
    assert notifier.watched_jobs == 0
