# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""The smartpapers Grafana dashboard, built with grafana-foundation-sdk.

Rows: overview, queue, workers RED, autoscaling, API RED, cost. Every query is scoped by the
``$namespace`` and ``$release`` variables (``$release`` is the chart fullname, i.e. the prefix
of the ``<fullname>-api`` / ``<fullname>-worker`` scrape jobs) and reads from ``$datasource``;
counters use ``$__rate_interval``. Thresholds come from :mod:`dashboards.slo`, the same module
the alert rules are generated from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards import slo

DATASOURCE = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
RI = "$__rate_interval"

# Label selectors (template variables are substituted by Grafana, or by dashboards.queries).
NS = 'namespace=~"$namespace"'
API = f'{NS}, job=~"${{release}}-api"'
WORKER = f'{NS}, job=~"${{release}}-worker"'
ANY = f'{NS}, job=~"${{release}}-(api|worker)"'
HPA = f'{NS}, horizontalpodautoscaler=~"keda-hpa-${{release}}-worker"'
SCALED_OBJECT = 'scaledObject=~"${release}-worker"'

#: Metric-name prefixes served by exporters outside smartpapers. Panels reading them cannot be
#: checked against the local stack; dashboards.queries reports them with this marker.
EXTERNAL_SOURCES = {"kube_": "kube-state-metrics", "keda_": "keda"}


def keda_selector(metric: str, extra: str = "") -> str:
    """A KEDA operator series for the release's worker ScaledObject in ``$namespace``.

    KEDA's own ``namespace`` label (the ScaledObject's) becomes ``exported_namespace`` when the
    operator is scraped without ``honorLabels``; match either form.
    """
    extra = f", {extra}" if extra else ""
    return (
        f'{metric}{{{SCALED_OBJECT}, exported_namespace=~"$namespace"{extra}}}'
        f" or {metric}{{{SCALED_OBJECT}, {NS}{extra}}}"
    )


def quantile(q: float, metric: str, sel: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{sel}}}[{RI}])))"


def thresholds(*steps: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    return (
        dash_b.ThresholdsConfig()
        .mode(dash_m.ThresholdsMode.ABSOLUTE)
        .steps([dash_m.Threshold(value=v, color=c) for v, c in steps])
    )


GREEN_ONLY = thresholds((None, "green"))


def upper(warn: float | None, crit: float | None) -> dash_b.ThresholdsConfig:
    """Green below ``warn``, orange from ``warn``, red from ``crit``."""
    steps: list[tuple[float | None, str]] = [(None, "green")]
    if warn is not None:
        steps.append((warn, "orange"))
    if crit is not None:
        steps.append((crit, "red"))
    return thresholds(*steps)


def lower(crit: float) -> dash_b.ThresholdsConfig:
    """Red below ``crit`` (an SLO target), green from it."""
    return thresholds((None, "red"), (crit, "green"))


@dataclass
class Q:
    expr: str
    legend: str = "__auto"
    instant: bool = False


@dataclass
class P:
    """A panel spec: kept declarative so the generator, lint and query helper agree."""

    kind: str  # "stat" | "timeseries"
    title: str
    description: str
    unit: str
    queries: list[Q]
    th: dash_b.ThresholdsConfig = field(default_factory=lambda: GREEN_ONLY)
    width: int = 8
    height: int = 8
    min: float | None = None
    max: float | None = None
    stack: bool = False
    threshold_lines: bool = False


def _target(q: Q, ref: str) -> prom_b.Dataquery:
    t = prom_b.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(ref).datasource(DATASOURCE)
    return t.instant() if q.instant else t.range()


def _panel(p: P, panel_id: int) -> Any:
    b: Any
    if p.kind == "stat":
        b = (
            stat_b.Panel()
            .graph_mode(common_m.BigValueGraphMode.AREA)
            .color_mode(common_m.BigValueColorMode.VALUE)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        )
    else:
        b = (
            ts_b.Panel()
            .line_width(1)
            .fill_opacity(10)
            .show_points(common_m.VisibilityMode.NEVER)
            .legend(
                common_b.VizLegendOptions()
                .display_mode(common_m.LegendDisplayMode.LIST)
                .placement(common_m.LegendPlacement.BOTTOM)
                .show_legend(True)
            )
            .tooltip(
                common_b.VizTooltipOptions()
                .mode(common_m.TooltipDisplayMode.MULTI)
                .sort(common_m.SortOrder.DESCENDING)
            )
        )
        if p.stack:
            b = b.stacking(common_b.StackingConfig().mode(common_m.StackingMode.NORMAL))
        if p.threshold_lines:
            b = b.thresholds_style(
                common_b.GraphThresholdsStyleConfig().mode(common_m.GraphTresholdsStyleMode.LINE)
            )
    b = (
        b.id(panel_id)
        .title(p.title)
        .description(p.description)
        .datasource(DATASOURCE)
        .unit(p.unit)
        .thresholds(p.th)
        .span(p.width)
        .height(p.height)
    )
    if p.min is not None:
        b = b.min(p.min)
    if p.max is not None:
        b = b.max(p.max)
    for i, q in enumerate(p.queries):
        b = b.with_target(_target(q, chr(ord("A") + i)))
    return b


def _burn(expr_ratio_for_window: str, budget: float, windows: tuple[str, ...]) -> list[Q]:
    return [
        Q(f"({expr_ratio_for_window.replace('$W', w)}) / {budget:g}", f"burn rate {w}")
        for w in windows
    ]


def rows() -> list[tuple[str, list[P]]]:
    e2e_budget = round(1 - slo.E2E_SLO_TARGET, 6)
    api_budget = round(1 - slo.API_AVAILABILITY_TARGET, 6)
    page_fast, page_slow = slo.PAGE_WINDOWS
    e2e_ratio_w = (
        f"1 - sum(rate(smartpapers_job_end_to_end_seconds_bucket{{{WORKER}, {slo.E2E_LE}}}[$W]))"
        f" / sum(rate(smartpapers_job_end_to_end_seconds_count{{{WORKER}}}[$W]))"
    )
    api_sel = f'{API}, handler=~"/api/.*"'
    api_ratio_w = (
        f'(sum(rate(smartpapers_http_requests_total{{{api_sel}, status="5xx"}}[$W])) or vector(0))'
        f" / sum(rate(smartpapers_http_requests_total{{{api_sel}}}[$W]))"
    )
    submit = f'{API}, handler="{slo.SUBMIT_HANDLER}", method="POST"'
    done = 'outcome=~"completed|failed"'
    main_visible = f'max(smartpapers_sqs_queue_messages{{{API}, queue="main", state="visible"}})'

    overview = [
        P(
            "stat",
            "Accepted submissions /s",
            "Submissions answered 202 per second (smartpapers_submissions_accepted_total).",
            "reqps",
            [Q(f"sum(rate(smartpapers_submissions_accepted_total{{{API}}}[{RI}]))", "accepted/s")],
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Completed jobs /s",
            "Jobs graded and stored per second (outcome=completed).",
            "ops",
            [
                Q(
                    f'sum(rate(smartpapers_jobs_processed_total{{{WORKER}, outcome="completed"}}'
                    f"[{RI}]))",
                    "completed/s",
                )
            ],
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Job failure ratio",
            "Share of finished jobs that ended `failed` (final). Retries are not counted.",
            "percentunit",
            [
                Q(
                    f'(sum(rate(smartpapers_jobs_processed_total{{{WORKER}, outcome="failed"}}[{RI}]))'
                    f" or vector(0)) / sum(rate(smartpapers_jobs_processed_total{{{WORKER}, {done}}}"
                    f"[{RI}]))",
                    "failed",
                )
            ],
            th=upper(0.001, 0.01),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Main queue depth",
            "Messages in the main SQS queue by state (max over the API pods that poll "
            "GetQueueAttributes). `inflight` = received by a worker, not yet deleted.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="main", '
                    f'state=~"visible|inflight"}})',
                    "{{state}}",
                )
            ],
            width=4,
            height=5,
        ),
        P(
            "stat",
            "DLQ depth",
            "Messages in the dead-letter queue (all states). Any message here means a job "
            "exhausted maxReceiveCount: alert SmartpapersDeadLetterQueueNotEmpty.",
            "short",
            [
                Q(
                    f'sum(max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="dlq"}}))',
                    "dlq",
                )
            ],
            th=upper(None, 1),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Queue wait p95",
            "95th percentile of the time a job waited in the queue before a worker started "
            f"it. Alert SmartpapersQueueWaitHigh above {slo.QUEUE_WAIT_P95_WARN_SECONDS} s.",
            "s",
            [Q(quantile(0.95, "smartpapers_job_queue_wait_seconds", WORKER), "p95")],
            th=upper(slo.QUEUE_WAIT_P95_WARN_SECONDS / 2, slo.QUEUE_WAIT_P95_WARN_SECONDS),
            width=4,
            height=5,
        ),
        P(
            "stat",
            f"Jobs done within {slo.E2E_SLO_SECONDS} s (SLO {slo.E2E_SLO_TARGET:.0%})",
            f"Share of completed jobs whose end-to-end time (createdAt -> completedAt) was at most "
            f"{slo.E2E_SLO_SECONDS} s. SLO: {slo.E2E_SLO_TARGET:.0%}.",
            "percentunit",
            [
                Q(
                    f"sum(rate(smartpapers_job_end_to_end_seconds_bucket{{{WORKER}, {slo.E2E_LE}}}[{RI}]))"
                    f" / sum(rate(smartpapers_job_end_to_end_seconds_count{{{WORKER}}}[{RI}]))",
                    "SLI",
                )
            ],
            th=lower(slo.E2E_SLO_TARGET),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "POST /api/submissions p99",
            f"99th percentile accept latency. SLO: {slo.API_LATENCY_TARGET:.0%} under "
            f"{slo.API_LATENCY_SECONDS * 1000:g} ms.",
            "s",
            [Q(quantile(0.99, "smartpapers_http_request_duration_seconds", submit), "p99")],
            th=upper(None, slo.API_LATENCY_SECONDS),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Worker replicas (current / desired / max)",
            "KEDA-managed HPA keda-hpa-<release>-worker (kube-state-metrics). current = max "
            "while the backlog grows triggers SmartpapersWorkersAtMaxReplicas.",
            "short",
            [
                Q(f"sum(kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}})", "current"),
                Q(f"sum(kube_horizontalpodautoscaler_status_desired_replicas{{{HPA}}})", "desired"),
                Q(f"sum(kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}})", "max"),
            ],
            width=8,
            height=5,
        ),
        P(
            "stat",
            "Scrape targets up",
            "Healthy API and worker scrape targets (`up`). None up raises SmartpapersApiDown / "
            "SmartpapersWorkersDown.",
            "short",
            [Q(f"sum by (job) (up{{{ANY}}})", "{{job}}")],
            th=lower(1),
            width=8,
            height=5,
        ),
    ]

    queue = [
        P(
            "timeseries",
            "Main queue messages by state",
            "ApproximateNumberOfMessages (visible), ...NotVisible (inflight) and ...Delayed of the "
            "main queue, max over API pods.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="main"}})',
                    "{{state}}",
                )
            ],
            stack=True,
        ),
        P(
            "timeseries",
            "DLQ messages by state",
            "Dead-letter queue depth. Should be flat zero; see runbook "
            "SmartpapersDeadLetterQueueNotEmpty.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="dlq"}})',
                    "{{state}}",
                )
            ],
            th=upper(None, 1),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Ingress vs drain",
            "Accepted submissions/s against finished (completed + failed) jobs/s. A lasting gap "
            "is backlog growth.",
            "ops",
            [
                Q(
                    f"sum(rate(smartpapers_submissions_accepted_total{{{API}}}[{RI}]))",
                    "accepted/s",
                ),
                Q(
                    f"sum(rate(smartpapers_jobs_processed_total{{{WORKER}, {done}}}[{RI}]))",
                    "finished/s",
                ),
            ],
        ),
        P(
            "timeseries",
            "Estimated backlog drain time",
            "Visible main-queue messages divided by the current finish rate: a proxy for the "
            "age the newest message will reach. Compare with the end-to-end SLO "
            f"({slo.E2E_SLO_SECONDS} s).",
            "s",
            [
                Q(
                    f"{main_visible} / sum(rate(smartpapers_jobs_processed_total{{{WORKER}, {done}}}"
                    f"[{RI}]))",
                    "drain time",
                )
            ],
            th=upper(slo.QUEUE_WAIT_P95_WARN_SECONDS, slo.E2E_SLO_SECONDS),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Retries /s",
            "Jobs released back to the queue for another attempt (outcome=retried). Repeated "
            "retries end in the DLQ.",
            "ops",
            [
                Q(
                    f'sum(rate(smartpapers_jobs_processed_total{{{WORKER}, outcome="retried"}}[{RI}]))'
                    " or vector(0)",
                    "retried/s",
                )
            ],
        ),
    ]
    queue[-1].width = 16  # fill the second line of the row

    workers = [
        P(
            "timeseries",
            "Job outcomes /s",
            "Jobs processed per second by outcome (completed, failed, retried).",
            "ops",
            [
                Q(
                    f"sum by (outcome) (rate(smartpapers_jobs_processed_total{{{WORKER}}}[{RI}]))",
                    "{{outcome}}",
                )
            ],
            stack=True,
        ),
        P(
            "timeseries",
            "Processing time p50 / p95 / p99",
            "Time a worker spends on one job (claim, grade, store, delete).",
            "s",
            [
                Q(quantile(q, "smartpapers_job_processing_seconds", WORKER), f"p{round(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ],
        ),
        P(
            "timeseries",
            "Queue wait p50 / p95 / p99",
            "Time between createdAt and the start of processing. Alert SmartpapersQueueWaitHigh "
            f"when p95 > {slo.QUEUE_WAIT_P95_WARN_SECONDS} s for {slo.QUEUE_WAIT_FOR}.",
            "s",
            [
                Q(quantile(q, "smartpapers_job_queue_wait_seconds", WORKER), f"p{round(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ],
            th=upper(None, slo.QUEUE_WAIT_P95_WARN_SECONDS),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "End-to-end p50 / p95 / p99",
            "createdAt -> completedAt of completed jobs. SLO: "
            f"{slo.E2E_SLO_TARGET:.0%} within {slo.E2E_SLO_SECONDS} s.",
            "s",
            [
                Q(quantile(q, "smartpapers_job_end_to_end_seconds", WORKER), f"p{round(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ],
            th=upper(None, slo.E2E_SLO_SECONDS),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "End-to-end SLO burn rate",
            "Error-budget burn rate of the end-to-end SLO over the page windows (1 = budget "
            f"spent exactly in 30 days). Page at {page_fast.factor:g}x over "
            f"{page_fast.long}+{page_fast.short} or {page_slow.factor:g}x over "
            f"{page_slow.long}+{page_slow.short}.",
            "short",
            _burn(e2e_ratio_w, e2e_budget, (page_fast.long, page_slow.long)),
            th=upper(page_slow.factor, page_fast.factor),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "In-flight jobs vs concurrency limit",
            "Jobs being processed now against the configured concurrency and the adaptive "
            "limit (what the workers allow themselves at the database's current latency), "
            "summed over worker pods. At the configured limit: more replicas help; far below "
            "it: the database is the bottleneck.",
            "short",
            [
                Q(f"sum(smartpapers_worker_inflight_jobs{{{WORKER}}})", "in flight"),
                Q(f"sum(smartpapers_worker_inflight_limit{{{WORKER}}})", "adaptive limit"),
                Q(f"sum(smartpapers_worker_concurrency_limit{{{WORKER}}})", "limit"),
            ],
        ),
        P(
            "timeseries",
            "Seconds since last processed job",
            "Per worker pod. Rising on every pod while the queue holds messages is "
            "SmartpapersProcessingStalled.",
            "s",
            [
                Q(
                    f"time() - smartpapers_worker_last_processed_timestamp_seconds{{{WORKER}}}",
                    "{{pod}} {{instance}}",
                )
            ],
            width=16,
        ),
    ]

    autoscaling = [
        P(
            "timeseries",
            "Worker HPA replicas",
            "kube-state-metrics series of the KEDA-created HPA keda-hpa-<release>-worker.",
            "short",
            [
                Q(f"sum(kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}})", "current"),
                Q(f"sum(kube_horizontalpodautoscaler_status_desired_replicas{{{HPA}}})", "desired"),
                Q(f"sum(kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}})", "max"),
            ],
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
            "Visible main-queue messages per current worker replica: the quantity the "
            "aws-sqs-queue trigger targets.",
            "short",
            [
                Q(
                    f"{main_visible} / scalar(sum(kube_horizontalpodautoscaler_status_current_replicas"
                    f"{{{HPA}}}))",
                    "messages/replica",
                )
            ],
            width=16,
        ),
    ]

    api = [
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
        P(
            "timeseries",
            "API 5xx burn rate",
            f"Error-budget burn rate of the API availability SLO. Page at {page_fast.factor:g}x "
            f"({page_fast.long}) / {page_slow.factor:g}x ({page_slow.long}).",
            "short",
            _burn(api_ratio_w, api_budget, (page_fast.long, page_slow.long)),
            th=upper(page_slow.factor, page_fast.factor),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "POST /api/submissions latency p50 / p95 / p99",
            f"Accept latency. SLO: {slo.API_LATENCY_TARGET:.0%} under "
            f"{slo.API_LATENCY_SECONDS * 1000:g} ms.",
            "s",
            [
                Q(
                    quantile(q, "smartpapers_http_request_duration_seconds", submit),
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            th=upper(None, slo.API_LATENCY_SECONDS),
            threshold_lines=True,
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

    cost = [
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
    return [
        ("Overview", overview),
        ("Queue", queue),
        ("Workers (RED)", workers),
        ("Autoscaling (KEDA)", autoscaling),
        ("API (RED)", api),
        ("Cost", cost),
    ]


def _variables() -> list[Any]:
    all_opt = dash_m.VariableOption(selected=True, text="All", value="$__all")
    return [
        dash_b.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("Prometheus that scrapes smartpapers, kube-state-metrics and KEDA."),
        dash_b.QueryVariable("namespace")
        .label("Namespace")
        .description("Kubernetes namespace of the release (empty locally).")
        .datasource(DATASOURCE)
        .query(
            {
                "query": 'label_values(up{job=~"' + slo.ANY_JOB_RE + '"}, namespace)',
                "refId": "namespace",
            }
        )
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(all_opt),
        dash_b.QueryVariable("release")
        .label("Release")
        .description(
            "Chart fullname: scrape jobs are <release>-api and <release>-worker "
            "(smartpapers-api / smartpapers-worker locally)."
        )
        .datasource(DATASOURCE)
        .query(
            {
                "query": 'label_values(up{namespace=~"$namespace", job=~"'
                + slo.ANY_JOB_RE
                + '"}, job)',
                "refId": "release",
            }
        )
        .regex("/^(.*)-(?:api|worker)$/")
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(slo.RELEASE_ALL)
        .current(all_opt),
    ]


def build(grafana_url: str = slo.DEFAULT_GRAFANA_URL) -> dict[str, Any]:
    """Return the dashboard as a JSON-ready dict."""
    del grafana_url  # the dashboard itself carries no absolute URL
    d = (
        dash_b.Dashboard("smartpapers")
        .uid(slo.DASHBOARD_UID)
        .description(
            "smartpapers: submissions, SQS queue, workers, KEDA autoscaling, API and "
            "SQS cost. Generated by dashboards/generate.py; do not edit the JSON."
        )
        .tags(["smartpapers", "generated"])
        .editable()
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .variables(_variables())
    )
    panel_id = 0
    for title, panels in rows():
        panel_id += 1
        d = d.with_row(dash_b.Row(title).id(panel_id))
        for p in panels:
            panel_id += 1
            d = d.with_panel(_panel(p, panel_id))
    model = d.build()
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


def render(grafana_url: str = slo.DEFAULT_GRAFANA_URL) -> str:
    return json.dumps(build(grafana_url), indent=2, sort_keys=True) + "\n"
