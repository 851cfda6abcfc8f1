"""The reliability contract's atomic steps on the real database, under real concurrency:
a job is claimed by exactly one worker, finished exactly once, and counters never lose an
increment. These hold on MongoDB and on the local database (SecantusDB, WiredTiger
transactions); docs/architecture.md#which-server-keeps-which-guarantee says where they
do not (FerretDB v1) and what guards the pipeline there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.rate_limit import RateLimiter
from smartpapers.common.job import Job
from smartpapers.common.lease import Claimer
from smartpapers.common.models import JobResult, JobStatus, SubmissionIn
from smartpapers.common.repositories import Finish, Finished, JobRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_answers
from tests.conftest import Stack


@pytest.fixture
async def clients(stack: Stack) -> AsyncIterator[list[AsyncDatabase[Any]]]:
    """Eight independent clients (own connection pools), as eight worker processes have."""
    opened: list[AsyncMongoClient[Any]] = [
        AsyncMongoClient(stack.mongo_uri, tz_aware=True) for _ in range(8)
    ]
    yield [c[stack.db_name] for c in opened]
    for c in opened:
        await c.close()


async def queued(db: AsyncDatabase[Any], n: int) -> list[str]:
    jobs = [
        Job.new(
            submission=SubmissionIn.model_validate(
                {
                    "studentId": f"s{i}",
                    "paperId": "demo-paper",
                    "instituteId": "demo-institute",
                    "answers": demo_answers(i % 21),
                }
            ),
            idempotency_key=None,
            now=utcnow(),
        )
        for i in range(n)
    ]
    await JobRepository(db).insert_many(jobs)
    return [j.job_id for j in jobs]


async def test_sixteen_racing_claims_on_one_job_have_one_winner(
    clients: list[AsyncDatabase[Any]],
) -> None:
    [job_id] = await queued(clients[0], 1)
    claimers = [
        Claimer(
            jobs=JobRepository(clients[i % len(clients)]),
            owner=f"w{i}",
            duration=timedelta(seconds=60),
        )
        for i in range(16)
    ]
    results = await asyncio.gather(*(c.claim([job_id]) for c in claimers))
    winners = [lease.token for lease, _ in results if job_id in lease.held]
    assert len(winners) == 1
    job = await JobRepository(clients[0]).get(job_id)
    assert job is not None and job.lease_owner == winners[0] and job.attempts == 1


async def test_racing_batch_claims_split_the_jobs_without_overlap(
    clients: list[AsyncDatabase[Any]],
) -> None:
    ids = await queued(clients[0], 40)
    claimers = [
        Claimer(jobs=JobRepository(db), owner=f"w{i}", duration=timedelta(seconds=60))
        for i, db in enumerate(clients)
    ]
    # every claimer asks for every job, in a different order
    results = await asyncio.gather(*(c.claim(ids[i:] + ids[:i]) for i, c in enumerate(claimers)))
    held = [set(lease.held) for lease, _ in results]
    assert sum(len(h) for h in held) == 40  # every job won exactly once
    assert set().union(*held) == set(ids)
    stored = await JobRepository(clients[0]).get_many(ids)
    assert all(j.attempts == 1 and j.status is JobStatus.PROCESSING for j in stored)


async def test_a_job_is_finished_once_even_when_two_holders_race(
    clients: list[AsyncDatabase[Any]],
) -> None:
    [job_id] = await queued(clients[0], 1)
    repo = JobRepository(clients[0])
    now = utcnow()
    await repo.claim([job_id], token="first", now=now, until=now - timedelta(seconds=1))
    # the first holder's lease expired; a second worker takes the job over
    await repo.claim(
        [job_id], token="second", now=now, until=now + timedelta(seconds=60), expired=True
    )
    result = JobResult(submission_id="x", score=1, total=20)
    first, second = await asyncio.gather(
        JobRepository(clients[1]).finish_many([Finish(job_id, "first", now, result=result)]),
        JobRepository(clients[2]).finish_many([Finish(job_id, "second", now, result=result)]),
    )
    # the old holder never finishes it: it lost the lease (or sees it finished already)
    assert second == [Finished.BY_US]
    assert first in ([Finished.LEASE_LOST], [Finished.ALREADY])
    job = await repo.get(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED and job.finished_by == "second"
    assert job.attempts == 2


async def test_fifty_concurrent_increments_are_all_kept(
    clients: list[AsyncDatabase[Any]],
) -> None:
    limiters = [RateLimiter(db, window_seconds=3600, timeout_seconds=10) for db in clients]
    await asyncio.gather(*(limiters[i % 8].hit("submit", "student", 1000) for i in range(50)))
    counters = await clients[0]["rate_limits"].find({}).to_list()
    assert [c["n"] for c in counters] == [50]
