"""MongoDB: the connection (bounded start-up retries), the indexes smartpapers relies on, the
command counter, and :func:`storage_errors`, which turns every driver error into a domain
error. Only the repositories (``smartpapers.common.repositories``) use this module's client
and collections."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential

from smartpapers.common.errors import StorageTimeoutError, StorageUnavailableError
from smartpapers.common.metrics import MONGO_COMMANDS
from smartpapers.common.settings import CommonSettings

logger = logging.getLogger(__name__)

__all__ = [
    "JOBS", "LOCKS", "PAPERS", "SUBMISSIONS", "Document", "connect_mongo", "ensure_indexes",
    "ping", "storage_errors",
]  # fmt: skip

Document: TypeAlias = dict[str, Any]  # noqa: UP040

PAPERS = "papers"
JOBS = "submission_jobs"
SUBMISSIONS = "submissions"
LOCKS = "locks"


#: commands counted by name; anything else is "other" (label values stay a small, fixed set)
COUNTED_COMMANDS = frozenset(
    {
        "find", "insert", "update", "delete", "findAndModify", "aggregate", "count",
        "getMore", "createIndexes", "listIndexes", "dropIndexes", "ping", "endSessions",
        "killCursors",
    }
)  # fmt: skip


class CommandCounter(CommandListener):
    """Counts every command the driver sends (``smartpapers_mongo_commands_total``): the
    database round trips the benchmark divides by accepted submissions."""

    def started(self, event: CommandStartedEvent) -> None:
        name = event.command_name
        MONGO_COMMANDS.labels(name if name in COUNTED_COMMANDS else "other").inc()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@asynccontextmanager
async def storage_errors(action: str) -> AsyncIterator[None]:
    """Driver errors become :class:`StorageTimeoutError` (the server is reachable but did not
    answer in time: the write's outcome is unknown) or :class:`StorageUnavailableError`
    (unreachable, refused). Duplicate keys and bulk errors pass through: the caller decides
    per document."""
    try:
        yield
    except (DuplicateKeyError, BulkWriteError):
        raise
    except PyMongoError as e:
        if e.timeout and not isinstance(e, ServerSelectionTimeoutError):
            raise StorageTimeoutError(f"MongoDB {action} timed out: {e}") from e
        raise StorageUnavailableError(f"MongoDB {action} failed: {e}") from e


def _log_attempt(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    logger.warning(
        "MongoDB not reachable (attempt %d): %s",
        state.attempt_number,
        error,
        extra={"attempt": state.attempt_number},
    )


async def connect_mongo(
    settings: CommonSettings, *, attempts: int | None = None
) -> AsyncMongoClient[Document]:
    """Open a client and ping the server, retrying with backoff; raise if it never answers."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongo_uri.get_secret_value(),
        w="majority",
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
        connectTimeoutMS=settings.mongo_timeout_ms,
        timeoutMS=settings.mongo_timeout_ms * 2,
        maxPoolSize=settings.mongo_max_pool_size,
        appname="smartpapers",
        event_listeners=[CommandCounter()],
    )
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts or settings.connect_attempts),
            wait=wait_exponential(multiplier=0.2, max=5),
            before_sleep=_log_attempt,
            reraise=True,
        ):
            with attempt:
                await client.admin.command("ping")
    except PyMongoError as e:
        await client.close()
        raise StorageUnavailableError(f"MongoDB unreachable: {e}") from e
    logger.info("connected to MongoDB", extra={"database": settings.mongo_db})
    return client


async def ping(client: AsyncMongoClient[Document]) -> None:
    """One round trip to the server (readiness); raises StorageUnavailableError."""
    async with storage_errors("ping"):
        await client.admin.command("ping")


#: indexes earlier versions created, superseded by ``sweep``
OBSOLETE_INDEXES = frozenset({"lease", "outbox", "stale"})


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Idempotent: creating an index that exists is a no-op."""
    await db[SUBMISSIONS].create_index([("jobId", ASCENDING)], unique=True, name="jobId_unique")
    await db[JOBS].create_index(
        [("idempotencyKey", ASCENDING)], unique=True, sparse=True, name="idempotencyKey_unique"
    )
    # the sweeper's three queries (repositories.sweeps) range over ONE index: every status
    # change sets updatedAt, and a lease ends lease-duration after its last claim/extension.
    # Each index costs every status update a write, so there is no second one.
    await db[JOBS].create_index([("status", ASCENDING), ("updatedAt", ASCENDING)], name="sweep")
    existing = await db[JOBS].index_information()
    for obsolete in OBSOLETE_INDEXES & set(existing):
        logger.info("dropping obsolete index %s on %s", obsolete, JOBS)
        await db[JOBS].drop_index(obsolete)
