"""Accepting a submission: validate against the paper, store the job (the outbox), enqueue.

A 202 is answered only once the job is stored with majority write concern. The SQS send is
attempted right away (batched with concurrent requests); if it fails the job is marked
``enqueued: false`` and the sweeper sends it; if the API dies between the insert and the send,
the sweeper's stale rule re-sends it. Either way the submission is never lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from typing import Any

from smartpapers.common.batching import SendBatcher
from smartpapers.common.coalescing import Coalescer
from smartpapers.common.errors import PaperNotFoundError, SmartpapersError
from smartpapers.common.models import JobStatus, SubmissionIn
from smartpapers.common.mongo import Document
from smartpapers.common.papers import PaperCache
from smartpapers.common.timeutil import utcnow

logger = logging.getLogger(__name__)


class TooManyAnswersError(SmartpapersError):
    def __init__(self, *, answers: int, questions: int) -> None:
        super().__init__(f"{answers} answers for a paper of {questions} questions")


def request_hash(submission: SubmissionIn) -> str:
    return hashlib.sha256(submission.model_dump_json(by_alias=True).encode()).hexdigest()


def new_job_document(
    *, job_id: str, submission: SubmissionIn, idempotency_key: str | None
) -> dict[str, Any]:
    now = utcnow()
    doc: dict[str, Any] = {
        "_id": job_id,
        "status": JobStatus.QUEUED.value,
        "studentId": submission.student_id,
        "paperId": submission.paper_id,
        "instituteId": submission.institute_id,
        # the answers as compact JSON text: status updates then never rewrite nested
        # documents (FerretDB's SQLite backend rewrites them ~6x slower)
        "payload": json.dumps(
            [a.model_dump(by_alias=True) for a in submission.answers], separators=(",", ":")
        ),
        "attempts": 0,
        # stored as enqueued: the send follows at once, and a failed send flips it back; a
        # write after the send would race with the worker that already received the message
        "enqueued": True,
        "createdAt": now,
        "updatedAt": now,
        "result": None,
        "error": None,
    }
    if idempotency_key is not None:
        # scoped per student: two students may pick the same key
        doc["idempotencyKey"] = f"{submission.student_id}\x1f{idempotency_key}"
        doc["requestHash"] = request_hash(submission)
    return doc


async def accept_submission(
    *,
    submission: SubmissionIn,
    idempotency_key: str | None,
    job_writer: Coalescer[Document, str],
    paper_cache: PaperCache,
    batcher: SendBatcher,
    send_timeout: float,
    institute: str | None = None,
) -> str:
    """Returns the jobId (an earlier one for a replayed Idempotency-Key). ``institute``: the
    only institute whose papers the caller sees (another's paper is "not found")."""
    paper = await paper_cache.get(submission.paper_id)
    if institute is not None and paper.institute_id != institute:
        raise PaperNotFoundError(submission.paper_id)
    if len(submission.answers) > len(paper.questions):
        raise TooManyAnswersError(answers=len(submission.answers), questions=len(paper.questions))
    doc = new_job_document(
        job_id=str(uuid.uuid4()), submission=submission, idempotency_key=idempotency_key
    )
    job_id = await job_writer.submit(doc)
    if job_id == doc["_id"]:
        try:
            async with asyncio.timeout(send_timeout):
                sent = await batcher.send(job_id)
        except TimeoutError:
            sent = False
        if not sent:
            logger.warning("job %s stored but not enqueued; the sweeper will send it", job_id)
    return job_id
