"""The benchmark's scenarios. Each runs on a fresh :class:`LocalStack` (its own database, so
no scenario inherits another's jobs) in one mode — ``smartpapers`` as shipped or ``naive``
(the same code with every batching off) — and returns its figures by key.

- ``latency``: accept latency at 1, 50 and 200 clients in flight (closed loop);
- ``burst``: ``total`` submissions at once against N running workers, optionally with
  busy-loop CPU hogs: time to accept all and to complete all, rejected + lost + duplicated +
  wrongly graded, retries, database round trips per job (API and workers apart), SQS
  requests per submission, peak RSS;
- ``drain``: jobs queued with no worker running, then one worker process drains them: jobs
  per minute per process, worker CPU per job, the database's CPU.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from smartpapers.devstack.stack import LocalStack
from smartpapers.loadtest.bench.measure import BenchFailure, Counts, Probe, cpu_hogs
from smartpapers.loadtest.config import LoadConfig, RunResult
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import Summary, summarize

Figures = dict[str, float]

MODES: dict[str, dict[str, str]] = {
    "smartpapers": {},
    "naive": {
        "SMARTPAPERS_SQS_BATCHING": "false",  # one SendMessage / ReceiveMessage(1) / Delete
        "SMARTPAPERS_SEND_LINGER_SECONDS": "0",
        "SMARTPAPERS_API_INSERT_BATCH_SIZE": "1",  # one insert per submission
        "SMARTPAPERS_WORKER_ADAPTIVE_CONCURRENCY": "false",
    },
}

BENCH_ENV = {
    "SMARTPAPERS_LOG_LEVEL": "WARNING",
    "SMARTPAPERS_QUEUE_METRICS_INTERVAL_SECONDS": "5",
}


@dataclass(frozen=True)
class Target:
    """Where the scenarios run: the local database, or ``mongo_uri``."""

    mongo_uri: str = ""


@contextmanager
def fresh_stack(mode: str, target: Target, *, workers: int) -> Iterator[LocalStack]:
    with tempfile.TemporaryDirectory(prefix="smartpapers-bench-") as tmp:
        make = LocalStack.unique if target.mongo_uri else LocalStack
        stack = make(
            Path(tmp), mongo_uri=target.mongo_uri, env_overrides={**BENCH_ENV, **MODES[mode]}
        )
        try:
            stack.start(workers=workers)
            yield stack
        finally:
            stack.stop()
            if target.mongo_uri:
                drop_database(target.mongo_uri, stack.db_name)


def drop_database(uri: str, name: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        client.drop_database(name)
    finally:
        client.close()


def load(stack: LocalStack, **over: Any) -> tuple[RunResult, Summary]:
    config = LoadConfig(
        **{"url": stack.api_url, "progress": False, "wait": False, "timeout": 600.0, **over}
    )
    result = asyncio.run(Runner(config).run())
    return result, summarize(result.records, waited=False, paper_total=result.paper_total)


def wrong_scores(stack: LocalStack, result: RunResult) -> int:
    """Completed jobs whose stored score differs from the one the load generator expects
    (the scenario's database holds its jobs only: one scan over the status index, not an
    ``$in`` of thousands of ids)."""
    expected = {r.job_id: r.expected_score for r in result.records if r.job_id}
    client: MongoClient[dict[str, Any]] = MongoClient(stack.database_uri)
    try:
        docs = client[stack.db_name]["submission_jobs"].find(
            {"status": "completed"}, {"result.score": 1}
        )
        return sum(
            1 for d in docs if d["_id"] in expected and d["result"]["score"] != expected[d["_id"]]
        )
    finally:
        client.close()


def latency(mode: str, target: Target, *, levels: list[tuple[int, int]]) -> Figures:
    """Accept latency at (clients, submissions) levels, two workers draining meanwhile."""
    out: Figures = {}
    with fresh_stack(mode, target, workers=2) as stack:
        probe = Probe(stack)
        for clients, total in levels:
            since = probe.workers()
            _, s = load(stack, total=total, concurrency=clients)
            if s.unexpected_rejects:
                raise BenchFailure(f"latency c={clients}: {s.problems()}")
            probe.wait_finished(s.accepted, since=since, timeout=600)
            lat = s.accept_latency_seconds
            for q, value in (("p50", lat.p50), ("p99", lat.p99)):
                out[f"latency_c{clients}_{q}_ms"] = (value or 0.0) * 1000
    return out


def burst(mode: str, target: Target, *, total: int, workers: int, hogs: int = 0) -> Figures:
    key = f"burst{total}_w{workers}" + (f"_hogs{hogs}" if hogs else "")
    with fresh_stack(mode, target, workers=workers) as stack:
        probe = Probe(stack)
        api0, workers0 = probe.api(), probe.workers()
        with cpu_hogs(hogs):
            started = time.monotonic()
            result, s = load(stack, total=total, burst=True)
            probe.wait_finished(s.accepted, since=workers0, timeout=3600)
            complete_all = time.monotonic() - started
        time.sleep(1.5)  # the last DeleteMessageBatch
        api, work = probe.api() - api0, probe.workers() - workers0
        lost = max(s.accepted - probe.final_jobs(), 0)
        bad = s.unexpected_rejects + lost + probe.duplicates() + wrong_scores(stack, result)
        n = max(s.accepted, 1)
        rss = probe.rss()
        return {
            f"{key}_accept_all_s": s.time_to_accept_all_seconds or 0.0,
            f"{key}_accepted_per_s": s.accepted_per_second or 0.0,
            f"{key}_complete_all_s": complete_all,
            f"{key}_accept_p99_ms": (s.accept_latency_seconds.p99 or 0.0) * 1000,
            f"{key}_bad": float(bad),
            f"{key}_retried_pct": work.retried / n * 100,
            f"{key}_api_mongo_per_sub": api.mongo_round_trips / n,
            f"{key}_worker_mongo_per_job": work.mongo_round_trips / n,
            f"{key}_sqs_per_sub": (api.sqs_requests + work.sqs_requests) / n,
            f"{key}_rss_api_mib": rss.get("api", 0.0),
            f"{key}_rss_worker_mib": rss.get("worker", 0.0),
        }


def drain(mode: str, target: Target, *, jobs: int) -> Figures:
    """``jobs`` queued with no worker running, then ONE worker process drains them."""
    with fresh_stack(mode, target, workers=0) as stack:
        probe = Probe(stack)
        _, s = load(stack, total=jobs, concurrency=100)
        if s.unexpected_rejects:
            raise BenchFailure(f"drain: {s.problems()}")
        stack.set_workers(1)  # returns once its /metrics answers, about when it starts polling
        since = Counts({}, {}, {})  # a fresh process counts from zero
        cpu0, servers0 = probe.worker_cpu(), probe.server_cpu()
        elapsed = probe.wait_finished(s.accepted, since=since, timeout=3600)
        cpu1, servers1 = probe.worker_cpu(), probe.server_cpu()
        work: Counts = probe.workers() - since
        n = max(s.accepted, 1)
        out = {
            "drain_jobs_per_min": s.accepted / elapsed * 60,
            "drain_worker_cpu_ms_per_job": (cpu1 - cpu0) / n * 1000,
            "drain_worker_mongo_per_job": work.mongo_round_trips / n,
            "drain_retried_pct": work.retried / n * 100,
        }
        for name, busy in servers1.items():
            out[f"drain_{name}_cores"] = (busy - servers0.get(name, 0.0)) / elapsed
        return out
