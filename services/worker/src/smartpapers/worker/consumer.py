"""The worker loop, modelled on arq's ``Worker``: injected clients, keyword-only tunables, a
bounded number of jobs in flight, and a SIGTERM drain.

Each lane (normal, and priority when configured) has its own receiver long-polling its queue;
they share the in-flight limit by the fair receive rule (:mod:`smartpapers.worker.lanes`).
A busy lane's receive asks for at most as many messages as the limit leaves room for (≤10).
A receive batch is claimed, graded and finished by the :class:`JobProcessor` and then
acknowledged with one DeleteMessageBatch on its lane's queue; messages to retry get one
ChangeMessageVisibilityBatch. The limit adapts to the database's latency
(:class:`~smartpapers.worker.adaptive.AdaptiveLimit`), up to ``concurrency``. A slow batch's
visibility and lease are extended (heartbeat) so no other worker receives it meanwhile.

Shutdown (:meth:`Worker.stop`): no new receive starts; a receive in flight gets
``stop_receive_grace`` seconds to answer and the messages it brings are released at once
(visibility 0); in-flight batches get ``drain_timeout`` seconds to finish,
then they are cancelled, their jobs released to ``queued`` and their messages made visible.
Nothing goes to the DLQ because of a shutdown: a release does not count an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from smartpapers.common.errors import QueueUnavailableError, StorageUnavailableError
from smartpapers.common.lanes import Lane, LaneQueues
from smartpapers.common.queue import ReceivedMessage, SqsQueue
from smartpapers.worker.adaptive import AdaptiveLimit
from smartpapers.worker.lanes import Room
from smartpapers.worker.metrics import (
    CONCURRENCY_LIMIT,
    INFLIGHT,
    INFLIGHT_LIMIT,
    JOBS_PROCESSED,
    RECEIVE_BATCHES,
)
from smartpapers.worker.processing import Ack, ClaimedBatch, Decision, JobProcessor, Retry

T = TypeVar("T")

logger = logging.getLogger(__name__)


def new_owner() -> str:
    """A worker process's identity in job leases."""
    return f"worker-{uuid.uuid4()}"


class Worker:
    def __init__(
        self,
        *,
        queue: SqsQueue,
        processor: JobProcessor,
        priority_queue: SqsQueue | None = None,
        priority_share: int = 4,
        concurrency: int = 50,
        adaptive: bool = True,
        wait_seconds: int = 20,
        visibility_timeout: int = 60,
        drain_timeout: float = 25,
        poll_error_delay: float = 1.0,
        stop_receive_grace: float = 2.0,
    ) -> None:
        self.queues = LaneQueues(normal=queue, priority=priority_queue)
        self.processor = processor
        self.limit = AdaptiveLimit(
            maximum=concurrency,
            minimum=min(queue.max_batch, concurrency) if adaptive else concurrency,
        )
        self.room = Room(self.limit, batch=queue.max_batch, share=priority_share)
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.drain_timeout = drain_timeout
        self.poll_error_delay = poll_error_delay
        self.stop_receive_grace = stop_receive_grace
        self.last_poll = time.monotonic()
        self._stopping = asyncio.Event()
        self._batches: set[asyncio.Task[None]] = set()
        CONCURRENCY_LIMIT.set(concurrency)
        INFLIGHT_LIMIT.set(self.limit.limit)

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        if not self._stopping.is_set():
            logger.info("worker stopping: no new receives, draining in-flight jobs")
            self._stopping.set()

    @property
    def stopping_event(self) -> asyncio.Event:
        return self._stopping

    async def run(self) -> None:
        """Poll every lane until :meth:`stop`, then drain."""
        logger.info(
            "worker started",
            extra={
                "concurrency": self.limit.maximum,
                "queues": {lane.value: q.url for lane, q in self.queues.items()},
            },
        )
        try:
            # a bug in one lane's loop cancels the other: the process exits, nothing is orphaned
            async with asyncio.TaskGroup() as lanes:
                for lane, _ in self.queues.items():
                    lanes.create_task(self._receive_loop(lane))
        finally:
            await self._drain()
        logger.info("worker stopped")

    async def _receive_loop(self, lane: Lane) -> None:
        busy = False
        while not self._stopping.is_set():
            busy = await self._poll_once(lane, busy=busy)

    async def _poll_once(self, lane: Lane, *, busy: bool) -> bool:
        """One receive on ``lane``'s queue; True when it brought messages (the lane is busy:
        its next receive waits for room)."""
        queue = self.queues.queue(lane)
        if busy:
            want = await self.room.turn(lane, self._stopping)
            if want is None:
                return busy
        else:
            want = 0  # idle: poll at once, no room taken
        self.last_poll = time.monotonic()
        try:
            messages = await self._until_stopping(
                queue.receive(max_messages=want or queue.max_batch, wait_seconds=self.wait_seconds),
                grace=self.stop_receive_grace,
            )
        except QueueUnavailableError as e:
            logger.warning("receive failed, retrying in %.1fs: %s", self.poll_error_delay, e)
            await self._until_stopping(asyncio.sleep(self.poll_error_delay))
            return busy
        finally:
            self.last_poll = time.monotonic()
            await self.room.unreserve(want)
        if not messages:
            return False
        RECEIVE_BATCHES.labels(lane=lane.value).inc()
        if self._stopping.is_set():
            await self._release_messages(queue, messages)
            return True
        self.room.take(len(messages))
        INFLIGHT.inc(len(messages))
        task = asyncio.create_task(self._process_batch(queue, messages))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        return True

    async def _until_stopping(self, work: Awaitable[T], *, grace: float = 0) -> T | None:
        """Await ``work``, but give up ``grace`` seconds after stop() is called (then None).

        A receive cancelled just as SQS answered leaves those messages invisible until their
        visibility timeout ends (delayed, never lost; ElasticMQ even answers a poll whose
        client has gone). Under load a receive answers at once, so a short grace lets it
        land and its messages be released (visibility 0) instead; an idle long poll is
        still abandoned after the grace, so it never holds the stop for its wait time.
        While batches are still draining the stop waits for them anyway, so the receive is
        kept that long too (a CPU-throttled pod may answer after the grace; bounded by the
        drain timeout)."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done() and grace > 0:
            await asyncio.wait({task}, timeout=grace)
            await self._while_draining(task)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, QueueUnavailableError):
            await task
        return None

    async def _while_draining(self, task: asyncio.Future[Any]) -> None:
        """Wait for ``task`` as long as in-flight batches run (at most the drain timeout)."""
        deadline = time.monotonic() + self.drain_timeout
        while not task.done() and self._batches and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(
                {task, *self._batches}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )

    async def _drain(self) -> None:
        if not self._batches:
            return
        logger.info(
            "draining %d in-flight batches (up to %.0fs)", len(self._batches), self.drain_timeout
        )
        _, pending = await asyncio.wait(set(self._batches), timeout=self.drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- one receive batch ---------------------------------------------------------------

    async def _process_batch(self, queue: SqsQueue, messages: list[ReceivedMessage]) -> None:
        try:
            decisions = await self._decide(queue, messages)
        finally:
            INFLIGHT.dec(len(messages))
            await self.room.give_back(len(messages))
        for decision in decisions.values():
            if isinstance(decision, Retry):
                JOBS_PROCESSED.labels(outcome="retried").inc()
        await self._settle(queue, messages, decisions)

    async def _decide(
        self, queue: SqsQueue, messages: list[ReceivedMessage]
    ) -> dict[str, Decision]:
        started = time.monotonic()
        try:
            batch = await self.processor.claim(messages)
        except StorageUnavailableError as e:
            self._limit_sample(None)
            logger.warning("MongoDB unavailable for %d messages: %s", len(messages), e)
            return {m.receipt_handle: self._backoff(m) for m in messages}
        self._limit_sample(time.monotonic() - started)
        if not batch.work:
            return batch.decisions
        try:
            return batch.decisions | await self._with_heartbeat(queue, batch)
        except asyncio.CancelledError:
            # the drain timed out: give every unfinished job and message back (no attempt)
            await asyncio.shield(self._give_back(queue, messages, batch))
            raise
        except Exception as e:  # StorageUnavailableError, or a bug: retry, then DLQ
            if isinstance(e, StorageUnavailableError):
                logger.warning("MongoDB unavailable for %d jobs: %s", len(batch.work), e)
            else:
                logger.exception("unexpected error in a batch of %d jobs", len(batch.work))
            # give the leases up (best effort) so redeliveries claim the jobs at once
            with contextlib.suppress(StorageUnavailableError):
                await batch.lease.release(refund_attempt=False)
            return batch.decisions | {m.receipt_handle: self._backoff(m) for m, _ in batch.work}

    def _limit_sample(self, latency: float | None) -> None:
        if latency is None:
            self.limit.failed()
        else:
            self.limit.record(latency)
        INFLIGHT_LIMIT.set(self.limit.limit)

    def _backoff(self, message: ReceivedMessage) -> Retry:
        return Retry(self.processor.backoff(message.receive_count))

    async def _with_heartbeat(self, queue: SqsQueue, batch: ClaimedBatch) -> dict[str, Decision]:
        """Grade and finish the batch; every visibility/2 seconds extend its messages'
        visibility and its jobs' lease so a slow batch is not delivered to a second worker."""
        task = asyncio.ensure_future(self.processor.grade_and_finish(batch))
        interval = max(self.visibility_timeout / 2, 1)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=interval)
                if done:
                    return task.result()
                await self._extend(queue, batch)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _extend(self, queue: SqsQueue, batch: ClaimedBatch) -> None:
        try:
            handles = [(m.receipt_handle, self.visibility_timeout) for m, _ in batch.work]
            await queue.change_visibility(handles)
            await batch.lease.extend()
            logger.info("%d jobs still grading: visibility extended", len(batch.work))
        except (QueueUnavailableError, StorageUnavailableError) as e:
            logger.warning("heartbeat for %d jobs failed: %s", len(batch.work), e)

    async def _settle(
        self, queue: SqsQueue, messages: list[ReceivedMessage], decisions: dict[str, Decision]
    ) -> None:
        acks = [
            m.receipt_handle for m in messages if isinstance(decisions.get(m.receipt_handle), Ack)
        ]
        retries = [
            (m.receipt_handle, d.delay)
            for m in messages
            if isinstance(d := decisions.get(m.receipt_handle), Retry)
        ]
        try:
            if acks and (failed := await queue.delete(acks)):
                logger.warning("%d deletions failed; those messages will be acked again", failed)
            if retries:
                await queue.change_visibility(retries)
        except QueueUnavailableError as e:
            # not deleted → redelivered after the visibility timeout → acked again (idempotent)
            logger.warning("could not settle %d messages: %s", len(messages), e)

    async def _give_back(
        self, queue: SqsQueue, messages: list[ReceivedMessage], batch: ClaimedBatch
    ) -> None:
        with contextlib.suppress(StorageUnavailableError):
            await batch.lease.release(refund_attempt=True)
        decided = [m for m in messages if m.receipt_handle in batch.decisions]
        await self._settle(queue, decided, batch.decisions)
        await self._release_messages(
            queue, [m for m in messages if m.receipt_handle not in batch.decisions]
        )

    async def _release_messages(self, queue: SqsQueue, messages: list[ReceivedMessage]) -> None:
        if not messages:
            return
        try:
            await queue.change_visibility([(m.receipt_handle, 0) for m in messages])
        except QueueUnavailableError as e:
            logger.warning("could not release %d messages: %s", len(messages), e)
