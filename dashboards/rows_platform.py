# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""Dashboard rows of the platform: KEDA autoscaling, API, cost."""

from __future__ import annotations

from dashboards import slo
from dashboards.panels import (
    ANY,
    API,
    HPA,
    NS,
    RI,
    P,
    Q,
    api_budget,
    api_ratio_w,
    burn_panel,
    hpa_replicas,
    keda_selector,
    latency_panel,
    lower,
    main_visible,
    page_fast,
    page_slow,
    priority_visible,
    quantile,
    submit,
    upper,
)


def autoscaling() -> list[P]:
    return [
        P(
            "timeseries",
            "Worker HPA replicas",
            "kube-state-metrics series of the KEDA-created HPA keda-hpa-<release>-worker.",
            "short",
            hpa_replicas(),
        ),
        P(
            "timeseries",
            "Deployment replicas",
            "kube_deployment_status_replicas of the API and worker Deployments.",
            "short",
            [
                Q(
                    f"sum by (deployment) (kube_deployment_status_replicas{{{NS}, "
                    f'deployment=~"${{release}}-(api|worker)"}})',
                    "{{deployment}}",
                )
            ],
        ),
        P(
            "timeseries",
            "KEDA scaler metric value",
            "The value KEDA feeds the HPA for the worker ScaledObject (the aws-sqs-queue "
            "trigger: queue length), keda_scaler_metrics_value.",
            "short",
            [
                Q(
                    f"max by (scaler, metric) ({keda_selector('keda_scaler_metrics_value')})",
                    "{{scaler}} {{metric}}",
                )
            ],
        ),
        P(
            "timeseries",
            "KEDA scaler errors /s",
            "keda_scaler_detail_errors_total rate for the worker ScaledObject (KEDA >= 2.14). "
            "Any error raises SmartpapersKedaScalerErrors; KEDA then falls back or stops scaling.",
            "ops",
            [
                Q(
                    "sum by (scaler) (rate("
                    + keda_selector("keda_scaler_detail_errors_total").replace(
                        " or ", f"[{RI}]) or rate("
                    )
                    + f"[{RI}]))",
                    "{{scaler}}",
                )
            ],
            th=upper(None, 0.000001),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Backlog per worker replica",
            "Visible messages per current worker replica, per lane: the quantity each "
            "aws-sqs-queue trigger targets (sqs-depth: main queue; sqs-priority-depth: the "
            "priority queue, when the lane is configured). The HPA follows the larger one.",
            "short",
            [
                Q(
                    f"{main_visible} / scalar(sum(kube_horizontalpodautoscaler_status_current_replicas"
                    f"{{{HPA}}}))",
                    "main messages/replica",
                ),
                Q(
                    f"{priority_visible} / scalar(sum(kube_horizontalpodautoscaler_status_current_replicas"
                    f"{{{HPA}}}))",
                    "priority messages/replica",
                ),
            ],
            width=16,
        ),
    ]


def api() -> list[P]:
    return [
        P(
            "timeseries",
            "Requests /s by handler and status",
            "HTTP request rate by route template and status class (prometheus-fastapi-"
            "instrumentator).",
            "reqps",
            [
                Q(
                    f"sum by (handler, method, status) (rate(smartpapers_http_requests_total{{{API}}}"
                    f"[{RI}]))",
                    "{{method}} {{handler}} {{status}}",
                )
            ],
            width=12,
        ),
        P(
            "timeseries",
            "5xx ratio (/api/*)",
            f"Share of /api/* responses that are 5xx. SLO: {slo.API_AVAILABILITY_TARGET:.1%} "
            f"non-5xx; the red line is the {page_fast.factor:g}x burn rate that pages.",
            "percentunit",
            [Q(api_ratio_w.replace("$W", RI), "5xx ratio")],
            th=upper(api_budget, api_budget * page_fast.factor),
            threshold_lines=True,
            width=12,
        ),
        burn_panel(
            "API 5xx burn rate",
            f"Error-budget burn rate of the API availability SLO. Page at {page_fast.factor:g}x "
            f"({page_fast.long}) / {page_slow.factor:g}x ({page_slow.long}).",
            api_ratio_w,
            api_budget,
        ),
        latency_panel(
            "POST /api/submissions latency",
            f"Accept latency. SLO: {slo.API_LATENCY_TARGET:.0%} under "
            f"{slo.API_LATENCY_SECONDS * 1000:g} ms.",
            "smartpapers_http_request_duration_seconds",
            submit,
            slo.API_LATENCY_SECONDS,
        ),
        P(
            "timeseries",
            f"POST /api/submissions within {slo.API_LATENCY_SECONDS * 1000:g} ms",
            f"Latency SLI: share of accept requests under {slo.API_LATENCY_SECONDS * 1000:g} ms "
            f"(bucket le={slo.API_LATENCY_SECONDS}). SLO {slo.API_LATENCY_TARGET:.0%}.",
            "percentunit",
            [
                Q(
                    f"sum(rate(smartpapers_http_request_duration_seconds_bucket{{{submit}, "
                    f"{slo.API_LE}}}[{RI}])) / sum(rate(smartpapers_http_request_duration_seconds_count"
                    f"{{{submit}}}[{RI}]))",
                    "SLI",
                )
            ],
            th=lower(slo.API_LATENCY_TARGET),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Latency p99 by handler",
            "99th percentile request duration per route template.",
            "s",
            [
                Q(
                    quantile(0.99, "smartpapers_http_request_duration_seconds", API, "handler, le"),
                    "{{handler}}",
                )
            ],
            width=12,
        ),
        P(
            "timeseries",
            "Rejected submissions /s by reason",
            "Submissions not accepted, by reason (invalid, unknown_paper, too_large, "
            "rate_limited, unavailable, conflict, unauthorized). `unavailable` = 503 because the "
            "job could not be stored.",
            "reqps",
            [
                Q(
                    f"sum by (reason) (rate(smartpapers_submissions_rejected_total{{{API}}}[{RI}]))",
                    "{{reason}}",
                )
            ],
            stack=True,
            width=12,
        ),
    ]


def cost() -> list[P]:
    return [
        P(
            "timeseries",
            "SQS requests per submission",
            "All SQS API calls (API + workers, including queue-depth polls and empty long polls) "
            "per accepted submission: the SQS bill per submission. Target: <= "
            f"{slo.SQS_REQUESTS_PER_SUBMISSION_TARGET}.",
            "short",
            [
                Q(
                    f"sum(rate(smartpapers_sqs_requests_total{{{ANY}}}[{RI}])) / "
                    f"sum(rate(smartpapers_submissions_accepted_total{{{API}}}[{RI}]))",
                    "requests/sub",
                )
            ],
            th=upper(None, slo.SQS_REQUESTS_PER_SUBMISSION_TARGET),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "SQS requests /s by operation",
            "SQS API calls per second by operation and service.",
            "reqps",
            [
                Q(
                    f"sum by (job, operation) (rate(smartpapers_sqs_requests_total{{{ANY}}}[{RI}]))",
                    "{{job}} {{operation}}",
                )
            ],
            stack=True,
        ),
        P(
            "timeseries",
            "Paper cache hit ratio",
            "Share of paper (answer key) look-ups served from the in-process cache, by service.",
            "percentunit",
            [
                Q(
                    f'sum by (job) (rate(smartpapers_paper_cache_requests_total{{{ANY}, result="hit"}}'
                    f"[{RI}])) / sum by (job) (rate(smartpapers_paper_cache_requests_total{{{ANY}}}"
                    f"[{RI}]))",
                    "{{job}}",
                )
            ],
            min=0,
            max=1,
        ),
        P(
            "timeseries",
            "CPU by pod",
            "process_cpu_seconds_total rate per process (1 = one core busy).",
            "short",
            [
                Q(
                    f"sum by (job, instance) (rate(process_cpu_seconds_total{{{ANY}}}[{RI}]))",
                    "{{job}} {{instance}}",
                )
            ],
            width=12,
        ),
        P(
            "timeseries",
            "Resident memory by pod",
            "process_resident_memory_bytes per process.",
            "bytes",
            [
                Q(
                    f"sum by (job, instance) (process_resident_memory_bytes{{{ANY}}})",
                    "{{job}} {{instance}}",
                )
            ],
            width=12,
        ),
    ]
