"""Synthetic Prometheus series for test_dashboard_synthetic.py, as promtool ``input_series``.

``app_series``: what prometheus_client / prometheus-fastapi-instrumentator expose for the API
and the worker (bucket bounds rendered as "30.0"), with Kubernetes labels
(namespace/pod/job=<release>-api|-worker) or the local ones (no namespace,
job=smartpapers-api|-worker), both lanes (normal, priority) and their queues.
``external_series``: kube-state-metrics v2 and the KEDA 2.14+
operator, with or without honorLabels. ``STEPS`` samples at 15 s.
"""

from __future__ import annotations

from smartpapers.api.metrics import REJECT_REASONS

STEPS = 40  # samples at 15 s -> 10 minutes of data
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


def app_series(namespace: str | None, release: str) -> list[dict[str, str]]:
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
    for reason in REJECT_REASONS:
        add(
            {
                "series": f"smartpapers_submissions_rejected_total{_labels(api, reason=reason)}",
                "values": _counter(1),
            }
        )
    for queue, values in (
        ("main", (300, 40, 0)),
        ("dlq", (2, 0, 0)),
        ("priority", (12, 20, 0)),
        ("priority-dlq", (1, 0, 0)),
    ):
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
    s += _histogram("smartpapers_job_processing_seconds", wrk, JOB_BUCKETS, 1490)
    # per lane (the priority lane: premium students' jobs, a second queue)
    for name in ("smartpapers_job_queue_wait_seconds", "smartpapers_job_end_to_end_seconds"):
        for lane, n in (("normal", 1190), ("priority", 300)):
            s += _histogram(name, {**wrk, "lane": lane}, JOB_BUCKETS, n)
    for lane, n in (("normal", 30), ("priority", 90)):
        add(
            {
                "series": f"smartpapers_worker_receive_batches_total{_labels(wrk, lane=lane)}",
                "values": _counter(n),
            }
        )
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


def external_series(namespace: str, release: str, honor_labels: bool) -> list[dict[str, str]]:
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
