"""What a load test is told (``LoadConfig``) and what it returns (``RunResult``), the demo
paper's answer key, and the parsing of the API's answers (Retry-After, the queue-depth
gauge)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from smartpapers.loadtest.stats import Record

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


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
