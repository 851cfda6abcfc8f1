"""The workload half of the KEDA simulator (the model is described in keda_sim.py).

Burst traces and worker capacity, the second-by-second replay of a trace against KEDA and the
HPA (``simulate``), its result and report, the one-replica baseline, and the worker concurrency
read from a rendered Deployment.

Two lanes (``priority_arrivals``): the priority queue of premium students beside the normal
one. Workers share their capacity (jobs per second and in-flight slots) between the lanes by
the worker's fair receive rule: while both have messages the priority lane gets at most
``priority_share`` / (``priority_share`` + 1) of it, and either lane takes what the other
leaves. The scaler reads one depth per trigger (``ScalerConfig.lanes``); a lane without a
trigger is invisible to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .keda_autoscaler import HPA_SYNC_PERIOD_SECONDS, Hpa, ScalerConfig


@dataclass(frozen=True)
class Workload:
    throughput_per_replica: float = 333.0  # jobs/s; design target 20,000/min per worker
    concurrency: int = 50  # in-flight messages per worker (SMARTPAPERS_WORKER_CONCURRENCY)
    pod_ready_seconds: int = 15  # schedule + start + readiness of a new worker pod
    priority_share: int = 4  # SMARTPAPERS_WORKER_PRIORITY_SHARE: priority batches per normal one


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
    # the priority lane (two-lane runs) and every trigger's metric, in trigger order
    priority_visible: int = 0
    priority_in_flight: int = 0
    metrics: tuple[int | None, ...] = ()


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


def fair_share(priority: int, normal: int, capacity: int, priority_share: int) -> tuple[int, int]:
    """(priority, normal) taken out of ``capacity`` by the worker's fair receive rule: at most
    priority_share / (priority_share + 1) of it for the priority lane while the normal lane
    has work; each lane gets what the other leaves."""
    fair = capacity * priority_share // (priority_share + 1)
    p = min(priority, max(fair, capacity - normal))
    return p, min(normal, capacity - p)


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
    priority_arrivals: Sequence[int] = (),
) -> Result:
    """Run the model second by second. ``metric_failures``: [start, end) windows in which
    reading the queue attributes fails (exercises KEDA's fallback). ``sync_offset``: second of
    the first HPA sync; the default (period - 1) is the worst case, the HPA having synced just
    before the burst started. ``priority_arrivals``: arrivals on the priority queue."""
    hpa = Hpa(cfg)
    replicas = max(1, cfg.min_replicas) if initial_replicas is None else initial_replicas
    ready_at: list[int] = [0] * replicas  # one entry per pod: second it becomes ready
    visible = in_flight = 0
    p_visible = p_in_flight = 0
    consecutive_failures = 0
    last_active: int | None = None
    samples: list[Sample] = []
    by_second: list[int] = []
    drain: int | None = None
    last_arrival = max(
        (i for trace in (arrivals, priority_arrivals) for i, n in enumerate(trace) if n),
        default=-1,
    )

    def set_replicas(n: int, now: int) -> None:
        nonlocal ready_at
        if n > len(ready_at):
            ready_at += [now + workload.pod_ready_seconds] * (n - len(ready_at))
        elif n < len(ready_at):
            # ReplicaSets delete not-ready and youngest pods first.
            ready_at = sorted(ready_at)[:n]

    for t in range(horizon_seconds):
        # 1) workload for this second (with one lane, p_* stay 0 and fair_share() is the identity)
        visible += arrivals[t] if t < len(arrivals) else 0
        p_visible += priority_arrivals[t] if t < len(priority_arrivals) else 0
        ready = sum(1 for r in ready_at if r <= t)
        work, p_work = visible + in_flight, p_visible + p_in_flight
        capacity = int(ready * workload.throughput_per_replica)
        p_done, done = fair_share(p_work, work, capacity, workload.priority_share)
        remaining, p_remaining = work - done, p_work - p_done
        p_in_flight, in_flight = fair_share(
            p_remaining, remaining, ready * workload.concurrency, workload.priority_share
        )
        visible, p_visible = remaining - in_flight, p_remaining - p_in_flight
        queued = visible + in_flight + p_visible + p_in_flight
        if drain is None and t >= last_arrival and queued == 0:
            drain = t + 1

        # 2) the scaler reads the queues (one depth per trigger)
        failing = any(a <= t < b for a, b in metric_failures)
        lane_depth = {
            "normal": visible + (in_flight if cfg.scale_on_in_flight else 0),
            "priority": p_visible + (p_in_flight if cfg.scale_on_in_flight else 0),
        }
        depths = [lane_depth[lane] for lane in cfg.lanes]

        # KEDA activation loop (only matters with minReplicaCount 0): active if any trigger is
        if t % cfg.polling_interval == 0 and not failing:
            active = any(d > cfg.activation_queue_length for d in depths)
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

        # HPA sync: one External metric per trigger, the largest proposal wins
        if (t - sync_offset) % sync_period == 0 and len(ready_at) > 0:
            current = len(ready_at)
            metrics: list[int | None]
            if failing:  # every trigger reads the same SQS endpoint: they fail together
                consecutive_failures += 1
                fb = cfg.fallback_failure_threshold
                if fb is not None and consecutive_failures >= fb:
                    assert cfg.fallback_replicas is not None
                    # KEDA counts failures per trigger (status.health): each reports fallback
                    metrics = [cfg.fallback_replicas * cfg.queue_length] * len(depths)
                else:
                    metrics = [None] * len(depths)  # HPA cannot compute: keeps the scale
            else:
                consecutive_failures = 0
                metrics = list(depths)
            proposal = hpa.proposal_of_metrics(current, metrics)
            desired = current if proposal is None else hpa.desired(t, current, proposal)
            set_replicas(desired, t)
            samples.append(
                Sample(
                    t, len(ready_at), ready, visible, in_flight, metrics[0], proposal, desired,
                    p_visible, p_in_flight, tuple(metrics),
                )
            )  # fmt: skip
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


def _worker_env(worker_deployment: dict[str, Any], name: str) -> int:
    for c in worker_deployment["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env", []):
            if e["name"] == name:
                return int(e["value"])
    raise AssertionError(f"{name} not set on the worker")


def worker_concurrency(worker_deployment: dict[str, Any]) -> int:
    return _worker_env(worker_deployment, "SMARTPAPERS_WORKER_CONCURRENCY")


def worker_priority_share(worker_deployment: dict[str, Any]) -> int:
    return _worker_env(worker_deployment, "SMARTPAPERS_WORKER_PRIORITY_SHARE")
