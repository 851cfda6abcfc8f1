"""Benchmark scenario (docs/push.md#measured): 1,000 students wait on SSE streams held by ONE
API process (a real uvicorn on 127.0.0.1) while two workers grade their submissions.

Asserts what can break: every stream ends with its own right score, the pod holds all 1,000
streams, and its database reads while they wait are the notifier's batched reads (bounded by
the interval, not by the number of clients). Reports, without timing assertions: reads/s,
the API's RSS, and the delay from a job's completedAt to its event (p50/p99), in
reports/push.json."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartpapers.api.notifier import READ_CHUNK
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.devstack.stack import LocalStack
from tests.conftest import Stack

WAITERS = int(os.environ.get("PUSH_WAITERS", "1000"))
INTERVAL = 0.5  # the notifier's default
logger = logging.getLogger(__name__)
REPORT = Path(__file__).resolve().parents[2] / "reports" / "push.json"


@pytest.fixture
def local(stack: Stack, tmp_path: Path) -> Iterator[LocalStack]:
    local = stack.local(tmp_path)
    try:
        local.start_api(SMARTPAPERS_NOTIFIER_INTERVAL_SECONDS=str(INTERVAL))
        yield local
    finally:
        local.stop()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def wait_on_stream(
    client: httpx.AsyncClient, job_id: str, first: asyncio.Event, held: list[str]
) -> tuple[dict[str, Any], float]:
    """The final status event's JSON and the wall-clock time it arrived."""
    async with client.stream("GET", f"/api/submissions/status/{job_id}/events") as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            job = json.loads(line.removeprefix("data:").strip())
            if len(held) < WAITERS and job["status"] == "queued":
                held.append(job_id)
                if len(held) == WAITERS:
                    first.set()
            if job["status"] in ("completed", "failed"):
                return job, time.time()
    raise AssertionError(f"stream of {job_id} ended before a final status")


async def test_one_thousand_sse_waiters_on_one_api_process(local: LocalStack) -> None:
    limits = httpx.Limits(max_connections=WAITERS + 50, max_keepalive_connections=WAITERS + 50)
    timeout = httpx.Timeout(120, connect=30)
    async with httpx.AsyncClient(base_url=local.api_url, limits=limits, timeout=timeout) as c:
        assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
        sem = asyncio.Semaphore(50)

        async def submit(i: int) -> tuple[str, int]:
            correct = i % 21
            body = {
                "studentId": f"s-{i}",
                "paperId": "demo-paper",
                "instituteId": "demo-institute",
                "answers": demo_answers(correct),
            }
            async with sem:
                r = await c.post("/api/submissions", json=body)
            assert r.status_code == 202, r.text
            return r.json()["jobId"], correct

        expected = dict(await asyncio.gather(*(submit(i) for i in range(WAITERS))))
        pid = local.api.popen.pid if local.api else 0
        rss_before = rss_mib(pid)
        first, held = asyncio.Event(), list[str]()
        streams = [
            asyncio.create_task(wait_on_stream(c, job_id, first, held)) for job_id in expected
        ]
        await asyncio.wait_for(first.wait(), timeout=120)
        before = metric((await c.get("/metrics")).text, "smartpapers_notifier_reads_total")
        window = 5.0
        await asyncio.sleep(window)
        text = (await c.get("/metrics")).text
        reads_per_s = (metric(text, "smartpapers_notifier_reads_total") - before) / window
        waiters = metric(text, "smartpapers_notifier_waiters")
        rss_waiting = rss_mib(pid)
        await asyncio.to_thread(local.set_workers, 2, SMARTPAPERS_SQS_WAIT_TIME_SECONDS="2")
        results = await asyncio.wait_for(asyncio.gather(*streams), timeout=300)

    delays = []
    for (job, arrived), job_id in zip(results, expected, strict=True):
        assert job["jobId"] == job_id and job["status"] == "completed", job
        assert job["result"]["score"] == expected[job_id], job
        completed = datetime.fromisoformat(job["completedAt"]).timestamp()
        delays.append(arrived - completed)
    assert waiters == WAITERS
    # batched: ⌈waiters / READ_CHUNK⌉ reads per interval (+1 for a poll straddling the window)
    chunks = -(-WAITERS // READ_CHUNK)
    assert 0 < reads_per_s <= chunks / INTERVAL + chunks / window, reads_per_s
    q = statistics.quantiles(delays, n=100)
    report = {
        "waiters": WAITERS,
        "streams_held": waiters,
        "notifier_interval_s": INTERVAL,
        "db_reads_per_s_while_waiting": round(reads_per_s, 2),
        "polling_2s_reads_per_s_equivalent": WAITERS / 2,
        "reads_saved_ratio": round(WAITERS / 2 / reads_per_s, 1),
        "api_rss_mib_before_streams": round(rss_before, 1),
        "api_rss_mib_with_streams": round(rss_waiting, 1),
        "rss_kib_per_stream": round((rss_waiting - rss_before) * 1024 / WAITERS, 1),
        "completion_to_event_s": {
            "p50": round(statistics.median(delays), 3),
            "p99": round(q[98], 3),
            "max": round(max(delays), 3),
        },
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("push benchmark: %s", json.dumps(report))
