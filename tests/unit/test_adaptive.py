"""The worker's adaptive in-flight limit (AIMD on database latency)."""

from __future__ import annotations

import pytest

from smartpapers.worker.adaptive import AdaptiveLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_fast_samples_grow_the_limit_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(maximum=50, minimum=10, initial=10)
    for _ in range(100):
        limit.record(0.005)
    assert limit.limit == 50


def test_slow_samples_shrink_it_once_per_cooldown_down_to_the_minimum() -> None:
    clock = Clock()
    limit = AdaptiveLimit(maximum=100, minimum=10, cooldown=1.0, clock=clock)
    for _ in range(20):
        limit.record(0.01)  # the baseline: 10 ms
    assert limit.limit == 100
    limit.record(0.5)  # the database is queueing our work
    assert limit.limit == 75
    limit.record(0.5)  # within the cooldown: one slow burst counts once
    assert limit.limit == 75
    for _ in range(20):
        clock.now += 1.1
        limit.record(0.5)
    assert limit.limit == 10


def test_a_failed_round_trip_halves_it_and_fast_ones_recover() -> None:
    clock = Clock()
    limit = AdaptiveLimit(maximum=40, minimum=10, clock=clock)
    limit.record(0.01)
    limit.failed()
    assert limit.limit == 20
    for _ in range(25):
        limit.record(0.012)  # within tolerance of the baseline
    assert limit.limit == 40


def test_the_baseline_follows_a_database_that_got_slower_for_good() -> None:
    """The baseline is the minimum of a window: once every recent sample is slower, the new
    latency is the norm, and the limit grows again instead of starving the worker."""
    clock = Clock()
    limit = AdaptiveLimit(maximum=50, minimum=10, window=10, clock=clock)
    for _ in range(10):
        limit.record(0.01)
    for _ in range(60):
        clock.now += 2
        limit.record(0.2)  # ten times slower from now on
    assert limit.baseline == pytest.approx(0.2)
    assert limit.limit == 50


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(maximum=5, minimum=10)
    fixed = AdaptiveLimit(maximum=30, minimum=30)  # adaptive off: the limit never moves
    fixed.failed()
    fixed.record(9.0)
    assert fixed.limit == 30
