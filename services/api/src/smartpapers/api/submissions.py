"""Accepting a submission: validate against the paper, store the job (the outbox), enqueue.

A 202 is answered only once the job is stored with majority write concern. The SQS send is
attempted right away (batched with concurrent requests); if it fails the job is marked
``enqueued: false`` and the sweeper sends it; if the API dies between the insert and the send,
the sweeper's stale rule re-sends it. Either way the submission is never lost.

Job inserts go through :class:`JobIntake` (docs/architecture.md#accepting-a-burst): group
commit (what queues up while inserts run goes out as one ``insert_many``, so batches grow
with the database's latency), a bounded admission queue, and retries of a bulk that timed
out — safe, because a job already stored by the earlier attempt counts as stored. So a slow
database slows the answers down but does not turn them into 503s; 503 + Retry-After comes
only when the database is unreachable, the bound is reached, or the retries run past the
deadline.
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry import trace
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from smartpapers.common.batching import SendBatcher
from smartpapers.common.coalescing import Coalescer
from smartpapers.common.errors import PaperNotFoundError, StorageTimeoutError, TooManyAnswersError
from smartpapers.common.job import Job
from smartpapers.common.models import Lane, Paper, SubmissionIn
from smartpapers.common.papers import PaperCache
from smartpapers.common.repositories import JobRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.common.tracing import current_traceparent

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class JobIntake:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        batch_size: int,
        max_inflight: int,
        max_pending: int,
        deadline_seconds: float,
    ) -> None:
        self._jobs = jobs
        self._deadline = deadline_seconds
        self._writer = Coalescer[Job, str](
            self._insert,
            max_size=batch_size,
            linger_seconds=0,
            max_inflight=max_inflight,
            max_pending=max_pending,
        )

    async def store(self, job: Job) -> str:
        """The id the job is stored under (an earlier job's for a replayed
        Idempotency-Key). Raises OverloadedError past the admission bound, and
        StorageUnavailableError / IdempotencyConflictError."""
        return await self._writer.submit(job)

    async def _insert(self, jobs: list[Job]) -> list[str | BaseException]:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(StorageTimeoutError),
            stop=stop_after_delay(self._deadline),
            wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    logger.warning("retrying a timed-out insert of %d jobs", len(jobs))
                return await self._jobs.insert_many(jobs)
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True

    async def close(self) -> None:
        await self._writer.close()


async def accept_submission(
    *,
    submission: SubmissionIn,
    idempotency_key: str | None,
    intake: JobIntake,
    paper_cache: PaperCache,
    batcher: SendBatcher,
    send_timeout: float,
    institute: str | None = None,
    lane: Lane = Lane.NORMAL,
) -> str:
    """Returns the jobId (an earlier one for a replayed Idempotency-Key). ``institute``: the
    only institute whose papers the caller sees (another's paper is "not found"); ``lane``:
    the job's lane (``batcher`` sends to that lane's queue)."""
    with tracer.start_as_current_span("accept submission") as span:
        await checked_paper(submission, paper_cache=paper_cache, institute=institute)
        traceparent = current_traceparent()
        job = Job.new(
            submission=submission,
            idempotency_key=idempotency_key,
            now=utcnow(),
            traceparent=traceparent,
            lane=lane,
        )
        span.set_attribute("smartpapers.job_id", job.job_id)
        span.set_attribute("smartpapers.lane", lane.value)
        with tracer.start_as_current_span("store job"):
            job_id = await intake.store(job)
        if job_id != job.job_id:
            span.set_attribute("smartpapers.replayed_job_id", job_id)
            return job_id
        with tracer.start_as_current_span("enqueue job"):
            try:
                async with asyncio.timeout(send_timeout):
                    sent = await batcher.send(job_id, traceparent=traceparent)
            except TimeoutError:
                sent = False
        if not sent:
            logger.warning("job %s stored but not enqueued; the sweeper will send it", job_id)
        return job_id


async def checked_paper(
    submission: SubmissionIn, *, paper_cache: PaperCache, institute: str | None
) -> Paper:
    """The submission's paper, if the caller may see it and the answers fit it."""
    paper = await paper_cache.get(submission.paper_id)
    if institute is not None and paper.institute_id != institute:
        raise PaperNotFoundError(submission.paper_id)
    if len(submission.answers) > len(paper.questions):
        raise TooManyAnswersError(answers=len(submission.answers), questions=len(paper.questions))
    return paper
