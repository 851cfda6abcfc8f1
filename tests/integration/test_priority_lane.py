"""The priority lane against real ElasticMQ + the database (docs/priority-lane.md): who is
premium is decided by the server (premium institutes in auth mode none, the premium role in
jwt mode), the job records its lane, its message travels on the lane's queue — first send,
sweeper re-send, the worker's acknowledgement — and the DLQ tools reach the lane's DLQ."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.app import create_app
from smartpapers.common.lanes import LaneQueues
from smartpapers.common.queue import SqsQueue, decode_job_message, open_sqs_client
from smartpapers.common.repositories import JobRepository, LockRepository, SweepRepository
from smartpapers.common.timeutil import utcnow
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.worker import queues_cli
from smartpapers.worker.sweeper import Sweeper
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings, wait_for
from tests.jwt_issuer import Issuer, JwksServer, bearer, jwt_settings

PREMIUM = "premium-institute"

Api = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def body(student: str = "s1", institute: str = PREMIUM, **over: Any) -> dict[str, Any]:
    return {
        "studentId": student,
        "paperId": "demo-paper",
        "instituteId": institute,
        "answers": demo_answers(9),
        **over,
    }


@pytest.fixture
def api(stack: Stack) -> Api:
    """``async with api(**settings) as client``: an in-process API with the demo paper."""

    @asynccontextmanager
    async def running(**over: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(api_settings(stack, **over))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                yield c

    return running


@pytest.fixture
async def lanes(stack: Stack) -> AsyncIterator[LaneQueues]:
    async with open_sqs_client(region="us-east-1", endpoint_url=stack.sqs_endpoint) as sqs:
        yield LaneQueues(
            normal=SqsQueue(client=sqs, url=stack.queue_url),
            priority=SqsQueue(client=sqs, url=stack.priority_url),
        )


async def job_ids_on(queue: SqsQueue) -> list[str]:
    """Receive (and delete) what the queue holds now."""
    messages = await queue.receive(wait_seconds=1)
    await queue.delete([m.receipt_handle for m in messages])
    return [decode_job_message(m.body) for m in messages]


async def lane_of(db: AsyncDatabase[Any], job_id: str) -> str:
    doc = await db["submission_jobs"].find_one({"_id": job_id}, {"lane": 1})
    assert doc is not None
    return str(doc["lane"])


async def premium_paper(client: httpx.AsyncClient, **kw: Any) -> None:
    """The demo paper, owned by the premium institute."""
    paper = {**demo_paper(), "instituteId": PREMIUM}
    assert (await client.post("/api/papers", json=paper, **kw)).status_code == 201


async def submit(client: httpx.AsyncClient, payload: dict[str, Any], **kw: Any) -> httpx.Response:
    r = await client.post("/api/submissions", json=payload, **kw)
    assert r.status_code == 202, r.text
    return r


async def test_premium_institutes_take_the_priority_queue_in_auth_mode_none(
    api: Api, lanes: LaneQueues, mongo_db: AsyncDatabase[Any]
) -> None:
    assert lanes.priority is not None
    async with api(premium_institutes=[PREMIUM]) as client:
        await premium_paper(client)
        premium = await submit(client, body())
        normal = await submit(client, body(institute="demo-institute"))
    premium_id, normal_id = premium.json()["jobId"], normal.json()["jobId"]
    assert await job_ids_on(lanes.priority) == [premium_id]
    assert await job_ids_on(lanes.normal) == [normal_id]
    assert await lane_of(mongo_db, premium_id) == "priority"
    assert await lane_of(mongo_db, normal_id) == "normal"
    assert premium.headers["Retry-After"] == "1"  # due within seconds, whatever the backlog


async def test_the_request_body_cannot_choose_the_lane(
    api: Api, lanes: LaneQueues, mongo_db: AsyncDatabase[Any]
) -> None:
    async with api() as client:
        assert (await client.post("/api/papers", json=demo_paper())).status_code == 201
        r = await client.post(
            "/api/submissions", json=body("s2", "demo-institute", lane="priority")
        )
        assert r.status_code == 422
        accepted = await submit(client, body("s2", "demo-institute"))
    assert lanes.priority is not None
    assert await job_ids_on(lanes.priority) == []
    assert await lane_of(mongo_db, accepted.json()["jobId"]) == "normal"
    assert await mongo_db["submission_jobs"].count_documents({}) == 1  # the 422 stored nothing


async def test_without_a_priority_queue_premium_students_share_the_normal_lane(
    api: Api, lanes: LaneQueues, mongo_db: AsyncDatabase[Any]
) -> None:
    async with api(premium_institutes=[PREMIUM], sqs_priority_queue_url=None) as client:
        await premium_paper(client)
        job_id = (await submit(client, body())).json()["jobId"]
    assert await job_ids_on(lanes.normal) == [job_id]
    assert await lane_of(mongo_db, job_id) == "normal"


async def test_jwt_mode_decides_by_the_premium_role_not_the_institute(
    api: Api, lanes: LaneQueues, mongo_db: AsyncDatabase[Any], issuer: Issuer, jwks: JwksServer
) -> None:
    settings = jwt_settings(jwks, premium_institutes=[PREMIUM])
    async with api(**settings) as client:
        await premium_paper(client, headers=bearer(issuer.staff_token(institute=PREMIUM)))
        premium = bearer(issuer.token("alice", roles=["premium"], institute=PREMIUM))
        plain = bearer(issuer.token("bob", institute=PREMIUM))
        premium_id = (await submit(client, body("alice"), headers=premium)).json()["jobId"]
        plain_id = (await submit(client, body("bob"), headers=plain)).json()["jobId"]
    assert lanes.priority is not None
    assert await job_ids_on(lanes.priority) == [premium_id]
    assert await job_ids_on(lanes.normal) == [plain_id]
    assert await lane_of(mongo_db, plain_id) == "normal"


async def test_a_worker_grades_both_lanes_and_acknowledges_on_each_queue(
    api: Api, lanes: LaneQueues, run_worker: RunWorker
) -> None:
    async with api(premium_institutes=[PREMIUM]) as client:
        for institute in (PREMIUM, "demo-institute"):
            paper = {**demo_paper(), "instituteId": institute, "paperId": institute}
            assert (await client.post("/api/papers", json=paper)).status_code == 201
        ids = [
            (await submit(client, body(f"s{i}", inst, paperId=inst))).json()["jobId"]
            for i, inst in enumerate([PREMIUM, "demo-institute"] * 3)
        ]
        async with run_worker():

            async def all_completed() -> bool:
                views = [(await client.get(f"/api/submissions/status/{j}")).json() for j in ids]
                return all(v["status"] == "completed" and v["result"]["score"] for v in views)

            await wait_for(all_completed, timeout=20)
    assert lanes.priority is not None
    for queue in (lanes.priority, lanes.normal):
        depth = await queue.depth()
        assert depth["visible"] + depth["inflight"] == 0  # deleted from its own queue


async def test_the_sweeper_resends_a_lost_priority_message_to_the_priority_queue(
    api: Api, lanes: LaneQueues, mongo_db: AsyncDatabase[Any]
) -> None:
    assert lanes.priority is not None
    async with api(premium_institutes=[PREMIUM]) as client:
        await premium_paper(client)
        job_id = (await submit(client, body())).json()["jobId"]
    assert await job_ids_on(lanes.priority) == [job_id]  # the message is lost
    sweeper = Sweeper(
        sweeps=SweepRepository(mongo_db),
        jobs=JobRepository(mongo_db),
        locks=LockRepository(mongo_db),
        queues=lanes,
        owner="sweeper-a",
        lease_seconds=30,
        stale_after_seconds=60,
    )
    report = await sweeper.sweep_once(now=utcnow() + timedelta(seconds=120))
    assert report.resent == 1
    assert await job_ids_on(lanes.normal) == []
    assert await job_ids_on(lanes.priority) == [job_id]


def test_the_dlq_tools_reach_the_priority_dlq(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in stack.env().items():
        monkeypatch.setenv(name, value)

    async def dead_letter() -> None:
        async with open_sqs_client(region="us-east-1", endpoint_url=stack.sqs_endpoint) as sqs:
            for i in range(3):
                await sqs.send_message(
                    QueueUrl=stack.priority_dlq_url, MessageBody=json.dumps({"jobId": f"p{i}"})
                )

    asyncio.run(dead_letter())
    assert queues_cli.main(["dlq-inspect"]) == 0
    assert json.loads(capsys.readouterr().out)["depth"]["visible"] == 0  # the normal DLQ
    assert queues_cli.main(["dlq-inspect", "--lane", "priority"]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen["depth"]["visible"] == 3
    assert {s["jobId"] for s in seen["sample"]} == {"p0", "p1", "p2"}
    assert queues_cli.main(["dlq-redrive", "--lane", "priority"]) == 0
    capsys.readouterr()

    async def priority_depth() -> int:
        async with open_sqs_client(region="us-east-1", endpoint_url=stack.sqs_endpoint) as sqs:
            queue = SqsQueue(client=sqs, url=stack.priority_url)
            for _ in range(100):
                if (depth := (await queue.depth())["visible"]) == 3:
                    break
                await asyncio.sleep(0.2)
            return depth

    assert asyncio.run(priority_depth()) == 3  # back on the priority queue, not the main one


def test_create_prints_both_lanes_queues(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in stack.env().items():
        monkeypatch.setenv(name, value)
    assert queues_cli.main(["create"]) == 0  # idempotent: the stack created them already
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert printed == {
        "SMARTPAPERS_SQS_QUEUE_URL": stack.queue_url,
        "SMARTPAPERS_SQS_DLQ_URL": stack.dlq_url,
        "SMARTPAPERS_SQS_PRIORITY_QUEUE_URL": stack.priority_url,
        "SMARTPAPERS_SQS_PRIORITY_DLQ_URL": stack.priority_dlq_url,
    }


async def test_a_priority_flood_leaves_the_normal_lane_its_share(
    api: Api, run_worker: RunWorker, mongo_db: AsyncDatabase[Any]
) -> None:
    """Both queues hold 200 jobs; one worker with room for one batch at a time drains them:
    until the priority queue is empty, about one batch in five is normal (share 4)."""
    async with api(premium_institutes=[PREMIUM]) as client:
        assert (await client.post("/api/papers", json=demo_paper())).status_code == 201
        for i in range(200):
            await submit(client, body(f"p{i}"))
            await submit(client, body(f"n{i}", "demo-institute"))
    jobs = mongo_db["submission_jobs"]

    async def drained() -> bool:
        return await jobs.count_documents({"status": "completed"}) == 400

    async with run_worker(worker_concurrency=10, worker_adaptive_concurrency=False):
        await wait_for(drained, timeout=60)
    done = await jobs.find({}, {"lane": 1, "completedAt": 1}).sort("completedAt", 1).to_list()
    last_priority = max(i for i, j in enumerate(done) if j["lane"] == "priority")
    while_both = [j["lane"] for j in done[: last_priority + 1]]
    normal_share = while_both.count("normal") / len(while_both)
    assert 0.12 < normal_share < 0.3, normal_share  # the rule: 1/(4 + 1) = 0.2


def test_the_queue_tools_say_which_queue_is_missing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in stack.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SMARTPAPERS_SQS_PRIORITY_DLQ_NAME", f"{stack.queue_name}-nowhere")
    assert queues_cli.main(["dlq-inspect", "--lane", "priority"]) == 1
    err = capsys.readouterr().err
    assert f"SQS queue '{stack.queue_name}-nowhere' does not exist" in err
