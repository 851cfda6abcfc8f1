"""The committed dashboard is fresh, well-formed and lint-clean; the query helper works."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dashboards import generate, slo
from dashboards.queries import (
    external_panels,
    load_dashboard,
    panel_queries,
    panel_query_details,
)

from .helpers import DASHBOARD_FILE, REPO_ROOT, RULES_FILE

EXPECTED_ROWS = [
    "Overview",
    "Queue",
    "Priority lane",
    "Workers (RED)",
    "Autoscaling (KEDA)",
    "API (RED)",
    "Cost",
]
DS_REFS = {"${datasource}", "$datasource"}


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return load_dashboard(DASHBOARD_FILE)


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def test_committed_files_are_fresh(tmp_path: Path) -> None:
    assert generate.main(["--out-dir", str(tmp_path)]) == 0
    for rel in (generate.DASHBOARD_FILE, generate.RULES_FILE):
        fresh = (tmp_path / rel).read_text()
        committed = (REPO_ROOT / rel).read_text() if (REPO_ROOT / rel).is_file() else None
        assert committed == fresh, (
            f"{rel} is stale: run `make dashboards` "
            "(uv run python -m dashboards.generate) and commit the result"
        )
    assert generate.main(["--check", "--out-dir", str(tmp_path)]) == 0


def test_check_mode_detects_staleness(tmp_path: Path) -> None:
    assert generate.main(["--out-dir", str(tmp_path)]) == 0
    path = tmp_path / generate.DASHBOARD_FILE
    path.write_text(path.read_text().replace('"smartpapers"', '"edited"', 1))
    assert generate.main(["--check", "--out-dir", str(tmp_path)]) == 1


def test_rows_and_layout(dash: dict[str, Any]) -> None:
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert rows == EXPECTED_ROWS
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert dash["uid"] == slo.DASHBOARD_UID
    for p in dash["panels"]:
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]


def test_lint_datasource_variable_and_no_hardcoded_uid(dash: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "release"):
        assert variables[name]["type"] == "query"
        assert variables[name]["includeAll"] is True and variables[name]["allValue"]
    # Every datasource reference anywhere in the JSON goes through the variable.
    problems: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and "uid" in ds and ds["uid"] not in DS_REFS:
                problems.append(f"{where}: datasource uid {ds['uid']!r}")
            if isinstance(ds, str) and ds not in DS_REFS:
                problems.append(f"{where}: datasource {ds!r}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(dash, "")
    assert not problems, "hard-coded datasource:\n" + "\n".join(problems)
    for p in _panels(dash):
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]


def test_lint_units_descriptions_thresholds(dash: dict[str, Any]) -> None:
    for p in _panels(dash):
        defaults = p["fieldConfig"]["defaults"]
        assert defaults.get("unit"), f"panel {p['title']!r} has no unit"
        assert p.get("description", "").strip(), f"panel {p['title']!r} has no description"
        assert defaults.get("thresholds", {}).get("steps"), f"panel {p['title']!r}: thresholds"
        assert p["targets"], f"panel {p['title']!r} has no query"


def test_lint_rate_interval_and_selectors(dash: dict[str, Any]) -> None:
    range_fn = re.compile(r"\b(rate|irate|increase|deriv|delta)\((?P<arg>[^\[]*)\[(?P<w>[^\]]+)\]")
    burn = re.compile(r"burn rate", re.I)
    for p in _panels(dash):
        for t in p["targets"]:
            expr = t["expr"]
            for m in range_fn.finditer(expr):
                w = m.group("w")
                # Burn-rate panels deliberately use the alert's fixed SLO windows.
                if burn.search(p["title"]):
                    assert w == "$__rate_interval" or w in slo.BURN_RATE_WINDOWS, (p["title"], w)
                else:
                    assert w == "$__rate_interval", (
                        f"{p['title']!r}: {m.group(0)} must use $__rate_interval"
                    )
            for sel in re.findall(
                r'\b((?:smartpapers|process|up|kube|keda)\w*)\{((?:[^{}"]|"[^"]*")*)\}', expr
            ):
                metric, labels = sel
                if metric.startswith("keda_"):
                    assert "$namespace" in labels and "${release}" in labels, (p["title"], metric)
                else:
                    assert 'namespace=~"$namespace"' in labels, (p["title"], metric)
                    assert "${release}" in labels, (p["title"], metric)


def test_thresholds_match_alerts(dash: dict[str, Any]) -> None:
    rules = RULES_FILE.read_text()
    by_title = {p["title"]: p for p in _panels(dash)}

    def steps(title: str) -> list[float]:
        return [
            s["value"]
            for s in by_title[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
            if s["value"] is not None
        ]

    assert slo.QUEUE_WAIT_P95_WARN_SECONDS in steps("Queue wait p95")
    assert f'p95_rate5m{{lane!="priority"}} > {slo.QUEUE_WAIT_P95_WARN_SECONDS}' in rules
    assert steps("Queue wait p50 / p95 by lane") == [
        slo.PRIORITY_QUEUE_WAIT_P95_WARN_SECONDS,
        slo.QUEUE_WAIT_P95_WARN_SECONDS,
    ]
    assert f'p95_rate5m{{lane="priority"}} > {slo.PRIORITY_QUEUE_WAIT_P95_WARN_SECONDS}' in rules
    assert steps("Priority DLQ messages by state") == [1]
    assert steps("DLQ depth") == [1]
    assert slo.E2E_SLO_TARGET in steps(f"Jobs done within {slo.E2E_SLO_SECONDS} s (SLO 99%)")
    fast, slow = slo.PAGE_WINDOWS
    assert steps("End-to-end SLO burn rate") == [slow.factor, fast.factor]
    assert steps("API 5xx burn rate") == [slow.factor, fast.factor]
    assert f"> ({fast.factor:g} * 0.01)" in rules and f"> ({fast.factor:g} * 0.001)" in rules


def test_panel_queries_substitutes_variables(dash: dict[str, Any]) -> None:
    queries = panel_queries(dash, namespace_regex="exams", release_regex="exam-smartpapers")
    assert len(queries) >= len(_panels(dash))
    titles = {t for t, _ in queries}
    assert titles == {p["title"] for p in _panels(dash)}
    for title, expr in queries:
        assert "$" not in expr, (title, expr)
        assert "[1m]" in expr or "rate(" not in expr or "burn rate" in title.lower(), title
    local = panel_queries(dash)  # defaults: namespace .*, release = dashboard "All"
    assert any('job=~".*smartpapers.*-api"' in e for _, e in local)


def test_external_panels_are_marked(dash: dict[str, Any]) -> None:
    ext = external_panels(dash)
    assert ext["Worker HPA replicas"] == "kube-state-metrics"
    assert ext["KEDA scaler errors /s"] == "keda"
    assert ext["KEDA scaler metric value"] == "keda"
    assert ext["Worker replicas (current / desired / max)"] == "kube-state-metrics"
    app_only = panel_queries(dash, include_external=False)
    assert all("kube_" not in e and "keda_" not in e for _, e in app_only)
    assert {q.external for q in panel_query_details(dash)} == {None, "kube-state-metrics", "keda"}


def test_dashboard_json_is_grafana_importable_shape(dash: dict[str, Any]) -> None:
    # Round-trips and carries what Grafana's provisioning sidecar needs.
    assert json.loads(json.dumps(dash)) == dash
    assert dash["title"] and dash["schemaVersion"] >= 36
    assert "id" not in dash or dash["id"] in (None, 0)


def _exprs(dash: dict[str, Any], title: str) -> list[str]:
    return [t["expr"] for p in _panels(dash) if p["title"] == title for t in p["targets"]]


def test_lanes_queues_and_dead_letters(dash: dict[str, Any]) -> None:
    rows: dict[str, list[str]] = {}
    row = ""
    for p in dash["panels"]:
        if p["type"] == "row":
            row = p["title"]
        else:
            rows.setdefault(row, []).append(p["title"])
    assert rows["Priority lane"] == [
        "Queue depth by lane",
        "Queue wait p50 / p95 by lane",
        "End-to-end p95 by lane",
        "Receive batches /s by lane",
        "Priority : normal receive ratio",
        "Priority DLQ messages by state",
    ]
    # per-lane panels keep the lane; the existing latency panels aggregate over lanes
    for title in ("Queue wait p50 / p95 by lane", "End-to-end p95 by lane"):
        assert all("sum by (le, lane)" in e for e in _exprs(dash, title)), title
    for title in ("Queue wait p95", "Queue wait p50 / p95 / p99", "End-to-end p50 / p95 / p99"):
        assert all("sum by (le) (" in e and "lane" not in e for e in _exprs(dash, title)), title
    (ratio,) = _exprs(dash, "Priority : normal receive ratio")
    assert 'lane="priority"' in ratio.split(" / ")[0] and 'lane="normal"' in ratio.split(" / ")[1]
    # "all dead letters" reads both DLQs; the main-queue panels keep reading the main queue
    assert all(f'queue=~"{slo.DLQS_RE}"' in e for e in _exprs(dash, "DLQ depth"))
    assert all('queue="dlq"' in e for e in _exprs(dash, "DLQ messages by state"))
    assert all('queue="priority-dlq"' in e for e in _exprs(dash, "Priority DLQ messages by state"))
    for title in ("Main queue depth", "Main queue messages by state"):
        assert all('queue="main"' in e for e in _exprs(dash, title)), title
    # the finish rate counts both lanes' jobs, so the backlog does too
    assert all(
        f'queue=~"{slo.LANE_QUEUES_RE}"' in e for e in _exprs(dash, "Estimated backlog drain time")
    )


def test_priority_share_line_is_the_workers_default(dash: dict[str, Any]) -> None:
    from smartpapers.worker.settings import Settings

    assert Settings.model_fields["worker_priority_share"].default == (
        slo.WORKER_PRIORITY_SHARE_DEFAULT
    )
    (panel,) = [p for p in _panels(dash) if p["title"] == "Priority : normal receive ratio"]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps if s["value"] is not None] == [
        slo.WORKER_PRIORITY_SHARE_DEFAULT
    ]
