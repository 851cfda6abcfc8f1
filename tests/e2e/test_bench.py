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
            "--workers",
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
    assert doc["problems"] == []
    ours, naive = doc["medians"]["smartpapers"], doc["medians"]["naive"]
    assert ours["burst100_bad"] == naive["burst100_bad"] == 0
    # the naive baseline pays one SQS request per send, receive and delete (~3 per job)
    assert naive["drain_w1_sqs_per_submission"] >= 2.5
    assert ours["drain_w1_sqs_per_submission"] < naive["drain_w1_sqs_per_submission"] / 2
    # and one MongoDB round trip per write (~4 per job) against coalesced writes (how much
    # the worker coalesces depends on how close together FerretDB answers its claims)
    assert naive["drain_w1_mongo_per_submission"] >= 3.5
    assert ours["drain_w1_mongo_per_submission"] < naive["drain_w1_mongo_per_submission"]
    assert 0 < ours["rss_api_mib"] < 400 and 0 < ours["rss_worker_mib"] < 400
