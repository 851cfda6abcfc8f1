"""The worker against real ElasticMQ + the database: grading, idempotency, poison messages,
permanent failures, heartbeat and graceful stop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.common import failpoints
from smartpapers.common.papers import PaperCache
from smartpapers.common.queue import SqsQueue, open_sqs_client
from smartpapers.common.repositories import JobRepository, PaperRepository, SubmissionRepository
from smartpapers.devstack.demo import demo_answers
from smartpapers.worker.consumer import Worker, new_owner
from smartpapers.worker.processing import JobProcessor
from tests.conftest import Backends, drop_stack, make_stack
from tests.integration.conftest import RunWorker, wait_for


def submission(correct: int, student: str = "s1") -> dict[str, Any]:
    return {
        "studentId": student,
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "answers": demo_answers(correct),
    }


async def submit(client: httpx.AsyncClient, correct: int, student: str = "s1") -> str:
    r = await client.post("/api/submissions", json=submission(correct, student))
    assert r.status_code == 202, r.text
    return str(r.json()["jobId"])


async def status(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/submissions/status/{job_id}")
    assert r.status_code == 200
    return dict(r.json())


async def queue_empty(queue: SqsQueue) -> bool:
    d = await queue.depth()
    return d["visible"] == 0 and d["inflight"] == 0


async def test_jobs_complete_with_the_right_score_once(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    run_worker: RunWorker,
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
) -> None:
    jobs = {await submit(client, c, f"s{c}"): c for c in (0, 7, 20)}
    async with run_worker():
        for job_id, correct in jobs.items():

            async def done(job_id: str = job_id) -> bool:
                return bool((await status(client, job_id))["status"] == "completed")

            await wait_for(done)
            view = await status(client, job_id)
            assert view["result"]["score"] == correct and view["result"]["total"] == 20
            assert view["attempts"] == 1 and view["error"] is None
            assert view["startedAt"] and view["completedAt"] >= view["startedAt"]
            sub = await mongo_db["submissions"].find_one({"jobId": job_id})
            assert sub is not None and sub["_id"] == view["result"]["submissionId"]
            assert sub["score"] == correct and sub["studentId"] == f"s{correct}"
        await wait_for(lambda: queue_empty(main_queue))
    assert await mongo_db["submissions"].count_documents({}) == 3


async def test_a_redelivered_message_of_a_finished_job_is_acked_without_effect(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    run_worker: RunWorker,
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
) -> None:
    job_id = await submit(client, 5)
    async with run_worker():
        await wait_for(lambda: queue_empty(main_queue))
        before = await status(client, job_id)
        assert before["status"] == "completed"
        await main_queue.send_job_ids([job_id, job_id])  # duplicates, as SQS may deliver
        await wait_for(lambda: queue_empty(main_queue))
    after = await status(client, job_id)
    assert after == before
    assert await mongo_db["submissions"].count_documents({"jobId": job_id}) == 1


async def test_poison_messages_end_in_the_dlq_after_max_receive_count(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    run_worker: RunWorker,
    main_queue: SqsQueue,
    dlq: SqsQueue,
) -> None:
    await main_queue.client.send_message(QueueUrl=main_queue.url, MessageBody="{garbage")
    await main_queue.send_job_ids(["job-that-does-not-exist"])
    good = await submit(client, 9)
    async with run_worker(retry_base_delay_seconds=0.01):

        async def both_dead() -> bool:
            return (await dlq.depth())["visible"] == 2

        await wait_for(both_dead, timeout=30)
        assert (await status(client, good))["status"] == "completed"
    dead = await dlq.receive(wait_seconds=1)
    assert sorted(m.body for m in dead) == sorted(
        ["{garbage", '{"jobId":"job-that-does-not-exist","v":1}']
    )
    assert all(m.receive_count >= 5 for m in dead)


async def test_a_job_whose_paper_vanished_fails_with_a_readable_error(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    run_worker: RunWorker,
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
    dlq: SqsQueue,
) -> None:
    job_id = await submit(client, 3)
    await mongo_db["papers"].delete_one({"_id": "demo-paper"})
    async with run_worker():

        async def final() -> bool:
            return bool((await status(client, job_id))["status"] == "failed")

        await wait_for(final)
        await wait_for(lambda: queue_empty(main_queue))
    view = await status(client, job_id)
    assert view["error"] == "paper 'demo-paper' not found" and view["result"] is None
    assert (await dlq.depth())["visible"] == 0  # a failed job is final, not a poison message
    assert await mongo_db["submissions"].count_documents({}) == 0


async def test_heartbeat_keeps_a_slow_job_from_a_second_worker(
    backends: Backends,
    mongo_db: AsyncDatabase[Any],
    client: httpx.AsyncClient,
    demo: dict[str, Any],
) -> None:
    """Visibility 2 s, grading 5 s: without the heartbeat the message would reappear and the
    second worker would receive it."""
    s = await make_stack(backends, visibility_timeout=2)
    try:
        from pymongo import AsyncMongoClient

        mongo: AsyncMongoClient[Any] = AsyncMongoClient(backends.mongo_uri, tz_aware=True)
        db = mongo[mongo_db.name]
        async with open_sqs_client(region="us-east-1", endpoint_url=s.sqs_endpoint) as sqs:
            queue = SqsQueue(client=sqs, url=s.queue_url)
            job_id = await submit(client, 4)  # enqueued on the fixture's queue: move it
            await queue.send_job_ids([job_id])
            jobs = JobRepository(db)

            def worker() -> Worker:
                processor = JobProcessor(
                    jobs=jobs,
                    submissions=SubmissionRepository(db),
                    paper_cache=PaperCache(repository=PaperRepository(db), ttl_seconds=30),
                    owner=new_owner(),
                    lease_seconds=2,
                    max_attempts=5,
                    retry_base_delay=1,
                    retry_max_delay=10,
                )
                return Worker(
                    queue=queue,
                    processor=processor,
                    wait_seconds=1,
                    visibility_timeout=2,
                    drain_timeout=10,
                )

            w1, w2 = worker(), worker()
            failpoints.configure("before_grade=sleep(5)")  # grading takes 5 s
            try:
                t1 = asyncio.create_task(w1.run())
                await asyncio.sleep(1.5)  # w1 holds the message
                t2 = asyncio.create_task(w2.run())
                await wait_for(lambda: queue_empty(queue), timeout=20)
                w1.stop()
                w2.stop()
                await asyncio.gather(t1, t2)
            finally:
                failpoints.configure("")
        view = await status(client, job_id)
        assert view["status"] == "completed" and view["attempts"] == 1
        await mongo.close()
    finally:
        await drop_stack(s)


async def test_stop_drains_in_flight_jobs_and_loses_nothing(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    run_worker: RunWorker,
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
    dlq: SqsQueue,
) -> None:
    ids = [await submit(client, i % 21, f"s{i}") for i in range(40)]
    started = time.monotonic()
    async with run_worker(worker_concurrency=5, sqs_wait_time_seconds=20):
        await asyncio.sleep(0.3)  # stop mid-burst
    assert time.monotonic() - started < 15  # an idle long poll does not hold the stop
    assert await mongo_db["submission_jobs"].count_documents({"status": "processing"}) == 0
    async with run_worker():
        await wait_for(lambda: queue_empty(main_queue), timeout=60)
    statuses = [(await status(client, j))["status"] for j in ids]
    assert statuses == ["completed"] * 40
    assert await mongo_db["submissions"].count_documents({}) == 40
    assert (await dlq.depth())["visible"] == 0
