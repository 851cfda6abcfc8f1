"""`make bench` as a user runs it, at smoke size: both modes on their own stacks, a table,
a JSON result, and batching that measurably beats the naive baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(900)
def test_quick_bench_runs_and_batching_beats_the_naive_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartpapers.loadtest",
            "bench",
            "--quick",
            "--repeat",
            "1",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| figure | smartpapers (median of 1) | naive baseline |" in proc.stdout
    doc = json.loads(out.read_text())
    ours, naive = doc["medians"]["smartpapers"], doc["medians"]["naive"]
    burst = "burst1000_w2"
    assert ours[f"{burst}_bad"] == naive[f"{burst}_bad"] == 0
    # the naive baseline pays one SQS request per send, receive and delete (~3 per job)
    assert naive[f"{burst}_sqs_per_sub"] >= 2.5
    assert ours[f"{burst}_sqs_per_sub"] < naive[f"{burst}_sqs_per_sub"] / 2
    # and four database round trips per job in the worker (claim, read-back, insert,
    # finish) against four per receive batch
    assert naive["drain_worker_mongo_per_job"] >= 3.5
    assert ours["drain_worker_mongo_per_job"] < naive["drain_worker_mongo_per_job"] / 2
    assert 0 < ours[f"{burst}_rss_api_mib"] < 400 and 0 < ours[f"{burst}_rss_worker_mib"] < 400
