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

STEPS = 40  # samples at 15 s -> 10 minutes of data
EVAL = "9m"
HTTP_BUCKETS = [
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1.0",
    "2.5",
    "5.0",
    "10.0",
    "+Inf",
]
JOB_BUCKETS = [
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1.0",
    "2.5",
    "5.0",
    "10.0",
    "15.0",
    "30.0",
    "60.0",
    "120.0",
    "300.0",
    "600.0",
    "+Inf",
]
REASONS = [
    "invalid",
    "unknown_paper",
    "too_large",
    "rate_limited",
    "unavailable",
    "conflict",
    "unauthorized",
]


def _labels(base: dict[str, str], **extra: str) -> str:
    merged = {**base, **extra}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in merged.items()) + "}"


def _counter(step: float) -> str:
    return f"0+{step:g}x{STEPS}"


def _gauge(value: float) -> str:
    return f"{value:g}x{STEPS}"


def _histogram(
    name: str, base: dict[str, str], buckets: list[str], rate: int
) -> list[dict[str, str]]:
    """Cumulative buckets: ~half the observations in the lowest third, all by the 2/3 point."""
    out = []
    n = len(buckets)
    for i, le in enumerate(buckets):
        share = 1.0 if i >= (2 * n) // 3 else min(1.0, 0.5 + 0.5 * i / max(1, (2 * n) // 3))
        out.append(
            {
                "series": f"{name}_bucket{_labels(base, le=le)}",
                "values": _counter(round(rate * share)),
            }
        )
    out.append({"series": f"{name}_count{_labels(base)}", "values": _counter(rate)})
    out.append({"series": f"{name}_sum{_labels(base)}", "values": _counter(rate * 0.2)})
    return out


def _app_series(namespace: str | None, release: str) -> list[dict[str, str]]:
    ns = {"namespace": namespace} if namespace else {}
    api = {**ns, "job": f"{release}-api", "instance": "10.0.0.1:8000", "pod": f"{release}-api-0"}
    wrk = {
        **ns,
        "job": f"{release}-worker",
        "instance": "10.0.0.2:9100",
        "pod": f"{release}-worker-0",
    }
    s: list[dict[str, str]] = []
    add = s.append
    for base in (api, wrk):
        add({"series": f"up{_labels(base)}", "values": _gauge(1)})
        add({"series": f"process_cpu_seconds_total{_labels(base)}", "values": _counter(3)})
        add({"series": f"process_resident_memory_bytes{_labels(base)}", "values": _gauge(8e7)})
        for result, n in (("hit", 95), ("miss", 5)):
            add(
                {
                    "series": "smartpapers_paper_cache_requests_total"
                    + _labels(base, result=result),
                    "values": _counter(n),
                }
            )
    for op, n in (("SendMessageBatch", 10), ("GetQueueAttributes", 1)):
        add(
            {
                "series": f"smartpapers_sqs_requests_total{_labels(api, operation=op)}",
                "values": _counter(n),
            }
        )
    for op, n in (("ReceiveMessage", 12), ("DeleteMessageBatch", 10)):
        add(
            {
                "series": f"smartpapers_sqs_requests_total{_labels(wrk, operation=op)}",
                "values": _counter(n),
            }
        )
    for handler, method, status, n in (
        ("/api/submissions", "POST", "2xx", 1500),
        ("/api/submissions", "POST", "5xx", 1),
        ("/api/submissions/status/{job_id}", "GET", "2xx", 300),
    ):
        add(
            {
                "series": "smartpapers_http_requests_total"
                + _labels(api, handler=handler, method=method, status=status),
                "values": _counter(n),
            }
        )
    for handler, method in (
        ("/api/submissions", "POST"),
        ("/api/submissions/status/{job_id}", "GET"),
    ):
        s += _histogram(
            "smartpapers_http_request_duration_seconds",
            {**api, "handler": handler, "method": method},
            HTTP_BUCKETS,
            1500,
        )
    add(
        {
            "series": f"smartpapers_submissions_accepted_total{_labels(api)}",
            "values": _counter(1500),
        }
    )
    for reason in REASONS:
        add(
            {
                "series": f"smartpapers_submissions_rejected_total{_labels(api, reason=reason)}",
                "values": _counter(1),
            }
        )
    for queue, values in (("main", (300, 40, 0)), ("dlq", (2, 0, 0))):
        for state, v in zip(("visible", "inflight", "delayed"), values, strict=True):
            add(
                {
                    "series": "smartpapers_sqs_queue_messages"
                    + _labels(api, queue=queue, state=state),
                    "values": _gauge(v),
                }
            )
    for outcome, n in (("completed", 1490), ("failed", 2), ("retried", 8)):
        add(
            {
                "series": f"smartpapers_jobs_processed_total{_labels(wrk, outcome=outcome)}",
                "values": _counter(n),
            }
        )
    for name in (
        "smartpapers_job_processing_seconds",
        "smartpapers_job_queue_wait_seconds",
        "smartpapers_job_end_to_end_seconds",
    ):
        s += _histogram(name, wrk, JOB_BUCKETS, 1490)
    add({"series": f"smartpapers_worker_inflight_jobs{_labels(wrk)}", "values": _gauge(40)})
    add({"series": f"smartpapers_worker_concurrency_limit{_labels(wrk)}", "values": _gauge(64)})
    add({"series": f"smartpapers_worker_inflight_limit{_labels(wrk)}", "values": _gauge(48)})
    add(
        {
            "series": f"smartpapers_worker_last_processed_timestamp_seconds{_labels(wrk)}",
            "values": "0+15x40",
        }
    )
    return s


def _external_series(namespace: str, release: str, honor_labels: bool) -> list[dict[str, str]]:
    ksm = {"namespace": namespace, "job": "kube-state-metrics", "instance": "10.0.9.9:8080"}
    hpa = {**ksm, "horizontalpodautoscaler": f"keda-hpa-{release}-worker"}
    s = [
        {
            "series": f"kube_horizontalpodautoscaler_status_current_replicas{_labels(hpa)}",
            "values": _gauge(3),
        },
        {
            "series": f"kube_horizontalpodautoscaler_status_desired_replicas{_labels(hpa)}",
            "values": _gauge(4),
        },
        {
            "series": f"kube_horizontalpodautoscaler_spec_max_replicas{_labels(hpa)}",
            "values": _gauge(20),
        },
    ]
    for comp, n in (("api", 2), ("worker", 3)):
        s.append(
            {
                "series": "kube_deployment_status_replicas"
                + _labels(ksm, deployment=f"{release}-{comp}"),
                "values": _gauge(n),
            }
        )
    keda = {
        "job": "keda-operator",
        "instance": "10.0.8.8:8080",
        "scaledObject": f"{release}-worker",
        "scaler": "awsSqsQueueScaler",
        "triggerIndex": "0",
        "type": "scaledobject",
        "metric": "s0-aws-sqs-queue-smartpapers-jobs",
    }
    keda |= (
        {"namespace": namespace}
        if honor_labels
        else {"namespace": "keda", "exported_namespace": namespace}
    )
    s.append({"series": f"keda_scaler_metrics_value{_labels(keda)}", "values": _gauge(300)})
    s.append({"series": f"keda_scaler_detail_errors_total{_labels(keda)}", "values": _counter(1)})
    return s


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
