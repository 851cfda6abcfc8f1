"""What one receive batch does: claim its jobs, grade them, store their submissions once and
move them to their final status — four database round trips for up to ten jobs (claim,
read-back, one ``insert_many``, one bulk of compare-and-set updates). Returns, per message,
what to do with it.

One job's problem never fails the batch: an unknown paper, attempts used up, or a value the
database cannot store ends that job ``failed`` with a readable error; an unexpected error in
one job's grading sends that message back for a retry. A database error on a round trip the
whole batch shares raises :class:`StorageUnavailableError` (the consumer retries them all).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from smartpapers.common import failpoints
from smartpapers.common.errors import InvalidMessageError, NotFoundError, UnstorableDocumentError
from smartpapers.common.grading import grade_job
from smartpapers.common.job import Job, Submission
from smartpapers.common.lease import Claimer, Lease, NotClaimed, Unclaimed
from smartpapers.common.models import JobResult, Paper
from smartpapers.common.papers import PaperCache
from smartpapers.common.queue import ReceivedMessage, decode_job_message
from smartpapers.common.repositories import Finish, Finished, JobRepository, SubmissionRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.worker.metrics import (
    JOB_END_TO_END,
    JOB_PROCESSING,
    JOB_QUEUE_WAIT,
    JOBS_PROCESSED,
    LAST_PROCESSED,
)
from smartpapers.worker.tracing import BatchTrace, now_ns

logger = logging.getLogger(__name__)

MAX_VISIBILITY = 43_200


@dataclass(frozen=True, slots=True)
class Ack:
    """Delete the message: the job is final."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Leave the message for redelivery after ``delay`` seconds (visibility change)."""

    delay: int


Decision = Ack | Retry


@dataclass
class ClaimedBatch:
    """A receive batch after its claim: the jobs to grade, and the messages already decided."""

    lease: Lease
    work: list[tuple[ReceivedMessage, Job]] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    """By receipt handle: messages with nothing to grade."""
    claimed_at: float = field(default_factory=time.monotonic)
    trace: BatchTrace = field(default_factory=BatchTrace)
    """Each claimed job's spans, in its own trace (``smartpapers.worker.tracing``)."""


class JobProcessor:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        submissions: SubmissionRepository,
        paper_cache: PaperCache,
        owner: str,
        lease_seconds: int,
        max_attempts: int,
        retry_base_delay: float,
        retry_max_delay: int,
    ) -> None:
        self._jobs = jobs
        self._submissions = submissions
        self._papers = paper_cache
        self._claimer = Claimer(jobs=jobs, owner=owner, duration=timedelta(seconds=lease_seconds))
        self._max_attempts = max_attempts
        self._retry_base = retry_base_delay
        self._retry_max = retry_max_delay

    def backoff(self, receive_count: int) -> int:
        """Growing redelivery delay: base·2^(n−1), capped."""
        return int(min(self._retry_base * 2 ** max(receive_count - 1, 0), self._retry_max))

    # -- claim ------------------------------------------------------------------------------

    async def claim(self, messages: list[ReceivedMessage]) -> ClaimedBatch:
        """Parse the messages and claim their jobs (two round trips). Raises
        StorageUnavailableError when MongoDB fails (the caller retries every message)."""
        decisions: dict[str, Decision] = {}
        wanted: list[tuple[ReceivedMessage, str]] = []
        for m in messages:
            try:
                wanted.append((m, decode_job_message(m.body)))
            except InvalidMessageError as e:
                # poison: redrive moves it to the DLQ after maxReceiveCount deliveries
                logger.error("unparseable message %s: %s", m.message_id, e)
                decisions[m.receipt_handle] = Retry(self.backoff(m.receive_count))
        claim_started = now_ns()
        lease, outcomes = await self._claimer.claim([job_id for _, job_id in wanted])
        claim_ended = now_ns()
        batch = ClaimedBatch(lease=lease, decisions=decisions)
        await failpoints.hit("after_claim")
        now = utcnow()
        seen: set[str] = set()
        for m, job_id in wanted:
            outcome = outcomes[job_id]
            if job_id in seen:
                outcome = NotClaimed(Unclaimed.DUPLICATE)
            seen.add(job_id)
            if isinstance(outcome, Job):
                batch.work.append((m, outcome))
                if outcome.attempts == 1:
                    JOB_QUEUE_WAIT.labels(lane=outcome.lane.value).observe(
                        max((now - outcome.created_at).total_seconds(), 0)
                    )
            else:
                decisions[m.receipt_handle] = self._unclaimed(m, job_id, outcome)
        batch.trace = BatchTrace.start(
            batch.work,
            claim_started=claim_started,
            claim_ended=claim_ended,
            batch_size=len(messages),
        )
        return batch

    def _unclaimed(self, message: ReceivedMessage, job_id: str, why: NotClaimed) -> Decision:
        if why.reason in (Unclaimed.FINISHED, Unclaimed.DUPLICATE):
            return Ack()  # a duplicate delivery: the job is (or is being) finished
        if why.reason is Unclaimed.UNKNOWN:
            logger.error("message %s names unknown job %s", message.message_id, job_id)
            return Retry(self.backoff(message.receive_count))
        if why.lease_until is not None:  # another worker holds it: look again after its lease
            remaining = (why.lease_until - utcnow()).total_seconds()
            return Retry(min(max(int(remaining) + 1, 1), MAX_VISIBILITY))
        return Retry(1)

    # -- grade and finish -------------------------------------------------------------------

    async def grade_and_finish(self, batch: ClaimedBatch) -> dict[str, Decision]:
        """Grade the claimed jobs, store their submissions (one round trip) and finish them
        (one round trip). Raises StorageUnavailableError for a failed shared round trip."""
        try:
            return await self._grade_and_finish(batch)
        finally:
            batch.trace.end_all("retried")  # spans of jobs a raised error left open

    async def _grade_and_finish(self, batch: ClaimedBatch) -> dict[str, Decision]:
        decisions: dict[str, Decision] = {}
        graded: list[tuple[ReceivedMessage, Job, Submission]] = []
        finishes: list[tuple[ReceivedMessage, Job, Finish]] = []
        await failpoints.hit("before_grade")
        for m, job in batch.work:
            with batch.trace.job(job.job_id, "grade"):
                try:
                    outcome = await self._grade(job, batch.lease.token)
                except Exception:  # a bug must not take the batch down: retry, then DLQ
                    logger.exception("unexpected error grading job %s", job.job_id)
                    decisions[m.receipt_handle] = Retry(self.backoff(m.receive_count))
                    outcome = None
            if outcome is None:
                batch.trace.end(job.job_id, "retried")
                continue
            if isinstance(outcome, Submission):
                graded.append((m, job, outcome))
            else:
                finishes.append((m, job, outcome))
        if graded:
            started = now_ns()
            stored = await self._submissions.store_many([s for _, _, s in graded])
            batch.trace.phase(
                "store submission", (j.job_id for _, j, _ in graded), started, now_ns()
            )
            await failpoints.hit("after_store")
            for (m, job, sub), error in zip(graded, stored, strict=True):
                if error is None:
                    result = JobResult(
                        submission_id=sub.submission_id, score=sub.score, total=sub.total
                    )
                    finishes.append((m, job, self._finish(job, batch, result=result)))
                elif isinstance(error, UnstorableDocumentError):
                    finishes.append((m, job, self._finish(job, batch, error=str(error))))
                else:
                    with batch.trace.job(job.job_id):
                        logger.warning("job %s: submission not stored: %s", job.job_id, error)
                    batch.trace.end(job.job_id, "retried")
                    decisions[m.receipt_handle] = Retry(self.backoff(m.receive_count))
        decisions |= await self._finish_all(batch, finishes)
        return decisions

    async def _grade(self, job: Job, token: str) -> Submission | Finish:
        """The job's submission, or its failed Finish when it cannot be graded."""
        if job.attempts > self._max_attempts:
            error = f"gave up after {job.attempts - 1} attempts"
            return Finish(job.job_id, token, utcnow(), error=error)
        try:
            paper: Paper = await self._papers.get(job.paper_id)
        except NotFoundError as e:
            return Finish(job.job_id, token, utcnow(), error=str(e))
        return grade_job(job, paper, now=utcnow())

    @staticmethod
    def _finish(
        job: Job, batch: ClaimedBatch, *, result: JobResult | None = None, error: str | None = None
    ) -> Finish:
        return Finish(job.job_id, batch.lease.token, utcnow(), result=result, error=error)

    async def _finish_all(
        self, batch: ClaimedBatch, finishes: list[tuple[ReceivedMessage, Job, Finish]]
    ) -> dict[str, Decision]:
        decisions: dict[str, Decision] = {}
        if not finishes:
            return decisions
        started = now_ns()
        outcomes = await self._jobs.finish_many([f for _, _, f in finishes])
        batch.trace.phase("finish", (job.job_id for _, job, _ in finishes), started, now_ns())
        batch.lease.done(job.job_id for _, job, _ in finishes)
        elapsed = time.monotonic() - batch.claimed_at
        for (m, job, finish), outcome in zip(finishes, outcomes, strict=True):
            with batch.trace.job(job.job_id):
                decisions[m.receipt_handle] = self._decide_finished(
                    m, job, finish, outcome, elapsed
                )
            ended = "retried" if isinstance(decisions[m.receipt_handle], Retry) else "completed"
            if finish.error is not None and ended == "completed":
                ended = "failed"
            batch.trace.end(job.job_id, ended)
        return decisions

    def _decide_finished(
        self,
        m: ReceivedMessage,
        job: Job,
        finish: Finish,
        outcome: Finished | BaseException,
        elapsed: float,
    ) -> Decision:
        if isinstance(outcome, BaseException):
            logger.warning("job %s: final status not written: %s", job.job_id, outcome)
            return Retry(self.backoff(m.receive_count))
        if outcome is Finished.LEASE_LOST:
            # another worker took the job over: it will finish it; ours is redundant
            logger.warning("job %s: lease lost before finishing", job.job_id)
            return Retry(1)
        if outcome is Finished.ALREADY:
            logger.info("job %s was already finished by another delivery", job.job_id)
        else:
            self._observe(job, finish, elapsed)
        return Ack()

    @staticmethod
    def _observe(job: Job, finish: Finish, elapsed: float) -> None:
        if finish.error is not None:
            logger.warning("job %s failed: %s", job.job_id, finish.error)
        JOBS_PROCESSED.labels(outcome="completed" if finish.result else "failed").inc()
        JOB_PROCESSING.observe(elapsed)
        JOB_END_TO_END.labels(lane=job.lane.value).observe(
            max((finish.now - job.created_at).total_seconds(), 0)
        )
        LAST_PROCESSED.set(time.time())
