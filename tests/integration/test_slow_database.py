"""A database that is alive but slow (tests.slow_proxy holds every query's answer): the API
keeps accepting — slower, never 503 — and stores every job once; past the admission bound
it answers 503 at once; the worker shrinks its in-flight limit instead of timing out and
retrying (no congestion collapse)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.app import create_app
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.worker.metrics import JOBS_PROCESSED
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings, wait_for
from tests.slow_proxy import SlowProxy, slow_proxy


@pytest.fixture
async def proxy(stack: Stack) -> AsyncIterator[SlowProxy]:
    port = urlparse(stack.mongo_uri).port
    assert port is not None
    async with slow_proxy(port) as p:
        yield p


def proxied(proxy: SlowProxy) -> str:
    return f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true"


def body(i: int) -> dict[str, Any]:
    return {
        "studentId": f"s{i}",
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "answers": demo_answers(i % 21),
    }


async def slow_api(stack: Stack, proxy: SlowProxy, **over: Any) -> AsyncIterator[httpx.AsyncClient]:
    # operations time out after 2 × 400 ms; the database answers after 1.5 s while slow
    settings = api_settings(stack, mongo_uri=proxied(proxy), mongo_timeout_ms=400, **over)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            yield c


async def test_a_slow_database_delays_accepts_but_answers_no_503(
    stack: Stack, proxy: SlowProxy, mongo_db: AsyncDatabase[Any]
) -> None:
    async for client in slow_api(stack, proxy, api_accept_deadline_seconds=20):
        proxy.delay = 1.5  # every insert outlives its timeout; its outcome is unknown
        posts = asyncio.gather(*(client.post("/api/submissions", json=body(i)) for i in range(20)))
        await asyncio.sleep(4)
        proxy.delay = 0  # the database catches up
        answers = await posts
    assert [r.status_code for r in answers] == [202] * 20, [r.text for r in answers]
    ids = {r.json()["jobId"] for r in answers}
    assert len(ids) == 20
    # the retried inserts stored nothing twice: the repeated _id counts as stored
    assert await mongo_db["submission_jobs"].count_documents({}) == 20
    assert await mongo_db["submission_jobs"].count_documents({"_id": {"$in": list(ids)}}) == 20


async def test_past_the_admission_bound_the_answer_is_503_at_once(
    stack: Stack, proxy: SlowProxy, mongo_db: AsyncDatabase[Any]
) -> None:
    async for client in slow_api(
        stack, proxy, api_admission_limit=2, api_insert_max_inflight=1, api_insert_batch_size=1
    ):
        proxy.delay = 0.5
        answers = await asyncio.gather(
            *(client.post("/api/submissions", json=body(i)) for i in range(10))
        )
    codes = [r.status_code for r in answers]
    assert set(codes) == {202, 503} and codes.count(202) >= 3, codes
    refused = [r for r in answers if r.status_code == 503]
    assert all(r.json()["error"] == "overloaded" and r.headers["Retry-After"] for r in refused)
    # every 202 is a stored job; nothing was stored for a 503
    stored = await mongo_db["submission_jobs"].count_documents({})
    assert stored == codes.count(202)


def retried() -> float:
    return float(JOBS_PROCESSED.labels(outcome="retried")._value.get())


async def test_the_worker_shrinks_its_limit_instead_of_retrying(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    proxy: SlowProxy,
    run_worker: RunWorker,
    mongo_db: AsyncDatabase[Any],
) -> None:
    for i in range(300):
        assert (await client.post("/api/submissions", json=body(i))).status_code == 202
    jobs = mongo_db["submission_jobs"]
    before = retried()
    async with run_worker(mongo_uri=proxied(proxy), worker_concurrency=50) as worker:

        async def some_done() -> bool:
            return await jobs.count_documents({"status": "completed"}) >= 50

        await wait_for(some_done, timeout=60)
        assert worker.limit.limit > worker.limit.minimum
        proxy.delay = 0.3  # every query now waits 0.3 s: far slower than the baseline

        async def shrunk() -> bool:
            return bool(worker.limit.limit == worker.limit.minimum)  # one batch in flight

        await wait_for(shrunk, timeout=60)

        async def all_done() -> bool:
            return await jobs.count_documents({"status": "completed"}) == 300

        await wait_for(all_done, timeout=180)
    assert retried() == before  # no job went back to the queue because of the slowness
