"""KEDA + HPA scaling simulator for the smartpapers worker, driven by a rendered ScaledObject.

What is modelled (the documented algorithms, one-second steps):

* KEDA ``aws-sqs-queue`` scaler: metric = ApproximateNumberOfMessages
  (+ ApproximateNumberOfMessagesNotVisible when ``scaleOnInFlight``; + delayed when
  ``scaleOnDelayed``, always 0 here: the API never delays messages). KEDA exposes it to the HPA
  as an External metric with target type AverageValue = ``queueLength``.
  Activation: with ``minReplicaCount`` 0, KEDA scales 0 -> 1 when metric > activationQueueLength
  (checked every ``pollingInterval``) and back to 0 after ``cooldownPeriod`` without activity.
  Fallback: after ``failureThreshold`` consecutive failed metric reads, KEDA reports
  ``fallback.replicas * queueLength`` so the HPA settles on ``fallback.replicas``.
* Kubernetes HPA (pkg/controller/podautoscaler, autoscaling/v2), every ``sync_period`` (15 s):
  usageRatio = metric / (queueLength * currentReplicas);
  proposal = currentReplicas if |1 - usageRatio| <= tolerance (0.1) else ceil(metric / queueLength);
  then stabilisation windows (scale-up: min of the recommendations inside the window,
  scale-down: max), then the behavior policies (Pods / Percent per period, selectPolicy
  Max/Min/Disabled, computed from the replicas at the start of each policy period), then
  [minReplicas, maxReplicas].
* Workers: a ready replica completes up to ``throughput_per_replica`` jobs/s and holds up to
  ``concurrency`` messages in flight; a new replica is ready ``pod_ready_seconds`` after the
  HPA adds it; a removed replica releases its capacity at once (its in-flight messages return
  to the visible backlog, as the SIGTERM drain releases them).

Usage (renders the chart with the real helm CLI):
    python tests/deploy/keda_sim.py [--trace concurrent|uniform] [--throughput 333] [-f values.yaml]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HPA_TOLERANCE = 0.1
HPA_SYNC_PERIOD_SECONDS = 15

# Kubernetes defaults when a ScaledObject sets no behavior (autoscaling/v2 docs).
_DEFAULT_SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_DEFAULT_SCALE_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


@dataclass(frozen=True)
class Policy:
    type: str  # Pods | Percent
    value: int
    period_seconds: int


@dataclass(frozen=True)
class Rules:
    stabilization_window_seconds: int
    select_policy: str  # Max | Min | Disabled
    policies: tuple[Policy, ...]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, default: dict[str, Any]) -> Rules:
        d = d or {}
        policies = d.get("policies", default["policies"])
        return cls(
            stabilization_window_seconds=int(
                d.get("stabilizationWindowSeconds", default["stabilizationWindowSeconds"])
            ),
            select_policy=str(d.get("selectPolicy", "Max")),
            policies=tuple(
                Policy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in policies
            ),
        )


@dataclass(frozen=True)
class ScalerConfig:
    min_replicas: int
    max_replicas: int
    queue_length: int
    activation_queue_length: int
    scale_on_in_flight: bool
    polling_interval: int
    cooldown_period: int
    scale_up: Rules
    scale_down: Rules
    fallback_failure_threshold: int | None
    fallback_replicas: int | None

    @classmethod
    def from_scaled_object(cls, so: dict[str, Any]) -> ScalerConfig:
        """Read the parameters KEDA would use from a rendered ScaledObject."""
        assert so["kind"] == "ScaledObject", so["kind"]
        spec = so["spec"]
        triggers = [t for t in spec["triggers"] if t["type"] == "aws-sqs-queue"]
        assert len(triggers) == 1, "expected exactly one aws-sqs-queue trigger"
        md = triggers[0]["metadata"]
        metric_type = triggers[0].get("metricType", "AverageValue")
        assert metric_type == "AverageValue", "the simulator models AverageValue targets"
        behavior = (
            spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        )
        fallback = spec.get("fallback")
        return cls(
            min_replicas=int(spec.get("minReplicaCount", 0)),
            max_replicas=int(spec.get("maxReplicaCount", 100)),
            queue_length=int(md.get("queueLength", "5")),
            activation_queue_length=int(md.get("activationQueueLength", "0")),
            scale_on_in_flight=str(md.get("scaleOnInFlight", "true")).lower() == "true",
            polling_interval=int(spec.get("pollingInterval", 30)),
            cooldown_period=int(spec.get("cooldownPeriod", 300)),
            scale_up=Rules.from_dict(behavior.get("scaleUp"), _DEFAULT_SCALE_UP),
            scale_down=Rules.from_dict(behavior.get("scaleDown"), _DEFAULT_SCALE_DOWN),
            fallback_failure_threshold=int(fallback["failureThreshold"]) if fallback else None,
            fallback_replicas=int(fallback["replicas"]) if fallback else None,
        )


@dataclass(frozen=True)
class Workload:
    throughput_per_replica: float = 333.0  # jobs/s; design target 20,000/min per worker
    concurrency: int = 50  # in-flight messages per worker (SMARTPAPERS_WORKER_CONCURRENCY)
    pod_ready_seconds: int = 15  # schedule + start + readiness of a new worker pod


def burst_trace(
    total: int = 10_000,
    window_seconds: int = 60,
    shape: str = "concurrent",
    accept_rate: float = 2_000.0,
) -> list[int]:
    """Queue arrivals per second for a burst of ``total`` submissions in ``window_seconds``.

    ``concurrent``: every student presses submit at once (design section 9, "a burst of 10,000
    concurrent submissions"); the API enqueues them at ``accept_rate``/s, so the whole burst is
    on the queue within the first seconds of the window.
    ``uniform``: the submissions are spread evenly over the window.
    """
    if shape == "uniform":
        base, extra = divmod(total, window_seconds)
        return [base + (1 if i < extra else 0) for i in range(window_seconds)]
    if shape == "concurrent":
        out: list[int] = []
        left = total
        while left > 0:
            n = min(left, int(accept_rate))
            out.append(n)
            left -= n
        assert len(out) <= window_seconds, "accept_rate too low for the window"
        return out + [0] * (window_seconds - len(out))
    raise ValueError(f"unknown trace shape {shape!r}")


@dataclass
class Sample:
    t: int
    replicas: int
    ready: int
    visible: int
    in_flight: int
    metric: int | None
    proposal: int | None
    desired: int


@dataclass
class Result:
    samples: list[Sample]
    replicas_by_second: list[int]
    drain_seconds: int | None  # burst start -> queue empty (all arrivals processed)
    peak_replicas: int
    first_peak_at: int | None
    back_to_min_at: int | None
    min_replicas: int
    max_replicas: int
    initial_replicas: int

    def transitions(self) -> list[tuple[int, int]]:
        """(second, replicas) at t=0 and at every change."""
        out = [(0, self.initial_replicas)]
        for t, r in enumerate(self.replicas_by_second):
            if r != out[-1][1]:
                out.append((t, r))
        return out

    def report(self) -> str:
        lines = [
            f"{'t(s)':>5} {'replicas':>8} {'ready':>5} {'visible':>7} {'inflight':>8} "
            f"{'metric':>7} {'proposal':>8} {'desired':>7}"
        ]
        last = None
        for s in self.samples:
            key = (s.replicas, s.ready, s.visible, s.in_flight, s.desired)
            if key == last and s.visible == 0 and s.in_flight == 0:
                continue
            last = key
            lines.append(
                f"{s.t:>5} {s.replicas:>8} {s.ready:>5} {s.visible:>7} {s.in_flight:>8} "
                f"{'-' if s.metric is None else s.metric:>7} "
                f"{'-' if s.proposal is None else s.proposal:>8} {s.desired:>7}"
            )
        path = " -> ".join(f"{r}@{t}s" for t, r in self.transitions())
        lines.append(f"replicas over time: {path}")
        lines.append(
            f"peak {self.peak_replicas} replicas (first at {self.first_peak_at}s); "
            f"queue drained {self.drain_seconds}s after the burst started; "
            f"back to {self.min_replicas} at {self.back_to_min_at}s"
        )
        return "\n".join(lines)


@dataclass
class _Event:
    t: int
    change: int


@dataclass
class Hpa:
    """The HPA controller's replica computation with behaviors (one HPA object)."""

    cfg: ScalerConfig
    tolerance: float = HPA_TOLERANCE
    recommendations: list[tuple[int, int]] = field(default_factory=list)
    up_events: list[_Event] = field(default_factory=list)
    down_events: list[_Event] = field(default_factory=list)

    @property
    def min_replicas(self) -> int:
        return max(1, self.cfg.min_replicas)  # KEDA creates the HPA with minReplicas >= 1

    def proposal(self, current: int, metric: float) -> int:
        target = self.cfg.queue_length
        usage_ratio = metric / (target * current)
        if abs(1.0 - usage_ratio) <= self.tolerance:
            return current
        return math.ceil(metric / target)

    def _stabilize(self, now: int, current: int, desired: int) -> int:
        up_cutoff = now - self.cfg.scale_up.stabilization_window_seconds
        down_cutoff = now - self.cfg.scale_down.stabilization_window_seconds
        up_rec = down_rec = desired
        for ts, rec in self.recommendations:
            if ts > up_cutoff:
                up_rec = min(rec, up_rec)
            if ts > down_cutoff:
                down_rec = max(rec, down_rec)
        longest = max(
            self.cfg.scale_up.stabilization_window_seconds,
            self.cfg.scale_down.stabilization_window_seconds,
        )
        self.recommendations = [(ts, r) for ts, r in self.recommendations if ts > now - longest]
        self.recommendations.append((now, desired))
        recommendation = current
        recommendation = max(recommendation, up_rec)
        recommendation = min(recommendation, down_rec)
        return recommendation

    @staticmethod
    def _changed_in_period(events: list[_Event], now: int, period: int) -> int:
        return sum(e.change for e in events if e.t > now - period)

    def _up_limit(self, now: int, current: int) -> int:
        rules = self.cfg.scale_up
        if rules.select_policy == "Disabled":
            return current
        pick = min if rules.select_policy == "Min" else max
        result: int | None = None
        for p in rules.policies:
            added = self._changed_in_period(self.up_events, now, p.period_seconds)
            deleted = self._changed_in_period(self.down_events, now, p.period_seconds)
            start = current - added + deleted
            proposed = (
                start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100))
            )
            result = proposed if result is None else pick(result, proposed)
        assert result is not None
        return result

    def _down_limit(self, now: int, current: int) -> int:
        rules = self.cfg.scale_down
        if rules.select_policy == "Disabled":
            return current
        # Max = the policy allowing the biggest change = the lowest limit.
        pick = max if rules.select_policy == "Min" else min
        result: int | None = None
        for p in rules.policies:
            added = self._changed_in_period(self.up_events, now, p.period_seconds)
            deleted = self._changed_in_period(self.down_events, now, p.period_seconds)
            start = current - added + deleted
            proposed = start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100))
            result = proposed if result is None else pick(result, proposed)
        assert result is not None
        return result

    def desired(self, now: int, current: int, proposal: int) -> int:
        stabilized = self._stabilize(now, current, proposal)
        out = stabilized
        if stabilized > current:
            limit = max(self._up_limit(now, current), current)
            out = min(stabilized, min(self.cfg.max_replicas, limit))
        elif stabilized < current:
            limit = min(self._down_limit(now, current), current)
            out = max(stabilized, max(self.min_replicas, limit))
        out = min(max(out, self.min_replicas), self.cfg.max_replicas)
        if out > current:
            self.up_events.append(_Event(now, out - current))
        elif out < current:
            self.down_events.append(_Event(now, current - out))
        return out


def simulate(
    cfg: ScalerConfig,
    arrivals: Sequence[int],
    workload: Workload,
    *,
    horizon_seconds: int = 900,
    initial_replicas: int | None = None,
    sync_period: int = HPA_SYNC_PERIOD_SECONDS,
    sync_offset: int = HPA_SYNC_PERIOD_SECONDS - 1,
    metric_failures: Sequence[tuple[int, int]] = (),
) -> Result:
    """Run the model second by second. ``metric_failures``: [start, end) windows in which
    reading the queue attributes fails (exercises KEDA's fallback). ``sync_offset``: second of
    the first HPA sync; the default (period - 1) is the worst case, the HPA having synced just
    before the burst started."""
    hpa = Hpa(cfg)
    replicas = max(1, cfg.min_replicas) if initial_replicas is None else initial_replicas
    ready_at: list[int] = [0] * replicas  # one entry per pod: second it becomes ready
    visible = in_flight = 0
    consecutive_failures = 0
    last_active: int | None = None
    samples: list[Sample] = []
    by_second: list[int] = []
    drain: int | None = None
    last_arrival = max((i for i, n in enumerate(arrivals) if n), default=-1)

    def set_replicas(n: int, now: int) -> None:
        nonlocal ready_at
        if n > len(ready_at):
            ready_at += [now + workload.pod_ready_seconds] * (n - len(ready_at))
        elif n < len(ready_at):
            # ReplicaSets delete not-ready and youngest pods first.
            ready_at = sorted(ready_at)[:n]

    for t in range(horizon_seconds):
        # 1) workload for this second
        visible += arrivals[t] if t < len(arrivals) else 0
        ready = sum(1 for r in ready_at if r <= t)
        work = visible + in_flight
        processed = min(work, int(ready * workload.throughput_per_replica))
        remaining = work - processed
        in_flight = min(remaining, ready * workload.concurrency)
        visible = remaining - in_flight
        if drain is None and t >= last_arrival and visible + in_flight == 0:
            drain = t + 1

        # 2) the scaler reads the queue
        failing = any(a <= t < b for a, b in metric_failures)
        depth = visible + (in_flight if cfg.scale_on_in_flight else 0)

        # KEDA activation loop (only matters with minReplicaCount 0)
        if t % cfg.polling_interval == 0 and not failing:
            active = depth > cfg.activation_queue_length
            if active:
                last_active = t
            if cfg.min_replicas == 0:
                if len(ready_at) == 0 and active:
                    set_replicas(1, t)
                elif (
                    len(ready_at) > 0
                    and not active
                    and (last_active is None or t - last_active >= cfg.cooldown_period)
                ):
                    set_replicas(0, t)

        # HPA sync
        if (t - sync_offset) % sync_period == 0 and len(ready_at) > 0:
            current = len(ready_at)
            metric: int | None
            if failing:
                consecutive_failures += 1
                fb = cfg.fallback_failure_threshold
                if fb is not None and consecutive_failures >= fb:
                    assert cfg.fallback_replicas is not None
                    metric = cfg.fallback_replicas * cfg.queue_length
                else:
                    metric = None  # HPA cannot compute: keeps the current scale
            else:
                consecutive_failures = 0
                metric = depth
            if metric is None:
                proposal, desired = None, current
            else:
                proposal = hpa.proposal(current, metric)
                desired = hpa.desired(t, current, proposal)
            set_replicas(desired, t)
            samples.append(
                Sample(t, len(ready_at), ready, visible, in_flight, metric, proposal, desired)
            )
        by_second.append(len(ready_at))

    peak = max(by_second)
    first_peak = by_second.index(peak)
    floor = max(1, cfg.min_replicas) if cfg.min_replicas else 0
    back: int | None = None
    for t in range(first_peak, len(by_second)):
        if by_second[t] == floor and all(r == floor for r in by_second[t:]):
            back = t
            break
    return Result(
        samples=samples,
        replicas_by_second=by_second,
        drain_seconds=drain,
        peak_replicas=peak,
        first_peak_at=first_peak,
        back_to_min_at=back,
        min_replicas=floor,
        max_replicas=cfg.max_replicas,
        initial_replicas=replicas,
    )


def single_replica_drain_seconds(arrivals: Sequence[int], workload: Workload) -> int:
    """Drain time of the same trace with one worker and no autoscaling (the baseline)."""
    visible = 0
    last_arrival = max((i for i, n in enumerate(arrivals) if n), default=-1)
    t = 0
    while True:
        visible += arrivals[t] if t < len(arrivals) else 0
        visible -= min(visible, int(workload.throughput_per_replica))
        t += 1
        if t > last_arrival and visible == 0:
            return t


def worker_concurrency(worker_deployment: dict[str, Any]) -> int:
    for c in worker_deployment["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env", []):
            if e["name"] == "SMARTPAPERS_WORKER_CONCURRENCY":
                return int(e["value"])
    raise AssertionError("SMARTPAPERS_WORKER_CONCURRENCY not set on the worker")


def _render(values_files: list[str]) -> list[dict[str, Any]]:
    import os

    import yaml

    root = Path(__file__).resolve().parents[2]
    helm = (
        Path(os.environ.get("SMARTPAPERS_CACHE", Path.home() / ".cache/smartpapers")) / "bin/helm"
    )
    cmd = [
        str(helm),
        "template",
        "smartpapers",
        str(root / "deploy/helm/smartpapers"),
        "--api-versions",
        "keda.sh/v1alpha1",
    ]
    if not values_files:
        values_files = [str(root / "deploy/helm/smartpapers/ci/minimal-values.yaml")]
    for f in values_files:
        cmd += ["-f", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-f", "--values", action="append", default=[], help="chart values file(s)")
    ap.add_argument("--trace", choices=["concurrent", "uniform"], default="concurrent")
    ap.add_argument("--total", type=int, default=10_000)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--throughput", type=float, default=333.0, help="jobs/s per replica")
    ap.add_argument("--pod-ready", type=int, default=15, help="seconds until a new pod works")
    ap.add_argument("--horizon", type=int, default=900)
    args = ap.parse_args(argv)
    docs = _render(args.values)
    so = next(d for d in docs if d["kind"] == "ScaledObject")
    worker = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker")
    )
    cfg = ScalerConfig.from_scaled_object(so)
    wl = Workload(args.throughput, worker_concurrency(worker), args.pod_ready)
    res = simulate(
        cfg, burst_trace(args.total, args.window, args.trace), wl, horizon_seconds=args.horizon
    )
    sys.stdout.write(
        f"{args.total} submissions, trace={args.trace} over {args.window}s, "
        f"{wl.throughput_per_replica:g} jobs/s per replica, concurrency {wl.concurrency}, "
        f"queueLength {cfg.queue_length}, replicas {cfg.min_replicas}..{cfg.max_replicas}\n"
    )
    sys.stdout.write(res.report() + "\n")
    base = single_replica_drain_seconds(burst_trace(args.total, args.window, args.trace), wl)
    sys.stdout.write(f"baseline: one replica without autoscaling drains in {base}s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
