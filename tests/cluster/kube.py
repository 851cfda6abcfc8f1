"""The local cluster as the cluster test sees it: ``kubectl``/``helm`` on the cluster's network
(the test runs inside its network namespace: ``scripts/cluster.sh exec``), and a sampler that
reads the worker Deployment, KEDA's HPA and the job counts from the servers every second."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pymongo

from smartpapers.common.mongo import JOBS

NAMESPACE = "smartpapers"
RELEASE = "smartpapers"
WORKER = f"{RELEASE}-worker"
HPA = f"keda-hpa-{WORKER}"
WORKER_PODS = "app.kubernetes.io/component=worker"


class ClusterMissing(RuntimeError):
    """No local cluster answers (make cluster-up, or run the test with make test-cluster)."""


def node_ip() -> str:
    ip = os.environ.get("SMARTPAPERS_CLUSTER_NODE_IP")
    if not ip or not os.environ.get("KUBECONFIG"):
        raise ClusterMissing(
            "not on the local cluster's network: run `make test-cluster` (it brings the cluster "
            "up, runs tests/cluster inside its network namespace and takes it down)"
        )
    return ip


def run(*cmd: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return out


def kubectl(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run("kubectl", "-n", NAMESPACE, *args, timeout=timeout, check=check)


def get_json(*args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return doc


def helm(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("helm", "-n", NAMESPACE, *args, timeout=timeout, check=check)


def mongo_uri() -> str:
    return f"mongodb://{node_ip()}:27017/?directConnection=true"


@dataclass
class Sample:
    #: seconds since the sampler started
    t: float
    #: the worker Deployment's spec.replicas (what KEDA's HPA asked for)
    replicas: int
    ready: int
    #: the HPA's desiredReplicas and the queue metric it read from KEDA's metrics API
    desired: int | None
    metric: float | None
    completed: int
    pods: int


@dataclass
class Timeline:
    """Replica counts, the queue metric and completed jobs, read every ``interval`` seconds
    from the API server and the database, plus the disruptions the test made (``events``)."""

    database: str
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="timeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def now(self) -> float:
        return round(time.monotonic() - self._t0, 1)

    def mark(self, what: str, **detail: Any) -> None:
        self.events.append({"t": self.now(), "event": what, **detail})

    @property
    def last(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def _loop(self) -> None:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri())
        jobs = client[self.database][JOBS]
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    self.samples.append(self._sample(jobs))
                except (
                    AssertionError,
                    subprocess.TimeoutExpired,
                    pymongo.errors.PyMongoError,
                ) as e:
                    self.errors.append(f"{self.now()}: {e}")
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))
        finally:
            client.close()

    def _sample(self, jobs: pymongo.collection.Collection[dict[str, Any]]) -> Sample:
        t = self.now()
        items = get_json(f"deployment/{WORKER}", f"hpa/{HPA}")["items"]
        deploy = next(i for i in items if i["kind"] == "Deployment")
        hpa = next((i for i in items if i["kind"] == "HorizontalPodAutoscaler"), None)
        pods = [p for p in get_json("pods", "-l", WORKER_PODS)["items"]
                if not p["metadata"].get("deletionTimestamp")]  # fmt: skip
        metric = None
        if hpa is not None:
            for m in hpa.get("status", {}).get("currentMetrics") or []:
                avg = (m.get("external") or {}).get("current", {}).get("averageValue")
                if avg is not None:
                    metric = quantity(avg)
        return Sample(
            t=t,
            replicas=int(deploy["spec"].get("replicas", 0)),
            ready=int(deploy.get("status", {}).get("readyReplicas", 0)),
            desired=None if hpa is None else hpa.get("status", {}).get("desiredReplicas"),
            metric=metric,
            completed=jobs.count_documents({"status": "completed"}),
            pods=len(pods),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_seconds": self.interval,
            "samples": [asdict(s) for s in self.samples],
            "events": self.events,
            "sampling_errors": self.errors,
        }


def quantity(text: str) -> float:
    """A Kubernetes quantity as the HPA reports metric values: ``12``, ``12500m``, ``1k``."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6}
    if text and text[-1] in suffixes:
        return float(text[:-1]) * suffixes[text[-1]]
    return float(text)
