"""Benchmark scenario (docs/operations.md#rollback-synchronous-grading): the accept latency of
submissions mode ``sync`` (graded in the request, 201) against ``async`` (queued, 202)
measured in the same run on one real API process, at 1 and 50 concurrent clients, and a
burst of 1,000 — sync mode does not absorb bursts, the numbers show by how much.

Asserts what can break (every sync answer is a 201 with the right score, every async one a
202); reports the latencies, without timing assertions, in reports/sync-mode.json."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from smartpapers.devstack.stack import LocalStack
from smartpapers.loadtest.config import LoadConfig
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import summarize
from tests.conftest import Stack

logger = logging.getLogger(__name__)
REPORT = Path(__file__).resolve().parents[2] / "reports" / "sync-mode.json"
RUNS: dict[str, dict[str, Any]] = {
    "c1": {"total": 100, "concurrency": 1},
    "c50": {"total": 500, "concurrency": 50},
    "burst1000": {"total": 1000, "burst": True},
}


async def measure(local: LocalStack, mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, shape in RUNS.items():
        config = LoadConfig(
            url=local.api_url, wait=mode == "sync", timeout=30, progress=False, **shape
        )
        result = await Runner(config).run()
        summary = summarize(result.records, waited=mode == "sync", paper_total=20)
        codes = {r.status_code for r in result.records}
        assert codes == {201 if mode == "sync" else 202}, (mode, name, summary.rejected)
        if mode == "sync":
            assert summary.verified_scores == shape["total"] and summary.wrong_scores == 0
        latency = summary.accept_latency_seconds
        assert latency.p50 is not None and latency.p99 is not None
        out[name] = {
            "p50_ms": round(latency.p50 * 1000, 1),
            "p99_ms": round(latency.p99 * 1000, 1),
            "accepted_per_s": round(summary.accepted_per_second or 0, 1),
        }
    return out


@pytest.mark.timeout(600)
async def test_sync_mode_accept_latency_against_async(stack: Stack, tmp_path: Path) -> None:
    report: dict[str, Any] = {}
    for mode in ("async", "sync"):
        local = LocalStack.unique(
            tmp_path / mode,
            mongo_uri=stack.mongo_uri,
            sqs_endpoint=stack.sqs_endpoint,
            env_overrides={"SMARTPAPERS_LOG_LEVEL": "WARNING"},
        )
        try:
            await local.create_queues_async()
            await asyncio.to_thread(local.start_api, SMARTPAPERS_SUBMISSIONS_MODE=mode)
            await asyncio.to_thread(local.seed)
            report[mode] = await measure(local, mode)
        finally:
            local.stop()
    report["sync_over_async_p50"] = {
        run: round(report["sync"][run]["p50_ms"] / report["async"][run]["p50_ms"], 2)
        for run in RUNS
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("sync-mode benchmark: %s", json.dumps(report))
