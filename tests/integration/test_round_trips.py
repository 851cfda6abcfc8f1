"""MongoDB round trips per submission, counted by ``smartpapers_mongo_commands_total`` (the
driver's command listener): a regression guard on the hot paths of the API and the worker."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo import AsyncMongoClient

from smartpapers.devstack.demo import demo_answers
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, mongo_commands, wait_for

JOBS = 10


def delta(before: dict[str, float]) -> dict[str, float]:
    return {
        k: v - before.get(k, 0.0) for k, v in mongo_commands().items() if v - before.get(k, 0.0)
    }


async def test_round_trips_per_submission_in_the_api_and_the_worker(
    stack: Stack, client: httpx.AsyncClient, demo: dict[str, Any], run_worker: RunWorker
) -> None:
    before = mongo_commands()
    job_ids = []
    for i in range(JOBS):
        r = await client.post(
            "/api/submissions",
            json={
                "studentId": f"s{i}",
                "paperId": "demo-paper",
                "instituteId": "demo-institute",
                "answers": demo_answers(i),
            },
        )
        assert r.status_code == 202, r.text
        job_ids.append(r.json()["jobId"])
    api = delta(before)
    # the paper comes from the in-process cache: one insert per accepted submission
    assert api == {"insert": JOBS}, api

    # watched through a client without the listener, so the checks are not counted
    watcher: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
    jobs = watcher[stack.db_name]["submission_jobs"]
    before = mongo_commands()
    try:
        async with run_worker(sweeper_enabled=False):

            async def all_completed() -> bool:
                n = await jobs.count_documents({"_id": {"$in": job_ids}, "status": "completed"})
                return n == JOBS

            await wait_for(all_completed)
    finally:
        await watcher.close()
    worker = delta(before)
    startup = ("ping", "createIndexes", "listIndexes", "endSessions")
    path = {k: n for k, n in worker.items() if k not in startup}
    # per receive batch (up to 10 jobs): the claim (updateMany) and its read-back (find),
    # one insert of the submissions, one bulk of final-status updates; plus the one paper
    # read that fills the cache. The ten jobs arrive in one or two receive batches.
    batches = int(path.get("insert", 0))
    assert 1 <= batches <= 2, worker
    assert path == {"update": 2 * batches, "find": batches + 1, "insert": batches}, worker
    if batches == 1:
        assert sum(path.values()) / JOBS == 0.5
