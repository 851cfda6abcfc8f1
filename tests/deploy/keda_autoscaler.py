"""The autoscaler half of the KEDA simulator (the model is described in keda_sim.py).

The parameters KEDA reads from a rendered ScaledObject (the aws-sqs-queue triggers, activation,
cooldown, fallback, the HPA behavior) and the Kubernetes HPA controller's replica computation:
tolerance, stabilisation windows, Pods/Percent policies per period, [minReplicas, maxReplicas],
and, with several triggers, the largest of the per-metric proposals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

HPA_TOLERANCE = 0.1
HPA_SYNC_PERIOD_SECONDS = 15
# The chart's trigger names -> the lane (queue) each one reads (templates/keda-scaledobject.yaml).
TRIGGER_LANES = {"sqs-depth": "normal", "sqs-priority-depth": "priority"}

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
    # the lane whose queue each aws-sqs-queue trigger reads, in trigger order (one HPA metric each)
    lanes: tuple[str, ...] = ("normal",)

    @classmethod
    def from_scaled_object(cls, so: dict[str, Any]) -> ScalerConfig:
        """Read the parameters KEDA would use from a rendered ScaledObject: one aws-sqs-queue
        trigger, or one per lane that differ only in their name and queueURL."""
        assert so["kind"] == "ScaledObject", so["kind"]
        spec = so["spec"]
        triggers = [t for t in spec["triggers"] if t["type"] == "aws-sqs-queue"]
        assert triggers, "expected an aws-sqs-queue trigger"
        if len(triggers) == 1:
            lanes: tuple[str, ...] = ("normal",)
        else:
            lanes = tuple(TRIGGER_LANES[t.get("name", "")] for t in triggers)
            assert len(set(lanes)) == len(lanes), f"two triggers on one lane: {lanes}"

        def shared(t: dict[str, Any]) -> dict[str, Any]:
            md = {k: v for k, v in t["metadata"].items() if k != "queueURL"}
            return {**{k: v for k, v in t.items() if k not in ("name", "metadata")}, "md": md}

        assert all(shared(t) == shared(triggers[0]) for t in triggers), (
            "the simulator models triggers that differ only in name and queueURL"
        )
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
            # KEDA's defaults; the chart renders both only when minReplicaCount is 0 (with
            # min >= 1 neither plays a part: the HPA polls the metric)
            polling_interval=int(spec.get("pollingInterval", 30)),
            cooldown_period=int(spec.get("cooldownPeriod", 300)),
            scale_up=Rules.from_dict(behavior.get("scaleUp"), _DEFAULT_SCALE_UP),
            scale_down=Rules.from_dict(behavior.get("scaleDown"), _DEFAULT_SCALE_DOWN),
            fallback_failure_threshold=int(fallback["failureThreshold"]) if fallback else None,
            fallback_replicas=int(fallback["replicas"]) if fallback else None,
            lanes=lanes,
        )


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

    def proposal_of_metrics(self, current: int, metrics: Sequence[float | None]) -> int | None:
        """computeReplicasForMetrics (pkg/controller/podautoscaler/horizontal.go): one proposal
        per metric (each with its own tolerance check), the LARGEST wins — never the sum.
        None (the scale is left alone) when every metric is invalid, or some are and the valid
        ones would scale down."""
        valid = [self.proposal(current, m) for m in metrics if m is not None]
        if not valid:
            return None
        best = max(valid)
        if len(valid) < len(metrics) and best < current:
            return None
        return best

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
