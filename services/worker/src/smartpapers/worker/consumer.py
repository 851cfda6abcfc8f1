"""The worker loop, modelled on arq's ``Worker``: injected clients, keyword-only tunables,
a semaphore bounding in-flight jobs, and a SIGTERM drain.

Each long poll asks for at most as many messages as there are free slots (≤10). A receive
batch is processed concurrently and acknowledged with one DeleteMessageBatch; messages to
retry get one ChangeMessageVisibilityBatch. A slow job's visibility and lease are extended
(heartbeat) so no other worker receives it meanwhile.

Shutdown (:meth:`Worker.stop`): no new receive starts; messages received after the stop are
released at once (visibility 0); in-flight jobs get ``drain_timeout`` seconds to finish,
then they are cancelled, their jobs released to ``queued`` and their messages made visible.
Nothing goes to the DLQ because of a shutdown: a release does not count an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from smartpapers.common.errors import QueueUnavailableError, StorageUnavailableError
from smartpapers.common.queue import ReceivedMessage, SqsQueue
from smartpapers.common.repositories import JobRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.worker.metrics import CONCURRENCY_LIMIT, INFLIGHT, JOBS_PROCESSED
from smartpapers.worker.processing import Ack, Claimed, Decision, JobProcessor, Retry

logger = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        *,
        queue: SqsQueue,
        jobs: JobRepository,
        processor: JobProcessor,
        concurrency: int = 50,
        wait_seconds: int = 20,
        visibility_timeout: int = 60,
        drain_timeout: float = 25,
        poll_error_delay: float = 1.0,
    ) -> None:
        self.queue = queue
        self.jobs = jobs
        self.processor = processor
        self.concurrency = concurrency
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.drain_timeout = drain_timeout
        self.poll_error_delay = poll_error_delay
        self.owner = f"worker-{uuid.uuid4()}"
        self.last_poll = time.monotonic()
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._batches: set[asyncio.Task[None]] = set()
        self._inflight = 0
        CONCURRENCY_LIMIT.set(concurrency)

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        if not self._stopping.is_set():
            logger.info("worker stopping: no new receives, draining in-flight jobs")
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def stopping_event(self) -> asyncio.Event:
        return self._stopping

    async def run(self) -> None:
        """Poll until :meth:`stop`, then drain."""
        logger.info(
            "worker started",
            extra={"concurrency": self.concurrency, "queue": self.queue.url, "owner": self.owner},
        )
        try:
            while not self._stopping.is_set():
                await self._poll_once()
        finally:
            await self._drain()
        logger.info("worker stopped")

    async def _poll_once(self) -> None:
        await self._wait_for_slot()
        if self._stopping.is_set():
            return
        want = min(self.queue.max_batch, self._free_slots())
        self.last_poll = time.monotonic()
        try:
            messages = await self._receive_unless_stopping(want)
        except QueueUnavailableError as e:
            logger.warning("receive failed, retrying in %.1fs: %s", self.poll_error_delay, e)
            self.last_poll = time.monotonic()
            await self._sleep_unless_stopping(self.poll_error_delay)
            return
        self.last_poll = time.monotonic()
        if not messages:
            return
        if self._stopping.is_set():
            await self._release_messages(messages)
            return
        for _ in messages:
            await self._slots.acquire()
        self._inflight += len(messages)
        INFLIGHT.inc(len(messages))
        task = asyncio.create_task(self._process_batch(messages))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _receive_unless_stopping(self, want: int) -> list[ReceivedMessage]:
        """Long-poll, but give up the poll at once when stop() is called. A poll cancelled
        just as SQS answered leaves those messages invisible until their visibility timeout
        ends; they are then delivered again (delayed, never lost)."""
        receive = asyncio.ensure_future(
            self.queue.receive(max_messages=want, wait_seconds=self.wait_seconds)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, QueueUnavailableError):
                await receive
            return []
        return receive.result()

    def _free_slots(self) -> int:
        return max(self.concurrency - self._inflight, 1)

    async def _wait_for_slot(self) -> None:
        """Block while every slot is busy, unless stop() is called meanwhile."""
        if not self._slots.locked():
            return
        acquire = asyncio.ensure_future(self._slots.acquire())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({acquire, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if acquire.done() and not acquire.cancelled():
            self._slots.release()
        else:
            acquire.cancel()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _drain(self) -> None:
        try:
            await self._drain_batches()
        finally:
            await self.processor.close()

    async def _drain_batches(self) -> None:
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

    async def _process_batch(self, messages: list[ReceivedMessage]) -> None:
        decisions: dict[str, Decision] = {}
        claimed: dict[str, Claimed] = {}
        try:
            await asyncio.gather(*(self._handle(m, decisions, claimed) for m in messages))
        except asyncio.CancelledError:
            # drain timed out: give every unfinished job and message back
            await asyncio.shield(self._release(messages, decisions, claimed))
            raise
        finally:
            INFLIGHT.dec(len(messages))
            self._inflight -= len(messages)
            for _ in messages:
                self._slots.release()
        await self._settle(messages, decisions)

    async def _handle(
        self,
        message: ReceivedMessage,
        decisions: dict[str, Decision],
        claimed: dict[str, Claimed],
    ) -> None:
        try:
            with self.processor.expecting_writes() as tickets:
                first = await self.processor.claim(message, owner=self.owner)
                if isinstance(first, Claimed):
                    claimed[message.receipt_handle] = first
                    decision = await self._with_heartbeat(
                        message,
                        first,
                        lambda: self.processor.grade_and_finish(first, tickets=tickets),
                    )
                    claimed.pop(message.receipt_handle, None)
                else:
                    decision = first
        except StorageUnavailableError as e:
            logger.warning("MongoDB unavailable for message %s: %s", message.message_id, e)
            decision = await self._after_error(message, claimed)
        except Exception:  # a bug must not take the batch down: retry, then DLQ
            logger.exception("unexpected error on message %s", message.message_id)
            decision = await self._after_error(message, claimed)
        if isinstance(decision, Retry):
            JOBS_PROCESSED.labels(outcome="retried").inc()
        decisions[message.receipt_handle] = decision

    async def _after_error(self, message: ReceivedMessage, claimed: dict[str, Claimed]) -> Decision:
        """Redeliver after a growing delay; give up a held lease (best effort) so that the
        redelivery can claim the job at once instead of waiting for the lease to expire."""
        held = claimed.pop(message.receipt_handle, None)
        if held is not None:
            with contextlib.suppress(StorageUnavailableError):
                await self.jobs.release(
                    held.job["_id"], owner=held.owner, now=utcnow(), refund_attempt=False
                )
        return Retry(self.processor.backoff(message.receive_count))

    async def _with_heartbeat(
        self, message: ReceivedMessage, claimed: Claimed, work: Callable[[], Awaitable[Decision]]
    ) -> Decision:
        """Run ``work``; every visibility/2 seconds extend the message's visibility and the
        job's lease so a slow grade is not delivered to a second worker."""
        task = asyncio.ensure_future(work())
        interval = max(self.visibility_timeout / 2, 1)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=interval)
                if done:
                    return task.result()
                await self._extend(message, claimed)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _extend(self, message: ReceivedMessage, claimed: Claimed) -> None:
        try:
            await self.queue.change_visibility([(message.receipt_handle, self.visibility_timeout)])
            await self.jobs.extend_lease(
                claimed.job["_id"],
                owner=claimed.owner,
                until=utcnow() + self.processor.lease,
            )
            logger.info("job %s still grading: visibility extended", claimed.job["_id"])
        except (QueueUnavailableError, StorageUnavailableError) as e:
            logger.warning("heartbeat for job %s failed: %s", claimed.job["_id"], e)

    async def _settle(
        self, messages: list[ReceivedMessage], decisions: dict[str, Decision]
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
            if acks and (failed := await self.queue.delete(acks)):
                logger.warning("%d deletions failed; those messages will be acked again", failed)
            if retries:
                await self.queue.change_visibility(retries)
        except QueueUnavailableError as e:
            # not deleted → redelivered after the visibility timeout → acked again (idempotent)
            logger.warning("could not settle %d messages: %s", len(messages), e)

    async def _release(
        self,
        messages: list[ReceivedMessage],
        decisions: dict[str, Decision],
        claimed: dict[str, Claimed],
    ) -> None:
        now = utcnow()
        for c in claimed.values():
            with contextlib.suppress(StorageUnavailableError):
                await self.jobs.release(c.job["_id"], owner=c.owner, now=now)
        done = [m for m in messages if m.receipt_handle in decisions]
        await self._settle(done, decisions)
        await self._release_messages([m for m in messages if m.receipt_handle not in decisions])

    async def _release_messages(self, messages: list[ReceivedMessage]) -> None:
        if not messages:
            return
        try:
            await self.queue.change_visibility([(m.receipt_handle, 0) for m in messages])
        except QueueUnavailableError as e:
            logger.warning("could not release %d messages: %s", len(messages), e)
