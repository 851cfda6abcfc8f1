"""``smartpapers-loadtest bench`` (``make bench``): fixed scenarios on a local stack that this
command starts on free ports (ElasticMQ + FerretDB + the API + N worker processes), results
as a markdown table on stdout and a JSON file.

Scenarios: API accept latency at concurrency 1/50/200, a burst of 1,000 (and 10,000 with
``--full``), worker drain throughput with 1/2/4 worker processes (jobs queued with the
workers stopped, then drained), SQS requests per submission (``smartpapers_sqs_requests_total``
of every process) and peak RSS (``VmHWM``) of the API and one worker.

Known limit of the local stack: FerretDB v1 on SQLite serialises writes (each update costs
~6–40 ms), so drain throughput here measures the database emulator, not the worker's code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from smartpapers.devstack.servers import (
    EMULATOR_AWS_ENV,
    ManagedProcess,
    ServerStartError,
    free_port,
    python_module,
    spawn,
    start_elasticmq,
    start_ferretdb,
)
from smartpapers.loadtest.runner import LoadConfig, Runner, RunResult
from smartpapers.loadtest.stats import Summary, summarize

ORIGINAL_PER_WORKER_PER_MIN = 100  # the original system's published figure
ORIGINAL_SQS_PER_SUBMISSION = 3.0
ORIGINAL_LATENCY_MS = (20, 50)

# FerretDB on SQLite has one writer at a time: fewer concurrent writers go faster
LOCAL_TUNING = {
    "SMARTPAPERS_MONGO_MAX_POOL_SIZE": "4",
    "SMARTPAPERS_WORKER_CONCURRENCY": "10",
    "SMARTPAPERS_MONGO_TIMEOUT_MS": "30000",
    "SMARTPAPERS_LOG_LEVEL": "WARNING",
    "SMARTPAPERS_LOG_FORMAT": "text",
    "SMARTPAPERS_QUEUE_METRICS_INTERVAL_SECONDS": "1",
    "SMARTPAPERS_SQS_WAIT_TIME_SECONDS": "5",
}


def rss_peak_mib(pid: int) -> float | None:
    """Peak resident set size (``VmHWM``) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sqs_requests(text: str) -> dict[str, float]:
    """``smartpapers_sqs_requests_total`` by operation."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("smartpapers_sqs_requests", "smartpapers_sqs_requests_total"):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    op = sample.labels.get("operation", "?")
                    out[op] = out.get(op, 0.0) + sample.value
    return out


#: monitoring, not the submission path (the API's queue-depth gauges poll it every second here)
NOT_PER_SUBMISSION = {"GetQueueAttributes"}


@dataclass
class LocalStack:
    """ElasticMQ + FerretDB + the API + workers, all on free 127.0.0.1 ports."""

    work_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    servers: list[ManagedProcess] = field(default_factory=list)
    api: ManagedProcess | None = None
    workers: list[tuple[ManagedProcess, int]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    mongo_uri: str = ""

    def start(self) -> None:
        sqs_port, mongo_port, api_port = free_port(), free_port(), free_port()
        self.servers.append(
            start_elasticmq(port=sqs_port, work_dir=self.work_dir / "sqs", persist=False)
        )
        self.servers.append(start_ferretdb(port=mongo_port, data_dir=self.work_dir / "mongo"))
        self.mongo_uri = f"mongodb://127.0.0.1:{mongo_port}/"
        self.env = {
            **EMULATOR_AWS_ENV,
            **LOCAL_TUNING,
            "SMARTPAPERS_SQS_ENDPOINT_URL": f"http://127.0.0.1:{sqs_port}",
            "SMARTPAPERS_AWS_REGION": "us-east-1",
            "SMARTPAPERS_MONGO_URI": self.mongo_uri,
            "SMARTPAPERS_AUTH_MODE": "none",
            **self.extra_env,
        }
        from smartpapers.devstack.__main__ import create_queues, seed, wait_ready

        self.env.update(create_queues(self.env))
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.api = spawn(
            "api",
            python_module("smartpapers.api"),
            env={**self.env, "SMARTPAPERS_API_PORT": str(api_port)},
        )
        wait_ready(self.api_url, [self.api])
        seed(self.api_url)

    def set_workers(self, n: int) -> None:
        """Stop the running workers (they drain) and start ``n`` fresh ones."""
        for proc, _ in self.workers:
            proc.signal(signal.SIGTERM)
        for proc, _ in self.workers:
            proc.stop(timeout=60)
        self.workers = []
        for i in range(n):
            port = free_port()
            proc = spawn(
                f"worker-{i}",
                python_module("smartpapers.worker"),
                env={**self.env, "SMARTPAPERS_WORKER_METRICS_PORT": str(port)},
            )
            self.workers.append((proc, port))
        for proc, port in self.workers:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if not proc.running:
                    raise ServerStartError(f"{proc.name} exited:\n{proc.tail()}")
                try:
                    httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)

    def metrics_urls(self) -> list[str]:
        return [f"{self.api_url}/metrics"] + [
            f"http://127.0.0.1:{port}/metrics" for _, port in self.workers
        ]

    def sqs_requests(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for url in self.metrics_urls():
            for op, n in sqs_requests(httpx.get(url, timeout=5).text).items():
                total[op] = total.get(op, 0.0) + n
        return total

    def final_jobs(self) -> int:
        client: MongoClient[dict[str, Any]] = MongoClient(self.mongo_uri)
        try:
            return client["smartpapers"]["submission_jobs"].count_documents(
                {"status": {"$in": ["completed", "failed"]}}
            )
        finally:
            client.close()

    def rss(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        if self.api is not None:
            out["api"] = rss_peak_mib(self.api.popen.pid)
        if self.workers:
            out["worker"] = rss_peak_mib(self.workers[0][0].popen.pid)
        return out

    def stop(self) -> None:
        for proc, _ in self.workers:
            proc.signal(signal.SIGTERM)
        for proc, _ in self.workers:
            proc.stop(timeout=60)
        if self.api is not None:
            self.api.signal(signal.SIGTERM)
            self.api.stop(timeout=30)
        for server in reversed(self.servers):
            server.stop(timeout=15)


@contextmanager
def local_stack(workers: int, extra_env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    with tempfile.TemporaryDirectory(prefix="smartpapers-bench-") as tmp:
        stack = LocalStack(work_dir=Path(tmp), extra_env=extra_env or {})
        try:
            stack.start()
            stack.set_workers(workers)
            yield stack
        finally:
            stack.stop()


def load(stack: LocalStack, **over: Any) -> tuple[RunResult, Summary]:
    values: dict[str, Any] = {
        "url": stack.api_url,
        "progress": False,
        "poll_interval": 1.0,
        "timeout": 600.0,
        "metrics_url": f"{stack.api_url}/metrics",
    }
    config = LoadConfig(**{**values, **over})
    result = asyncio.run(Runner(config).run())
    return result, summarize(result.records, waited=config.wait, paper_total=result.paper_total)


@dataclass
class Row:
    scenario: str
    figure: str
    value: float | None
    unit: str
    reference: str = ""
    ok: bool = True
    detail: dict[str, Any] = field(default_factory=dict)


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 2)


def run_latency(stack: LocalStack, concurrencies: list[int], per: int) -> list[Row]:
    rows = []
    for c in concurrencies:
        total = max(per, c * 2)
        _, s = load(stack, total=total, concurrency=c)
        lat = s.accept_latency_seconds
        rows.append(
            Row(
                f"latency c={c} ({total} submissions)",
                "accept p50 / p95 / p99",
                _ms(lat.p50),
                "ms",
                reference=f"original: {ORIGINAL_LATENCY_MS[0]}–{ORIGINAL_LATENCY_MS[1]} ms",
                ok=s.exit_code == 0,
                detail={"p95_ms": _ms(lat.p95), "p99_ms": _ms(lat.p99), "summary": s.to_dict()},
            )
        )
    return rows


def run_burst(stack: LocalStack, total: int) -> list[Row]:
    before = stack.sqs_requests()
    _, s = load(stack, total=total, burst=True)
    after = stack.sqs_requests()
    delta = {op: n - before.get(op, 0.0) for op, n in after.items()}
    on_path = sum(n for op, n in delta.items() if op not in NOT_PER_SUBMISSION)
    per_submission = on_path / s.accepted if s.accepted else None
    lat = s.accept_latency_seconds
    verdict = (
        f"rejected {sum(s.rejected.values())}, lost {s.lost}, dup {s.duplicated_job_ids}, "
        f"wrong {s.wrong_scores}"
    )
    return [
        Row(
            f"burst {total}",
            "accepted/s",
            s.accepted_per_second,
            "/s",
            reference=verdict,
            ok=s.exit_code == 0,
            detail={"p99_ms": _ms(lat.p99), "summary": s.to_dict()},
        ),
        Row(
            f"burst {total}",
            "completed/s (end to end)",
            s.completed_per_second,
            "/s",
            reference=f"complete all in {s.time_to_complete_all_seconds or 0:.1f} s",
            ok=s.exit_code == 0,
        ),
        Row(
            f"burst {total}",
            "SQS requests per submission",
            per_submission,
            "req",
            reference=f"original: ~{ORIGINAL_SQS_PER_SUBMISSION:g}; target ≤ 0.5 "
            "(idle long polls included; GetQueueAttributes excluded)",
            ok=per_submission is not None and per_submission <= 0.5,
            detail={"by_operation": delta},
        ),
    ]


def run_drain(stack: LocalStack, workers: int, jobs: int) -> Row:
    """Queue ``jobs`` with no worker running, then time ``workers`` processes draining them."""
    stack.set_workers(0)
    base = stack.final_jobs()
    _, s = load(stack, total=jobs, concurrency=50, wait=False, metrics_url=None)
    start = time.monotonic()
    stack.set_workers(workers)
    # timed from the first finished job: process start-up is not throughput
    first: float | None = None
    done = 0
    while time.monotonic() - start < 600:
        done = stack.final_jobs() - base
        if first is None and done:
            first, first_done = time.monotonic(), done
        if done >= s.accepted:
            break
        time.sleep(0.25)
    end = time.monotonic()
    if first is None:
        first, first_done = end, 0
    elapsed = max(end - first, 1e-9)
    per_worker_min = (done - first_done) / elapsed * 60 / workers
    return Row(
        f"drain {jobs} jobs, {workers} worker(s)",
        "jobs/min per worker",
        per_worker_min,
        "/min",
        reference=f"original ~{ORIGINAL_PER_WORKER_PER_MIN}/min: "
        f"×{per_worker_min / ORIGINAL_PER_WORKER_PER_MIN:.1f}",
        ok=done >= s.accepted,
        detail={"elapsed_s": elapsed, "done": done, "accepted": s.accepted},
    )


def markdown(rows: list[Row]) -> str:
    lines = ["| scenario | figure | value | reference | ok |", "|---|---|---|---|---|"]
    for r in rows:
        value = "-" if r.value is None else f"{r.value:,.1f} {r.unit}"
        if "p95_ms" in r.detail:
            value = f"{r.value} / {r.detail['p95_ms']} / {r.detail['p99_ms']} ms"
        lines.append(
            f"| {r.scenario} | {r.figure} | {value} | {r.reference} | {'✓' if r.ok else '✗'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartpapers-loadtest bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run, ~1 min)")
    p.add_argument("--full", action="store_true", help="also the 10,000 burst")
    p.add_argument("--workers", default="1,2,4", help="worker counts for the drain scenario")
    p.add_argument("--json-out", type=Path, default=Path("bench.json"))
    args = p.parse_args(argv)
    quick = args.quick
    bursts = [100] if quick else [1_000] + ([10_000] if args.full else [])
    drain_jobs = 100 if quick else 1_000
    worker_counts = [int(n) for n in args.workers.split(",") if n]
    rows: list[Row] = []
    started = time.time()
    try:
        with local_stack(workers=1) as stack:
            rows += run_latency(stack, [1, 50] if quick else [1, 50, 200], 20 if quick else 200)
            for total in bursts:
                rows += run_burst(stack, total)
            drains = [run_drain(stack, n, drain_jobs) for n in worker_counts]
            rows += drains
            rss = stack.rss()
            rows.append(
                Row(
                    "whole run",
                    "peak RSS API / worker",
                    rss.get("api"),
                    "MiB",
                    reference=f"worker {rss.get('worker') or 0:.0f} MiB; target ≤ 200 MiB each",
                    ok=all(v is not None and v <= 200 for v in rss.values()),
                    detail={"rss_mib": rss},
                )
            )
    except ServerStartError as e:
        sys.stderr.write(f"bench: the local stack could not start: {e}\n")
        return 2
    table = markdown(rows)
    sys.stdout.write(table + "\n")
    sys.stdout.write(
        "\nLocal-stack limit: FerretDB v1 on SQLite serialises writes (each update ~6–40 ms), "
        "so drain throughput here is bounded by the database emulator, not by the workers.\n"
    )
    per_worker = [r.value for r in rows if r.figure == "jobs/min per worker" and r.value]
    doc = {
        "startedAt": started,
        "durationSeconds": time.time() - started,
        "quick": quick,
        "rows": [r.__dict__ for r in rows],
        "medianJobsPerMinPerWorker": statistics.median(per_worker) if per_worker else None,
        "markdown": table,
    }
    args.json_out.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    sys.stdout.write(f"wrote {args.json_out}\n")
    return 0 if all(r.ok for r in rows) else 1
