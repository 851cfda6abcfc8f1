"""The worker's bulk writes against real FerretDB: one round trip per batch, the same
per-job outcomes as single writes (idempotent inserts, compare-and-set finishes)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.common.models import JobResult
from smartpapers.common.mongo import CommandCounter
from smartpapers.common.repositories import Finish, JobRepository, SubmissionRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_answers
from tests.conftest import Stack
from tests.integration.conftest import mongo_commands


@pytest.fixture
async def counted_db(stack: Stack) -> AsyncIterator[AsyncDatabase[Any]]:
    """The test's database through a client that counts its commands, like the services'."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        stack.mongo_uri, tz_aware=True, event_listeners=[CommandCounter()]
    )
    yield client[stack.db_name]
    await client.close()


def sent(command: str) -> float:
    return mongo_commands().get(command, 0.0)


async def queued_jobs(client: httpx.AsyncClient, n: int) -> list[str]:
    ids = []
    for i in range(n):
        r = await client.post(
            "/api/submissions",
            json={
                "studentId": f"s{i}",
                "paperId": "demo-paper",
                "instituteId": "demo-institute",
                "answers": demo_answers(3),
            },
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["jobId"])
    return ids


async def test_store_many_is_one_insert_and_idempotent(
    counted_db: AsyncDatabase[Any], mongo_db: AsyncDatabase[Any]
) -> None:
    subs = SubmissionRepository(counted_db)
    docs = [{"jobId": f"job-{i}", "score": i} for i in range(4)]
    assert await subs.store(docs[0]) == (first := await subs.store(docs[0]))  # single path
    before = sent("insert")
    out = await subs.store_many(docs)
    assert sent("insert") - before == 1
    assert out[0] == first and all(isinstance(x, str) for x in out)
    assert await subs.store_many(docs) == out  # a redelivered batch: duplicates are fine
    assert await mongo_db["submissions"].count_documents({}) == 4


async def test_finish_many_applies_each_compare_and_set_on_its_own(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    counted_db: AsyncDatabase[Any],
    mongo_db: AsyncDatabase[Any],
) -> None:
    jobs = JobRepository(counted_db)
    ids = await queued_jobs(client, 3)
    now = utcnow()
    for job_id in ids:
        assert await jobs.claim(job_id, owner="w1", now=now, lease=timedelta(seconds=60))
    # the third job's lease went to another worker meanwhile
    await mongo_db["submission_jobs"].update_one({"_id": ids[2]}, {"$set": {"leaseOwner": "w2"}})
    result = JobResult(submission_id="sub", score=3, total=20)
    before = sent("update")
    out = await jobs.finish_many(
        [
            Finish(ids[0], "w1", now, result=result),
            Finish(ids[1], "w1", now, error="paper vanished"),
            Finish(ids[2], "w1", now, result=result),
        ]
    )
    assert out == [True, True, False]
    assert sent("update") - before == 1
    docs = {d["_id"]: d async for d in mongo_db["submission_jobs"].find({"_id": {"$in": ids}})}
    assert docs[ids[0]]["status"] == "completed" and docs[ids[0]]["result"]["score"] == 3
    assert docs[ids[1]]["status"] == "failed" and docs[ids[1]]["error"] == "paper vanished"
    assert docs[ids[2]]["status"] == "processing" and docs[ids[2]]["leaseOwner"] == "w2"
    assert "leaseOwner" not in docs[ids[0]] and docs[ids[0]]["finishedBy"] == "w1"
    # finishing again (a duplicate delivery) changes nothing and reports it
    assert await jobs.finish_many([Finish(ids[0], "w1", now, result=result)]) == [True]
    assert await jobs.finish_many([Finish(ids[0], "w3", now, result=result)]) == [False]
    assert await jobs.finish_many([]) == []


async def test_insert_many_resolves_idempotency_per_job_in_one_round_trip(
    client: httpx.AsyncClient, demo: dict[str, Any], counted_db: AsyncDatabase[Any]
) -> None:
    from smartpapers.api.submissions import new_job_document
    from smartpapers.common.errors import IdempotencyConflictError
    from smartpapers.common.models import SubmissionIn

    jobs = JobRepository(counted_db)

    def doc(student: str, correct: int, key: str | None) -> dict[str, Any]:
        body = SubmissionIn.model_validate(
            {
                "studentId": student,
                "paperId": "demo-paper",
                "instituteId": "demo-institute",
                "answers": demo_answers(correct),
            }
        )
        return new_job_document(job_id=str(uuid.uuid4()), submission=body, idempotency_key=key)

    earlier = doc("a", 3, "k1")
    assert await jobs.insert(earlier) == earlier["_id"]
    batch = [doc("a", 3, "k1"), doc("a", 4, "k1"), doc("b", 3, "k1"), doc("c", 1, None)]
    before = sent("insert")
    out = await jobs.insert_many(batch)
    assert sent("insert") - before == 1
    assert out[0] == earlier["_id"]  # same key, same body: the earlier job
    assert isinstance(out[1], IdempotencyConflictError)  # same key, another body: 409
    assert out[2] == batch[2]["_id"] and out[3] == batch[3]["_id"]  # keys are per student
    assert await counted_db["submission_jobs"].count_documents({}) == 3
