"""The repositories' bulk writes against the real database: one round trip per batch, the
same per-job outcomes as single writes (idempotent inserts, compare-and-set finishes), and
one bad document never failing the others."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.common.errors import IdempotencyConflictError, UnstorableDocumentError
from smartpapers.common.job import Job, Submission
from smartpapers.common.models import JobResult, SubmissionIn
from smartpapers.common.mongo import CommandCounter, ensure_indexes
from smartpapers.common.repositories import (
    Finish,
    Finished,
    JobRepository,
    SubmissionRepository,
)
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_answers
from tests.conftest import Stack
from tests.integration.conftest import mongo_commands


@pytest.fixture
async def counted_db(stack: Stack) -> AsyncIterator[AsyncDatabase[Any]]:
    """The test's database, with the services' indexes, through a client that counts its
    commands like the services' clients do."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        stack.mongo_uri, tz_aware=True, event_listeners=[CommandCounter()]
    )
    await ensure_indexes(client[stack.db_name])
    yield client[stack.db_name]
    await client.close()


def sent(command: str) -> float:
    return mongo_commands().get(command, 0.0)


def new_job(student: str = "s1", correct: int = 3, key: str | None = None) -> Job:
    body = SubmissionIn.model_validate(
        {
            "studentId": student,
            "paperId": "demo-paper",
            "instituteId": "demo-institute",
            "answers": demo_answers(correct),
        }
    )
    return Job.new(submission=body, idempotency_key=key, now=utcnow())


def graded(job_id: str, answers: list[Any] | None = None) -> Submission:
    return Submission(
        job_id=job_id,
        student_id="s1",
        paper_id="demo-paper",
        institute_id="demo-institute",
        answers=answers if answers is not None else [{"questionId": "q1", "answer": "A"}],
        score=1,
        total=20,
        graded_at=utcnow(),
    )


async def test_store_many_is_one_insert_and_idempotent(
    counted_db: AsyncDatabase[Any], mongo_db: AsyncDatabase[Any]
) -> None:
    subs = SubmissionRepository(counted_db)
    batch = [graded(f"job-{i}") for i in range(4)]
    before = sent("insert")
    assert await subs.store_many(batch) == [None] * 4
    assert sent("insert") - before == 1
    assert await subs.store_many(batch) == [None] * 4  # a redelivered batch: duplicates are fine
    assert await mongo_db["submissions"].count_documents({}) == 4
    stored = await mongo_db["submissions"].find_one({"jobId": "job-0"})
    assert stored is not None and stored["_id"] == batch[0].submission_id


async def test_one_unstorable_document_never_fails_its_neighbours(
    counted_db: AsyncDatabase[Any], mongo_db: AsyncDatabase[Any]
) -> None:
    """An answer value BSON cannot hold (an integer beyond 64 bits, as an old job could
    carry) fails that submission alone; the rest of the bulk is stored."""
    subs = SubmissionRepository(counted_db)
    batch = [graded("ok-1"), graded("bad", [{"questionId": "q1", "answer": 2**70}]), graded("ok-2")]
    out = await subs.store_many(batch)
    assert out[0] is None and out[2] is None
    assert isinstance(out[1], UnstorableDocumentError) and "8-byte" in str(out[1])
    assert sorted(d["jobId"] for d in await mongo_db["submissions"].find({}).to_list()) == [
        "ok-1",
        "ok-2",
    ]


async def test_claim_is_two_round_trips_for_a_batch(
    counted_db: AsyncDatabase[Any], mongo_db: AsyncDatabase[Any]
) -> None:
    jobs = JobRepository(counted_db)
    batch = [new_job(f"s{i}") for i in range(10)]
    assert await jobs.insert_many(batch) == [j.job_id for j in batch]
    now = utcnow()
    before = sum(mongo_commands().values())
    claimed = await jobs.claim(
        [j.job_id for j in batch], token="w1/1", now=now, until=now + timedelta(seconds=60)
    )
    assert sum(mongo_commands().values()) - before == 2  # updateMany + find
    assert {j.job_id for j in claimed} == {j.job_id for j in batch}
    assert all(j.lease_owner == "w1/1" and j.attempts == 1 and j.started_at for j in claimed)
    again = await jobs.claim(
        [batch[0].job_id], token="w2/1", now=now, until=now + timedelta(seconds=60)
    )
    assert again[0].lease_owner == "w1/1"  # held: a second claim wins nothing


async def test_finish_many_applies_each_compare_and_set_on_its_own(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    counted_db: AsyncDatabase[Any],
    mongo_db: AsyncDatabase[Any],
) -> None:
    jobs = JobRepository(counted_db)
    batch = [new_job(f"s{i}") for i in range(3)]
    await jobs.insert_many(batch)
    ids = [j.job_id for j in batch]
    now = utcnow()
    await jobs.claim(ids, token="w1", now=now, until=now + timedelta(seconds=60))
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
    assert out == [Finished.BY_US, Finished.BY_US, Finished.LEASE_LOST]
    assert sent("update") - before == 1
    docs = {d["_id"]: d async for d in mongo_db["submission_jobs"].find({"_id": {"$in": ids}})}
    assert docs[ids[0]]["status"] == "completed" and docs[ids[0]]["result"]["score"] == 3
    assert docs[ids[1]]["status"] == "failed" and docs[ids[1]]["error"] == "paper vanished"
    assert docs[ids[2]]["status"] == "processing" and docs[ids[2]]["leaseOwner"] == "w2"
    assert "leaseOwner" not in docs[ids[0]] and docs[ids[0]]["finishedBy"] == "w1"
    # finishing again (a duplicate delivery) changes nothing and reports it
    assert await jobs.finish_many([Finish(ids[0], "w1", now, result=result)]) == [Finished.BY_US]
    assert await jobs.finish_many([Finish(ids[0], "w3", now, result=result)]) == [Finished.ALREADY]
    assert await jobs.finish_many([]) == []


async def test_insert_many_resolves_idempotency_per_job_in_one_round_trip(
    counted_db: AsyncDatabase[Any],
) -> None:
    jobs = JobRepository(counted_db)
    earlier = new_job("a", 3, "k1")
    assert await jobs.insert_many([earlier]) == [earlier.job_id]
    batch = [new_job("a", 3, "k1"), new_job("a", 4, "k1"), new_job("b", 3, "k1"), new_job("c")]
    before = sent("insert")
    out = await jobs.insert_many(batch)
    assert sent("insert") - before == 1
    assert out[0] == earlier.job_id  # same key, same body: the earlier job
    assert isinstance(out[1], IdempotencyConflictError)  # same key, another body: 409
    assert out[2] == batch[2].job_id and out[3] == batch[3].job_id  # keys are per student
    assert await counted_db["submission_jobs"].count_documents({}) == 3
    # the same bulk again (a retry after a timeout whose insert had been applied): every job
    # counts as stored under the id it got the first time, nothing is stored twice
    retried = await jobs.insert_many(batch)
    assert retried[0] == earlier.job_id and isinstance(retried[1], IdempotencyConflictError)
    assert retried[2:] == [batch[2].job_id, batch[3].job_id]
    assert await counted_db["submission_jobs"].count_documents({}) == 3
