"""smartpapers-loadtest runs against the in-process fake API (loadtest_fake.py): scores
verified, bursts and rates, misbehaviour and failures counted, Retry-After honoured, errors,
the JSON and PNG reports, the bearer token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from smartpapers.loadtest import cli
from smartpapers.loadtest.config import LoadTestError
from smartpapers.loadtest.runner import Runner

from .loadtest_fake import FakeApi, config, run

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


def test_201_answers_are_results_without_polling() -> None:
    api = FakeApi(graded_every=2)  # half graded in the request, half queued
    _, s = run(api)
    assert (s.accepted, s.completed, s.verified_scores, s.wrong_scores) == (40, 40, 40, 0)
    graded = [j for i, j in enumerate(api.jobs, start=1) if i % 2 == 0]
    assert graded and not any(api.polls.get(j) for j in graded)  # never polled
    assert all(api.polls.get(j) for j in api.jobs if j not in graded)


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
