"""The sweeper (outbox + expired leases + lost messages) and the DLQ tools."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.app import create_app
from smartpapers.common.lanes import LaneQueues
from smartpapers.common.queue import SqsQueue, decode_job_message
from smartpapers.common.repositories import JobRepository, LockRepository, SweepRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.worker.dlq import _move_by_hand, inspect_dlq, redrive_dlq
from smartpapers.worker.sweeper import Sweeper
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings, wait_for


def body(correct: int, student: str = "s1") -> dict[str, Any]:
    return {
        "studentId": student,
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "answers": demo_answers(correct),
    }


def sweeper(
    db: AsyncDatabase[Any], queue: SqsQueue, owner: str = "sweeper-a", **over: Any
) -> Sweeper:
    kw: dict[str, Any] = {
        "lease_seconds": 30,
        "interval_seconds": 1,
        "unsent_grace_seconds": 0,
        "stale_after_seconds": 900,
        "max_attempts": 3,
    }
    kw.update(over)
    return Sweeper(
        sweeps=SweepRepository(db),
        jobs=JobRepository(db),
        locks=LockRepository(db),
        queues=LaneQueues(normal=queue),
        owner=owner,
        **kw,
    )


@pytest.fixture
async def broken_queue_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An API whose queue URL does not exist: every SendMessageBatch fails."""
    app: FastAPI = create_app(api_settings(stack, sqs_queue_url=stack.queue_url + "-missing"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            yield c


async def test_a_failed_send_still_answers_202_and_the_sweeper_delivers_it(
    broken_queue_client: httpx.AsyncClient,
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
    run_worker: RunWorker,
) -> None:
    r = await broken_queue_client.post("/api/submissions", json=body(11))
    assert r.status_code == 202
    job_id = r.json()["jobId"]
    job = await mongo_db["submission_jobs"].find_one({"_id": job_id})
    assert job is not None and job["enqueued"] is False
    assert (await main_queue.depth())["visible"] == 0

    report = await sweeper(mongo_db, main_queue).sweep_once()
    assert report.leader and report.resent == 1
    async with run_worker(sweeper_enabled=False):

        async def done() -> bool:
            doc = await mongo_db["submission_jobs"].find_one({"_id": job_id})
            return bool(doc and doc["status"] == "completed")

        await wait_for(done)
    doc = await mongo_db["submission_jobs"].find_one({"_id": job_id})
    assert doc is not None and doc["result"]["score"] == 11 and doc["enqueued"] is True


async def test_expired_leases_are_requeued_or_failed_when_out_of_attempts(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
) -> None:
    retry = (await client.post("/api/submissions", json=body(1, "a"))).json()["jobId"]
    give_up = (await client.post("/api/submissions", json=body(2, "b"))).json()["jobId"]
    alive = (await client.post("/api/submissions", json=body(3, "c"))).json()["jobId"]
    await main_queue.receive(wait_seconds=1)  # drop the API's messages from view
    now = utcnow()
    jobs = mongo_db["submission_jobs"]
    for job_id, attempts, lease in ((retry, 1, -5), (give_up, 3, -5), (alive, 1, +60)):
        await jobs.update_one(
            {"_id": job_id},
            {
                "$set": {
                    "status": "processing",
                    "attempts": attempts,
                    "leaseOwner": "dead-worker",
                    "leaseUntil": now + timedelta(seconds=lease),
                    # as a claim writes them: the lease (30 s) starts at updatedAt
                    "updatedAt": now + timedelta(seconds=lease - 30),
                }
            },
        )

    report = await sweeper(mongo_db, main_queue).sweep_once(now=now)
    assert (report.requeued, report.failed) == (1, 1)
    states = {d["_id"]: d for d in await jobs.find({}).to_list()}
    assert states[retry]["status"] == "queued" and "leaseOwner" not in states[retry]
    assert states[give_up]["status"] == "failed"
    assert "gave up after 3 attempts" in states[give_up]["error"]
    assert states[alive]["status"] == "processing"  # a live lease is left alone
    await main_queue.change_visibility([])  # no-op call keeps the adapter honest
    sent = await main_queue.receive(wait_seconds=1, visibility_timeout=0)
    assert retry in {decode_job_message(m.body) for m in sent}


async def test_only_the_lease_holder_sweeps(
    mongo_db: AsyncDatabase[Any], main_queue: SqsQueue
) -> None:
    now = utcnow()
    a, b = sweeper(mongo_db, main_queue, "a"), sweeper(mongo_db, main_queue, "b")
    assert (await a.sweep_once(now=now)).leader
    assert not (await b.sweep_once(now=now)).leader
    assert (await a.sweep_once(now=now + timedelta(seconds=1))).leader  # renewal
    later = now + timedelta(seconds=60)  # a's lease (3 × interval, ≥ 10 s) expired
    assert (await b.sweep_once(now=later)).leader
    assert not (await a.sweep_once(now=later)).leader


async def test_jobs_whose_message_was_lost_are_sent_again(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
) -> None:
    job_id = (await client.post("/api/submissions", json=body(4))).json()["jobId"]
    received = await main_queue.receive(wait_seconds=1)
    await main_queue.delete([m.receipt_handle for m in received])  # the message is gone
    s = sweeper(mongo_db, main_queue, stale_after_seconds=60)
    assert (await s.sweep_once()).resent == 0  # not stale yet
    report = await s.sweep_once(now=utcnow() + timedelta(seconds=120))
    assert report.resent == 1
    again = await main_queue.receive(wait_seconds=1)
    assert [decode_job_message(m.body) for m in again] == [job_id]


async def test_dlq_inspect_and_redrive_both_ways(
    stack: Stack, main_queue: SqsQueue, dlq: SqsQueue
) -> None:
    sqs = main_queue.client
    for i in range(13):
        await sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps({"jobId": f"j{i}"}))
    await sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="not json")
    seen = await inspect_dlq(dlq, sample=20)
    assert seen["depth"]["visible"] == 14
    assert {s["jobId"] for s in seen["sample"]} >= {f"j{i}" for i in range(13)}
    assert any(s["jobId"] is None and s["body"] == "not json" for s in seen["sample"])
    assert (await dlq.depth())["visible"] == 14  # inspecting moves nothing

    moved = await _move_by_hand(dlq=dlq, main=main_queue, limit=5)
    assert moved == {"method": "receive-send-delete", "moved": 5}
    result = await redrive_dlq(dlq=dlq, main=main_queue, limit=None)

    async def drained() -> bool:
        return (await dlq.depth())["visible"] == 0 and (await dlq.depth())["inflight"] == 0

    await wait_for(drained, timeout=30)
    assert (await main_queue.depth())["visible"] == 14, result
    again = await redrive_dlq(dlq=dlq, main=main_queue, limit=None)
    assert again.get("moved", 0) == 0  # idempotent once empty
    assert (await main_queue.depth())["visible"] == 14
