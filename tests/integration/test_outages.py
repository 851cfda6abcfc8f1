"""The API when MongoDB goes away: 503 + Retry-After and nothing enqueued (never a 202
without a stored job); readiness reports the failing dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartpapers.api.app import create_app
from smartpapers.common.queue import SqsQueue
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.devstack.servers import ManagedProcess, free_port, start_database
from tests.conftest import Stack
from tests.integration.conftest import api_settings


@pytest.fixture
def own_mongo(tmp_path: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    return start_database(port=port, data_dir=tmp_path / "mongo"), f"mongodb://127.0.0.1:{port}/"


@pytest.fixture
async def api_on_own_mongo(
    stack: Stack, own_mongo: tuple[ManagedProcess, str]
) -> AsyncIterator[httpx.AsyncClient]:
    proc, uri = own_mongo
    app = create_app(api_settings(stack, mongo_uri=uri, mongo_timeout_ms=500))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                yield c
    finally:
        proc.stop()


async def test_database_down_at_submit_is_503_with_retry_after_and_nothing_enqueued(
    api_on_own_mongo: httpx.AsyncClient,
    own_mongo: tuple[ManagedProcess, str],
    main_queue: SqsQueue,
) -> None:
    client = api_on_own_mongo
    assert (await client.post("/api/papers", json=demo_paper())).status_code == 201
    body: dict[str, Any] = {
        "studentId": "s1",
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "answers": demo_answers(5),
    }
    assert (await client.post("/api/submissions", json=body)).status_code == 202  # warm cache
    await main_queue.receive(wait_seconds=1)  # take the first message out of view
    own_mongo[0].kill()  # kill -9 the database

    r = await client.post("/api/submissions", json=body)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"] == "storage_unavailable"
    depth = await main_queue.depth()
    assert depth["visible"] == 0  # nothing enqueued for the rejected submission
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["sqs"] == "ok" and ready.json()["checks"]["mongo"] != "ok"
    metrics = (await client.get("/metrics")).text
    assert 'smartpapers_submissions_rejected_total{reason="unavailable"}' in metrics
