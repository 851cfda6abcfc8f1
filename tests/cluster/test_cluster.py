"""The chart on a real single-node cluster (``make test-cluster``): ``helm install --wait`` and
``helm test`` green; a 2,000-submission burst through the API Service while the real KEDA
operator scales the real worker Deployment 1 → max → 1 on the queue depth, a worker pod is
deleted mid-drain and the workers are restarted with ``kubectl rollout restart``; every job
completes once with the right score. Writes ``reports/cluster.json``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pymongo
import pytest
import yaml

from smartpapers.common.job import submission_id_for
from smartpapers.common.mongo import JOBS, SUBMISSIONS
from smartpapers.devstack.demo import demo_paper
from smartpapers.loadtest.config import LoadConfig
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import Summary, summarize
from tests.cluster.conftest import DATABASE, QUEUES, REPO, VALUES, sqs
from tests.cluster.kube import (
    RELEASE,
    WORKER,
    WORKER_PODS,
    Timeline,
    get_json,
    helm,
    kubectl,
    mongo_uri,
    run,
)

pytestmark = pytest.mark.cluster

TOTAL = 2000
MAX_REPLICAS = int(yaml.safe_load(VALUES.read_text())["keda"]["maxReplicaCount"])


def test_helm_test_passes(release: dict[str, Any]) -> None:
    out = helm("test", RELEASE, "--timeout", "4m", timeout=300)
    assert "Phase:          Succeeded" in out.stdout, out.stdout


def api_url() -> str:
    svc = get_json(f"service/{RELEASE}-api")
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


async def until(timeline: Timeline, what: str, ok: Callable[[Any], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = timeline.last
        if s is not None and ok(s):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"{what} not seen within {timeout:.0f} s; last sample: {timeline.last}; "
        f"sampling errors: {timeline.errors[-3:]}"
    )


async def disrupt(timeline: Timeline) -> None:
    """Mid-drain: delete one worker pod, then restart every worker (rollout restart)."""
    await until(
        timeline, "scale-up under load", lambda s: s.replicas >= 2 and 100 < s.completed, 240
    )
    pods = get_json("pods", "-l", WORKER_PODS)["items"]
    victim = sorted(p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running")[0]
    kubectl("delete", "pod", victim, "--wait=false")
    timeline.mark("worker pod deleted", pod=victim, completed=timeline.last.completed)  # type: ignore[union-attr]
    await asyncio.sleep(10)
    kubectl("rollout", "restart", f"deployment/{WORKER}")
    timeline.mark("rollout restart", completed=timeline.last.completed)  # type: ignore[union-attr]


def database_counts(job_ids: set[str]) -> dict[str, int]:
    """The burst's jobs by status and their submissions, read from the database (the helm
    test's own job is not one of them)."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri())
    db = client[DATABASE]
    ours = {"_id": {"$in": sorted(job_ids)}}
    jobs = {s: db[JOBS].count_documents({**ours, "status": s})
            for s in ("queued", "processing", "completed", "failed")}  # fmt: skip
    theirs = {"_id": {"$in": sorted(submission_id_for(j) for j in job_ids)}}
    ids = [d["_id"] for d in db[SUBMISSIONS].find(theirs, {"_id": 1})]
    every = {"all_jobs": db[JOBS].count_documents({}),
             "all_submissions": db[SUBMISSIONS].count_documents({})}  # fmt: skip
    client.close()
    return {**{f"jobs_{k}": v for k, v in jobs.items()}, "submissions": len(ids),
            "distinct_submission_ids": len(set(ids)), **every}  # fmt: skip


async def dlq_depth(ip: str) -> int:
    async with sqs(ip) as c:
        url = (await c.get_queue_url(QueueName=QUEUES[1]))["QueueUrl"]
        names: list[Any] = ["ApproximateNumberOfMessages"]
        attrs = await c.get_queue_attributes(QueueUrl=url, AttributeNames=names)
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def report(
    timeline: Timeline, summary: Summary, counts: dict[str, int], extra: dict[str, Any]
) -> None:
    doc = {"total": TOTAL, "max_replicas": MAX_REPLICAS, **extra, "database": counts,
           "client": summary.to_dict(), "timeline": timeline.to_json()}  # fmt: skip
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports/cluster.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [
        f"{'t/s':>6} {'replicas':>8} {'ready':>5} {'desired':>7} {'per-pod':>7} {'completed':>9}"
    ]
    last = None
    for s in timeline.samples:
        row = (s.replicas, s.ready, s.desired, s.completed)
        if row != last:
            lines.append(f"{s.t:6.1f} {s.replicas:8d} {s.ready:5d} {s.desired!s:>7} "
                         f"{s.metric!s:>7} {s.completed:9d}")  # fmt: skip
            last = row
    print("\n".join([*lines, *(f"{e['t']:6.1f} -- {e['event']}" for e in timeline.events)]))  # noqa: T201
    print(json.dumps({"database": counts, **extra}, indent=1))  # noqa: T201


@pytest.mark.timeout(1500)
async def test_burst_scales_workers_with_keda_and_loses_nothing(
    release: dict[str, Any], cluster: str
) -> None:
    url = api_url()
    r = httpx.post(f"{url}/api/papers", json=demo_paper(), timeout=30)
    assert r.status_code in (201, 409), r.text
    timeline = Timeline(database=DATABASE)
    timeline.start()
    try:
        await until(
            timeline,
            "1 ready worker before the burst",
            lambda s: s.replicas == 1 and s.ready == 1,
            120,
        )
        timeline.mark("burst starts")
        config = LoadConfig(url=url, total=TOTAL, burst=True, timeout=900, poll_interval=2.0,
                            poll_concurrency=20, progress=False)  # fmt: skip
        disruptions = asyncio.create_task(disrupt(timeline))
        result = await Runner(config).run()
        timeline.mark("every job final (client view)")
        await disruptions
        await until(timeline, "scale back to 1", lambda s: s.replicas == 1 and s.pods == 1, 300)
        timeline.mark("back to 1 replica")
    finally:
        timeline.stop()
    summary = summarize(result.records, waited=True, paper_total=result.paper_total)
    job_ids = {r.job_id for r in result.records if r.job_id is not None}
    counts = database_counts(job_ids)
    peak = max(s.replicas for s in timeline.samples)
    at = {e["event"]: e for e in timeline.events}
    extra = {"install_seconds": release["install_seconds"], "peak_replicas": peak,
             "dlq": await dlq_depth(cluster)}  # fmt: skip
    report(timeline, summary, counts, extra)

    assert summary.problems() == [], summary.problems()
    assert summary.completed == TOTAL and summary.verified_scores == TOTAL
    assert len(job_ids) == TOTAL
    assert counts["jobs_completed"] == TOTAL and counts["submissions"] == TOTAL
    assert counts["distinct_submission_ids"] == TOTAL and extra["dlq"] == 0
    # one submission per job in the whole database (the helm test's job included): none twice
    assert counts["all_submissions"] == counts["all_jobs"]
    assert peak == MAX_REPLICAS, f"KEDA scaled to {peak}, not to the maximum {MAX_REPLICAS}"
    for event in ("worker pod deleted", "rollout restart"):
        assert at[event]["completed"] < TOTAL, f"{event} came after the drain: {at[event]}"


PRIORITY_TOTAL = 1500  # one throttled worker needs ~20 s: KEDA reacts within ~6 s


def lanes_of(job_ids: set[str]) -> dict[str, int]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri())
    try:
        jobs = client[DATABASE]["submission_jobs"]
        rows = jobs.aggregate([{"$match": {"_id": {"$in": list(job_ids)}}},
                               {"$group": {"_id": "$lane", "n": {"$sum": 1}}}])  # fmt: skip
        return {str(r["_id"]): int(r["n"]) for r in rows}
    finally:
        client.close()


@pytest.mark.timeout(900)
async def test_a_priority_burst_alone_scales_workers_by_its_own_trigger(
    release: dict[str, Any], cluster: str
) -> None:
    """Premium students only (config.api.premiumInstitutes): the normal queue stays empty,
    so only the ScaledObject's second trigger (sqs-priority-depth) can scale the workers."""
    paper = {**demo_paper(), "paperId": "premium-paper", "instituteId": "premium-institute"}
    r = httpx.post(f"{api_url()}/api/papers", json=paper, timeout=30)
    assert r.status_code in (201, 409), r.text
    timeline = Timeline(database=DATABASE)
    timeline.start()
    try:
        await until(timeline, "1 ready worker", lambda s: s.replicas == 1 and s.ready == 1, 300)
        timeline.mark("priority burst starts")
        config = LoadConfig(url=api_url(), total=PRIORITY_TOTAL, burst=True, timeout=600,
                            poll_interval=2.0, poll_concurrency=20, progress=False,
                            paper="premium-paper")  # fmt: skip
        result = await Runner(config).run()
        timeline.mark("every job final (client view)")
    finally:
        timeline.stop()
    summary = summarize(result.records, waited=True, paper_total=result.paper_total)
    job_ids = {r.job_id for r in result.records if r.job_id is not None}
    peak = max(s.replicas for s in timeline.samples)
    print(json.dumps({"priority_burst": PRIORITY_TOTAL, "peak_replicas": peak,  # noqa: T201
                      "lanes": lanes_of(job_ids)}))  # fmt: skip
    assert summary.problems() == [], summary.problems()
    assert summary.completed == PRIORITY_TOTAL and summary.wrong_scores == 0
    assert lanes_of(job_ids) == {"priority": PRIORITY_TOTAL}
    assert peak > 1, "the priority queue's trigger did not scale the workers"


def test_the_cluster_network_is_closed(release: dict[str, Any]) -> None:
    """Nothing routes off the machine: the cluster's network namespace (where this test runs)
    holds only loopback, the pod bridge and the pods' veth ends, and no default route (with
    the release's pods running, so the bridge exists)."""
    links = json.loads(run("ip", "-j", "link", "show").stdout)
    names = [link["ifname"] for link in links]
    foreign = [n for n in names if n not in ("lo", "cni0") and not n.startswith("veth")]
    assert not foreign, f"interfaces other than lo, cni0 and pod veths: {foreign}"
    routes = json.loads(run("ip", "-j", "route", "show", "table", "all").stdout)
    defaults = [r for r in routes if r.get("dst") == "default"]
    assert not defaults, defaults
    main = {r["dst"] for r in routes if "table" not in r}  # ip -j omits "main"
    assert main <= {"10.244.0.0/24", "10.96.0.0/16", "fe80::/64"}, main
    assert "10.244.0.0/24" in main, "the pod bridge's route is missing: is this the cluster?"
