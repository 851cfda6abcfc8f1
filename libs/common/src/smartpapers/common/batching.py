"""Coalesces concurrent job sends into SendMessageBatch calls (≤10 per call, short linger).

A :class:`~smartpapers.common.coalescing.Coalescer` does the gathering, so under load every
SQS request carries close to ten messages. Jobs are stored as enqueued; ``on_failed`` flips
the ones SQS did not take back to ``enqueued: false`` for the sweeper — a job without a
message is never touched by a worker, so that write races with nothing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from smartpapers.common.coalescing import Coalescer
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
        self._traceparents: dict[str, str] = {}
        self._sends = Coalescer[str, bool](
            self._send_batch, max_size=queue.max_batch, linger_seconds=linger_seconds
        )

    async def send(self, job_id: str, *, traceparent: str | None = None) -> bool:
        """Queue one jobId for sending; True once SQS accepted it, False if it was not sent
        (the job is then marked ``enqueued: false`` and the sweeper sends it later).
        ``traceparent`` travels as the message's trace context."""
        if traceparent:
            self._traceparents[job_id] = traceparent
        return await self._sends.submit(job_id)

    async def _send_batch(self, ids: list[str]) -> list[bool]:
        """Never raises: a failure is an unsent job, which the sweeper takes over."""
        traceparents = {j: tp for j in ids if (tp := self._traceparents.pop(j, None))}
        try:
            failed = set(await self._queue.send_job_ids(ids, traceparents=traceparents))
        except Exception:
            logger.exception("sending a batch of %d jobs failed", len(ids))
            failed = set(ids)
        if failed:
            try:
                await self._on_failed([job_id for job_id in ids if job_id in failed])
            except Exception:  # MongoDB down too: the sweeper's stale rule still finds them
                logger.warning("could not mark %d jobs unsent", len(failed), exc_info=True)
        return [job_id not in failed for job_id in ids]

    async def close(self) -> None:
        """Flush what is pending and wait for in-flight batches (graceful shutdown)."""
        await self._sends.close()
