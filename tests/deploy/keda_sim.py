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
  [minReplicas, maxReplicas]. With a priority lane the ScaledObject has one trigger per
  queue: the HPA computes a proposal per metric and takes the largest (never the sum).
* Workers: a ready replica completes up to ``throughput_per_replica`` jobs/s and holds up to
  ``concurrency`` messages in flight; a new replica is ready ``pod_ready_seconds`` after the
  HPA adds it; a removed replica releases its capacity at once (its in-flight messages return
  to the visible backlog, as the SIGTERM drain releases them). With two lanes the capacity is
  split by the worker's fair receive rule (``priority_share``, keda_replay.py).

Usage (renders the chart with the real helm CLI):
    python tests/deploy/keda_sim.py [--trace concurrent|uniform] [--throughput 333] [-f values.yaml]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make the repository's `tests` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.deploy.keda_autoscaler import ScalerConfig
from tests.deploy.keda_replay import (
    Workload,
    burst_trace,
    simulate,
    single_replica_drain_seconds,
    worker_concurrency,
)


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
