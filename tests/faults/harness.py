"""A whole local stack per scenario — its own ElasticMQ (queues persisted, so it can be
stopped and restarted), its own database (on disk), the API and worker processes — plus the
invariant check of the reliability contract (docs/architecture.md#the-reliability-contract)."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from smartpapers.common.grading import grade
from smartpapers.common.models import AnswerIn, Paper
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.devstack.servers import ManagedProcess
from smartpapers.devstack.stack import LocalStack

REPORT = Path(os.environ.get("SMARTPAPERS_FAULT_REPORT", "reports/faults.json"))


@dataclass
class Outcome:
    scenario: str
    sent: int = 0
    accepted: int = 0
    completed: int = 0
    failed: int = 0
    duplicates: int = 0
    lost: int = 0
    wrong_scores: int = 0
    left_processing: int = 0
    rejected_5xx: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


#: short timeouts and intervals, so every scenario recovers within seconds
FAULT_ENV = {
    "SMARTPAPERS_LOG_LEVEL": "WARNING",
    "SMARTPAPERS_MONGO_MAX_POOL_SIZE": "4",
    "SMARTPAPERS_MONGO_TIMEOUT_MS": "30000",
    "SMARTPAPERS_CONNECT_ATTEMPTS": "30",
    "SMARTPAPERS_SQS_WAIT_TIME_SECONDS": "2",
    "SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS": "3",
    "SMARTPAPERS_WORKER_CONCURRENCY": "10",
    "SMARTPAPERS_SWEEPER_INTERVAL_SECONDS": "1",
    "SMARTPAPERS_SWEEPER_UNSENT_GRACE_SECONDS": "3",
    "SMARTPAPERS_RETRY_BASE_DELAY_SECONDS": "2",
    "SMARTPAPERS_RETRY_MAX_DELAY_SECONDS": "30",
}


class FaultStack:
    """A :class:`LocalStack` whose servers the scenarios stop, kill and restart (queues
    persisted, database on disk), plus the reliability contract's invariant check."""

    def __init__(self, root: Path) -> None:
        self.local = LocalStack(
            root, persist=True, visibility_timeout=15, env_overrides=dict(FAULT_ENV)
        )

    @property
    def sqs_endpoint(self) -> str:
        return self.local.sqs_url

    @property
    def mongo_uri(self) -> str:
        return self.local.database_uri

    @property
    def api(self) -> str:
        return self.local.api_url

    @property
    def queue_url(self) -> str:
        return self.local.queue_url

    @property
    def dlq_url(self) -> str:
        return self.local.dlq_url

    @property
    def sqs(self) -> ManagedProcess:
        return self.local.servers["elasticmq"]

    @property
    def mongo(self) -> ManagedProcess:
        return self.local.servers["database"]

    @property
    def procs(self) -> list[ManagedProcess]:
        return [p for p in (self.local.api, *(w for w, _ in self.local.workers)) if p]

    def start_sqs(self) -> None:
        self.local.start_elasticmq()

    def start_mongo(self) -> None:
        self.local.start_database()

    async def start(self) -> None:
        self.local.start_servers()
        await self.local.create_queues_async()

    async def start_api(self, **env: str) -> ManagedProcess:
        return self.local.start_api(**env)

    def start_worker(self, name: str = "worker", **env: str) -> ManagedProcess:
        return self.local.start_worker(name=name, **env)

    def stop(self) -> None:
        self.local.stop()

    async def seed(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/papers", json=demo_paper())
        assert r.status_code in (201, 409), r.text

    async def submit_many(
        self, client: httpx.AsyncClient, n: int, *, offset: int = 0
    ) -> tuple[dict[str, int], int]:
        """Submit n concurrently; returns ({jobId: expected score}, count of 5xx answers)."""
        accepted: dict[str, int] = {}
        errors = 0

        async def one(i: int) -> None:
            nonlocal errors
            correct = (i * 7) % 21
            r = await client.post(
                "/api/submissions",
                json={
                    "studentId": f"s{i}",
                    "paperId": "demo-paper",
                    "instituteId": "demo-institute",
                    "answers": demo_answers(correct),
                },
            )
            if r.status_code == 202:
                accepted[r.json()["jobId"]] = correct
            elif r.status_code >= 500:
                errors += 1
            else:
                raise AssertionError(r.text)

        await asyncio.gather(*(one(offset + i) for i in range(n)))
        return accepted, errors

    async def wait_final(self, job_ids: list[str], *, timeout: float) -> None:
        mongo: AsyncMongoClient[Any] = AsyncMongoClient(self.mongo_uri)
        try:
            jobs = mongo["smartpapers"]["submission_jobs"]
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                final = await jobs.count_documents(
                    {"_id": {"$in": job_ids}, "status": {"$in": ["completed", "failed"]}}
                )
                if final == len(job_ids):
                    return
                if asyncio.get_running_loop().time() > deadline:
                    tails = self.local.tails()
                    raise AssertionError(f"{len(job_ids) - final} jobs not final:\n{tails}")
                await asyncio.sleep(0.5)
        finally:
            await mongo.close()

    async def check(
        self,
        scenario: str,
        accepted: dict[str, int],
        *,
        sent: int,
        rejected_5xx: int = 0,
        **notes: Any,
    ) -> Outcome:
        """The reliability invariants, recorded in the fault report."""
        mongo: AsyncMongoClient[Any] = AsyncMongoClient(self.mongo_uri, tz_aware=True)
        try:
            db = mongo["smartpapers"]
            paper = Paper.model_validate({**demo_paper(), "createdAt": "2026-01-01T00:00:00Z"})
            docs = {d["_id"]: d for d in await db["submission_jobs"].find({}).to_list()}
            cursor = await db["submissions"].aggregate(
                [{"$group": {"_id": "$jobId", "n": {"$sum": 1}}}]
            )
            per_job = {d["_id"]: d["n"] for d in await cursor.to_list()}
        finally:
            await mongo.close()
        out = Outcome(
            scenario=scenario,
            sent=sent,
            accepted=len(accepted),
            rejected_5xx=rejected_5xx,
            notes=notes,
        )
        for job_id, correct in accepted.items():
            doc = docs.get(job_id)
            if doc is None or doc["status"] not in ("completed", "failed"):
                out.lost += 1
                out.left_processing += int(doc is not None and doc["status"] == "processing")
                continue
            if doc["status"] == "failed":
                out.failed += 1
                continue
            out.completed += 1
            answers = [AnswerIn.model_validate(a) for a in json.loads(doc["payload"])]
            regrade = grade(paper=paper, answers=answers)
            if (doc["result"]["score"], regrade.score) != (correct, correct):
                out.wrong_scores += 1
        out.duplicates = sum(n - 1 for n in per_job.values() if n > 1)
        out.notes.setdefault(
            "attempts_max",
            max((docs[j].get("attempts", 0) for j in accepted if j in docs), default=0),
        )
        record(out)
        return out


def record(outcome: Outcome) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[outcome.scenario] = outcome.__dict__
    REPORT.write_text(json.dumps(data, indent=2, default=str))


def assert_contract(out: Outcome, *, expect_failed: int = 0) -> None:
    assert out.lost == 0, out
    assert out.duplicates == 0, out
    assert out.wrong_scores == 0, out
    assert out.left_processing == 0, out
    assert out.failed == expect_failed, out
    assert out.completed + out.failed == out.accepted, out
