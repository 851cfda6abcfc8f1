"""The rollback switch on the real stack: submissions mode ``sync`` grades in the request and
answers 201 with the pre-queue contract, writing the same documents and no message; a failure
between its writes leaves the job to the sweeper. ``Prefer: wait=N`` on the async path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.app import create_app
from smartpapers.api.inline import INLINE_LEASE
from smartpapers.common import failpoints
from smartpapers.common.queue import SqsQueue
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_paper
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings, wait_for
from tests.integration.test_api import submission
from tests.integration.test_sweeper import sweeper


def completed_count() -> float:
    labels = {"outcome": "completed"}
    return REGISTRY.get_sample_value("smartpapers_jobs_processed_total", labels) or 0.0


@pytest.fixture
async def sync_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings(stack, submissions_mode="sync"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            yield c


@pytest.fixture
async def async_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(api_settings(stack, notifier_interval_seconds=0.1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            yield c


async def test_sync_mode_answers_201_with_the_score_and_writes_what_a_worker_would(
    sync_api: httpx.AsyncClient, mongo_db: AsyncDatabase[Any], main_queue: SqsQueue
) -> None:
    before = completed_count()
    r = await sync_api.post("/api/submissions", json=submission(13))
    assert r.status_code == 201, r.text
    assert completed_count() == before + 1  # the dashboard's job panels see it
    body = r.json()
    assert set(body) == {"submissionId", "score", "total"}
    assert (body["score"], body["total"]) == (13, 20)
    status = (await sync_api.get(r.headers["Location"])).json()
    assert status["status"] == "completed" and status["result"] == body
    job = await mongo_db["submission_jobs"].find_one({"_id": status["jobId"]})
    assert job is not None and job["attempts"] == 1 and "leaseOwner" not in job
    stored = await mongo_db["submissions"].find_one({"jobId": status["jobId"]})
    assert stored is not None and stored["score"] == 13
    assert (await main_queue.depth())["visible"] == 0  # no queue involved


async def test_sync_mode_replays_an_idempotency_key_and_rejects_bad_input(
    sync_api: httpx.AsyncClient, mongo_db: AsyncDatabase[Any]
) -> None:
    key = {"Idempotency-Key": "exam-1"}
    first = await sync_api.post("/api/submissions", json=submission(5), headers=key)
    again = await sync_api.post("/api/submissions", json=submission(5), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await sync_api.post("/api/submissions", json=submission(6), headers=key)
    assert other.status_code == 409
    unknown = await sync_api.post("/api/submissions", json=submission(paperId="nope"))
    assert unknown.status_code == 404
    invalid = await sync_api.post("/api/submissions", json={"studentId": "s"})
    assert invalid.status_code == 422
    assert await mongo_db["submission_jobs"].count_documents({}) == 1
    assert await mongo_db["submissions"].count_documents({}) == 1


async def test_a_failed_store_in_sync_mode_leaves_the_job_to_the_sweeper(
    sync_api: httpx.AsyncClient,
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
    run_worker: RunWorker,
) -> None:
    failpoints.configure("inline_before_store=error")
    try:
        r = await sync_api.post("/api/submissions", json=submission(9))
    finally:
        failpoints.configure("")
    assert r.status_code == 503 and "Retry-After" in r.headers
    job = await mongo_db["submission_jobs"].find_one({})
    assert job is not None and job["status"] == "processing"
    # the request's lease ends; the sweeper puts the job on the queue and a worker grades it
    later = utcnow() + INLINE_LEASE + timedelta(seconds=1)
    report = await sweeper(mongo_db, main_queue, lease_seconds=30).sweep_once(now=later)
    assert report.requeued == 1
    await sweeper(mongo_db, main_queue, lease_seconds=30).sweep_once(now=later)  # sends it
    async with run_worker():

        async def graded() -> bool:
            doc = await mongo_db["submission_jobs"].find_one({"_id": job["_id"]})
            return doc is not None and doc["status"] == "completed"

        await wait_for(graded)
    stored = await mongo_db["submissions"].find_one({"jobId": job["_id"]})
    assert stored is not None and stored["score"] == 9


async def test_prefer_wait_answers_201_when_the_job_completes_in_time(
    async_api: httpx.AsyncClient, run_worker: RunWorker
) -> None:
    # no worker: the job cannot finish in 0.5 s → the usual 202
    slow = await async_api.post(
        "/api/submissions", json=submission(3), headers={"Prefer": "wait=0.5"}
    )
    assert slow.status_code == 202 and "Preference-Applied" not in slow.headers
    async with run_worker():
        r = await async_api.post(
            "/api/submissions",
            json=submission(17, studentId="s2"),
            headers={"Prefer": "respond-async, wait=10"},
        )
    assert r.status_code == 201, r.text
    assert r.headers["Preference-Applied"] == "wait"
    assert r.json()["score"] == 17 and set(r.json()) == {"submissionId", "score", "total"}
    plain = await async_api.post("/api/submissions", json=submission(1, studentId="s3"))
    assert plain.status_code == 202  # without Prefer: today's behaviour


async def test_prefer_wait_gives_up_after_the_wait(async_api: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = await async_api.post("/api/submissions", json=submission(), headers={"Prefer": "wait=1"})
    assert r.status_code == 202
    assert 1 <= loop.time() - started < 5
