"""Per-student rate limits shared by every API replica, kept in MongoDB.

A fixed-window counter: one document per (scope, key, window) in ``rate_limits``, ``_id``
``"<scope>:<window>:<key>"``, bumped by one ``findAndModify`` upsert with ``$inc`` — a single
round trip filtered on ``_id`` only (an index hit on every server), no transaction. MongoDB
and the local database apply the ``$inc`` atomically (``tests/integration/test_contract.py``;
a server that does not, such as FerretDB v1, undercounts concurrent requests of one
student). Old windows expire through a TTL index on ``expiresAt`` where the server has TTL
indexes, otherwise through a periodic ``deleteMany``.

Why not the ``limits`` package: its async MongoDB storage is built on motor (end of life in
May 2026) with a client of its own, and it costs more than this one round trip per check.

The limiter fails OPEN: if MongoDB errors or answers slower than
``rate_limit_timeout_seconds`` the request is let through and the failure logged, so a
student is never rejected because of the limiter itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from smartpapers.common.errors import SmartpapersError
from smartpapers.common.mongo import Document

logger = logging.getLogger(__name__)

RATE_LIMITS = "rate_limits"
MAX_RAW_KEY = 200
WARN_EVERY_SECONDS = 10.0


class RateLimitedError(SmartpapersError):
    """429: this student used up the window's budget; ``retry_after`` seconds to its end."""

    code = "rate_limited"

    def __init__(self, *, scope: str, retry_after: int) -> None:
        super().__init__(f"too many {scope} requests; retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


class RateLimiter:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        window_seconds: int,
        timeout_seconds: float,
    ) -> None:
        self._counters: AsyncCollection[Document] = db[RATE_LIMITS]
        self.window_seconds = window_seconds
        self.timeout_seconds = timeout_seconds
        self.ttl_index = False
        self._last_warning = -math.inf

    async def ensure_indexes(self) -> None:
        """A TTL index where the server supports it (some answer NotImplemented)."""
        try:
            await self._counters.create_index(
                [("expiresAt", ASCENDING)], expireAfterSeconds=0, name="expiresAt_ttl"
            )
            self.ttl_index = True
        except OperationFailure as e:
            logger.info("no TTL index for rate limit counters (%s); purging periodically", e)
        except PyMongoError as e:  # the limiter fails open; so does its set-up
            logger.warning("rate limit counters index not created: %s", e)

    async def purge_expired(self) -> int:
        """Delete counters of past windows (only needed without a TTL index)."""
        result = await self._counters.delete_many({"expiresAt": {"$lt": datetime.now(UTC)}})
        return result.deleted_count

    async def run_purger(self) -> None:
        """Runs until cancelled: every few windows, drop expired counters."""
        interval = max(60.0, 5.0 * self.window_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.purge_expired()
            except Exception as e:  # never let housekeeping kill the API
                logger.warning("purging rate limit counters failed: %s", e)

    async def hit(self, scope: str, key: str, limit: int) -> None:
        """Count one request of ``key`` in ``scope``; raise :class:`RateLimitedError` past
        ``limit`` per window. ``limit`` 0 disables the check (no I/O)."""
        if limit <= 0:
            return
        now = time.time()
        window = int(now // self.window_seconds)
        window_end = (window + 1) * self.window_seconds
        if len(key) > MAX_RAW_KEY:
            key = hashlib.sha256(key.encode()).hexdigest()
        doc_id = f"{scope}:{window}:{key}"
        # kept one window past its end, so a replica with a slightly slow clock still finds it
        expires = datetime.fromtimestamp(window_end, UTC) + timedelta(seconds=self.window_seconds)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                count = await self._increment(doc_id, expires)
        except Exception as e:  # fail open: the limiter must never reject on its own errors
            self._warn(scope, e)
            return
        if count > limit:
            raise RateLimitedError(scope=scope, retry_after=max(1, math.ceil(window_end - now)))

    async def _increment(self, doc_id: str, expires: datetime) -> int:
        for attempt in (1, 2):
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": doc_id},
                    {"$inc": {"n": 1}, "$setOnInsert": {"expiresAt": expires}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                # two first requests of a window raced on the insert: the second one updates
                if attempt == 2:
                    raise
                continue
            return int(doc["n"]) if doc is not None else 1
        raise AssertionError("unreachable")

    def _warn(self, scope: str, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning(
                "rate limiter unavailable, letting %s requests through: %s",
                scope,
                f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
            )
