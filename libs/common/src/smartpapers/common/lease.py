"""A worker's lease on the jobs it claimed: the one home of claiming, extending and releasing.

One receive batch is claimed in two round trips (``JobRepository.claim``: an ``updateMany``
compare-and-set over ``_id $in`` and a read-back); every job it won carries the batch's
lease token as ``leaseOwner``, so a job is held by exactly one claim at a time even when
the same worker process receives one job twice. Jobs whose previous holder died (lease
expired) are taken over in two more round trips, only when the read-back shows some.

While a worker holds the lease, only it can move the job to a final status (the finish is a
compare-and-set on the token, ``JobRepository.finish_many``); the lease expires by itself
if the worker dies, and the sweeper or the next delivery takes the job over.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from smartpapers.common.job import Job
from smartpapers.common.models import JobStatus
from smartpapers.common.repositories import JobRepository
from smartpapers.common.timeutil import utcnow

logger = logging.getLogger(__name__)


class Unclaimed(Enum):
    """Why a job named by a message was not claimed."""

    FINISHED = "finished"
    """Already completed or failed: the message is a duplicate delivery."""
    HELD = "held"
    """Another worker holds an unexpired lease on it."""
    UNKNOWN = "unknown"
    """No such job (yet): a message that outran its job's insert, or a stray one."""
    DUPLICATE = "duplicate"
    """A second message for a job this batch already claimed."""


@dataclass(frozen=True, slots=True)
class NotClaimed:
    reason: Unclaimed
    lease_until: datetime | None = None


class Lease:
    """The jobs one claim won, held under one token until each is finished or released."""

    def __init__(
        self, *, jobs: JobRepository, token: str, held: dict[str, Job], duration: timedelta
    ) -> None:
        self._jobs = jobs
        self.token = token
        self.duration = duration
        self.held = held

    def done(self, job_ids: Iterable[str]) -> None:
        """These jobs reached a final status (or were written off): no longer held."""
        for job_id in job_ids:
            self.held.pop(job_id, None)

    async def extend(self) -> None:
        """Push the lease of every job still held (one round trip)."""
        if self.held:
            now = utcnow()
            await self._jobs.extend(
                list(self.held), token=self.token, now=now, until=now + self.duration
            )

    async def release(self, *, refund_attempt: bool, job_ids: Sequence[str] | None = None) -> None:
        """Give jobs back to ``queued`` (one round trip) so their next delivery claims them at
        once: after an error (``refund_attempt=False``: the attempt counts) or at shutdown
        (refunded). Default: every job still held."""
        ids = list(self.held) if job_ids is None else list(job_ids)
        if ids:
            await self._jobs.release(
                ids, token=self.token, now=utcnow(), refund_attempt=refund_attempt
            )
            self.done(ids)


class Claimer:
    """Claims receive batches for one worker process (``owner``)."""

    def __init__(self, *, jobs: JobRepository, owner: str, duration: timedelta) -> None:
        self._jobs = jobs
        self._owner = owner
        self._duration = duration
        self._counter = itertools.count(1)

    async def claim(self, job_ids: Sequence[str]) -> tuple[Lease, dict[str, Job | NotClaimed]]:
        """Claim every job of ``job_ids`` that can be claimed; for each id, the claimed job
        or why it was not. Raises StorageUnavailableError."""
        token = f"{self._owner}/{next(self._counter)}"
        unique = list(dict.fromkeys(job_ids))
        now = utcnow()
        until = now + self._duration
        found = {
            j.job_id: j for j in await self._jobs.claim(unique, token=token, now=now, until=until)
        }
        expired = [
            j.job_id
            for j in found.values()
            if j.status is JobStatus.PROCESSING
            and j.lease_owner != token
            and j.lease_until is not None
            and j.lease_until < now
        ]
        if expired:  # their worker died: take them over (the previous lease is void)
            logger.info("taking over %d jobs whose lease expired", len(expired))
            taken = await self._jobs.claim(expired, token=token, now=now, until=until, expired=True)
            found.update((j.job_id, j) for j in taken)
        held = {i: j for i, j in found.items() if j.lease_owner == token}
        return Lease(jobs=self._jobs, token=token, held=held, duration=self._duration), {
            job_id: found_outcome(found.get(job_id), token) for job_id in unique
        }


def found_outcome(job: Job | None, token: str) -> Job | NotClaimed:
    if job is None:
        return NotClaimed(Unclaimed.UNKNOWN)
    if job.lease_owner == token and job.status is JobStatus.PROCESSING:
        return job
    if job.status.is_final:
        return NotClaimed(Unclaimed.FINISHED)
    return NotClaimed(Unclaimed.HELD, lease_until=job.lease_until)
