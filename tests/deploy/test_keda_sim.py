"""KEDA/HPA simulation driven by the RENDERED ScaledObject (deploy/keda/SCALING.md)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import CHART, one, render
from .keda_autoscaler import Hpa, Policy, Rules, ScalerConfig
from .keda_replay import (
    Workload,
    burst_trace,
    simulate,
    single_replica_drain_seconds,
    worker_concurrency,
)

MINIMAL = CHART / "ci" / "minimal-values.yaml"


@pytest.fixture(scope="module")
def rendered() -> tuple[ScalerConfig, Workload]:
    docs = render([MINIMAL])
    cfg = ScalerConfig.from_scaled_object(one(docs, "ScaledObject"))
    wl = Workload(
        throughput_per_replica=333.0,
        concurrency=worker_concurrency(one(docs, "Deployment", "-worker")),
    )
    return cfg, wl


def assert_one_to_twenty_to_one(res: Any) -> None:
    path = [r for _, r in res.transitions()]
    assert path[0] == 1, path
    assert max(path) == 20, path
    assert path[-1] == 1, path
    peak = path.index(20)
    assert all(a <= b for a, b in zip(path[: peak + 1], path[1 : peak + 1], strict=False)), path
    assert all(a >= b for a, b in zip(path[peak:], path[peak + 1 :], strict=False)), path


def test_config_read_from_the_rendered_scaled_object(
    rendered: tuple[ScalerConfig, Workload],
) -> None:
    cfg, wl = rendered
    assert (cfg.min_replicas, cfg.max_replicas, cfg.queue_length) == (1, 20, 50)
    assert cfg.scale_on_in_flight is True
    assert wl.concurrency == 50
    assert cfg.scale_down.stabilization_window_seconds == 120
    assert cfg.fallback_replicas == 5


@pytest.mark.parametrize("sync_offset", range(15))
def test_concurrent_burst_scales_1_20_1(
    rendered: tuple[ScalerConfig, Workload], sync_offset: int
) -> None:
    """10,000 submissions at once (design section 9), whatever the HPA sync phase."""
    cfg, wl = rendered
    res = simulate(cfg, burst_trace(10_000, 60, "concurrent"), wl, sync_offset=sync_offset)
    assert_one_to_twenty_to_one(res)
    assert res.first_peak_at is not None and res.first_peak_at <= 15
    assert res.drain_seconds is not None and res.drain_seconds <= 31
    assert res.back_to_min_at is not None and res.back_to_min_at <= 5 * 60


def test_uniform_burst_at_design_throughput_needs_no_scale_out(
    rendered: tuple[ScalerConfig, Workload],
) -> None:
    """10,000 in 60 s is 167/s: below one worker's 333/s, the queue never builds up."""
    cfg, wl = rendered
    res = simulate(cfg, burst_trace(10_000, 60, "uniform"), wl)
    assert res.peak_replicas <= 2
    assert res.drain_seconds == 60


def test_slow_workers_scale_1_20_1_and_drain_faster(
    rendered: tuple[ScalerConfig, Workload],
) -> None:
    """At 20 jobs/s per replica (e.g. a slow database) KEDA is what keeps up with the burst."""
    cfg, _ = rendered
    slow = Workload(throughput_per_replica=20.0, concurrency=50)
    trace = burst_trace(10_000, 60, "uniform")
    res = simulate(cfg, trace, slow)
    assert_one_to_twenty_to_one(res)
    baseline = single_replica_drain_seconds(trace, slow)
    assert baseline == 500
    assert res.drain_seconds is not None and res.drain_seconds <= 75 < baseline


def test_more_replicas_allowed_means_faster_drain(rendered: tuple[ScalerConfig, Workload]) -> None:
    cfg, _ = rendered
    slow = Workload(throughput_per_replica=5.0, concurrency=50)
    trace = burst_trace(10_000, 60, "concurrent")
    d20 = simulate(cfg, trace, slow, horizon_seconds=3000).drain_seconds
    small = ScalerConfig(**{**cfg.__dict__, "max_replicas": 5})
    d5 = simulate(small, trace, slow, horizon_seconds=3000).drain_seconds
    assert d20 is not None and d5 is not None and d20 < d5


# --------------------------------------------------------------------------- HPA algorithm units


def _cfg(**kw: Any) -> ScalerConfig:
    base: dict[str, Any] = {
        "min_replicas": 1,
        "max_replicas": 20,
        "queue_length": 50,
        "activation_queue_length": 0,
        "scale_on_in_flight": True,
        "polling_interval": 5,
        "cooldown_period": 300,
        "scale_up": Rules(0, "Max", (Policy("Pods", 4, 15), Policy("Percent", 100, 15))),
        "scale_down": Rules(300, "Max", (Policy("Percent", 100, 15),)),
        "fallback_failure_threshold": 3,
        "fallback_replicas": 5,
    }
    base.update(kw)
    return ScalerConfig(**base)


def test_hpa_tolerance_and_ceil() -> None:
    hpa = Hpa(_cfg())
    assert hpa.proposal(current=4, metric=210) == 4  # ratio 1.05: within tolerance
    assert hpa.proposal(current=4, metric=230) == 5  # ratio 1.15: ceil(230/50)
    assert hpa.proposal(current=4, metric=170) == 4  # ratio 0.85 -> ceil(3.4)=4
    assert hpa.proposal(current=4, metric=140) == 3
    assert hpa.proposal(current=1, metric=10_000) == 200


def test_hpa_default_scale_up_policies() -> None:
    hpa = Hpa(_cfg())
    # Pods 4 vs Percent 100 (Max): from 1 -> max(5, 2) = 5, from 5 -> max(9, 10) = 10
    assert hpa.desired(0, 1, 200) == 5
    assert hpa.desired(15, 5, 200) == 10
    assert hpa.desired(30, 10, 200) == 20  # capped by maxReplicas


def test_hpa_scale_up_period_accounting() -> None:
    hpa = Hpa(_cfg(scale_up=Rules(0, "Max", (Policy("Pods", 2, 60),))))
    assert hpa.desired(0, 1, 100) == 3
    assert hpa.desired(15, 3, 100) == 3  # still inside the 60 s period: 2 pods already added
    assert hpa.desired(61, 3, 100) == 5


def test_hpa_scale_down_stabilization_window() -> None:
    hpa = Hpa(_cfg(scale_down=Rules(60, "Max", (Policy("Percent", 50, 30),))))
    assert hpa.desired(0, 10, 10) == 10
    assert hpa.desired(15, 10, 1) == 10  # the 10 recommended at t=0 is still in the window
    assert hpa.desired(61, 10, 1) == 5  # window over; 50 % per 30 s
    assert hpa.desired(76, 5, 1) == 5  # same period
    assert hpa.desired(92, 5, 1) == 2  # int(5 * 0.5)
    assert hpa.desired(123, 2, 1) == 1  # minReplicas


def test_hpa_select_policy_disabled() -> None:
    hpa = Hpa(_cfg(scale_down=Rules(0, "Disabled", (Policy("Percent", 100, 15),))))
    assert hpa.desired(0, 8, 1) == 8


def test_fallback_when_the_scaler_fails(rendered: tuple[ScalerConfig, Workload]) -> None:
    cfg, wl = rendered
    res = simulate(cfg, [0] * 60, wl, horizon_seconds=600, metric_failures=[(100, 400)])
    by_t = res.replicas_by_second
    assert by_t[99] == 1
    # failureThreshold (3) failed syncs at 15 s intervals, then fallback.replicas
    assert max(by_t[100:400]) == cfg.fallback_replicas
    assert by_t[100 + 15 * 2] == 1
    assert by_t[-1] == 1  # recovers (after the scale-down window) once the metric is back


def test_activation_scales_from_zero_and_back(rendered: tuple[ScalerConfig, Workload]) -> None:
    _, wl = rendered
    # pollingInterval / cooldownPeriod are rendered only with minReplicaCount 0
    so = one(render([MINIMAL], sets=["keda.minReplicaCount=0"]), "ScaledObject")
    assert so["spec"]["pollingInterval"] == 5
    zero = ScalerConfig(**{**ScalerConfig.from_scaled_object(so).__dict__, "cooldown_period": 60})
    res = simulate(zero, [0] * 30 + [100] + [0] * 30, wl, horizon_seconds=400, initial_replicas=0)
    by_t = res.replicas_by_second
    assert by_t[29] == 0
    assert max(by_t[30:40]) >= 1  # activation within one pollingInterval
    assert by_t[-1] == 0  # cooldownPeriod after the last activity


def test_report_lists_replicas_over_time(rendered: tuple[ScalerConfig, Workload]) -> None:
    cfg, wl = rendered
    res = simulate(cfg, burst_trace(10_000, 60, "concurrent"), wl)
    report = res.report()
    assert "replicas over time: 1@0s -> 20@" in report
    assert "queue drained" in report
