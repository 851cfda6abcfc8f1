"""smartpapers-loadtest against the real API app (served by uvicorn on 127.0.0.1) and a
worker on ElasticMQ + the database: 30 submissions, every one accepted, graded once and
scored as the demo key says."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI

from smartpapers.devstack.servers import free_port
from smartpapers.loadtest.config import LoadConfig
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import summarize
from tests.integration.conftest import RunWorker


async def test_30_submissions_are_accepted_graded_and_verified(
    app: FastAPI, demo: dict[str, Any], run_worker: RunWorker
) -> None:
    port = free_port()
    # the fixture already ran the app's lifespan: uvicorn only serves it
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    config = LoadConfig(
        url=f"http://127.0.0.1:{port}",
        total=30,
        concurrency=10,
        timeout=60,
        poll_interval=0.2,
        progress=False,
    )
    try:
        async with run_worker():
            result = await Runner(config).run()
    finally:
        server.should_exit = True
        await serving
    s = summarize(result.records, waited=True, paper_total=result.paper_total)
    assert s.problems() == []
    assert (s.accepted, s.completed, s.verified_scores, s.wrong_scores) == (30, 30, 30, 0)
    assert s.accept_latency_seconds.p99 is not None
