"""The stored job (``submission_jobs``) and the graded submission (``submissions``), typed, with
their explicit document mapping. Repositories are the only code that sees the documents.

A job's life (docs/architecture.md#the-job): ``queued`` → ``processing`` (a worker holds its
lease) → ``completed`` (with ``result``) or ``failed`` (with ``error``); a lease that expires or
is released sends it back to ``queued``. The answers travel as compact JSON text
(``payload``): status updates then never rewrite nested documents.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartpapers.common.models import AnswerIn, JobResult, JobStatus, JobView, Lane, SubmissionIn
from smartpapers.common.mongo import Document
from smartpapers.common.timeutil import as_utc

SUBMISSION_NAMESPACE = uuid.UUID("5b1c2f0e-7f38-4c1e-9a57-2d4f3f1f6a11")


def submission_id_for(job_id: str) -> str:
    """The submission written for a job has an id derived from the jobId, so a repeated
    write after a crash collides on ``_id`` instead of creating a second submission."""
    return str(uuid.uuid5(SUBMISSION_NAMESPACE, job_id))


def request_hash(submission: SubmissionIn) -> str:
    return hashlib.sha256(submission.model_dump_json(by_alias=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    status: JobStatus
    student_id: str
    paper_id: str
    institute_id: str
    payload: str
    """The answers, as compact JSON text."""
    attempts: int
    enqueued: bool
    """The outbox flag: False while the job's SQS message is known not to have been sent."""
    created_at: datetime
    updated_at: datetime
    result: JobResult | None = None
    error: str | None = None
    idempotency_key: str | None = None
    """Scoped per student: ``<studentId>\\x1f<Idempotency-Key>``."""
    request_hash: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    finished_by: str | None = None
    traceparent: str | None = None
    """The W3C trace context of the request that created the job (tracing on)."""
    lane: Lane = Lane.NORMAL
    """The queue its messages travel on (decided by the API from the caller)."""

    @classmethod
    def new(
        cls,
        *,
        submission: SubmissionIn,
        idempotency_key: str | None,
        now: datetime,
        job_id: str | None = None,
        traceparent: str | None = None,
        lane: Lane = Lane.NORMAL,
    ) -> Job:
        """A queued job, stored as ``enqueued``: the send follows at once and a failed send
        flips it back (a write after the send would race with the worker grading it)."""
        return cls(
            job_id=job_id or str(uuid.uuid4()),
            status=JobStatus.QUEUED,
            student_id=submission.student_id,
            paper_id=submission.paper_id,
            institute_id=submission.institute_id,
            payload=json.dumps(
                [a.model_dump(by_alias=True) for a in submission.answers], separators=(",", ":")
            ),
            attempts=0,
            enqueued=True,
            created_at=now,
            updated_at=now,
            idempotency_key=(
                None if idempotency_key is None else f"{submission.student_id}\x1f{idempotency_key}"
            ),
            request_hash=None if idempotency_key is None else request_hash(submission),
            traceparent=traceparent,
            lane=lane,
        )

    def answers(self) -> tuple[list[Any], list[AnswerIn]]:
        """The answers as stored (the submission keeps them verbatim) and validated for
        grading, from ONE parse of the payload."""
        raw: list[Any] = json.loads(self.payload)
        return raw, [AnswerIn.model_validate(a) for a in raw]

    def view(self) -> JobView:
        """The status endpoint's answer (no lease, no payload): JobView's fields, read from
        this job's attributes of the same names."""
        return JobView.model_validate(self, from_attributes=True)

    def to_document(self) -> Document:
        doc: Document = {
            "_id": self.job_id,
            "status": self.status.value,
            "studentId": self.student_id,
            "paperId": self.paper_id,
            "instituteId": self.institute_id,
            "payload": self.payload,
            "attempts": self.attempts,
            "enqueued": self.enqueued,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "result": None if self.result is None else self.result.model_dump(by_alias=True),
            "error": self.error,
            "lane": self.lane.value,
        }
        optional = {
            "idempotencyKey": self.idempotency_key,
            "requestHash": self.request_hash,
            "leaseOwner": self.lease_owner,
            "leaseUntil": self.lease_until,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "finishedBy": self.finished_by,
            "traceparent": self.traceparent,
        }
        # absent, never null: idempotencyKey has a sparse unique index
        doc.update({k: v for k, v in optional.items() if v is not None})
        return doc

    @classmethod
    def from_document(cls, doc: Document) -> Job:
        result = doc.get("result")
        created = as_utc(doc["createdAt"])
        assert created is not None
        return cls(
            job_id=str(doc["_id"]),
            status=JobStatus(doc["status"]),
            student_id=doc["studentId"],
            paper_id=doc["paperId"],
            institute_id=doc["instituteId"],
            payload=doc.get("payload", "[]"),
            attempts=int(doc.get("attempts", 0)),
            enqueued=bool(doc.get("enqueued", True)),
            created_at=created,
            updated_at=as_utc(doc.get("updatedAt")) or created,
            result=JobResult.model_validate(result) if result else None,
            error=doc.get("error"),
            idempotency_key=doc.get("idempotencyKey"),
            request_hash=doc.get("requestHash"),
            lease_owner=doc.get("leaseOwner"),
            lease_until=as_utc(doc.get("leaseUntil")),
            started_at=as_utc(doc.get("startedAt")),
            completed_at=as_utc(doc.get("completedAt")),
            finished_by=doc.get("finishedBy"),
            traceparent=doc.get("traceparent"),
            lane=Lane(doc.get("lane", Lane.NORMAL)),
        )


@dataclass(frozen=True, slots=True)
class Submission:
    """A graded submission: written once per job (its ``_id`` derives from the jobId)."""

    job_id: str
    student_id: str
    paper_id: str
    institute_id: str
    answers: list[Any]
    score: int | float
    total: int | float
    graded_at: datetime

    @property
    def submission_id(self) -> str:
        return submission_id_for(self.job_id)

    def to_document(self) -> Document:
        return {
            "_id": self.submission_id,
            "jobId": self.job_id,
            "studentId": self.student_id,
            "paperId": self.paper_id,
            "instituteId": self.institute_id,
            "answers": self.answers,
            "score": self.score,
            "total": self.total,
            "gradedAt": self.graded_at,
        }
