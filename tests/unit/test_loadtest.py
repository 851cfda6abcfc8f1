"""smartpapers-loadtest against an in-process fake API (an aiohttp server on 127.0.0.1):
statistics, the loopback guard, the verdict and exit codes, the JSON and PNG reports."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from smartpapers.loadtest import cli
from smartpapers.loadtest.config import (
    LoadConfig,
    LoadTestError,
    build_answers,
    demo_key,
    parse_queue_depth,
    retry_after,
)
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import Record, format_summary, percentile, summarize

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


# ---------------------------------------------------------------------------- stats


def test_percentile_interpolates_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    assert percentile([7.0], 99) == 7
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_counts_every_outcome() -> None:
    def rec(i: int, **kw: Any) -> Record:
        return Record(index=i, student_id="s", sent_at=0.0, **kw)

    records = [
        rec(
            0,
            answered_at=0.01,
            status_code=202,
            job_id="a",
            final_status="completed",
            finished_at=1.0,
            expected_score=3,
            score=3,
            total=20,
        ),
        rec(
            1,
            answered_at=0.02,
            status_code=202,
            job_id="b",
            final_status="completed",
            finished_at=2.0,
            expected_score=3,
            score=2,
            total=20,
        ),
        rec(
            2, answered_at=0.03, status_code=202, job_id="b", final_status="failed", finished_at=1.5
        ),
        rec(3, answered_at=0.04, status_code=202, job_id="c", final_status="queued"),
        rec(4, answered_at=0.05, status_code=503),
        rec(5, answered_at=0.05, transport_error="ConnectError"),
        Record(index=6, student_id="s"),  # never sent
    ]
    s = summarize(records, waited=True, paper_total=20)
    assert (s.total, s.sent, s.accepted, s.completed, s.failed, s.lost) == (7, 6, 4, 2, 1, 1)
    assert s.rejected == {"503": 1, "ConnectError": 1}
    assert s.duplicated_job_ids == 1
    assert (s.wrong_scores, s.verified_scores) == (1, 2)
    assert s.time_to_accept_all_seconds == pytest.approx(0.04)
    assert s.time_to_complete_all_seconds is None  # one job never finished
    assert s.accepted_per_second == pytest.approx(100)
    assert s.completed_per_second == pytest.approx(1.0)
    assert s.accept_latency_seconds.max == pytest.approx(0.04)
    assert s.accept_latency_seconds.p50 == pytest.approx(0.025)
    assert len(s.problems()) == 5 and s.exit_code == 1


def test_a_wrong_total_is_a_wrong_score_even_without_a_known_key() -> None:
    r = Record(
        index=0,
        student_id="s",
        sent_at=0,
        answered_at=0.1,
        status_code=202,
        job_id="a",
        final_status="completed",
        finished_at=1,
        score=1,
        total=19,
    )
    assert summarize([r], waited=True, paper_total=20).wrong_scores == 1
    assert summarize([r], waited=True, paper_total=19).wrong_scores == 0


def test_allowed_rejects_do_not_fail_the_run() -> None:
    r = Record(index=0, student_id="s", sent_at=0, answered_at=0.1, status_code=429)
    assert summarize([r], waited=True).exit_code == 1
    assert summarize([r], waited=True, allowed_rejects=[429]).exit_code == 0


def test_not_waiting_means_nothing_is_lost() -> None:
    r = Record(
        index=0,
        student_id="s",
        sent_at=0,
        answered_at=0.1,
        status_code=202,
        job_id="a",
        final_status="queued",
    )
    s = summarize([r], waited=False)
    assert s.lost == 0 and s.exit_code == 0
    assert "not waited" in format_summary(s)


# ---------------------------------------------------------------------------- answers, parsing


def test_demo_key_and_expected_scores() -> None:
    assert [demo_key(f"q{i}") for i in range(1, 7)] == ["A", "B", "C", "D", "A", "B"]
    assert demo_key("x1") is None and demo_key("q0") is None
    paper = FakeApi().paper()
    answers, expected = build_answers(paper, random.Random(3))
    assert [a["questionId"] for a in answers] == [f"q{i}" for i in range(1, 21)]
    assert expected == sum(a["answer"] == demo_key(a["questionId"]) for a in answers)
    other = {**paper, "paperId": "another"}
    assert build_answers(other, random.Random(3))[1] is None


def test_retry_after_and_queue_depth_parsing() -> None:
    assert retry_after({"Retry-After": "2"}) == 2
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015"}) is None
    assert retry_after({}) is None
    text = (
        'smartpapers_sqs_queue_messages{queue="main",state="visible"} 12.0\n'
        'smartpapers_sqs_queue_messages{queue="main",state="inflight"} 4.0\n'
        'smartpapers_sqs_queue_messages{queue="dlq",state="visible"} 1.0\n'
    )
    assert parse_queue_depth(text) == {"visible": 12, "inflight": 4}
    assert parse_queue_depth("other_metric 1\n") is None


# ---------------------------------------------------------------------------- loopback guard


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://127.9.9.9",
        "https://api.localhost",
    ],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert cli.is_loopback(url)
    cli.check_target(url, allow_remote=False)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8000", "https://api.example.com", "http://0.0.0.0:8000"]
)
def test_remote_targets_need_allow_remote(url: str) -> None:
    with pytest.raises(cli.RemoteRefused, match="not a loopback address.*--allow-remote"):
        cli.check_target(url, allow_remote=False)
    cli.check_target(url, allow_remote=True)


def test_cli_refuses_a_remote_host_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--url", "https://exam.example.edu", "--total", "1"]) == cli.EXIT_USAGE
    assert "--allow-remote" in capsys.readouterr().err
    code = cli.main(["--metrics-url", "http://10.1.1.1/metrics", "--total", "1"])
    assert code == cli.EXIT_USAGE
    with pytest.raises(cli.RemoteRefused, match="not an http"):
        cli.check_target("ftp://127.0.0.1", allow_remote=True)


def test_cli_options_map_to_the_config() -> None:
    args = cli.build_parser().parse_args(["--burst", "--total", "500", "--no-wait"])
    c = cli.config_from_args(args)
    assert (c.burst, c.concurrency, c.total, c.wait) == (True, 500, 500, False)
    c = cli.config_from_args(cli.build_parser().parse_args(["--rate", "20"]))
    assert (c.rate, c.concurrency, c.url) == (20, 100, "http://127.0.0.1:8000")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--rate", "5", "--burst"])


# ---------------------------------------------------------------------------- runs on the fake API


def test_a_clean_run_passes_and_verifies_every_score() -> None:
    api = FakeApi()
    result, s = run(api, metrics_path="/metrics", metrics_interval=0.01)
    assert (s.accepted, s.completed, s.lost, s.wrong_scores, s.verified_scores) == (
        40,
        40,
        0,
        0,
        40,
    )
    assert s.exit_code == 0 and s.rejected == {}
    assert len(api.idempotency_keys) == 40
    assert s.time_to_complete_all_seconds is not None
    assert result.queue_depth and result.queue_depth[0].inflight == 3


def test_a_burst_and_a_rate_both_send_everything() -> None:
    _, s = run(FakeApi(), total=30, burst=True)
    assert s.completed == 30 and s.exit_code == 0
    _, s = run(FakeApi(), total=10, rate=200.0)
    assert s.completed == 10 and s.exit_code == 0
    assert s.time_to_accept_all_seconds is not None and s.time_to_accept_all_seconds >= 9 / 200


def test_misbehaviour_is_counted_and_fails_the_run() -> None:
    api = FakeApi(reject_every=10, duplicate_every=7, wrong_every=5, never_finish_every=13)
    _, s = run(api)
    assert s.rejected == {"503": 4}
    assert s.duplicated_job_ids > 0
    assert s.wrong_scores > 0
    assert s.lost > 0
    assert s.exit_code == 1


def test_failed_jobs_fail_the_run() -> None:
    _, s = run(FakeApi(fail_every=4), total=8)
    assert s.failed == 2 and s.exit_code == 1


def test_retry_after_delays_the_first_poll() -> None:
    api = FakeApi(retry_after="0.2", polls_to_finish=1)
    result, s = run(api, total=3, timeout=2.0)
    assert s.completed == 3
    assert all(r.finished_at - r.answered_at >= 0.19 for r in result.records)


def test_unknown_paper_and_unreachable_api_are_errors() -> None:
    with pytest.raises(LoadTestError, match="does not exist"):
        run(FakeApi(), paper="nope")

    with pytest.raises(LoadTestError, match="cannot reach"):
        run(FakeApi(down=True))
    with pytest.raises(LoadTestError, match="cannot reach"):  # nothing listens on port 9
        asyncio.run(Runner(config()).run())


def test_unreachable_metrics_do_not_fail_the_run() -> None:
    result, s = run(FakeApi(), total=5, metrics_path="/nothing-here")
    assert s.exit_code == 0 and not result.queue_depth
    assert result.queue_depth_error is not None


def test_reports_are_written(tmp_path: Path) -> None:
    api = FakeApi(reject_every=9)
    result, _ = run(api, metrics_path="/metrics", metrics_interval=0.01, bearer_token="secret")
    summary = cli.finish(
        result, allowed_rejects=[], json_out=tmp_path / "r.json", png_out=tmp_path / "r.png"
    )
    png = (tmp_path / "r.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["summary"]["accepted"] == summary.accepted == 36
    assert doc["summary"]["rejected"] == {"503": 4} and doc["summary"]["passed"] is False
    assert len(doc["records"]) == 40 and doc["queueDepth"]
    assert doc["config"]["bearer_token"] == "***"
    # no samples, no accepted submission: still a readable PNG
    empty, _ = run(FakeApi(reject_every=1), total=2)
    cli.finish(empty, allowed_rejects=[503], json_out=None, png_out=tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 5_000


def test_bearer_token_is_sent() -> None:
    api = FakeApi()
    run(api, total=2, bearer_token="t0k")
    assert api.seen_auth and set(api.seen_auth) == {"Bearer t0k"}


def test_bench_parses_counters_and_renders_a_table_with_ratios() -> None:
    import os

    from smartpapers.loadtest.bench import measure, render

    text = (
        'smartpapers_sqs_requests_total{operation="SendMessageBatch"} 4.0\n'
        'smartpapers_sqs_requests_total{operation="ReceiveMessage"} 6.0\n'
        'smartpapers_mongo_commands_total{command="insert"} 9.0\n'
    )
    by_op = measure.counter_by_label(text, "smartpapers_sqs_requests", "operation")
    assert by_op == {"SendMessageBatch": 4, "ReceiveMessage": 6}
    assert measure.counter_by_label(text, "smartpapers_mongo_commands", "command") == {"insert": 9}
    cpu = measure.cpu_seconds(os.getpid())
    assert cpu is not None and cpu > 0
    counts = measure.Counts({"GetQueueAttributes": 5, "ReceiveMessage": 2}, {"ping": 1}, {})
    assert counts.sqs_requests == 2 and counts.mongo_round_trips == 0  # monitoring excluded
    assert render.medians([{"a": 1.0}, {"a": 5.0}, {"a": 2.0, "b": 7.0}]) == {"a": 2.0, "b": 7.0}

    rows = [
        render.Spec("thr", "jobs/min per worker", "/min", "high", "~100/min", 20_000),
        render.Spec("sqs", "SQS requests per submission", "", "low", "~3", 0.5),
        render.Spec("busy", "database cores busy", "", ""),
    ]
    text = render.table({"thr": 600.0, "sqs": 0.25, "busy": 0.9}, {"thr": 300.0}, 3, rows)
    lines = text.splitlines()
    assert lines[0].startswith("| figure | smartpapers (median of 3) | naive baseline |")
    assert (
        "| jobs/min per worker | 600 /min | 300 /min | ×2.00 | ~100/min | 20,000 /min ✗ |" in lines
    )
    assert "| SQS requests per submission | 0.25 | - | - | ~3 | 0.50 ✓ |" in lines
    assert render.ratio(rows[1], 0.25, 1.0) == "×4.00"  # lower is better: naive ÷ ours
    assert render.meets(rows[0], 25_000.0) is True and render.meets(rows[2], 1.0) is None


def test_bench_renders_a_partial_result_document() -> None:
    from smartpapers.loadtest.bench import render

    run = {
        "latency_c1_p50_ms": 40.0,
        "burst10000_w2_bad": 0.0,
        "burst10000_w2_sqs_per_sub": 0.3,
        "burst1000_w2_hogs2_bad": 0.0,
        "drain_jobs_per_min": 600.0,
    }
    naive = {**run, "burst10000_w2_sqs_per_sub": 3.0}
    doc = {"partial": True, "runs": {"smartpapers": [run, run], "naive": [naive]}}
    text = render.render(doc)
    assert "median of 2" in text
    assert (
        "| burst 10,000, 2 workers: SQS requests per submission | 0.30 | 3.00 | ×10.00 | ~3 "
        "| 0.50 ✓ |" in text
    )
    assert "burst 1,000, 2 workers + 2 CPU hogs: rejected" in text
    assert "one worker process: jobs/min" in text
    assert render.render({"partial": True, "runs": {}}) == "no completed run in this document"


def test_dbprobe_table_lists_every_operation_per_size() -> None:
    from smartpapers.loadtest import dbprobe

    rows = [(1000, name, 1.5) for name in dbprobe.OPERATIONS] + [
        (10000, name, 700.0) for name in dbprobe.OPERATIONS
    ]
    text = dbprobe.table(rows).splitlines()
    assert text[0] == "| operation (median) | 1,000 jobs | 10,000 jobs |"
    assert len(text) == 2 + len(dbprobe.OPERATIONS)
    assert "| status read: find {_id} | 1.5 ms | 700.0 ms |" in text
