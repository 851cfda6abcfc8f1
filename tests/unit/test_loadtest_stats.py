"""smartpapers-loadtest statistics (percentiles, the summary of every outcome, the verdict) and
the answer and response parsing helpers (demo key, Retry-After, queue depth)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from smartpapers.loadtest.config import build_answers, demo_key, parse_queue_depth, retry_after
from smartpapers.loadtest.stats import Record, format_summary, percentile, summarize

from .loadtest_fake import FakeApi

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
