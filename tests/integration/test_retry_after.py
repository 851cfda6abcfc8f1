"""Retry-After from the backlog on the real stack: the 202 and a queued job's status answer
carry 1 + ceil(waiting / rate), sampled in the background; 2 while nothing is known."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from smartpapers.api.app import create_app
from smartpapers.api.backlog import RATE_WINDOW_SECONDS
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_paper
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings, wait_for
from tests.integration.test_api import submission

INTERVAL = 0.2


@pytest.fixture
async def sampling_api(stack: Stack) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(api_settings(stack, queue_metrics_interval_seconds=INTERVAL))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            yield app, c


async def submit(c: httpx.AsyncClient, i: int) -> httpx.Response:
    r = await c.post("/api/submissions", json=submission(studentId=f"s-{i}"))
    assert r.status_code == 202, r.text
    return r


async def test_retry_after_follows_the_backlog(
    sampling_api: tuple[FastAPI, httpx.AsyncClient], run_worker: RunWorker
) -> None:
    app, c = sampling_api
    backlog = app.state.services.backlog
    # nothing finished yet: the default, not a guess
    first = await submit(c, 0)
    assert first.headers["Retry-After"] == "2"
    finished = 30
    async with run_worker():
        for i in range(1, finished):
            await submit(c, i)

        async def all_done() -> bool:
            since = utcnow() - timedelta(minutes=5)
            return bool(await app.state.services.jobs.count_finished_since(since) == finished)

        await wait_for(all_done)
    queued = [await submit(c, 100 + i) for i in range(4)]
    # the samplers catch up: 4 messages waiting, 30 finished in the window
    expected = 1 + math.ceil(4 / (finished / RATE_WINDOW_SECONDS))

    async def settled() -> bool:
        return bool(backlog.retry_after() == expected)

    await wait_for(settled, timeout=10)
    assert (await submit(c, 200)).headers["Retry-After"] == str(expected)
    status = await c.get(queued[0].json()["statusUrl"])
    assert status.json()["status"] == "queued"
    assert status.headers["Retry-After"] == str(expected)
    done = await c.get(first.json()["statusUrl"])
    assert done.json()["status"] == "completed" and "Retry-After" not in done.headers
