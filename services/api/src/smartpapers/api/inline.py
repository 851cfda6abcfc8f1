"""Grading inside the request: ``SMARTPAPERS_SUBMISSIONS_MODE=sync``, the rollback switch
(docs/operations.md#rollback-synchronous-grading), and the ``Prefer: wait=N`` answer of the
async path.

Sync mode writes what a worker would: the job (already ``processing``, under a lease this
request holds), the graded submission, then the job's final status by the same
compare-and-set a worker uses — three round trips, no queue. If the API dies (or the
database fails) between them, the job's lease expires and the workers' sweeper puts it on
the queue: the submission is still never lost, only graded later.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import timedelta

from smartpapers.api.notifier import JobNotifier
from smartpapers.api.submissions import JobIntake, checked_paper
from smartpapers.common import failpoints
from smartpapers.common.errors import UnstorableDocumentError
from smartpapers.common.grading import grade_job
from smartpapers.common.job import Job
from smartpapers.common.metrics import JOBS_PROCESSED
from smartpapers.common.models import JobResult, JobStatus, SubmissionIn
from smartpapers.common.papers import PaperCache
from smartpapers.common.repositories import (
    Finish,
    Finished,
    JobRepository,
    SubmissionRepository,
)
from smartpapers.common.timeutil import utcnow

logger = logging.getLogger(__name__)

INLINE_LEASE = timedelta(seconds=60)
"""How long a request holds its job before the sweeper may take it over (far above the
three round trips it needs)."""
MAX_PREFER_WAIT_SECONDS = 10.0


class InlineGrader:
    def __init__(
        self,
        *,
        intake: JobIntake,
        jobs: JobRepository,
        submissions: SubmissionRepository,
        paper_cache: PaperCache,
    ) -> None:
        self._intake = intake
        self._jobs = jobs
        self._submissions = submissions
        self._papers = paper_cache

    async def grade(
        self,
        submission: SubmissionIn,
        *,
        idempotency_key: str | None,
        institute: str | None,
    ) -> tuple[str, JobResult | None]:
        """(jobId, its result). The result is None only when the job is not completed by
        this request: a replayed Idempotency-Key naming a job still in flight (or failed),
        or a lease lost to the sweeper. Raises the intake's and the database's errors."""
        paper = await checked_paper(submission, paper_cache=self._papers, institute=institute)
        now = utcnow()
        token = f"api-inline-{uuid.uuid4().hex}"
        job = dataclasses.replace(
            Job.new(submission=submission, idempotency_key=idempotency_key, now=now),
            status=JobStatus.PROCESSING,
            attempts=1,
            lease_owner=token,
            lease_until=now + INLINE_LEASE,
            started_at=now,
        )
        job_id = await self._intake.store(job)
        if job_id != job.job_id:  # a replay: the earlier job's answer
            earlier = await self._jobs.get(job_id)
            return job_id, earlier.result if earlier is not None else None
        graded = grade_job(job, paper, now=utcnow())
        await failpoints.hit("inline_before_store")
        (problem,) = await self._submissions.store_many([graded])
        if isinstance(problem, UnstorableDocumentError):
            await self._jobs.finish_many([Finish(job_id, token, utcnow(), error=str(problem))])
            JOBS_PROCESSED.labels(outcome="failed").inc()
            raise problem
        if problem is not None:
            raise problem  # the lease expires; the sweeper queues the job
        result = JobResult(
            submission_id=graded.submission_id, score=graded.score, total=graded.total
        )
        (finished,) = await self._jobs.finish_many([Finish(job_id, token, utcnow(), result=result)])
        if finished is not Finished.BY_US:
            logger.warning("inline job %s was finished elsewhere: %s", job_id, finished)
            return job_id, None
        JOBS_PROCESSED.labels(outcome="completed").inc()
        return job_id, result


async def wait_for_result(
    *, jobs: JobRepository, notifier: JobNotifier, job_id: str, seconds: float
) -> JobResult | None:
    """``Prefer: wait=N`` on the async path: the result if the job completes within
    ``seconds`` (one read, then the notifier's batched reads), else None."""
    job = await jobs.get(job_id)
    if job is None:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with notifier.watch(job.view()) as watch:
        while not watch.view.status.is_final:
            left = deadline - loop.time()
            if left <= 0 or not await watch.changed(left):
                return None
        return watch.view.result if watch.view.status is JobStatus.COMPLETED else None


def preferred_wait(prefer: str | None) -> float | None:
    """The ``wait`` preference of a ``Prefer`` header (RFC 7240 §4.3), capped at
    :data:`MAX_PREFER_WAIT_SECONDS`; None when absent or not a non-negative number.
    (A few lines of parsing: no maintained library does RFC 7240 preferences.)"""
    if not prefer:
        return None
    for preference in prefer.split(","):
        name, _, value = preference.split(";", 1)[0].strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return None
            if seconds != seconds or seconds < 0:  # NaN
                return None
            return min(seconds, MAX_PREFER_WAIT_SECONDS)
    return None
