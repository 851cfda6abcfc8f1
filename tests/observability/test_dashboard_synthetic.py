"""Every dashboard panel query and every recording rule returns data on synthetic series.

This is where the panels that need kube-state-metrics or KEDA series are proved (the live
Prometheus test cannot scrape those locally); it also evaluates all smartpapers panels with
realistic label sets (Kubernetes: namespace/pod/job=<release>-api|-worker; local: no namespace,
job=smartpapers-api|-worker), both with a concrete namespace/release and with "All".
The series mimic what prometheus_client / prometheus-fastapi-instrumentator expose (bucket
bounds rendered as "30.0"), kube-state-metrics v2 and the KEDA 2.14+ operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dashboards.queries import load_dashboard, panel_query_details

from .helpers import DASHBOARD_FILE, RULES_FILE, run_promtool
from .synthetic_series import app_series as _app_series
from .synthetic_series import external_series as _external_series

EVAL = "9m"


def _cases(
    dash: dict[str, Any], namespace_regex: str, release_regex: str | None
) -> list[dict[str, Any]]:
    cases = []
    for q in panel_query_details(dash, namespace_regex, release_regex, rate_interval="1m"):
        cases.append(
            {
                "expr": f"count(({q.expr})) > bool 0",
                "eval_time": EVAL,
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        )
    return cases


def _recording_cases() -> list[dict[str, Any]]:
    rules = yaml.safe_load(RULES_FILE.read_text())
    return [
        {
            "expr": f"count({r['record']}) > bool 0",
            "eval_time": EVAL,
            "exp_samples": [{"labels": "{}", "value": 1}],
        }
        for g in rules["groups"]
        for r in g["rules"]
        if "record" in r
    ]


def test_every_panel_query_and_recording_rule_returns_data(promtool: str, tmp_path: Path) -> None:
    dash = load_dashboard(DASHBOARD_FILE)
    kube = _app_series("exams", "exam-smartpapers") + _external_series(
        "exams", "exam-smartpapers", honor_labels=False
    )
    kube_honor = _app_series("exams2", "smartpapers") + _external_series(
        "exams2", "smartpapers", honor_labels=True
    )
    local = _app_series(None, "smartpapers")
    tests = [
        {
            "name": "kubernetes: ns=exams release=exam-smartpapers (KEDA exported_namespace)",
            "interval": "15s",
            "input_series": kube,
            "promql_expr_test": _cases(dash, "exams", "exam-smartpapers") + _recording_cases(),
        },
        {
            "name": "kubernetes: namespace=exams2 release=smartpapers (KEDA honorLabels)",
            "interval": "15s",
            "input_series": kube_honor,
            "promql_expr_test": _cases(dash, "exams2", "smartpapers"),
        },
        {
            "name": "kubernetes: All namespaces, All releases",
            "interval": "15s",
            "input_series": kube + kube_honor,
            "promql_expr_test": _cases(dash, ".*", None),
        },
        {
            "name": "local stack (no namespace label), All",
            "interval": "15s",
            "input_series": local,
            "promql_expr_test": [
                c
                for c, q in zip(_cases(dash, ".*", None), panel_query_details(dash), strict=True)
                if q.external is None
            ]
            + _recording_cases(),
        },
    ]
    test_file = tmp_path / "dashboard_queries_test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [str(RULES_FILE)], "evaluation_interval": "15s", "tests": tests},
            sort_keys=False,
            width=4096,
        )
    )
    run_promtool(promtool, "test", "rules", str(test_file))


def test_queries_do_not_leak_across_releases(promtool: str, tmp_path: Path) -> None:
    """With another release selected, app panels see none of exam-smartpapers' series."""
    dash = load_dashboard(DASHBOARD_FILE)
    cases = []
    for q in panel_query_details(dash, "exams", "other-smartpapers", rate_interval="1m"):
        if "vector(0)" in q.raw_expr or "time()" in q.raw_expr:
            continue
        cases.append(
            {
                "expr": f"count(({q.expr})) or vector(0)",
                "eval_time": EVAL,
                "exp_samples": [{"labels": "{}", "value": 0}],
            }
        )
    test_file = tmp_path / "isolation_test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [],
                "evaluation_interval": "15s",
                "tests": [
                    {
                        "name": "other release selected",
                        "interval": "15s",
                        "input_series": _app_series("exams", "exam-smartpapers")
                        + _external_series("exams", "exam-smartpapers", honor_labels=True),
                        "promql_expr_test": cases,
                    }
                ],
            },
            sort_keys=False,
            width=4096,
        )
    )
    run_promtool(promtool, "test", "rules", str(test_file))
