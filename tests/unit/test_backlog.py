"""Retry-After from the backlog: the documented formula, its clamps and 'nothing known'."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import cast

import pytest

from smartpapers.api.backlog import RATE_WINDOW_SECONDS, BacklogEstimator, sample_finished
from smartpapers.common.errors import StorageUnavailableError
from smartpapers.common.repositories import JobRepository


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def estimator(clock: Clock, *, interval: float = 15.0) -> BacklogEstimator:
    return BacklogEstimator(default_seconds=2, interval_seconds=interval, clock=clock)


def test_nothing_known_is_the_default() -> None:
    clock = Clock()
    backlog = estimator(clock)
    assert backlog.retry_after() == 2
    backlog.observe_depth({"visible": 500, "inflight": 0})
    assert backlog.retry_after() == 2  # no rate yet
    backlog.observe_finished(0)
    assert backlog.retry_after() == 2  # nothing finished in the window: unknown, not "never"


@pytest.mark.parametrize(
    ("visible", "inflight", "finished", "expected"),
    [
        (90, 10, 600, 10),  # 1 + 90 / (600 / 60) = 10; in-flight jobs are not ahead
        (0, 0, 600, 1),  # nothing waiting: 1
        (0, 3, 1, 1),  # a quiet system: a low rate says nothing about an empty queue
        (10_000, 0, 600, 15),  # capped at the horizon: one 15 s interval
        (13, 0, 60, 14),  # 1 + ceil(13 / 1)
        (4, 0, 45, 7),  # 1 + ceil(4 / 0.75) = 7
    ],
)
def test_the_formula(visible: int, inflight: int, finished: int, expected: int) -> None:
    clock = Clock()
    backlog = estimator(clock)
    backlog.observe_depth({"visible": visible, "inflight": inflight, "delayed": 7})
    backlog.observe_finished(finished, RATE_WINDOW_SECONDS)
    assert backlog.retry_after() == expected


def test_stale_samples_fall_back_to_the_default() -> None:
    clock = Clock()
    backlog = estimator(clock, interval=10)
    backlog.observe_depth({"visible": 90})
    backlog.observe_finished(600)
    assert backlog.retry_after() == 10
    clock.now += 30  # three intervals: still fresh
    assert backlog.retry_after() == 10
    clock.now += 1
    assert backlog.retry_after() == 2
    backlog.observe_depth({"visible": 90})
    assert backlog.retry_after() == 2  # the rate is still stale
    backlog.observe_finished(1200)
    assert backlog.retry_after() == 6


async def test_the_sampler_survives_an_unavailable_database() -> None:
    class Jobs:
        calls = 0

        async def count_finished_since(self, since: datetime) -> int:
            self.calls += 1
            if self.calls == 1:
                raise StorageUnavailableError("count finished jobs: down")
            return 120

    clock = Clock()
    backlog = estimator(clock)
    backlog.observe_depth({"visible": 8})
    jobs = Jobs()
    task = asyncio.create_task(
        sample_finished(estimator=backlog, jobs=cast(JobRepository, jobs), interval_seconds=0)
    )
    try:
        while jobs.calls < 2:
            await asyncio.sleep(0)
        assert backlog.retry_after() == 5  # 1 + ceil(8 / 2), after the failed first count
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(("interval", "horizon"), [(0.2, 15), (15, 15), (30, 30), (120, 60)])
def test_the_horizon_follows_the_sampling_interval(interval: float, horizon: int) -> None:
    clock = Clock()
    backlog = estimator(clock, interval=interval)
    backlog.observe_depth({"visible": 100_000})
    backlog.observe_finished(60)
    assert backlog.retry_after() == horizon
