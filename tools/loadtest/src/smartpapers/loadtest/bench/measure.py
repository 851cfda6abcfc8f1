"""What the benchmark reads off a running stack: process CPU and peak memory from ``/proc``,
SQS requests, MongoDB round trips and job outcomes from each process's ``/metrics``, final
jobs from the database; and the load it adds (CPU hogs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from smartpapers.devstack.stack import LocalStack

#: monitoring, not the submission path (the API's queue-depth gauges poll it)
NOT_PER_SUBMISSION_SQS = frozenset({"GetQueueAttributes"})
#: connection checks and start-up, not the submission path
NOT_PER_SUBMISSION_MONGO = frozenset({"ping", "createIndexes", "listIndexes", "endSessions"})


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


@dataclass(frozen=True)
class Counts:
    """Counters of one process (or summed over several) at one moment."""

    sqs: dict[str, float]
    mongo: dict[str, float]
    outcomes: dict[str, float]

    @classmethod
    def scrape(cls, urls: list[str]) -> Counts:
        sqs: dict[str, float] = {}
        mongo: dict[str, float] = {}
        outcomes: dict[str, float] = {}
        for url in urls:
            text = httpx.get(url, timeout=10).text
            for into, metric, label in (
                (sqs, "smartpapers_sqs_requests", "operation"),
                (mongo, "smartpapers_mongo_commands", "command"),
                (outcomes, "smartpapers_jobs_processed", "outcome"),
            ):
                for key, n in counter_by_label(text, metric, label).items():
                    into[key] = into.get(key, 0.0) + n
        return cls(sqs, mongo, outcomes)

    def __sub__(self, other: Counts) -> Counts:
        def minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: v - b.get(k, 0.0) for k, v in a.items()}

        return Counts(
            minus(self.sqs, other.sqs),
            minus(self.mongo, other.mongo),
            minus(self.outcomes, other.outcomes),
        )

    @property
    def sqs_requests(self) -> float:
        return sum(n for k, n in self.sqs.items() if k not in NOT_PER_SUBMISSION_SQS)

    @property
    def mongo_round_trips(self) -> float:
        return sum(n for k, n in self.mongo.items() if k not in NOT_PER_SUBMISSION_MONGO)

    @property
    def finished(self) -> float:
        return self.outcomes.get("completed", 0.0) + self.outcomes.get("failed", 0.0)

    @property
    def retried(self) -> float:
        return self.outcomes.get("retried", 0.0)


class Probe:
    """Readings of one :class:`LocalStack`."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def api(self) -> Counts:
        return Counts.scrape([f"{self.stack.api_url}/metrics"])

    def workers(self) -> Counts:
        return Counts.scrape([f"http://127.0.0.1:{port}/metrics" for _, port in self.stack.workers])

    def worker_cpu(self) -> float:
        return sum(cpu_seconds(p.popen.pid) or 0.0 for p, _ in self.stack.workers)

    def server_cpu(self) -> dict[str, float]:
        return {n: cpu_seconds(p.popen.pid) or 0.0 for n, p in self.stack.servers.items()}

    def rss(self) -> dict[str, float]:
        """Peak RSS so far of the API and of the largest worker, in MiB."""
        out: dict[str, float] = {}
        if self.stack.api is not None and (api := rss_peak_mib(self.stack.api.popen.pid)):
            out["api"] = api
        if seen := [m for p, _ in self.stack.workers if (m := rss_peak_mib(p.popen.pid))]:
            out["worker"] = max(seen)
        return out

    def final_jobs(self) -> int:
        client: MongoClient[dict[str, Any]] = MongoClient(self.stack.database_uri)
        try:
            return client[self.stack.db_name]["submission_jobs"].count_documents(
                {"status": {"$in": ["completed", "failed"]}}
            )
        finally:
            client.close()

    def duplicates(self) -> int:
        """Jobs with more than one submission (must stay 0)."""
        client: MongoClient[dict[str, Any]] = MongoClient(self.stack.database_uri)
        try:
            groups = client[self.stack.db_name]["submissions"].aggregate(
                [{"$group": {"_id": "$jobId", "n": {"$sum": 1}}}, {"$match": {"n": {"$gt": 1}}}]
            )
            return sum(int(g["n"]) - 1 for g in groups)
        finally:
            client.close()

    def wait_finished(self, count: float, *, since: Counts, timeout: float) -> float:
        """Wait until the current workers have finished ``count`` jobs more than at
        ``since`` (their metrics: scraping costs the database nothing); the seconds taken."""
        start = time.monotonic()
        while (done := (self.workers() - since).finished) < count:
            if time.monotonic() - start > timeout:
                raise BenchFailure(f"only {done:.0f} of {count:.0f} jobs finished in {timeout}s")
            time.sleep(0.5)
        return time.monotonic() - start


class BenchFailure(RuntimeError):
    """A scenario lost, rejected, duplicated or mis-graded a submission, or timed out."""


HOG = "while True: pass"


@contextmanager
def cpu_hogs(n: int) -> Iterator[None]:
    """``n`` busy-loop processes competing for the cores while the block runs."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(n)]
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait()
