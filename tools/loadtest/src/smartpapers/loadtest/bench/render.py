"""The benchmark's table: every figure's median beside the naive baseline's (same run), the
ratio (how many times better, > 1 = better), the original system's published figure and the
target where the project sets one."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

Figures = dict[str, float]

ORIGINAL = {
    "latency": "20–50 ms",
    "jobs_per_min": "~100/min",
    "sqs": "~3",
}


@dataclass(frozen=True)
class Spec:
    key: str
    label: str
    unit: str
    #: "high": more is better; "low": less is better; "": not compared
    better: str
    original: str = ""
    target: float | None = None
    #: compared only when the baseline kept every job (the baseline's ``<burst>_bad`` is 0):
    #: a baseline that rejected most of a burst "completes" the rest sooner
    whole: str = ""


def specs(keys: set[str]) -> list[Spec]:
    """The rows for the figures present in ``keys``, in reading order."""
    rows: list[Spec] = []
    for c in (1, 50, 200):
        for q in ("p50", "p99"):
            rows.append(
                Spec(
                    f"latency_c{c}_{q}_ms",
                    f"accept latency {q}, {c} client(s)",
                    "ms",
                    "low",
                    ORIGINAL["latency"] if q == "p50" else "",
                )
            )
    bursts = {k.removesuffix("_bad") for k in keys if k.startswith("burst") and k.endswith("_bad")}
    for b in sorted(bursts, key=lambda k: (int(k[5:].split("_")[0]), k)):
        rows += burst_rows(b)
    rows += [
        Spec("drain_jobs_per_min", "one worker process: jobs/min", "/min", "high",
             ORIGINAL["jobs_per_min"], 20_000),
        Spec("drain_worker_cpu_ms_per_job", "one worker process: CPU per job", "ms", "low", "", 2),
        Spec("drain_worker_mongo_per_job", "one worker: database round trips per job", "",
             "low", "", 0.5),
        Spec("drain_retried_pct", "one worker: retries", "%", "low", "", 1),
        Spec("drain_database_cores", "one worker: database cores busy", "", ""),
    ]  # fmt: skip
    return [r for r in rows if r.key in keys]


def burst_rows(key: str) -> list[Spec]:
    total = int(key[5:].split("_")[0])
    workers = key.split("_w")[1].split("_")[0]
    hogs = " + 2 CPU hogs" if "_hogs" in key else ""
    name = f"burst {total:,}, {workers} workers{hogs}"
    accept_target = 30.0 if total == 10_000 else None
    complete_target = 120.0 if total == 10_000 and workers == "2" else None
    return [
        Spec(f"{key}_bad", f"{name}: rejected + lost + duplicated + wrong", "", "low", "", 0),
        Spec(f"{key}_accept_all_s", f"{name}: time to accept all", "s", "low", "", accept_target),
        Spec(f"{key}_accepted_per_s", f"{name}: accepted/s", "/s", "high"),
        Spec(f"{key}_complete_all_s", f"{name}: time to complete all", "s", "low", "",
             complete_target, whole=f"{key}_bad"),
        Spec(f"{key}_accept_p99_ms", f"{name}: accept latency p99", "ms", "low"),
        Spec(f"{key}_retried_pct", f"{name}: retries", "%", "low", "", 1),
        Spec(f"{key}_sqs_per_sub", f"{name}: SQS requests per submission", "", "low",
             ORIGINAL["sqs"], 0.5),
        Spec(f"{key}_api_mongo_per_sub", f"{name}: API database round trips per submission",
             "", "low", "", 0.2),
        Spec(f"{key}_worker_mongo_per_job", f"{name}: worker database round trips per job",
             "", "low", "", 0.5),
        Spec(f"{key}_rss_api_mib", f"{name}: peak RSS, API", "MiB", "low", "", 200),
        Spec(f"{key}_rss_worker_mib", f"{name}: peak RSS, a worker", "MiB", "low", "", 200),
    ]  # fmt: skip


def medians(runs: list[Figures]) -> Figures:
    keys = sorted({k for run in runs for k in run})
    return {k: statistics.median(run[k] for run in runs if k in run) for k in keys}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}{' ' + unit if unit else ''}"


def meets(spec: Spec, value: float | None) -> bool | None:
    if spec.target is None or value is None:
        return None
    return value >= spec.target if spec.better == "high" else value <= spec.target


def ratio(spec: Spec, ours: float | None, naive: float | None) -> str:
    """How many times better than the naive baseline (>1 = better)."""
    if not ours or not naive or spec.better not in ("high", "low"):
        return "-"
    return f"×{(ours / naive if spec.better == 'high' else naive / ours):.2f}"


def compared(spec: Spec, ours: Figures, naive: Figures) -> str:
    if spec.whole and naive.get(spec.whole):
        return f"- (baseline lost {naive[spec.whole]:,.0f})"
    return ratio(spec, ours.get(spec.key), naive.get(spec.key))


def table(ours: Figures, naive: Figures, repeat: int, rows: list[Spec] | None = None) -> str:
    lines = [
        f"| figure | smartpapers (median of {repeat}) | naive baseline | better by "
        "| original system | target |",
        "|---|---|---|---|---|---|",
    ]
    for spec in rows if rows is not None else specs(set(ours) | set(naive)):
        value = ours.get(spec.key)
        verdict = {None: "", True: " ✓", False: " ✗"}[meets(spec, value)]
        target = "" if spec.target is None else f"{_fmt(spec.target, spec.unit)}{verdict}"
        lines.append(
            f"| {spec.label} | {_fmt(value, spec.unit)} | {_fmt(naive.get(spec.key), spec.unit)}"
            f" | {compared(spec, ours, naive)} | {spec.original} | {target} |"
        )
    return "\n".join(lines)


def render(doc: dict[str, Any]) -> str:
    """The table of a result document, also of a partial one (the runs done so far)."""
    runs: dict[str, list[Figures]] = doc.get("runs", {})
    ours, naive = medians(runs.get("smartpapers", [])), medians(runs.get("naive", []))
    if not ours and not naive:
        return "no completed run in this document"
    repeat = max(sum(1 for run in runs.get("smartpapers", []) if run), 1)
    return table(ours, naive, repeat)
