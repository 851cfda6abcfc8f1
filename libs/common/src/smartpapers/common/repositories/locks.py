"""The ``locks`` collection: named leases, at most one holder per name at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartpapers.common.mongo import LOCKS, Document, storage_errors


class LockRepository:
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
