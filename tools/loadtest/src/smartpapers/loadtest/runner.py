"""Runs one load test: builds answers from the paper, sends the submissions (closed loop,
fixed rate or one burst), follows every accepted job like a client (honouring Retry-After)
and samples the API's queue-depth gauge.

The HTTP client is aiohttp: in a 1,000-submission burst it costs ~0.4 ms of CPU per request
where httpx costs 2.4–7 ms (measured on this project's 2-core machine), and a load generator
sharing the cores with the system under test must not be what it measures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from smartpapers.loadtest.stats import FINAL_STATES, Record

DEMO_PAPER_ID = "demo-paper"
DEMO_KEY = "ABCD"
CHOICES = ("A", "B", "C", "D")
QUEUE_METRIC = "smartpapers_sqs_queue_messages"


class LoadTestError(RuntimeError):
    """The run cannot start (API unreachable, unknown paper …)."""


@dataclass(frozen=True)
class LoadConfig:
    url: str = "http://127.0.0.1:8000"
    paper: str = DEMO_PAPER_ID
    total: int = 100
    #: submissions in flight at once (closed loop); for a burst: all of them by default
    concurrency: int = 100
    #: submissions started per second (open loop); ``None``: as fast as concurrency allows
    rate: float | None = None
    burst: bool = False
    #: distinct studentIds (submissions cycle through them); ``None``: one per submission
    students: int | None = None
    #: seconds to wait, after the last send, for every accepted job to be final
    timeout: float = 300.0
    poll_interval: float = 1.0
    #: concurrent status requests
    poll_concurrency: int = 50
    wait: bool = True
    metrics_url: str | None = None
    metrics_interval: float = 1.0
    bearer_token: str | None = None
    institute: str = "demo-institute"
    request_timeout: float = 30.0
    seed: int = 1
    progress: bool = True


@dataclass
class QueueSample:
    at: float
    visible: float
    inflight: float
    delayed: float


@dataclass
class RunResult:
    config: LoadConfig
    run_id: str
    records: list[Record]
    queue_depth: list[QueueSample] = field(default_factory=list)
    #: why the queue-depth samples are missing (metrics URL unreachable, metric absent …)
    queue_depth_error: str | None = None
    paper_total: float | None = None
    duration_seconds: float = 0.0


# ---------------------------------------------------------------------------- answers


def demo_key(question_id: str) -> str | None:
    """The demo paper's answer for ``qN``: ``ABCD`` repeated (q1=A, q2=B, … q5=A)."""
    m = re.fullmatch(r"q(\d+)", question_id)
    if m is None or int(m.group(1)) < 1:
        return None
    return DEMO_KEY[(int(m.group(1)) - 1) % len(DEMO_KEY)]


def build_answers(
    paper: dict[str, Any], rng: random.Random
) -> tuple[list[dict[str, Any]], float | None]:
    """Random A–D answers to every question of ``paper`` (the public view, without the key)
    and the expected score when the key is known (the demo paper), else ``None``."""
    questions = paper.get("questions") or []
    answers = []
    expected: float | None = 0.0
    known = paper.get("paperId") == DEMO_PAPER_ID
    for q in questions:
        qid = str(q["questionId"])
        answer = rng.choice(CHOICES)
        answers.append({"questionId": qid, "answer": answer})
        key = demo_key(qid) if known else None
        if key is None or expected is None:
            expected = None
        elif answer == key:
            expected += float(q.get("marks", 1))
    return answers, expected


# ---------------------------------------------------------------------------- helpers


#: what a request can fail with before an answer arrives
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (the delta form; an HTTP date is ignored)."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds)


def parse_queue_depth(text: str, queue: str = "main") -> dict[str, float] | None:
    """``smartpapers_sqs_queue_messages{queue=…}`` by state from a Prometheus exposition;
    ``None`` when the gauge is absent."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != QUEUE_METRIC:
            continue
        for sample in family.samples:
            if sample.labels.get("queue") == queue:
                found[sample.labels.get("state", "visible")] = float(sample.value)
    return found or None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------- the run


class Runner:
    def __init__(
        self,
        config: LoadConfig,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.clock = clock
        self.run_id = uuid.uuid4().hex[:8]
        self._t0 = 0.0
        self._accept_bar: tqdm[Any] | None = None
        self._final_bar: tqdm[Any] | None = None

    def now(self) -> float:
        return self.clock() - self._t0

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "smartpapers-loadtest"}
        if self.config.bearer_token:
            headers["Authorization"] = f"Bearer {self.config.bearer_token}"
        return headers

    def _client(self) -> aiohttp.ClientSession:
        c = self.config
        in_flight = (c.total if c.burst else c.concurrency) + c.poll_concurrency + 2
        return aiohttp.ClientSession(
            base_url=c.url,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=c.request_timeout),
            connector=aiohttp.TCPConnector(limit=in_flight),
        )

    async def fetch_paper(self, client: aiohttp.ClientSession) -> dict[str, Any]:
        path = f"/api/papers/{self.config.paper}"
        try:
            async with client.get(path) as r:
                status, text = r.status, await r.text()
        except TRANSPORT_ERRORS as e:
            raise LoadTestError(f"cannot reach the API at {self.config.url}: {e!r}") from e
        if status == 404:
            raise LoadTestError(
                f"paper {self.config.paper!r} does not exist at {self.config.url} "
                "(make dev seeds demo-paper)"
            )
        if status != 200:
            raise LoadTestError(f"GET {path}: {status} {text}")
        paper: dict[str, Any] = json.loads(text)
        if not paper.get("questions"):
            raise LoadTestError(f"paper {self.config.paper!r} has no questions")
        return paper

    async def run(self) -> RunResult:
        c = self.config
        rng = random.Random(c.seed)
        async with self._client() as client:
            paper = await self.fetch_paper(client)
            students = c.students or c.total
            records: list[Record] = []
            bodies: list[dict[str, Any]] = []
            for i in range(c.total):
                answers, expected = build_answers(paper, rng)
                student = f"loadtest-{self.run_id}-s{i % students}"
                records.append(Record(index=i, student_id=student, expected_score=expected))
                bodies.append(
                    {
                        "studentId": student,
                        "paperId": c.paper,
                        "instituteId": paper.get("instituteId") or c.institute,
                        "answers": answers,
                    }
                )
            result = RunResult(
                config=c,
                run_id=self.run_id,
                records=records,
                paper_total=_number(paper.get("totalMarks")),
            )
            self._t0 = self.clock()
            stop_sampling = asyncio.Event()
            sampler = (
                asyncio.create_task(self._sample_queue(result, stop_sampling))
                if c.metrics_url
                else None
            )
            self._accept_bar = tqdm(
                total=c.total, desc="accepted ", unit="sub", disable=not c.progress, position=0
            )
            self._final_bar = tqdm(
                total=c.total,
                desc="final    ",
                unit="job",
                disable=not (c.progress and c.wait),
                position=1,
            )
            try:
                await self._send_all(client, records, bodies)
                result.duration_seconds = self.now()
            finally:
                stop_sampling.set()
                if sampler is not None:
                    await sampler
                self._accept_bar.close()
                self._final_bar.close()
            return result

    async def _send_all(
        self, client: aiohttp.ClientSession, records: list[Record], bodies: list[dict[str, Any]]
    ) -> None:
        c = self.config
        limit = asyncio.Semaphore(c.total if c.burst else max(1, c.concurrency))
        poll_limit = asyncio.Semaphore(max(1, c.poll_concurrency))
        followers: list[asyncio.Task[None]] = []
        deadline: list[float] = []  # set once every submission is answered

        async def one(record: Record, body: dict[str, Any]) -> None:
            if c.rate:
                await asyncio.sleep(max(0.0, record.index / c.rate - self.now()))
            async with limit:
                delay = await self._submit(client, record, body)
            if record.accepted and c.wait:
                followers.append(
                    asyncio.create_task(self._follow(client, record, delay, poll_limit, deadline))
                )

        await asyncio.gather(*(one(r, b) for r, b in zip(records, bodies, strict=True)))
        deadline.append(self.now() + c.timeout)
        if followers:
            await asyncio.gather(*followers)

    async def _submit(
        self, client: aiohttp.ClientSession, record: Record, body: dict[str, Any]
    ) -> float:
        """POST one submission; returns the delay before its first status poll."""
        headers = {"Idempotency-Key": f"loadtest-{self.run_id}-{record.index}"}
        record.sent_at = self.now()
        try:
            async with client.post("/api/submissions", json=body, headers=headers) as r:
                status, text, ra = r.status, await r.text(), retry_after(r.headers)
        except TRANSPORT_ERRORS as e:
            record.answered_at = self.now()
            record.transport_error = type(e).__name__
            return 0.0
        record.answered_at = self.now()
        record.status_code = status
        if status == 202:
            with contextlib.suppress(ValueError):
                data = json.loads(text)
                job = data.get("jobId") if isinstance(data, dict) else None
                record.job_id = str(job) if job else None
                record.final_status = "queued"
            if record.job_id is None:
                record.error = f"202 without a jobId: {text[:200]}"
            else:
                assert self._accept_bar is not None
                self._accept_bar.update(1)
        else:
            record.error = text[:200]
        return max(self.config.poll_interval, ra if ra is not None else 0.0)

    async def _follow(
        self,
        client: aiohttp.ClientSession,
        record: Record,
        delay: float,
        poll_limit: asyncio.Semaphore,
        deadline: list[float],
    ) -> None:
        """Poll one job's status until it is final or the deadline passes (the deadline is
        known once every submission has been answered)."""
        while True:
            last = bool(deadline) and self.now() + delay >= deadline[0]
            wait = max(0.0, deadline[0] - self.now()) if last else delay
            await asyncio.sleep(wait)
            delay = await self._poll(client, record, poll_limit)
            if record.final_status in FINAL_STATES:
                assert self._final_bar is not None
                self._final_bar.update(1)
                return
            if last:
                return

    async def _poll(
        self, client: aiohttp.ClientSession, record: Record, poll_limit: asyncio.Semaphore
    ) -> float:
        """One status request; returns the delay before the next one."""
        c = self.config
        async with poll_limit:
            try:
                async with client.get(f"/api/submissions/status/{record.job_id}") as r:
                    status, text, ra = r.status, await r.text(), retry_after(r.headers)
            except TRANSPORT_ERRORS as e:
                record.error = f"status poll: {type(e).__name__}"
                return c.poll_interval
        record.polls += 1
        delay = max(c.poll_interval, ra if ra is not None else 0.0)
        if status != 200:
            record.error = f"status poll: {status} {text[:200]}"
            return delay
        view = json.loads(text)
        status = view.get("status")
        record.final_status = status
        if status in FINAL_STATES:
            record.finished_at = self.now()
            result = view.get("result") or {}
            record.score = _number(result.get("score"))
            record.total = _number(result.get("total"))
            if view.get("error"):
                record.error = str(view["error"])
        return delay

    async def _sample_queue(self, result: RunResult, stop: asyncio.Event) -> None:
        c = self.config
        assert c.metrics_url is not None
        async with aiohttp.ClientSession(
            headers=self._headers(), timeout=aiohttp.ClientTimeout(total=5)
        ) as client:
            while True:
                try:
                    async with client.get(c.metrics_url, raise_for_status=True) as r:
                        depth = parse_queue_depth(await r.text())
                    if depth is None:
                        result.queue_depth_error = f'{QUEUE_METRIC}{{queue="main"}} not exported'
                    else:
                        result.queue_depth.append(
                            QueueSample(
                                at=self.now(),
                                visible=depth.get("visible", 0.0),
                                inflight=depth.get("inflight", 0.0),
                                delayed=depth.get("delayed", 0.0),
                            )
                        )
                except (*TRANSPORT_ERRORS, ValueError) as e:
                    result.queue_depth_error = f"{c.metrics_url}: {e!r}"
                if result.queue_depth_error and not result.queue_depth:
                    return  # unreachable from the start: no curve
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=c.metrics_interval)
                if stop.is_set():
                    return
