"""Opening both backends a service needs — MongoDB (with its indexes) and an SQS client —
for the lifetime of a process, in one place for the API and the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.common.mongo import Document, connect_mongo, ensure_indexes
from smartpapers.common.queue import SQSClient, open_sqs_client
from smartpapers.common.settings import CommonSettings


@dataclass(frozen=True, slots=True)
class Backends:
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    sqs: SQSClient


@asynccontextmanager
async def open_backends(
    settings: CommonSettings, *, sqs_pool_connections: int = 50
) -> AsyncIterator[Backends]:
    """Connect (bounded retries, a log line per attempt), ensure indexes, close on exit."""
    mongo = await connect_mongo(settings)
    try:
        db = mongo[settings.mongo_db]
        await ensure_indexes(db)
        async with open_sqs_client(
            region=settings.aws_region,
            endpoint_url=settings.sqs_endpoint_url,
            max_pool_connections=sqs_pool_connections,
        ) as sqs:
            yield Backends(mongo=mongo, db=db, sqs=sqs)
    finally:
        await mongo.close()
