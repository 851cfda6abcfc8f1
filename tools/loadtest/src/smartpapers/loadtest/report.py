"""The JSON result and the PNG report of a run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # noqa: E402

from smartpapers.loadtest.config import RunResult  # noqa: E402
from smartpapers.loadtest.stats import Summary  # noqa: E402

SCHEMA_VERSION = 1


def result_document(result: RunResult, summary: Summary) -> dict[str, Any]:
    config = asdict(result.config)
    if config.get("bearer_token"):
        config["bearer_token"] = "***"  # never write the token to disk
    return {
        "schemaVersion": SCHEMA_VERSION,
        "runId": result.run_id,
        "config": config,
        "summary": summary.to_dict(),
        "durationSeconds": result.duration_seconds,
        "queueDepth": [asdict(s) for s in result.queue_depth],
        "queueDepthError": result.queue_depth_error,
        "records": [
            {
                "index": r.index,
                "studentId": r.student_id,
                "statusCode": r.status_code,
                "transportError": r.transport_error,
                "jobId": r.job_id,
                "sentAt": r.sent_at,
                "answeredAt": r.answered_at,
                "status": r.final_status,
                "finishedAt": r.finished_at,
                "expectedScore": r.expected_score,
                "score": r.score,
                "total": r.total,
                "polls": r.polls,
                "error": r.error,
            }
            for r in result.records
        ],
    }


def write_json(path: Path, result: RunResult, summary: Summary) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_document(result, summary), indent=1) + "\n")


def _cumulative(times: list[float]) -> tuple[list[float], list[int]]:
    ordered = sorted(times)
    return [0.0, *ordered], [0, *range(1, len(ordered) + 1)]


def write_png(path: Path, result: RunResult, summary: Summary) -> None:
    """Accept-latency histogram, accepted/completed over time, queue depth over time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (hist, progress, depth) = plt.subplots(3, 1, figsize=(9, 11), constrained_layout=True)
    try:
        c = result.config
        shape = (
            "burst" if c.burst else (f"{c.rate:g}/s" if c.rate else f"concurrency {c.concurrency}")
        )
        fig.suptitle(
            f"smartpapers load test {result.run_id}: {c.total} submissions, {shape}, "
            f"paper {c.paper}\n"
            + ("PASS" if not summary.problems() else "FAIL: " + "; ".join(summary.problems())),
            fontsize=10,
        )

        latencies = [lat * 1000 for r in result.records if (lat := r.accept_latency) is not None]
        if latencies:
            hist.hist(latencies, bins=min(50, max(5, len(latencies) // 10)), color="tab:blue")
            pct = summary.accept_latency_seconds
            for name, value, style in (
                ("p50", pct.p50, "-"),
                ("p95", pct.p95, "--"),
                ("p99", pct.p99, ":"),
            ):
                if value is not None:
                    hist.axvline(
                        value * 1000,
                        color="black",
                        linestyle=style,
                        label=f"{name} {value * 1000:.1f} ms",
                    )
            hist.legend()
        else:
            hist.text(0.5, 0.5, "no accepted submissions", ha="center", transform=hist.transAxes)
        hist.set_title("accept latency (POST /api/submissions → 202)")
        hist.set_xlabel("ms")
        hist.set_ylabel("submissions")

        accepted = [
            r.answered_at for r in result.records if r.accepted and r.answered_at is not None
        ]
        finished = [r.finished_at for r in result.records if r.finished_at is not None]
        rejected = [
            r.answered_at
            for r in result.records
            if r.sent_at is not None and not r.accepted and r.answered_at is not None
        ]
        for times, label, color in (
            (accepted, "accepted", "tab:blue"),
            (finished, "final (completed/failed)", "tab:green"),
            (rejected, "rejected", "tab:red"),
        ):
            if times:
                xs, ys = _cumulative(times)
                progress.step(xs, ys, where="post", label=label, color=color)
        progress.set_title("submissions over time")
        progress.set_xlabel("seconds since the first send")
        progress.set_ylabel("cumulative count")
        if accepted or finished or rejected:
            progress.legend()

        if result.queue_depth:
            xs = [s.at for s in result.queue_depth]
            depth.plot(xs, [s.visible for s in result.queue_depth], label="visible")
            depth.plot(xs, [s.inflight for s in result.queue_depth], label="in flight")
            depth.legend()
        else:
            reason = result.queue_depth_error or "no --metrics-url given"
            depth.text(
                0.5,
                0.5,
                f"queue depth unavailable:\n{reason}",
                ha="center",
                va="center",
                transform=depth.transAxes,
                wrap=True,
            )
        depth.set_title('queue depth (smartpapers_sqs_queue_messages{queue="main"})')
        depth.set_xlabel("seconds since the first send")
        depth.set_ylabel("messages")
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
