"""Fault injection on the real local stack. Every scenario ends with the
reliability invariants: every 202 reaches completed/failed, one submission per job, the
score equals a fresh re-grade, no job left processing. Counts go to reports/faults.json."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from smartpapers.common.queue import SqsQueue, open_sqs_client
from smartpapers.worker.dlq import redrive_dlq
from tests.faults.harness import FaultStack, assert_contract

pytestmark = pytest.mark.faults


async def client_for(stack: FaultStack) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stack.api, timeout=60, limits=httpx.Limits(max_connections=100)
    )


@pytest.mark.parametrize("point", ["after_claim", "after_store"])
async def test_kill_9_worker_mid_job(fault_stack: FaultStack, point: str) -> None:
    """(a) after receive/claim, before the submission write; (b) after the write, before the
    status update and delete. The lease expires and another worker finishes the job."""
    await fault_stack.start_api()
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        accepted, _ = await fault_stack.submit_many(client, 20)
    victim = fault_stack.start_worker(
        "victim", SMARTPAPERS_FAILPOINTS=f"{point}=crash", SMARTPAPERS_WORKER_CONCURRENCY="1"
    )
    for _ in range(300):
        if not victim.running:
            break
        await asyncio.sleep(0.1)
    assert victim.popen.returncode == -signal.SIGKILL, victim.tail()
    fault_stack.start_worker("survivor")
    await fault_stack.wait_final(list(accepted), timeout=120)
    out = await fault_stack.check(f"kill9_{point}", accepted, sent=20)
    assert_contract(out)
    assert out.notes["attempts_max"] >= 2  # the crashed attempt counted


async def test_two_workers_handed_the_same_messages(fault_stack: FaultStack) -> None:
    await fault_stack.start_api()
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        accepted, _ = await fault_stack.submit_many(client, 40)
    async with open_sqs_client(region="us-east-1", endpoint_url=fault_stack.sqs_endpoint) as sqs:
        queue = SqsQueue(client=sqs, url=fault_stack.queue_url)
        assert await queue.send_job_ids(list(accepted) * 2) == []  # every job 3× in the queue
    fault_stack.start_worker("w1", SMARTPAPERS_FAILPOINTS="before_grade=sleep(1)")
    fault_stack.start_worker("w2", SMARTPAPERS_FAILPOINTS="before_grade=sleep(1)")
    await fault_stack.wait_final(list(accepted), timeout=120)
    out = await fault_stack.check("duplicate_deliveries", accepted, sent=40)
    assert_contract(out)


async def test_queue_unreachable_at_submit(fault_stack: FaultStack) -> None:
    await fault_stack.start_api(SMARTPAPERS_SEND_TIMEOUT_SECONDS="1")
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        fault_stack.sqs.stop()  # ElasticMQ down
        accepted, errors = await fault_stack.submit_many(client, 30)
        assert errors == 0 and len(accepted) == 30  # still 202: the job is stored
        fault_stack.start_sqs()  # restored (queues persisted)
    fault_stack.start_worker("worker")  # its sweeper sends the unsent jobs
    await fault_stack.wait_final(list(accepted), timeout=120)
    out = await fault_stack.check("queue_down_at_submit", accepted, sent=30)
    assert_contract(out)


async def test_database_unreachable_during_grading(fault_stack: FaultStack) -> None:
    await fault_stack.start_api()
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        accepted, _ = await fault_stack.submit_many(client, 40)
    # a short client timeout: requests caught on a dying or restarting database can hang
    # until timeoutMS (2x this); 60 s hangs on all four pooled connections once made the
    # whole recovery outlast the deadline
    fault_stack.start_worker(
        "worker",
        SMARTPAPERS_FAILPOINTS="before_grade=sleep(0.2)",
        SMARTPAPERS_MONGO_TIMEOUT_MS="3000",
    )
    await asyncio.sleep(2)
    fault_stack.mongo.kill()  # kill -9 the database mid-burst
    await asyncio.sleep(4)
    fault_stack.start_mongo()  # same data directory
    await fault_stack.wait_final(list(accepted), timeout=180)
    out = await fault_stack.check("database_down_during_grading", accepted, sent=40)
    assert_contract(out)


@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_sigterm_worker_during_a_1000_submission_burst(fault_stack: FaultStack) -> None:
    await fault_stack.start_api()
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        first = fault_stack.start_worker("first")
        accepted, errors = await fault_stack.submit_many(client, 1000)
    assert errors == 0
    await asyncio.sleep(1)
    first.signal(signal.SIGTERM)
    assert first.stop(timeout=30) == 0, first.tail()
    async with open_sqs_client(region="us-east-1", endpoint_url=fault_stack.sqs_endpoint) as sqs:
        assert (await SqsQueue(client=sqs, url=fault_stack.dlq_url).depth())["visible"] == 0
    fault_stack.start_worker("second")
    fault_stack.start_worker("third")
    await fault_stack.wait_final(list(accepted), timeout=1000)
    out = await fault_stack.check("sigterm_worker_in_1000_burst", accepted, sent=1000)
    assert_contract(out)


async def test_sigterm_api_under_load(fault_stack: FaultStack) -> None:
    api = await fault_stack.start_api()
    accepted: dict[str, int] = {}
    sent = errors_5xx = refused = 0
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        stop_at = asyncio.get_running_loop().time() + 3

        async def clients(k: int) -> None:
            nonlocal sent, errors_5xx, refused
            i = 0
            while asyncio.get_running_loop().time() < stop_at + 5:
                i += 1
                sent += 1
                try:
                    got, errs = await fault_stack.submit_many(client, 1, offset=k * 10_000 + i)
                except httpx.TransportError:
                    refused += 1  # the server stopped accepting connections: not a 5xx
                    await asyncio.sleep(0.05)
                    continue
                accepted.update(got)
                errors_5xx += errs

        load = asyncio.gather(*(clients(k) for k in range(20)))
        await asyncio.sleep(3)
        api.signal(signal.SIGTERM)
        await load
    assert errors_5xx == 0
    fault_stack.start_worker("worker")
    await fault_stack.wait_final(list(accepted), timeout=180)
    out = await fault_stack.check(
        "sigterm_api_under_load",
        accepted,
        sent=sent,
        rejected_5xx=errors_5xx,
        refused_after_stop=refused,
    )
    assert_contract(out)


async def test_poison_messages_and_redrive_after_the_fix(fault_stack: FaultStack) -> None:
    await fault_stack.start_api()
    async with await client_for(fault_stack) as client:
        await fault_stack.seed(client)
        accepted, _ = await fault_stack.submit_many(client, 10)
    broken = fault_stack.start_worker(
        "broken",
        SMARTPAPERS_FAILPOINTS="before_grade=error",
        SMARTPAPERS_MAX_ATTEMPTS="10",
        SMARTPAPERS_RETRY_BASE_DELAY_SECONDS="0.01",
        SMARTPAPERS_SWEEPER_ENABLED="false",
    )
    async with open_sqs_client(region="us-east-1", endpoint_url=fault_stack.sqs_endpoint) as sqs:
        dlq = SqsQueue(client=sqs, url=fault_stack.dlq_url)
        for _ in range(600):
            if (await dlq.depth())["visible"] == 10:
                break
            await asyncio.sleep(0.2)
        assert (await dlq.depth())["visible"] == 10, broken.tail()
        broken.stop()
        # the cause is fixed (a healthy worker); move the messages back
        main = SqsQueue(client=sqs, url=fault_stack.queue_url)
        await redrive_dlq(dlq=dlq, main=main, limit=None)
        fault_stack.start_worker(
            "fixed", SMARTPAPERS_MAX_ATTEMPTS="10", SMARTPAPERS_SWEEPER_ENABLED="false"
        )
        await fault_stack.wait_final(list(accepted), timeout=120)
        assert (await dlq.depth())["visible"] == 0
    out = await fault_stack.check("poison_then_redrive", accepted, sent=10)
    assert_contract(out)
