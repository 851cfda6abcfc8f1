"""Coalesces concurrent job sends into SendMessageBatch calls (≤10 per call, short linger).

Each caller awaits its own outcome; a flush runs while new sends keep accumulating, so
under load every SQS request carries close to ten messages. Jobs are stored as enqueued;
``on_failed`` flips the ones SQS did not take back to ``enqueued: false`` for the sweeper —
a job without a message is never touched by a worker, so that write races with nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from smartpapers.common.queue import SqsQueue

logger = logging.getLogger(__name__)


class SendBatcher:
    def __init__(
        self,
        *,
        queue: SqsQueue,
        on_failed: Callable[[Sequence[str]], Awaitable[None]],
        linger_seconds: float = 0.005,
    ) -> None:
        self._queue = queue
        self._on_failed = on_failed
        self._linger = linger_seconds
        self._pending: list[tuple[str, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def send(self, job_id: str) -> bool:
        """Queue one jobId for sending; True once SQS accepted it, False if it was not sent
        (the job is then marked ``enqueued: false`` and the sweeper sends it later)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((job_id, future))
        if len(self._pending) >= self._queue.max_batch:
            self._flush_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._flush_now)
        return await asyncio.shield(future)

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            size = self._queue.max_batch
            batch, self._pending = self._pending[:size], self._pending[size:]
            task = asyncio.create_task(self._send_batch(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _send_batch(self, batch: list[tuple[str, asyncio.Future[bool]]]) -> None:
        ids = [job_id for job_id, _ in batch]
        try:
            failed = set(await self._queue.send_job_ids(ids))
        except Exception:
            logger.exception("sending a batch of %d jobs failed", len(ids))
            failed = set(ids)
        if failed:
            try:
                await self._on_failed([job_id for job_id in ids if job_id in failed])
            except Exception:  # MongoDB down too: the sweeper's stale rule still finds them
                logger.warning("could not mark %d jobs unsent", len(failed), exc_info=True)
        for job_id, future in batch:
            if not future.done():
                future.set_result(job_id not in failed)

    async def close(self) -> None:
        """Flush what is pending and wait for in-flight batches (graceful shutdown)."""
        self._flush_now()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
