"""The ``submission_jobs`` collection on the submission and grading paths: the source of truth
and the outbox. (The sweeper's queries are in ``sweeps``.)

Status moves only by compare-and-set on ``status`` and, while processing, on ``leaseOwner``
(a token per claim round trip, see ``smartpapers.common.lease``), so concurrent or repeated
deliveries of one message have one effect. Every filter is ``_id`` or ``_id $in`` plus
equality on plain fields — no ``$or`` — so every server answers it from the ``_id`` index;
the one exception, :meth:`JobRepository.count_finished_since`, ranges over the
``(status, updatedAt)`` index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from smartpapers.common.errors import (
    IdempotencyConflictError,
    SmartpapersError,
    StorageUnavailableError,
)
from smartpapers.common.job import Job
from smartpapers.common.models import JobResult, JobStatus
from smartpapers.common.mongo import JOBS, Document, storage_errors
from smartpapers.common.repositories._writes import insert_each

QUEUED, PROCESSING = JobStatus.QUEUED.value, JobStatus.PROCESSING.value


@dataclass(frozen=True, slots=True)
class Finish:
    """One job's final write: completed with ``result`` or failed with ``error``."""

    job_id: str
    owner: str
    now: datetime
    result: JobResult | None = None
    error: str | None = None


class Finished(Enum):
    """What a final-status write found."""

    BY_US = "by_us"
    """This lease holder moved the job to its final status."""
    ALREADY = "already"
    """Another delivery had finished the job before."""
    LEASE_LOST = "lease_lost"
    """The job is not final and this worker no longer holds it: another worker will finish."""


class JobRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs: AsyncCollection[Document] = db[JOBS]

    # -- the submission path (API) --------------------------------------------------------

    async def insert_many(self, jobs: Sequence[Job]) -> list[str | BaseException]:
        """Store new jobs in ONE round trip (an unordered ``insert_many``, the client's
        majority write concern): per job its id, the earlier job's id for a replayed
        Idempotency-Key, or that job's own error. Safe to repeat after a timeout: a job
        already stored by the earlier attempt counts as stored. Raises
        StorageUnavailableError when the round trip itself fails."""
        outcomes = await insert_each(
            self._jobs, [job.to_document() for job in jobs], action="insert jobs"
        )
        out: list[str | BaseException] = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome is None:
                out.append(job.job_id)
            elif isinstance(outcome, DuplicateKeyError):
                try:
                    out.append(await self._stored_as(job))
                except SmartpapersError as e:
                    out.append(e)
            else:
                out.append(outcome)
        return out

    async def _stored_as(self, job: Job) -> str:
        """The id under which a job that collided on a unique key is stored: its own (an
        earlier attempt of this very insert) or the earlier job of its Idempotency-Key."""
        if job.idempotency_key is None:
            return job.job_id  # _id collision: uuid4 never collides, so a repeated insert
        async with storage_errors("read idempotent job"):
            existing = await self._jobs.find_one(
                {"idempotencyKey": job.idempotency_key}, {"requestHash": 1}
            )
        if existing is None:  # the earlier job vanished between the two calls
            raise StorageUnavailableError("idempotent job disappeared")
        if existing["_id"] != job.job_id and existing.get("requestHash") != job.request_hash:
            raise IdempotencyConflictError(job.idempotency_key)
        return str(existing["_id"])

    async def mark_unsent(self, job_ids: Sequence[str]) -> None:
        """The send failed: leave these jobs to the sweeper (``enqueued: false``)."""
        async with storage_errors("mark jobs unsent"):
            await self._jobs.update_many(
                {"_id": {"$in": list(job_ids)}, "status": QUEUED}, {"$set": {"enqueued": False}}
            )

    async def get(self, job_id: str) -> Job | None:
        async with storage_errors("read job"):
            doc = await self._jobs.find_one({"_id": job_id})
        return None if doc is None else Job.from_document(doc)

    async def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        """The jobs of these ids that exist, in ONE round trip (any order)."""
        async with storage_errors("read jobs"):
            docs = await self._jobs.find({"_id": {"$in": list(job_ids)}}).to_list()
        return [Job.from_document(d) for d in docs]

    async def count_finished_since(self, since: datetime) -> int:
        """Jobs that reached ``completed`` or ``failed`` at or after ``since`` (a final
        status is never updated again, so ``updatedAt`` is when it was reached): one
        ``count`` per final status, each a range of the ``(status, updatedAt)`` index."""
        total = 0
        async with storage_errors("count finished jobs"):
            for final in (JobStatus.COMPLETED, JobStatus.FAILED):
                total += await self._jobs.count_documents(
                    {"status": final.value, "updatedAt": {"$gte": since}}
                )
        return total

    # -- leases (smartpapers.common.lease is their one user) -------------------------------

    async def claim(
        self,
        job_ids: Sequence[str],
        *,
        token: str,
        now: datetime,
        until: datetime,
        expired: bool = False,
    ) -> list[Job]:
        """queued → processing under lease ``token`` for every one of ``job_ids`` still
        queued (``expired``: processing jobs whose lease ended before ``now``), then every
        job read back: TWO round trips for a whole receive batch. The caller tells the won
        jobs by ``lease_owner == token``."""
        match: Document = {"status": QUEUED}
        if expired:
            match = {"status": PROCESSING, "leaseUntil": {"$lt": now}}
        async with storage_errors("claim jobs"):
            await self._jobs.update_many(
                {"_id": {"$in": list(job_ids)}, **match},
                {
                    "$set": {
                        "status": PROCESSING,
                        "leaseOwner": token,
                        "leaseUntil": until,
                        "updatedAt": now,
                    },
                    "$min": {"startedAt": now},
                    "$inc": {"attempts": 1},
                },
            )
        return await self.get_many(job_ids)

    async def extend(
        self, job_ids: Sequence[str], *, token: str, now: datetime, until: datetime
    ) -> int:
        """Push the lease of the jobs still held under ``token`` to ``until`` (ONE round
        trip); how many were extended."""
        async with storage_errors("extend leases"):
            res = await self._jobs.update_many(
                {"_id": {"$in": list(job_ids)}, "status": PROCESSING, "leaseOwner": token},
                {"$set": {"leaseUntil": until, "updatedAt": now}},
            )
        return res.modified_count

    async def release(
        self, job_ids: Sequence[str], *, token: str, now: datetime, refund_attempt: bool
    ) -> int:
        """processing → queued for the jobs still held under ``token``, so their next
        delivery claims them at once. A shutdown refunds the attempt; an error keeps it."""
        update: dict[str, Any] = {
            "$set": {"status": QUEUED, "updatedAt": now},
            "$unset": {"leaseOwner": "", "leaseUntil": ""},
        }
        if refund_attempt:
            update["$inc"] = {"attempts": -1}
        async with storage_errors("release jobs"):
            res = await self._jobs.update_many(
                {"_id": {"$in": list(job_ids)}, "status": PROCESSING, "leaseOwner": token},
                update,
            )
        return res.modified_count

    # -- the final status ---------------------------------------------------------------------

    @staticmethod
    def _finish_op(item: Finish) -> UpdateOne:
        status = JobStatus.COMPLETED if item.result is not None else JobStatus.FAILED
        update: dict[str, Any] = {
            "status": status.value,
            "completedAt": item.now,
            "updatedAt": item.now,
            "result": item.result.model_dump(by_alias=True) if item.result else None,
            "error": item.error,
            "finishedBy": item.owner,
        }
        return UpdateOne(
            {"_id": item.job_id, "status": PROCESSING, "leaseOwner": item.owner},
            {"$set": update, "$unset": {"leaseOwner": "", "leaseUntil": ""}},
        )

    async def finish_many(self, items: Sequence[Finish]) -> list[Finished | BaseException]:
        """processing → completed / failed for several jobs in ONE round trip: an unordered
        bulk of compare-and-set updates, each applied only while its lease holder still
        holds the lease. When fewer jobs changed than were sent (rare: a lease lost, or a
        duplicate delivery), the others are read back in one more round trip to tell
        :class:`Finished` apart. Raises StorageUnavailableError when the bulk fails."""
        if not items:
            return []
        failed: dict[int, BaseException] = {}
        try:
            async with storage_errors("finish jobs"):
                res = await self._jobs.bulk_write(
                    [self._finish_op(item) for item in items], ordered=False
                )
            modified = res.modified_count
        except BulkWriteError as e:
            if e.details.get("writeConcernErrors"):
                raise StorageUnavailableError(f"MongoDB finish jobs failed: {e}") from e
            for error in e.details.get("writeErrors", []):
                failed[error["index"]] = StorageUnavailableError(
                    f"MongoDB finish job failed: {error.get('errmsg')}"
                )
            modified = int(e.details.get("nModified", 0))
        out: list[Finished | BaseException] = [
            failed.get(i, Finished.BY_US) for i in range(len(items))
        ]
        if modified == len(items) - len(failed):
            return out
        unknown = [i for i in range(len(items)) if i not in failed]
        found = {job.job_id: job for job in await self.get_many([items[i].job_id for i in unknown])}
        for i in unknown:
            job = found.get(items[i].job_id)
            if job is None or not job.status.is_final:
                out[i] = Finished.LEASE_LOST
            elif job.finished_by != items[i].owner:
                out[i] = Finished.ALREADY
        return out
