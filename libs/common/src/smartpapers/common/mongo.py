"""MongoDB connection with bounded start-up retries, and the indexes smartpapers relies on."""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential

from smartpapers.common.errors import StorageUnavailableError
from smartpapers.common.metrics import MONGO_COMMANDS
from smartpapers.common.settings import CommonSettings

logger = logging.getLogger(__name__)

Document: TypeAlias = dict[str, Any]  # noqa: UP040

PAPERS = "papers"
JOBS = "submission_jobs"
SUBMISSIONS = "submissions"
LOCKS = "locks"


#: commands counted by name; anything else is "other" (label values stay a small, fixed set)
COUNTED_COMMANDS = frozenset(
    {
        "find", "insert", "update", "delete", "findAndModify", "aggregate", "count",
        "getMore", "createIndexes", "ping", "endSessions", "killCursors",
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


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Idempotent: creating an index that exists is a no-op."""
    await db[SUBMISSIONS].create_index([("jobId", ASCENDING)], unique=True, name="jobId_unique")
    await db[JOBS].create_index(
        [("idempotencyKey", ASCENDING)], unique=True, sparse=True, name="idempotencyKey_unique"
    )
    await db[JOBS].create_index([("status", ASCENDING), ("leaseUntil", ASCENDING)], name="lease")
    await db[JOBS].create_index([("enqueued", ASCENDING), ("createdAt", ASCENDING)], name="outbox")
