"""The sweeper's queries on ``submission_jobs`` (``smartpapers.worker.sweeper`` is their one
user): jobs whose message was never sent or was lost, and leases that expired. All three
range over the one ``(status, updatedAt)`` index (``smartpapers.common.mongo``): every status
change sets ``updatedAt``, and a lease ends ``lease`` after the claim or extension that set
``updatedAt`` — so ``updatedAt < now − lease`` bounds the scan of processing jobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.common.models import JobStatus, Lane
from smartpapers.common.mongo import JOBS, Document, storage_errors
from smartpapers.common.repositories.jobs import PROCESSING, QUEUED


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    """A processing job whose worker stopped renewing its lease."""

    job_id: str
    attempts: int
    lease_until: datetime
    lane: Lane = Lane.NORMAL


def _lane(doc: Document) -> Lane:
    return Lane(doc.get("lane", Lane.NORMAL))


class SweepRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs: AsyncCollection[Document] = db[JOBS]

    async def _ids(self, query: Document, limit: int, action: str) -> dict[str, Lane]:
        async with storage_errors(action):
            docs = await self._jobs.find(query, {"_id": 1, "lane": 1}).limit(limit).to_list()
        return {str(d["_id"]): _lane(d) for d in docs}

    async def unsent(self, *, updated_before: datetime, limit: int) -> dict[str, Lane]:
        """Queued jobs whose message was never sent (the API's send failed or it crashed),
        unchanged since ``updated_before``."""
        query = {"status": QUEUED, "updatedAt": {"$lt": updated_before}, "enqueued": False}
        return await self._ids(query, limit, "find unsent jobs")

    async def stale_queued(self, *, updated_before: datetime, limit: int) -> dict[str, Lane]:
        """Queued jobs sent long ago but never processed: their message was lost (e.g. moved
        to the DLQ while MongoDB was down)."""
        query = {"status": QUEUED, "updatedAt": {"$lt": updated_before}, "enqueued": True}
        return await self._ids(query, limit, "find stale jobs")

    async def expired_leases(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> list[ExpiredLease]:
        """Processing jobs whose lease ended before ``now`` (``lease``: the lease duration,
        which bounds the index range)."""
        async with storage_errors("find expired leases"):
            docs = (
                await self._jobs.find(
                    {
                        "status": PROCESSING,
                        "updatedAt": {"$lte": now - lease},
                        "leaseUntil": {"$lt": now},
                    },
                    {"_id": 1, "attempts": 1, "leaseUntil": 1, "lane": 1},
                )
                .limit(limit)
                .to_list()
            )
        return [
            ExpiredLease(str(d["_id"]), int(d.get("attempts", 0)), d["leaseUntil"], _lane(d))
            for d in docs
        ]

    async def requeue_expired(self, lease: ExpiredLease, *, now: datetime) -> bool:
        """processing → queued for a job whose lease expired (its worker died)."""
        return await self._end_expired(
            lease,
            {"status": QUEUED, "enqueued": False, "updatedAt": now},
            action="requeue job",
        )

    async def fail_expired(self, lease: ExpiredLease, *, now: datetime, error: str) -> bool:
        fields = {"status": JobStatus.FAILED.value, "error": error, "completedAt": now}
        return await self._end_expired(lease, {**fields, "updatedAt": now}, action="fail job")

    async def _end_expired(self, lease: ExpiredLease, fields: Document, *, action: str) -> bool:
        async with storage_errors(action):
            res = await self._jobs.update_one(
                {"_id": lease.job_id, "status": PROCESSING, "leaseUntil": lease.lease_until},
                {"$set": fields, "$unset": {"leaseOwner": "", "leaseUntil": ""}},
            )
        return res.modified_count == 1

    async def mark_enqueued(self, job_ids: Sequence[str], *, now: datetime) -> None:
        async with storage_errors("mark jobs enqueued"):
            await self._jobs.update_many(
                {"_id": {"$in": list(job_ids)}}, {"$set": {"enqueued": True, "updatedAt": now}}
            )
