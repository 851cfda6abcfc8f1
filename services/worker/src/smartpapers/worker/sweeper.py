"""The sweeper: the outbox's second half. It makes "a 202 means the job WILL reach completed
or failed" true when a message never existed or was lost:

- queued jobs whose SQS send failed (``enqueued: false`` past a grace period) are sent;
- processing jobs whose lease expired (their worker died) go back to ``queued`` and are
  sent again, or end ``failed`` once their attempts are exhausted;
- queued jobs sent long ago but never processed (their message reached the DLQ during an
  outage, or was lost) are sent again.

Every worker process runs one, but only the holder of the ``sweeper`` lease in MongoDB acts
in a round (a MongoDB lease rather than a Kubernetes CronJob: it needs no extra RBAC or image
entry point, works the same under ``make dev``, and keeps sweeping while any worker lives).
Re-sending is safe: deliveries of a finished job are acknowledged without effect. A job is
re-sent to its own lane's queue (smartpapers.common.lanes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter

from smartpapers.common.errors import QueueUnavailableError, StorageUnavailableError
from smartpapers.common.lanes import Lane, LaneQueues
from smartpapers.common.repositories import JobRepository, LockRepository, SweepRepository
from smartpapers.common.timeutil import utcnow

logger = logging.getLogger(__name__)

LOCK_NAME = "sweeper"

SWEPT = Counter(
    "smartpapers_sweeper_jobs",
    "Jobs the sweeper acted on: resent (never sent or lost), requeued (lease expired), "
    "failed (lease expired with no attempts left).",
    ["action"],
)
for _action in ("resent", "requeued", "failed"):
    SWEPT.labels(action=_action)


@dataclass
class SweepReport:
    leader: bool = False
    resent: int = 0
    requeued: int = 0
    failed: int = 0


class Sweeper:
    def __init__(
        self,
        *,
        sweeps: SweepRepository,
        jobs: JobRepository,
        locks: LockRepository,
        queues: LaneQueues,
        owner: str,
        lease_seconds: float,
        interval_seconds: float = 30,
        unsent_grace_seconds: float = 30,
        stale_after_seconds: float = 900,
        max_attempts: int = 5,
        batch_limit: int = 500,
    ) -> None:
        self.sweeps = sweeps
        self.jobs = jobs
        self.locks = locks
        self.queues = queues
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.interval = interval_seconds
        self.unsent_grace = timedelta(seconds=unsent_grace_seconds)
        self.stale_after = timedelta(seconds=stale_after_seconds)
        self.max_attempts = max_attempts
        self.batch_limit = batch_limit

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                report = await self.sweep_once()
                if report.resent or report.requeued or report.failed:
                    logger.info("sweep: %s", report)
            except (StorageUnavailableError, QueueUnavailableError) as e:
                logger.warning("sweep skipped: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
        with contextlib.suppress(StorageUnavailableError):
            await self.locks.release(LOCK_NAME, owner=self.owner)

    async def sweep_once(self, *, now: datetime | None = None) -> SweepReport:
        now = now or utcnow()
        report = SweepReport()
        ttl = timedelta(seconds=max(self.interval * 3, 10))
        if not await self.locks.try_acquire(LOCK_NAME, owner=self.owner, now=now, ttl=ttl):
            return report
        report.leader = True

        expired = await self.sweeps.expired_leases(
            now=now, lease=self.lease, limit=self.batch_limit
        )
        requeued: dict[str, Lane] = {}
        for lease in expired:
            if lease.attempts >= self.max_attempts:
                error = f"gave up after {lease.attempts} attempts (worker lease expired)"
                if await self.sweeps.fail_expired(lease, now=now, error=error):
                    report.failed += 1
            elif await self.sweeps.requeue_expired(lease, now=now):
                requeued[lease.job_id] = lease.lane
        report.requeued = len(requeued)

        unsent = await self.sweeps.unsent(
            updated_before=now - self.unsent_grace, limit=self.batch_limit
        )
        stale = await self.sweeps.stale_queued(
            updated_before=now - self.stale_after, limit=self.batch_limit
        )
        to_send = requeued | unsent | stale  # requeued: sent at once
        if to_send:
            # mark first: these jobs have no message, so no worker writes them meanwhile
            await self.sweeps.mark_enqueued(list(to_send), now=now)
            report.resent = len(to_send) - await self._send(to_send)
        SWEPT.labels(action="resent").inc(report.resent)
        SWEPT.labels(action="requeued").inc(report.requeued)
        SWEPT.labels(action="failed").inc(report.failed)
        return report

    async def _send(self, jobs: dict[str, Lane]) -> int:
        """Send each job to its lane's queue; the ones SQS refused are marked unsent (their
        count is returned)."""
        failed: list[str] = []
        for lane in Lane:
            if ids := [job_id for job_id, job_lane in jobs.items() if job_lane is lane]:
                failed += await self.queues.queue(lane).send_job_ids(ids)
        if failed:
            await self.jobs.mark_unsent(failed)
        return len(failed)
