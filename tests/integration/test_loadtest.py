"""smartpapers-loadtest against the real API app and a worker on ElasticMQ + FerretDB:
30 submissions, every one accepted, graded once and scored as the demo key says."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from smartpapers.loadtest.runner import LoadConfig, Runner
from smartpapers.loadtest.stats import summarize
from tests.integration.conftest import RunWorker


async def test_30_submissions_are_accepted_graded_and_verified(
    app: FastAPI, demo: dict[str, Any], run_worker: RunWorker
) -> None:
    config = LoadConfig(
        url="http://api",
        total=30,
        concurrency=10,
        timeout=60,
        poll_interval=0.2,
        progress=False,
    )
    async with run_worker():
        result = await Runner(config, transport=httpx.ASGITransport(app=app)).run()
    s = summarize(result.records, waited=True, paper_total=result.paper_total)
    assert s.problems() == []
    assert (s.accepted, s.completed, s.verified_scores, s.wrong_scores) == (30, 30, 30, 0)
    assert s.accept_latency_seconds.p99 is not None
