"""The benchmark's and the database probe's reports: counters parsed from /metrics, the table
with ratios and targets, a partial result document, the dbprobe table."""

from __future__ import annotations

# ---------------------------------------------------------------------------- bench, dbprobe


def test_bench_parses_counters_and_renders_a_table_with_ratios() -> None:
    import os

    from smartpapers.loadtest.bench import measure, render

    text = (
        'smartpapers_sqs_requests_total{operation="SendMessageBatch"} 4.0\n'
        'smartpapers_sqs_requests_total{operation="ReceiveMessage"} 6.0\n'
        'smartpapers_mongo_commands_total{command="insert"} 9.0\n'
    )
    by_op = measure.counter_by_label(text, "smartpapers_sqs_requests", "operation")
    assert by_op == {"SendMessageBatch": 4, "ReceiveMessage": 6}
    assert measure.counter_by_label(text, "smartpapers_mongo_commands", "command") == {"insert": 9}
    cpu = measure.cpu_seconds(os.getpid())
    assert cpu is not None and cpu > 0
    counts = measure.Counts({"GetQueueAttributes": 5, "ReceiveMessage": 2}, {"ping": 1}, {})
    assert counts.sqs_requests == 2 and counts.mongo_round_trips == 0  # monitoring excluded
    assert render.medians([{"a": 1.0}, {"a": 5.0}, {"a": 2.0, "b": 7.0}]) == {"a": 2.0, "b": 7.0}

    rows = [
        render.Spec("thr", "jobs/min per worker", "/min", "high", "~100/min", 20_000),
        render.Spec("sqs", "SQS requests per submission", "", "low", "~3", 0.5),
        render.Spec("busy", "database cores busy", "", ""),
    ]
    text = render.table({"thr": 600.0, "sqs": 0.25, "busy": 0.9}, {"thr": 300.0}, 3, rows)
    lines = text.splitlines()
    assert lines[0].startswith("| figure | smartpapers (median of 3) | naive baseline |")
    assert (
        "| jobs/min per worker | 600 /min | 300 /min | ×2.00 | ~100/min | 20,000 /min ✗ |" in lines
    )
    assert "| SQS requests per submission | 0.25 | - | - | ~3 | 0.50 ✓ |" in lines
    assert render.ratio(rows[1], 0.25, 1.0) == "×4.00"  # lower is better: naive ÷ ours
    assert render.meets(rows[0], 25_000.0) is True and render.meets(rows[2], 1.0) is None


def test_bench_renders_a_partial_result_document() -> None:
    from smartpapers.loadtest.bench import render

    run = {
        "latency_c1_p50_ms": 40.0,
        "burst10000_w2_bad": 0.0,
        "burst10000_w2_sqs_per_sub": 0.3,
        "burst1000_w2_hogs2_bad": 0.0,
        "drain_jobs_per_min": 600.0,
    }
    naive = {**run, "burst10000_w2_sqs_per_sub": 3.0}
    doc = {"partial": True, "runs": {"smartpapers": [run, run], "naive": [naive]}}
    text = render.render(doc)
    assert "median of 2" in text
    assert (
        "| burst 10,000, 2 workers: SQS requests per submission | 0.30 | 3.00 | ×10.00 | ~3 "
        "| 0.50 ✓ |" in text
    )
    assert "burst 1,000, 2 workers + 2 CPU hogs: rejected" in text
    assert "one worker process: jobs/min" in text
    assert render.render({"partial": True, "runs": {}}) == "no completed run in this document"


def test_bench_counts_only_finished_runs_and_never_compares_with_a_baseline_that_lost_jobs() -> (
    None
):
    from smartpapers.loadtest.bench import render

    ours = {"burst10000_w2_bad": 0.0, "burst10000_w2_complete_all_s": 50.0}
    naive = {"burst10000_w2_bad": 7_660.0, "burst10000_w2_complete_all_s": 40.0}
    # an interrupted run of 3: the document holds one finished run and two empty ones
    doc = {"partial": True, "runs": {"smartpapers": [ours, {}, {}], "naive": [naive, {}, {}]}}
    text = render.render(doc)
    assert "median of 1" in text
    assert (
        "| burst 10,000, 2 workers: time to complete all | 50.0 s | 40.0 s "
        "| - (baseline lost 7,660) |" in text
    )
    whole = {**naive, "burst10000_w2_bad": 0.0}
    text = render.render({"runs": {"smartpapers": [ours], "naive": [whole]}})
    assert "| burst 10,000, 2 workers: time to complete all | 50.0 s | 40.0 s | ×0.80 |" in text


def test_dbprobe_table_lists_every_operation_per_size() -> None:
    from smartpapers.loadtest import dbprobe

    rows = [(1000, name, 1.5) for name in dbprobe.OPERATIONS] + [
        (10000, name, 700.0) for name in dbprobe.OPERATIONS
    ]
    text = dbprobe.table(rows).splitlines()
    assert text[0] == "| operation (median) | 1,000 jobs | 10,000 jobs |"
    assert len(text) == 2 + len(dbprobe.OPERATIONS)
    assert "| status read: find {_id} | 1.5 ms | 700.0 ms |" in text


def test_bench_only_selects_scenarios_by_name() -> None:
    from smartpapers.loadtest.bench import plan, selected

    scenarios = plan(quick=False, drain_jobs=None)
    names = [n for n, _ in selected(scenarios, "burst 10,000 / 2 workers,drain")]
    assert names == ["burst 10,000 / 2 workers", "drain"]  # "10,000" is not split
    assert [n for n, _ in selected(scenarios, "")] == [n for n, _ in scenarios]
    assert selected(scenarios, "no such scenario") == []
