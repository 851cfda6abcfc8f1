"""End to end: the API and two worker processes as they run in production (separate
processes, real HTTP), 200 concurrent submissions, every job graded exactly once."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartpapers.devstack.demo import demo_answers, demo_paper
from tests.conftest import Stack

SUBMISSIONS = 200
LEGAL = {
    ("queued", "processing"),
    ("processing", "completed"),
    ("processing", "failed"),
    ("queued", "completed"),
    ("queued", "failed"),
    ("processing", "queued"),
}


@pytest.fixture
def processes(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """The API and two worker processes on the test's database and queues (a LocalStack on
    the session's servers; the test seeds its own paper)."""
    local = stack.local(
        tmp_path,
        visibility_timeout=30,
        env_overrides={"SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS": "5"},  # < visibility − 10
    )
    try:
        local.start_api()
        for _ in range(2):
            local.start_worker(SMARTPAPERS_SQS_WAIT_TIME_SECONDS="2")
        yield local.api_url
    finally:
        procs = [w for w, _ in local.workers] + ([local.api] if local.api else [])
        local.stop()
        codes = {p.name: p.popen.returncode for p in procs}
        if any(codes.values()):
            for p in procs:
                sys.stderr.write(f"--- {p.name} ---\n{p.tail(100)}\n")
    # clean SIGTERM exits (uvicorn re-raises the signal after its graceful shutdown)
    assert codes["worker-1"] == codes["worker-2"] == 0 and codes["api"] in (0, -15), codes


async def test_200_concurrent_submissions_are_each_graded_once(
    processes: str, stack: Stack
) -> None:
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=SUBMISSIONS)
    async with httpx.AsyncClient(base_url=processes, limits=limits, timeout=30) as client:
        assert (await client.post("/api/papers", json=demo_paper())).status_code == 201
        expected = [rng.randint(0, 20) for _ in range(SUBMISSIONS)]

        async def submit(i: int) -> tuple[str, int]:
            body = {
                "studentId": f"student-{i}",
                "paperId": "demo-paper",
                "instituteId": "demo-institute",
                "answers": demo_answers(expected[i]),
            }
            r = await client.post("/api/submissions", json=body)
            assert r.status_code == 202, r.text
            return r.json()["jobId"], expected[i]

        accepted = await asyncio.gather(*(submit(i) for i in range(SUBMISSIONS)))
        assert len({job for job, _ in accepted}) == SUBMISSIONS

        seen: dict[str, list[str]] = {job: ["queued"] for job, _ in accepted}
        pending = dict(accepted)
        deadline = asyncio.get_running_loop().time() + 300  # generous: a loaded CI machine
        while pending:
            if asyncio.get_running_loop().time() > deadline:
                m: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_uri)
                docs = (
                    await m[stack.db_name]["submission_jobs"]
                    .find({"_id": {"$in": list(pending)}}, {"payload": 0})
                    .to_list()
                )
                await m.close()
                raise AssertionError(f"{len(pending)} jobs unfinished: {docs}")
            views = await asyncio.gather(
                *(client.get(f"/api/submissions/status/{job}") for job in pending)
            )
            for r in views:
                view: dict[str, Any] = r.json()
                job = view["jobId"]
                if view["status"] != seen[job][-1]:
                    seen[job].append(view["status"])
                if view["status"] in ("completed", "failed"):
                    assert view["status"] == "completed", view
                    assert view["result"]["score"] == pending[job], view
                    assert view["result"]["total"] == 20
                    del pending[job]
            await asyncio.sleep(0.2)

    for job, path in seen.items():
        for step in zip(path, path[1:], strict=False):
            assert step in LEGAL, (job, path)

    mongo: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_uri)
    try:
        db = mongo[stack.db_name]
        cursor = await db["submissions"].aggregate(
            [{"$group": {"_id": "$jobId", "n": {"$sum": 1}}}]
        )
        per_job = await cursor.to_list()
        assert len(per_job) == SUBMISSIONS and {d["n"] for d in per_job} == {1}
        assert await db["submission_jobs"].count_documents({"status": "completed"}) == SUBMISSIONS
    finally:
        await mongo.close()
