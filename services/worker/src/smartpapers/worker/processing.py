"""What one delivery of a job message does: claim the job, grade it, store the submission
once, and move the job to its final status. Returns what to do with the message."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from smartpapers.common import failpoints
from smartpapers.common.coalescing import Coalescer, Ticket
from smartpapers.common.errors import InvalidMessageError, PaperNotFoundError
from smartpapers.common.grading import grade
from smartpapers.common.models import AnswerIn, JobResult, JobStatus
from smartpapers.common.mongo import Document
from smartpapers.common.papers import PaperCache
from smartpapers.common.queue import MAX_BATCH, ReceivedMessage, decode_job_message
from smartpapers.common.repositories import Finish, JobRepository, SubmissionRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.worker.metrics import (
    JOB_END_TO_END,
    JOB_PROCESSING,
    JOB_QUEUE_WAIT,
    JOBS_PROCESSED,
    LAST_PROCESSED,
)

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


@dataclass(frozen=True, slots=True)
class Claimed:
    job: Document
    owner: str


@dataclass(frozen=True, slots=True)
class WriteTickets:
    """One job's place in the coalesced submission insert and final-status update."""

    store: Ticket
    finish: Ticket


class JobProcessor:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        submissions: SubmissionRepository,
        paper_cache: PaperCache,
        lease_seconds: int,
        max_attempts: int,
        retry_base_delay: float,
        retry_max_delay: int,
        write_batch_size: int = MAX_BATCH,
        write_linger_seconds: float = 0.02,
    ) -> None:
        self._jobs = jobs
        # the jobs in flight write their submissions and final statuses in one round trip
        # each: a bulk goes out once every job started has written or cannot write any
        # more, or after write_linger_seconds (see smartpapers.common.coalescing)
        self._store = Coalescer[Document, str](
            submissions.store_many,
            max_size=write_batch_size,
            linger_seconds=write_linger_seconds,
            tracked=True,
        )
        self._finish_writes = Coalescer[Finish, bool](
            jobs.finish_many,
            max_size=write_batch_size,
            linger_seconds=write_linger_seconds,
            tracked=True,
        )
        self._papers = paper_cache
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._retry_base = retry_base_delay
        self._retry_max = retry_max_delay

    async def close(self) -> None:
        """Flush the pending bulk writes (the worker's drain calls this)."""
        await self._store.close()
        await self._finish_writes.close()

    @contextmanager
    def expecting_writes(self) -> Iterator[WriteTickets]:
        """Announce a job that is about to be processed to the write coalescers; whatever
        it did not write is withdrawn when the block ends (errors included)."""
        tickets = WriteTickets(self._store.expect(), self._finish_writes.expect())
        try:
            yield tickets
        finally:
            tickets.store.withdraw()
            tickets.finish.withdraw()

    @property
    def lease(self) -> timedelta:
        return self._lease

    def backoff(self, receive_count: int) -> int:
        """Growing redelivery delay: base·2^(n−1), capped."""
        return int(min(self._retry_base * 2 ** max(receive_count - 1, 0), self._retry_max))

    async def claim(self, message: ReceivedMessage, *, owner: str) -> Claimed | Decision:
        """Parse the message and claim its job; a Decision when there is nothing to grade.
        Raises StorageUnavailableError when MongoDB fails (the caller retries)."""
        try:
            job_id = decode_job_message(message.body)
        except InvalidMessageError as e:
            # poison: let redrive move it to the DLQ after maxReceiveCount deliveries
            logger.error("unparseable message %s: %s", message.message_id, e)
            return Retry(self.backoff(message.receive_count))
        now = utcnow()
        job = await self._jobs.claim(job_id, owner=owner, now=now, lease=self._lease)
        if job is None:
            return await self._not_claimed(job_id, message)
        await failpoints.hit("after_claim")
        if job["attempts"] == 1:
            JOB_QUEUE_WAIT.observe(max((now - job["createdAt"]).total_seconds(), 0))
        return Claimed(job=job, owner=owner)

    async def _not_claimed(self, job_id: str, message: ReceivedMessage) -> Decision:
        existing = await self._jobs.get(job_id)
        if existing is None:
            logger.error("message %s names unknown job %s", message.message_id, job_id)
            return Retry(self.backoff(message.receive_count))
        if JobStatus(existing["status"]).is_final:
            return Ack()  # a duplicate delivery of a finished job
        lease_until = existing.get("leaseUntil")
        if lease_until is not None:  # another worker holds it: look again after its lease
            remaining = (lease_until - utcnow()).total_seconds()
            return Retry(min(max(int(remaining) + 1, 1), MAX_VISIBILITY))
        return Retry(1)

    async def grade_and_finish(self, claimed: Claimed, *, tickets: WriteTickets) -> Decision:
        """Grade a claimed job and record the outcome (``tickets``: from
        :meth:`expecting_writes`). Raises StorageUnavailableError."""
        job, owner = claimed.job, claimed.owner
        job_id: str = job["_id"]
        started = time.monotonic()
        if job["attempts"] > self._max_attempts:
            error = f"gave up after {job['attempts'] - 1} attempts"
            return await self._finish(job, owner, started, tickets, error=error)
        try:
            paper = await self._papers.get(job["paperId"])
        except PaperNotFoundError as e:
            return await self._finish(job, owner, started, tickets, error=str(e))
        await failpoints.hit("before_grade")
        raw_answers = json.loads(job["payload"])
        answers = [AnswerIn.model_validate(a) for a in raw_answers]
        result = grade(paper=paper, answers=answers)
        now = utcnow()
        submission_id = await self._store.submit(
            {
                "jobId": job_id,
                "studentId": job["studentId"],
                "paperId": job["paperId"],
                "instituteId": job["instituteId"],
                "answers": raw_answers,
                "score": result.score,
                "total": result.total,
                "gradedAt": now,
            },
            ticket=tickets.store,
        )
        await failpoints.hit("after_store")
        job_result = JobResult(submission_id=submission_id, score=result.score, total=result.total)
        return await self._finish(job, owner, started, tickets, result=job_result)

    async def _finish(
        self,
        job: Document,
        owner: str,
        started: float,
        tickets: WriteTickets,
        *,
        result: JobResult | None = None,
        error: str | None = None,
    ) -> Decision:
        now = utcnow()
        tickets.store.withdraw()  # a failed job writes no submission
        finish = Finish(job["_id"], owner, now, result, error)
        if not await self._finish_writes.submit(finish, ticket=tickets.finish):
            current = await self._jobs.get(job["_id"])
            if current is None or not JobStatus(current["status"]).is_final:
                # lease lost to another worker: it will finish the job; ours is redundant
                logger.warning("job %s: lease lost before finishing", job["_id"])
                return Retry(1)
            logger.info("job %s was already finished by another delivery", job["_id"])
            return Ack()
        outcome = "completed" if result is not None else "failed"
        if error is not None:
            logger.warning("job %s failed: %s", job["_id"], error)
        JOBS_PROCESSED.labels(outcome=outcome).inc()
        JOB_PROCESSING.observe(time.monotonic() - started)
        JOB_END_TO_END.observe(max((now - job["createdAt"]).total_seconds(), 0))
        LAST_PROCESSED.set(time.time())
        return Ack()
