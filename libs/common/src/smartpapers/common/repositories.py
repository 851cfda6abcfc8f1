"""MongoDB repositories: papers, submission jobs and submissions.

Job status only moves by compare-and-set on ``status`` (and ``leaseOwner`` while
processing), so concurrent or repeated deliveries of one message have a single effect.
Every driver error surfaces as :class:`StorageUnavailableError`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from smartpapers.common.errors import (
    IdempotencyConflictError,
    PaperExistsError,
    PaperNotFoundError,
    SmartpapersError,
    StorageUnavailableError,
)
from smartpapers.common.models import JobResult, JobStatus, JobView, Paper
from smartpapers.common.mongo import JOBS, LOCKS, PAPERS, SUBMISSIONS, Document
from smartpapers.common.timeutil import as_utc

SUBMISSION_NAMESPACE = uuid.UUID("5b1c2f0e-7f38-4c1e-9a57-2d4f3f1f6a11")


def submission_id_for(job_id: str) -> str:
    """The submission written for a job has an id derived from the jobId, so a repeated
    write after a crash collides on ``_id`` instead of creating a second submission."""
    return str(uuid.uuid5(SUBMISSION_NAMESPACE, job_id))


DUPLICATE_KEY = 11000


@asynccontextmanager
async def storage_errors(action: str) -> AsyncIterator[None]:
    try:
        yield
    except (DuplicateKeyError, BulkWriteError):
        raise  # the caller decides per document
    except PyMongoError as e:
        raise StorageUnavailableError(f"MongoDB {action} failed: {e}") from e


class PaperRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._papers: AsyncCollection[Document] = db[PAPERS]

    async def insert(self, paper: Paper) -> None:
        try:
            async with storage_errors("insert paper"):
                await self._papers.insert_one(paper.to_document())
        except DuplicateKeyError as e:
            raise PaperExistsError(paper.paper_id) from e

    async def get(self, paper_id: str) -> Paper:
        async with storage_errors("read paper"):
            doc = await self._papers.find_one({"_id": paper_id})
        if doc is None:
            raise PaperNotFoundError(paper_id)
        return Paper.from_document(doc)


def job_view(doc: Document) -> JobView:
    result = doc.get("result")
    return JobView(
        job_id=doc["_id"],
        status=JobStatus(doc["status"]),
        result=JobResult.model_validate(result) if result else None,
        error=doc.get("error"),
        attempts=doc.get("attempts", 0),
        created_at=doc["createdAt"],
        started_at=as_utc(doc.get("startedAt")),
        completed_at=as_utc(doc.get("completedAt")),
    )


@dataclass(frozen=True, slots=True)
class Finish:
    """One job's final write: completed with ``result`` or failed with ``error``."""

    job_id: str
    owner: str
    now: datetime
    result: JobResult | None = None
    error: str | None = None


class JobRepository:
    """The ``submission_jobs`` collection: the source of truth and the outbox."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs: AsyncCollection[Document] = db[JOBS]

    async def insert(self, doc: Document) -> str:
        """Store a new job; with an idempotency key, return the id of the job stored before
        for the same key and request hash (or raise on a different hash)."""
        try:
            async with storage_errors("insert job"):
                await self._jobs.insert_one(doc)
            return str(doc["_id"])
        except DuplicateKeyError as e:
            return await self._earlier_job(doc, e)

    async def insert_many(self, docs: Sequence[Document]) -> list[str | BaseException]:
        """:meth:`insert` for several jobs in ONE round trip (an unordered ``insert_many``
        with the client's majority write concern): each job's id, the earlier job's id for a
        replayed Idempotency-Key, or that job's own error. Raises StorageUnavailableError
        when the round trip itself fails (then no caller may answer 202)."""
        out: list[str | BaseException] = [str(doc["_id"]) for doc in docs]
        try:
            async with storage_errors("insert jobs"):
                await self._jobs.insert_many(docs, ordered=False)
        except BulkWriteError as e:
            if e.details.get("writeConcernErrors"):
                raise StorageUnavailableError(f"MongoDB insert jobs failed: {e}") from e
            for error in e.details.get("writeErrors", []):
                i, message = error["index"], str(error.get("errmsg"))
                if error.get("code") != DUPLICATE_KEY:
                    out[i] = StorageUnavailableError(f"MongoDB insert job failed: {message}")
                    continue
                try:
                    out[i] = await self._earlier_job(docs[i], DuplicateKeyError(message, 11000))
                except SmartpapersError as conflict:
                    out[i] = conflict
        return out

    async def _earlier_job(self, doc: Document, error: DuplicateKeyError) -> str:
        key = doc.get("idempotencyKey")
        if key is None:
            raise StorageUnavailableError(f"job id collision: {error}") from error
        async with storage_errors("read idempotent job"):
            existing = await self._jobs.find_one({"idempotencyKey": key}, {"requestHash": 1})
        if existing is None:  # the earlier job vanished between the two calls
            raise StorageUnavailableError("idempotent job disappeared") from error
        if existing.get("requestHash") != doc.get("requestHash"):
            raise IdempotencyConflictError(key) from error
        return str(existing["_id"])

    async def get(self, job_id: str) -> Document | None:
        async with storage_errors("read job"):
            return await self._jobs.find_one({"_id": job_id})

    async def get_many(self, job_ids: Sequence[str]) -> list[Document]:
        async with storage_errors("read jobs"):
            return await self._jobs.find({"_id": {"$in": list(job_ids)}}).to_list()

    async def mark_enqueued(self, job_ids: Sequence[str], *, now: datetime | None = None) -> None:
        update: dict[str, Any] = {"enqueued": True}
        if now is not None:
            update["updatedAt"] = now
        async with storage_errors("mark jobs enqueued"):
            await self._jobs.update_many({"_id": {"$in": list(job_ids)}}, {"$set": update})

    async def mark_unsent(self, job_ids: Sequence[str]) -> None:
        """The send failed: leave these jobs to the sweeper (``enqueued: false``)."""
        async with storage_errors("mark jobs unsent"):
            await self._jobs.update_many(
                {"_id": {"$in": list(job_ids)}, "status": JobStatus.QUEUED.value},
                {"$set": {"enqueued": False}},
            )

    # -- the sweeper's queries -----------------------------------------------------------

    async def unsent(self, *, created_before: datetime, limit: int) -> list[str]:
        """Queued jobs whose message was never sent (the API's send failed or it crashed)."""
        async with storage_errors("find unsent jobs"):
            docs = (
                await self._jobs.find(
                    {
                        "status": JobStatus.QUEUED.value,
                        "enqueued": False,
                        "createdAt": {"$lt": created_before},
                    },
                    {"_id": 1},
                )
                .limit(limit)
                .to_list()
            )
        return [str(d["_id"]) for d in docs]

    async def stale_queued(self, *, updated_before: datetime, limit: int) -> list[str]:
        """Queued jobs sent long ago but never processed: their message was lost (e.g. moved
        to the DLQ while MongoDB was down)."""
        async with storage_errors("find stale jobs"):
            docs = (
                await self._jobs.find(
                    {
                        "status": JobStatus.QUEUED.value,
                        "enqueued": True,
                        "updatedAt": {"$lt": updated_before},
                    },
                    {"_id": 1},
                )
                .limit(limit)
                .to_list()
            )
        return [str(d["_id"]) for d in docs]

    async def expired_leases(self, *, now: datetime, limit: int) -> list[Document]:
        async with storage_errors("find expired leases"):
            return (
                await self._jobs.find(
                    {"status": JobStatus.PROCESSING.value, "leaseUntil": {"$lt": now}},
                    {"_id": 1, "attempts": 1, "leaseUntil": 1, "createdAt": 1},
                )
                .limit(limit)
                .to_list()
            )

    async def requeue_expired(self, job: Document, *, now: datetime) -> bool:
        """processing → queued for a job whose lease expired (its worker died)."""
        async with storage_errors("requeue job"):
            res = await self._jobs.update_one(
                {
                    "_id": job["_id"],
                    "status": JobStatus.PROCESSING.value,
                    "leaseUntil": job["leaseUntil"],
                },
                {
                    "$set": {"status": JobStatus.QUEUED.value, "enqueued": False, "updatedAt": now},
                    "$unset": {"leaseOwner": "", "leaseUntil": ""},
                },
            )
        return res.modified_count == 1

    async def fail_expired(self, job: Document, *, now: datetime, error: str) -> bool:
        async with storage_errors("fail job"):
            res = await self._jobs.update_one(
                {
                    "_id": job["_id"],
                    "status": JobStatus.PROCESSING.value,
                    "leaseUntil": job["leaseUntil"],
                },
                {
                    "$set": {
                        "status": JobStatus.FAILED.value,
                        "error": error,
                        "completedAt": now,
                        "updatedAt": now,
                    },
                    "$unset": {"leaseOwner": "", "leaseUntil": ""},
                },
            )
        return res.modified_count == 1

    async def claim(
        self, job_id: str, *, owner: str, now: datetime, lease: timedelta
    ) -> Document | None:
        """queued → processing (or take over an expired lease). Returns the claimed job, or
        None when another worker holds it or it is already final."""
        async with storage_errors("claim job"):
            return await self._jobs.find_one_and_update(
                {
                    "_id": job_id,
                    "$or": [
                        {"status": JobStatus.QUEUED.value},
                        {"status": JobStatus.PROCESSING.value, "leaseUntil": {"$lt": now}},
                    ],
                },
                {
                    "$set": {
                        "status": JobStatus.PROCESSING.value,
                        "leaseOwner": owner,
                        "leaseUntil": now + lease,
                        "updatedAt": now,
                    },
                    "$min": {"startedAt": now},
                    "$inc": {"attempts": 1},
                },
                return_document=ReturnDocument.AFTER,
            )

    async def extend_lease(self, job_id: str, *, owner: str, until: datetime) -> bool:
        async with storage_errors("extend lease"):
            res = await self._jobs.update_one(
                {"_id": job_id, "status": JobStatus.PROCESSING.value, "leaseOwner": owner},
                {"$set": {"leaseUntil": until}},
            )
        return res.modified_count == 1

    @staticmethod
    def _finish_op(item: Finish) -> tuple[Document, Document]:
        status = JobStatus.COMPLETED if item.result is not None else JobStatus.FAILED
        update: dict[str, Any] = {
            "status": status.value,
            "completedAt": item.now,
            "updatedAt": item.now,
            "result": item.result.model_dump(by_alias=True) if item.result else None,
            "error": item.error,
            "finishedBy": item.owner,
        }
        return (
            {"_id": item.job_id, "status": JobStatus.PROCESSING.value, "leaseOwner": item.owner},
            {"$set": update, "$unset": {"leaseOwner": "", "leaseUntil": ""}},
        )

    async def finish_many(self, items: Sequence[Finish]) -> list[bool | BaseException]:
        """processing → completed (with ``result``) or failed (with ``error``) for several
        jobs in ONE round trip: an unordered bulk of compare-and-set updates, each applied only
        while its worker still holds the lease (True per job this worker finished). When
        fewer jobs changed than were sent (a lease lost to another worker: rare), the jobs
        are read back, concurrently, to learn which ones this worker finished
        (``finishedBy``). Raises StorageUnavailableError when the round trip fails."""
        if not items:
            return []
        failed: dict[int, BaseException] = {}
        try:
            async with storage_errors("finish jobs"):
                res = await self._jobs.bulk_write(
                    [UpdateOne(*self._finish_op(item)) for item in items], ordered=False
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
        if modified == len(items) - len(failed):
            return [failed.get(i, True) for i in range(len(items))]
        # read the others back concurrently (by _id: an index hit on any backend)
        unknown = [i for i in range(len(items)) if i not in failed]
        docs = await asyncio.gather(*(self.get(items[i].job_id) for i in unknown))
        out: list[bool | BaseException] = [failed.get(i, False) for i in range(len(items))]
        for i, doc in zip(unknown, docs, strict=True):
            out[i] = (
                doc is not None
                and JobStatus(doc["status"]).is_final
                and doc.get("finishedBy") == items[i].owner
            )
        return out

    async def release(
        self, job_id: str, *, owner: str, now: datetime, refund_attempt: bool = True
    ) -> bool:
        """processing → queued, so the next delivery claims it at once. A graceful shutdown
        refunds the attempt; a failed attempt (an error) keeps counting."""
        update: dict[str, Any] = {
            "$set": {"status": JobStatus.QUEUED.value, "updatedAt": now},
            "$unset": {"leaseOwner": "", "leaseUntil": ""},
        }
        if refund_attempt:
            update["$inc"] = {"attempts": -1}
        async with storage_errors("release job"):
            res = await self._jobs.update_one(
                {"_id": job_id, "status": JobStatus.PROCESSING.value, "leaseOwner": owner},
                update,
            )
        return res.modified_count == 1

    async def fail_unclaimed(self, job_id: str, *, now: datetime, error: str) -> bool:
        """queued → failed (a job that can never be processed, e.g. attempts exhausted)."""
        async with storage_errors("fail job"):
            res = await self._jobs.update_one(
                {"_id": job_id, "status": {"$in": [JobStatus.QUEUED.value]}},
                {
                    "$set": {
                        "status": JobStatus.FAILED.value,
                        "error": error,
                        "completedAt": now,
                        "updatedAt": now,
                    }
                },
            )
        return res.modified_count == 1


class LockRepository:
    """Named leases in the ``locks`` collection: at most one holder per name at a time."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._locks: AsyncCollection[Document] = db[LOCKS]

    async def try_acquire(self, name: str, *, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease; False while another owner holds an unexpired one."""
        try:
            async with storage_errors("acquire lock"):
                doc = await self._locks.find_one_and_update(
                    {"_id": name, "$or": [{"until": {"$lt": now}}, {"owner": owner}]},
                    {"$set": {"owner": owner, "until": now + ttl}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
        except DuplicateKeyError:  # the upsert raced with the holder's document
            return False
        return doc is not None and doc.get("owner") == owner

    async def release(self, name: str, *, owner: str) -> None:
        async with storage_errors("release lock"):
            await self._locks.delete_one({"_id": name, "owner": owner})


class SubmissionRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._submissions: AsyncCollection[Document] = db[SUBMISSIONS]

    async def store(self, doc: Document) -> str:
        """Insert the graded submission of a job once. A second write for the same job (a
        redelivery after a crash) is a no-op that returns the existing submission's id."""
        submission_id = submission_id_for(str(doc["jobId"]))
        try:
            async with storage_errors("store submission"):
                await self._submissions.insert_one({**doc, "_id": submission_id})
        except DuplicateKeyError:
            pass
        return submission_id

    async def store_many(self, docs: Sequence[Document]) -> list[str | BaseException]:
        """:meth:`store` for several jobs in ONE round trip (an unordered ``insert_many``):
        each job's submission id, or the error of that job's insert alone. Raises
        StorageUnavailableError when the round trip itself fails."""
        ids = [submission_id_for(str(doc["jobId"])) for doc in docs]
        out: list[str | BaseException] = list(ids)
        try:
            async with storage_errors("store submissions"):
                await self._submissions.insert_many(
                    [{**doc, "_id": sid} for doc, sid in zip(docs, ids, strict=True)],
                    ordered=False,
                )
        except BulkWriteError as e:
            for error in e.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:  # a duplicate is the idempotent case
                    out[error["index"]] = StorageUnavailableError(
                        f"MongoDB store submission failed: {error.get('errmsg')}"
                    )
            if e.details.get("writeConcernErrors"):
                raise StorageUnavailableError(f"MongoDB store submissions failed: {e}") from e
        return out

    async def count_for_job(self, job_id: str) -> int:
        async with storage_errors("count submissions"):
            return await self._submissions.count_documents({"jobId": job_id})
