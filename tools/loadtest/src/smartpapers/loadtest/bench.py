"""``smartpapers-loadtest bench`` (``make bench``): fixed scenarios on a local stack that this
command starts on free ports (ElasticMQ + FerretDB + the API + N worker processes), results
as a markdown table on stdout and a JSON file.

Every scenario runs in two modes on fresh stacks, ``--repeat`` times each (medians are
reported): ``smartpapers`` as shipped, and ``naive`` — the same code with
``SMARTPAPERS_SQS_BATCHING=false`` (one SendMessage per request, ReceiveMessage of one, one
DeleteMessage per job), ``SMARTPAPERS_API_INSERT_BATCH_SIZE=1`` and
``SMARTPAPERS_WORKER_WRITE_BATCH_SIZE=1`` (one MongoDB write per job and step), the baseline
the ratios compare against.

Scenarios: API accept latency at concurrency 1/50/200; a burst of 1,000 (and 10,000 with
``--full``, shipped mode only); worker drain throughput with 1/2/4 worker processes (jobs
queued with the workers stopped, then drained) with the workers' CPU time per job; SQS
requests (``smartpapers_sqs_requests_total``) and MongoDB round trips
(``smartpapers_mongo_commands_total``) per submission over a drain, where no client polls;
peak RSS (``VmHWM``) of the API and of a worker.

Known limit of the local stack: FerretDB v1 on SQLite serialises writes and scans the
collection for every filter but a bare ``{_id}`` (``smartpapers-loadtest dbprobe``), so drain
throughput here measures the database emulator, not the worker's code; every scenario
therefore gets a fresh stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (``/proc/<pid>/stat``), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counter_by_label(text: str, metric: str, label: str) -> dict[str, float]:
    """A counter's ``_total`` samples summed by one label."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in (metric, f"{metric}_total"):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = sample.labels.get(label, "?")
                    out[key] = out.get(key, 0.0) + sample.value
    return out


def sqs_requests(text: str) -> dict[str, float]:
    """``smartpapers_sqs_requests_total`` by operation."""
    return counter_by_label(text, "smartpapers_sqs_requests", "operation")


def mongo_commands(text: str) -> dict[str, float]:
    """``smartpapers_mongo_commands_total`` by command."""
    return counter_by_label(text, "smartpapers_mongo_commands", "command")


#: monitoring, not the submission path (the API's queue-depth gauges poll it every second here)
NOT_PER_SUBMISSION = {"GetQueueAttributes"}
#: connection checks and start-up, not the submission path
NOT_PER_SUBMISSION_MONGO = {"ping", "createIndexes", "endSessions"}

MODES: dict[str, dict[str, str]] = {
    "smartpapers": {},
    "naive": {
        "SMARTPAPERS_SQS_BATCHING": "false",
        "SMARTPAPERS_SEND_LINGER_SECONDS": "0",
        "SMARTPAPERS_WORKER_WRITE_BATCH_SIZE": "1",
        "SMARTPAPERS_API_INSERT_BATCH_SIZE": "1",
    },
}


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
        if self.workers:
            # ElasticMQ keeps serving a long poll whose worker has exited until its wait time
            # ends, and the messages it hands out stay invisible for a visibility timeout:
            # let those polls expire before anything is queued
            time.sleep(int(self.env.get("SMARTPAPERS_SQS_WAIT_TIME_SECONDS", "20")) + 1)
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

    def counters(self) -> tuple[dict[str, float], dict[str, float]]:
        """SQS requests by operation and MongoDB commands by name, summed over every
        process of the stack (workers that were stopped took their counts with them: take
        deltas within one worker set)."""
        sqs: dict[str, float] = {}
        mongo: dict[str, float] = {}
        for url in self.metrics_urls():
            text = httpx.get(url, timeout=5).text
            for into, counts in ((sqs, sqs_requests(text)), (mongo, mongo_commands(text))):
                for key, n in counts.items():
                    into[key] = into.get(key, 0.0) + n
        return sqs, mongo

    def worker_finished(self) -> float:
        """Jobs the current workers brought to completed or failed."""
        total = 0.0
        for _, port in self.workers:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            outcomes = counter_by_label(text, "smartpapers_jobs_processed", "outcome")
            total += outcomes.get("completed", 0.0) + outcomes.get("failed", 0.0)
        return total

    def worker_cpu_seconds(self) -> float:
        return sum(cpu_seconds(proc.popen.pid) or 0.0 for proc, _ in self.workers)

    def server_cpu_seconds(self) -> dict[str, float]:
        return {p.name: cpu_seconds(p.popen.pid) or 0.0 for p in self.servers}

    def final_jobs(self) -> int:
        client: MongoClient[dict[str, Any]] = MongoClient(self.mongo_uri)
        try:
            return client["smartpapers"]["submission_jobs"].count_documents(
                {"status": {"$in": ["completed", "failed"]}}
            )
        finally:
            client.close()

    def rss(self) -> dict[str, float]:
        """Peak RSS so far of the API and of the largest current worker, in MiB."""
        out: dict[str, float] = {}
        if self.api is not None and (api := rss_peak_mib(self.api.popen.pid)) is not None:
            out["api"] = api
        workers = [rss_peak_mib(proc.popen.pid) for proc, _ in self.workers]
        if seen := [w for w in workers if w is not None]:
            out["worker"] = max(seen)
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


Figures = dict[str, float]


class BenchFailure(RuntimeError):
    """A scenario lost, rejected, duplicated or mis-graded a submission."""


def _check(scenario: str, s: Summary, problems: list[str]) -> None:
    problems.extend(f"{scenario}: {p}" for p in s.problems())


def wait_final(stack: LocalStack, count: float, *, timeout: float = 900) -> float:
    """Wait until the current workers have finished ``count`` jobs (their
    ``smartpapers_jobs_processed_total``: scraping costs the database nothing, whereas a
    status query is a full collection scan on FerretDB v1); the seconds it took."""
    start = time.monotonic()
    while (done := stack.worker_finished()) < count:
        if time.monotonic() - start > timeout:
            raise BenchFailure(f"only {done:.0f} of {count:.0f} jobs finished after {timeout}s")
        # not faster: rendering /metrics costs the worker ~2 ms of CPU (py-spy)
        time.sleep(0.5)
    return time.monotonic() - start


def measure_latency(
    stack: LocalStack, concurrency: int, total: int, problems: list[str]
) -> Figures:
    """Accept latency at a fixed number of clients in flight (closed loop)."""
    base = stack.worker_finished()
    _, s = load(stack, total=total, concurrency=concurrency, wait=False, metrics_url=None)
    _check(f"latency c={concurrency}", s, problems)
    wait_final(stack, base + s.accepted)  # drained before the next scenario
    lat = s.accept_latency_seconds
    return {
        f"latency_c{concurrency}_p50_ms": (lat.p50 or 0) * 1000,
        f"latency_c{concurrency}_p95_ms": (lat.p95 or 0) * 1000,
        f"latency_c{concurrency}_p99_ms": (lat.p99 or 0) * 1000,
    }


def measure_burst(stack: LocalStack, total: int, problems: list[str]) -> Figures:
    """``total`` submissions at once without client polling (thousands of clients polling
    would measure FerretDB's read path): completions from the workers' metrics, then every
    accepted job checked final in MongoDB. Scores are verified by the test suites and by
    ``make loadtest``, whose clients poll."""
    started = time.monotonic()
    _, s = load(stack, total=total, burst=True, wait=False, metrics_url=None)
    _check(f"burst {total}", s, problems)
    wait_final(stack, s.accepted, timeout=3600)
    complete_all = time.monotonic() - started
    final = stack.final_jobs()
    lost = max(s.accepted - final, 0)
    if lost:
        problems.append(f"burst {total}: {lost} accepted jobs not final")
    return {
        f"burst{total}_accepted_per_s": s.accepted_per_second or 0.0,
        f"burst{total}_accept_all_s": s.time_to_accept_all_seconds or 0.0,
        f"burst{total}_complete_all_s": complete_all,
        f"burst{total}_p99_ms": (s.accept_latency_seconds.p99 or 0) * 1000,
        f"burst{total}_bad": float(s.unexpected_rejects + lost + s.duplicated_job_ids),
    }


def _delta(after: dict[str, float], before: dict[str, float], skip: set[str]) -> float:
    return sum(n - before.get(k, 0.0) for k, n in after.items() if k not in skip)


def measure_drain(stack: LocalStack, workers: int, jobs: int, problems: list[str]) -> Figures:
    """Queue ``jobs`` with no worker running, then time ``workers`` processes draining them.
    Also the SQS requests and MongoDB round trips per submission of the whole path (API
    accept + worker), since no client polls here."""
    stack.set_workers(0)
    base = stack.final_jobs()
    sqs0, mongo0 = stack.counters()
    _, s = load(stack, total=jobs, concurrency=50, wait=False, metrics_url=None)
    _check(f"drain {workers}w", s, problems)
    sqs1, mongo1 = stack.counters()  # the API's share
    stack.set_workers(workers)
    sqs2, mongo2 = stack.counters()  # the workers' start-up
    cpu0, servers0 = stack.worker_cpu_seconds(), stack.server_cpu_seconds()
    start = time.monotonic()
    wait_final(stack, s.accepted)  # fresh workers count from 0
    elapsed = max(time.monotonic() - start, 1e-9)
    cpu1, servers1 = stack.worker_cpu_seconds(), stack.server_cpu_seconds()
    time.sleep(1.5)  # the last DeleteMessageBatch
    sqs3, mongo3 = stack.counters()
    if (final := stack.final_jobs() - base) < s.accepted:
        problems.append(f"drain {workers}w: {s.accepted - final} accepted jobs not final")
    n = max(s.accepted, 1)
    sqs_api = _delta(sqs1, sqs0, NOT_PER_SUBMISSION)
    sqs_workers = _delta(sqs3, sqs2, NOT_PER_SUBMISSION)
    sqs = sqs_api + sqs_workers
    mongo = _delta(mongo1, mongo0, NOT_PER_SUBMISSION_MONGO) + _delta(
        mongo3, mongo2, NOT_PER_SUBMISSION_MONGO
    )
    worker_cpu_ms = (cpu1 - cpu0) / n * 1000
    out = {
        f"drain_w{workers}_jobs_per_min_per_worker": s.accepted / elapsed * 60 / workers,
        f"drain_w{workers}_worker_cpu_ms_per_job": worker_cpu_ms,
        f"drain_w{workers}_sqs_per_submission": sqs / n,
        f"drain_w{workers}_sqs_api_per_submission": sqs_api / n,
        f"drain_w{workers}_sqs_worker_per_submission": sqs_workers / n,
        f"drain_w{workers}_mongo_per_submission": mongo / n,
    }
    for name, busy in servers1.items():
        out[f"drain_w{workers}_{name}_cores_busy"] = (busy - servers0.get(name, 0.0)) / elapsed
    return out


def run_mode(
    mode: str, *, bursts: list[int], worker_counts: list[int], drain_jobs: int, quick: bool
) -> tuple[Figures, list[str]]:
    """Every scenario on a fresh stack: FerretDB v1's writes slow down as the jobs
    collection grows (``dbprobe``), so a scenario must not inherit the previous one's jobs."""
    problems: list[str] = []
    figures: Figures = {}
    rss: Figures = {}

    def keep_rss(stack: LocalStack) -> None:
        for name, mib in stack.rss().items():
            rss[name] = max(rss.get(name, 0.0), mib)

    env = MODES[mode]
    with local_stack(workers=1, extra_env=env) as stack:
        for c, total in ((1, 20), (50, 100)) if quick else ((1, 50), (50, 100), (200, 200)):
            figures |= measure_latency(stack, c, total, problems)
        keep_rss(stack)
    for total in bursts:
        with local_stack(workers=1, extra_env=env) as stack:
            # without client polling: 1,000 clients polling every 5 s cost FerretDB more than
            # the grading (a 479 s drain instead of ~60 s); the load test polls (make loadtest)
            figures |= measure_burst(stack, total, problems)
            keep_rss(stack)
    for n in worker_counts:
        with local_stack(workers=n, extra_env=env) as stack:
            figures |= measure_drain(stack, n, drain_jobs, problems)
            keep_rss(stack)
    figures["rss_api_mib"] = rss.get("api", 0.0)
    figures["rss_worker_mib"] = rss.get("worker", 0.0)
    return figures, problems


def medians(runs: list[Figures]) -> Figures:
    keys = sorted({k for run in runs for k in run})
    return {k: statistics.median(run[k] for run in runs if k in run) for k in keys}


@dataclass(frozen=True)
class Spec:
    key: str
    label: str
    unit: str
    #: "high": more is better; "low": less is better
    better: str
    original: str = ""
    target: float | None = None


def specs(bursts: list[int], worker_counts: list[int], quick: bool) -> list[Spec]:
    out = [
        Spec(
            f"latency_c{c}_{q}_ms",
            f"accept latency {q}, {c} client(s)",
            "ms",
            "low",
            "20–50 ms" if q == "p50" else "",
        )
        for c in ((1, 50) if quick else (1, 50, 200))
        for q in ("p50", "p99")
    ]
    for b in bursts:
        out += [
            Spec(f"burst{b}_bad", f"burst {b}: rejected + lost + duplicated", "", "low", "", 0),
            Spec(f"burst{b}_accepted_per_s", f"burst {b}: accepted/s", "/s", "high"),
            Spec(f"burst{b}_accept_all_s", f"burst {b}: time to accept all", "s", "low"),
            Spec(f"burst{b}_complete_all_s", f"burst {b}: time to complete all", "s", "low"),
        ]
    for n in worker_counts:
        out += [
            Spec(
                f"drain_w{n}_jobs_per_min_per_worker",
                f"{n} worker(s): jobs/min per worker",
                "/min",
                "high",
                "~100/min",
                20_000,
            ),
            Spec(
                f"drain_w{n}_worker_cpu_ms_per_job",
                f"{n} worker(s): worker CPU per job",
                "ms",
                "low",
            ),
            Spec(f"drain_w{n}_ferretdb_cores_busy", f"{n} worker(s): FerretDB cores busy", "", ""),
        ]
    first = worker_counts[0]
    out += [
        Spec(
            f"drain_w{first}_sqs_per_submission",
            "SQS requests per submission",
            "",
            "low",
            "~3",
            0.5,
        ),
        Spec(f"drain_w{first}_sqs_api_per_submission", "… of which API (send)", "", "low"),
        Spec(
            f"drain_w{first}_sqs_worker_per_submission",
            "… of which workers (receive, delete, idle polls)",
            "",
            "low",
        ),
        Spec(
            f"drain_w{first}_mongo_per_submission", "MongoDB round trips per submission", "", "low"
        ),
        Spec("rss_api_mib", "peak RSS, API", "MiB", "low", "", 200),
        Spec("rss_worker_mib", "peak RSS, one worker", "MiB", "low", "", 200),
    ]
    if 10_000 in bursts:
        out += [
            Spec("rss_api_10k_mib", "peak RSS, API, 10,000 burst", "MiB", "low", "", 200),
            Spec("rss_worker_10k_mib", "peak RSS, a worker, 10,000 burst", "MiB", "low", "", 200),
        ]
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}{' ' + unit if unit else ''}"


def meets(spec: Spec, value: float | None) -> bool | None:
    if spec.target is None or value is None:
        return None
    return value >= spec.target if spec.better == "high" else value <= spec.target


def ratio(spec: Spec, ours: float | None, naive: float | None) -> str:
    """How many times better than the naive baseline (>1 = better)."""
    if not ours or not naive or spec.better not in ("high", "low"):
        return "-"
    return f"×{(ours / naive if spec.better == 'high' else naive / ours):.2f}"


def table(rows: list[Spec], ours: Figures, naive: Figures, repeat: int) -> str:
    lines = [
        f"| figure | smartpapers (median of {repeat}) | naive baseline | better by "
        "| original system | target |",
        "|---|---|---|---|---|---|",
    ]
    for spec in rows:
        value = ours.get(spec.key)
        verdict = {None: "", True: " ✓", False: " ✗"}[meets(spec, value)]
        target = "" if spec.target is None else f"{_fmt(spec.target, spec.unit)}{verdict}"
        lines.append(
            f"| {spec.label} | {_fmt(value, spec.unit)} | {_fmt(naive.get(spec.key), spec.unit)}"
            f" | {ratio(spec, value, naive.get(spec.key))} | {spec.original} | {target} |"
        )
    return "\n".join(lines)


def render(doc: dict[str, Any]) -> str:
    """The table of a result document, also of a partial one (the runs done so far)."""
    runs: dict[str, list[Figures]] = doc.get("runs", {})
    ours, naive = medians(runs.get("smartpapers", [])), medians(runs.get("naive", []))
    quick = bool(doc.get("quick", False))
    bursts = sorted({int(k[5:].split("_")[0]) for k in ours if k.startswith("burst")})
    workers = sorted({int(k[7:].split("_")[0]) for k in ours if k.startswith("drain_w")})
    if not workers:
        return "no completed run in this document"
    repeat = min(len(runs.get("smartpapers", [])), len(runs.get("naive", []))) or 1
    return table(specs(bursts, workers, quick), ours, naive, repeat)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartpapers-loadtest bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--full", action="store_true", help="also a 10,000 burst (shipped mode)")
    p.add_argument("--repeat", type=int, default=3, help="runs per mode (medians reported)")
    p.add_argument("--workers", default="1,2,4", help="worker counts for the drain scenario")
    p.add_argument("--drain-jobs", type=int, default=None, help="jobs per drain scenario")
    p.add_argument("--json-out", type=Path, default=Path("bench.json"))
    p.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="print the table of an earlier (or interrupted) run's JSON and exit",
    )
    args = p.parse_args(argv)
    if args.render is not None:
        sys.stdout.write(render(json.loads(args.render.read_text())) + "\n")
        return 0
    # SIGTERM (timeout, CI, kill) unwinds like Ctrl-C, so every stack's processes are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    quick = args.quick
    bursts = [100] if quick else [1_000]
    drain_jobs = args.drain_jobs or (60 if quick else 200)
    worker_counts = [int(n) for n in args.workers.split(",") if n]
    runs: dict[str, list[Figures]] = {mode: [] for mode in MODES}
    problems: list[str] = []
    started = time.time()
    try:
        big: Figures = {}
        if args.full:  # first, so that an interrupted run still has it (partial JSON)
            sys.stderr.write("bench: 10,000 burst (smartpapers mode, 4 workers)\n")
            found: list[str] = []
            with local_stack(workers=4) as stack:
                big = measure_burst(stack, 10_000, found)
                rss = stack.rss()
                big |= {"rss_api_10k_mib": rss.get("api", 0.0)}
                big |= {"rss_worker_10k_mib": rss.get("worker", 0.0)}
            problems += found
            bursts.append(10_000)
            args.json_out.write_text(json.dumps({"partial": True, "big": big}) + "\n")
        for i in range(args.repeat):
            for mode in MODES:
                sys.stderr.write(f"bench: run {i + 1}/{args.repeat}, mode {mode}\n")
                figures, found = run_mode(
                    mode,
                    bursts=[b for b in bursts if b < 10_000],
                    worker_counts=worker_counts,
                    drain_jobs=drain_jobs,
                    quick=quick,
                )
                if mode == "smartpapers":
                    figures |= big
                runs[mode].append(figures)
                problems += [f"{mode} run {i + 1}: {p}" for p in found]
                # partial results survive an interrupted run
                args.json_out.write_text(json.dumps({"partial": True, "runs": runs}) + "\n")
    except (ServerStartError, BenchFailure) as e:
        sys.stderr.write(f"bench: {e}\n")
        return 2
    ours, naive = medians(runs["smartpapers"]), medians(runs["naive"])
    rows = specs(bursts, worker_counts, quick)
    text = table(rows, ours, naive, args.repeat)
    sys.stdout.write(text + "\n")
    sys.stdout.write(
        "\nLocal-stack limit: FerretDB v1 on SQLite serialises writes, so the drain rows "
        "measure the database emulator (see 'FerretDB cores busy'); the worker's own cost is "
        "'worker CPU per job' (one core ÷ that = the per-process ceiling on a real MongoDB).\n"
    )
    for problem in problems:
        sys.stdout.write(f"PROBLEM: {problem}\n")
    doc = {
        "startedAt": started,
        "durationSeconds": time.time() - started,
        "quick": quick,
        "repeat": args.repeat,
        "modes": MODES,
        "runs": runs,
        "medians": {"smartpapers": ours, "naive": naive},
        "problems": problems,
        "markdown": text,
    }
    args.json_out.write_text(json.dumps(doc, indent=1) + "\n")
    sys.stdout.write(f"wrote {args.json_out}\n")
    return 1 if problems else 0
