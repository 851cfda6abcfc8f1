# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""Building blocks of the dashboard: the selectors every query is scoped by, threshold
helpers, the panel/query specs (``P``, ``Q``) and their rendering, and the SLO expressions
several rows share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards import slo

DATASOURCE = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
RI = "$__rate_interval"

# Label selectors (template variables are substituted by Grafana, or by dashboards.queries).
NS = 'namespace=~"$namespace"'
API = f'{NS}, job=~"${{release}}-api"'
WORKER = f'{NS}, job=~"${{release}}-worker"'
# who grades jobs: the workers, and the API in submissions mode sync (the rollback switch)
GRADERS = f'{NS}, job=~"${{release}}-(api|worker)"'
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


def quantiles(metric: str, sel: str) -> list[Q]:
    """p50 / p95 / p99 of a histogram, one query each."""
    return [Q(quantile(q, metric, sel), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)]


def hpa_replicas() -> list[Q]:
    """The KEDA-created HPA's current, desired and maximum replicas."""
    return [
        Q(f"sum(kube_horizontalpodautoscaler_{series}{{{HPA}}})", name)
        for series, name in (
            ("status_current_replicas", "current"),
            ("status_desired_replicas", "desired"),
            ("spec_max_replicas", "max"),
        )
    ]


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


def target(q: Q, ref: str) -> prom_b.Dataquery:
    t = prom_b.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(ref).datasource(DATASOURCE)
    return t.instant() if q.instant else t.range()


def build_panel(p: P, panel_id: int) -> Any:
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
        b = b.with_target(target(q, chr(ord("A") + i)))
    return b


def burn(expr_ratio_for_window: str, budget: float, windows: tuple[str, ...]) -> list[Q]:
    return [
        Q(f"({expr_ratio_for_window.replace('$W', w)}) / {budget:g}", f"burn rate {w}")
        for w in windows
    ]


# -- expressions shared by several rows --------------------------------------------------

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
priority_visible = (
    f'max(smartpapers_sqs_queue_messages{{{API}, queue="priority", state="visible"}})'
)
#: visible messages of both lanes (main + priority queue): the workers' whole backlog
backlog_visible = (
    "sum(max by (queue) (smartpapers_sqs_queue_messages"
    f'{{{API}, queue=~"{slo.LANE_QUEUES_RE}", state="visible"}}))'
)


def latency_panel(
    title: str, description: str, metric: str, sel: str, limit: float | None = None
) -> P:
    """p50 / p95 / p99 of a seconds histogram, with ``limit`` drawn as a red line."""
    if limit is None:
        return P("timeseries", f"{title} p50 / p95 / p99", description, "s",
                 quantiles(metric, sel))  # fmt: skip
    return P("timeseries", f"{title} p50 / p95 / p99", description, "s", quantiles(metric, sel),
             th=upper(None, limit), threshold_lines=True)  # fmt: skip


def burn_panel(title: str, description: str, ratio_w: str, budget: float) -> P:
    """An SLO's error-budget burn rate over the two page windows, page factors as lines."""
    return P("timeseries", title, description, "short",
             burn(ratio_w, budget, (page_fast.long, page_slow.long)),
             th=upper(page_slow.factor, page_fast.factor), threshold_lines=True)  # fmt: skip
