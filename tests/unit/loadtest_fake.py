"""Helpers shared by the test_loadtest_* modules: an in-process fake API (an aiohttp server on
127.0.0.1) with switchable misbehaviour, and a load test run against it."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from smartpapers.loadtest.config import LoadConfig
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import summarize

KEY = "ABCD"


@dataclass
class FakeApi:
    """Just enough of the HTTP contract: papers, submissions graded after ``polls_to_finish``
    status requests, and switchable misbehaviour."""

    questions: int = 20
    polls_to_finish: int = 2
    reject_every: int = 0  # every n-th POST answers 503
    duplicate_every: int = 0  # every n-th POST returns the previous jobId
    wrong_every: int = 0  # every n-th job is graded one mark low
    never_finish_every: int = 0  # every n-th job stays queued
    fail_every: int = 0
    graded_every: int = 0  # every n-th POST answers 201 with the result (sync mode)
    retry_after: str = "0"
    depth: int = 0
    posts: int = 0
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    idempotency_keys: set[str] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def paper(self) -> dict[str, Any]:
        qs = [{"questionId": f"q{i}", "marks": 1} for i in range(1, self.questions + 1)]
        return {
            "paperId": "demo-paper",
            "instituteId": "demo-institute",
            "questions": qs,
            "totalMarks": self.questions,
        }

    seen_auth: list[str | None] = field(default_factory=list)
    down: bool = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen_auth.append(request.headers.get("Authorization"))
        path = request.path
        if self.down:  # drop the connection without an answer
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if path == "/api/papers/demo-paper":
            return web.json_response(self.paper())
        if path.startswith("/api/papers/"):
            return web.json_response({"message": "no", "error": "not_found"}, status=404)
        if path == "/metrics":
            self.depth += 1
            text = (
                "# TYPE smartpapers_sqs_queue_messages gauge\n"
                f'smartpapers_sqs_queue_messages{{queue="main",state="visible"}} {self.depth}\n'
                'smartpapers_sqs_queue_messages{queue="main",state="inflight"} 3\n'
                'smartpapers_sqs_queue_messages{queue="dlq",state="visible"} 99\n'
            )
            return web.Response(text=text)
        if path == "/api/submissions" and request.method == "POST":
            return self.submit(request, await request.json())
        if path.startswith("/api/submissions/status/"):
            return self.status(path.rsplit("/", 1)[1])
        return web.Response(status=404)

    def submit(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        self.posts += 1
        n = self.posts
        if self.reject_every and n % self.reject_every == 0:
            return web.json_response({"message": "busy"}, status=503, headers={"Retry-After": "2"})
        self.idempotency_keys.add(request.headers["Idempotency-Key"])
        score = sum(
            1 for a in body["answers"] if a["answer"] == KEY[(int(a["questionId"][1:]) - 1) % 4]
        )
        if self.wrong_every and n % self.wrong_every == 0:
            score -= 1
        if self.duplicate_every and n % self.duplicate_every == 0 and self.jobs:
            job_id = next(reversed(self.jobs))
        else:
            job_id = f"job-{next(self.ids)}"
            status = "failed" if self.fail_every and n % self.fail_every == 0 else "completed"
            if self.never_finish_every and n % self.never_finish_every == 0:
                status = "queued"
            self.jobs[job_id] = {"score": score, "final": status}
        if self.graded_every and n % self.graded_every == 0:
            self.jobs[job_id]["final"] = "completed"
            return web.json_response(
                {"submissionId": f"sub-{job_id}", "score": score, "total": self.questions},
                status=201,
                headers={"Location": f"/api/submissions/status/{job_id}"},
            )
        return web.json_response(
            {"jobId": job_id, "status": "queued", "statusUrl": f"/status/{job_id}"},
            status=202,
            headers={"Retry-After": self.retry_after},
        )

    def status(self, job_id: str) -> web.Response:
        job = self.jobs.get(job_id)
        if job is None:
            return web.Response(status=404)
        self.polls[job_id] = self.polls.get(job_id, 0) + 1
        status = job["final"] if self.polls[job_id] >= self.polls_to_finish else "processing"
        result = (
            {"submissionId": "s", "score": job["score"], "total": self.questions}
            if status == "completed"
            else None
        )
        return web.json_response({"jobId": job_id, "status": status, "result": result})


def config(**over: Any) -> LoadConfig:
    values: dict[str, Any] = {
        "url": "http://127.0.0.1:9",
        "total": 40,
        "concurrency": 8,
        "timeout": 0.5,
        "poll_interval": 0.01,
        "progress": False,
    }
    return LoadConfig(**{**values, **over})


async def serve_and_run(api: FakeApi, **over: Any) -> tuple[Any, LoadConfig]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        metrics = over.pop("metrics_path", None)
        cfg = config(url=base, **over, **({"metrics_url": base + metrics} if metrics else {}))
        return await Runner(cfg).run(), cfg


def run(api: FakeApi, **over: Any) -> tuple[Any, Any]:
    result, cfg = asyncio.run(serve_and_run(api, **over))
    summary = summarize(result.records, waited=cfg.wait, paper_total=result.paper_total)
    return result, summary
