"""Machine-readable list of every panel query of the dashboard JSON.

Used by the observability tests (promtool, synthetic series) and by the live-Prometheus
integration test::

    from dashboards.queries import load_dashboard, panel_queries, external_panels

    dash = load_dashboard()                                  # the committed chart file
    for title, expr in panel_queries(dash, include_external=False):
        ...  # evaluate expr against a Prometheus scraping the local API and workers
    external_panels(dash)  # {title: "kube-state-metrics" | "keda"}: proved by synthetic series

Template variables are substituted the way Grafana would for a regex matcher: ``$namespace``
and ``$release`` by the given regexes, ``$__rate_interval`` by ``rate_interval``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_PATH = REPO_ROOT / "deploy/helm/smartpapers/files/dashboards/smartpapers.json"

#: Metric-name prefix -> the exporter that must be scraped for the query to return data.
EXTERNAL_PREFIXES = {"kube_": "kube-state-metrics", "keda_": "keda"}
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_METRIC = re.compile(r"\b((?:kube|keda)_[a-z_]+)\b")


@dataclass(frozen=True)
class PanelQuery:
    row: str
    title: str
    ref_id: str
    expr: str  #: with template variables substituted
    raw_expr: str  #: as stored in the dashboard
    unit: str
    #: None when only smartpapers (and process/up) series are needed, else the exporter name
    #: ("kube-state-metrics" or "keda") whose series the query needs.
    external: str | None


def load_dashboard(path: Path | str = DASHBOARD_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def variable_all_values(dashboard_json: dict[str, Any]) -> dict[str, str]:
    """``allValue`` of every template variable that has one (what "All" expands to)."""
    out: dict[str, str] = {}
    for var in dashboard_json.get("templating", {}).get("list", []):
        if var.get("allValue"):
            out[var["name"]] = var["allValue"]
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(repl, expr)


def external_source(expr: str) -> str | None:
    """Which non-smartpapers exporter a query depends on (kube-state-metrics wins over keda)."""
    found = {EXTERNAL_PREFIXES[m.split("_", 1)[0] + "_"] for m in _METRIC.findall(expr)}
    for source in ("kube-state-metrics", "keda"):
        if source in found:
            return source
    return None


def panel_query_details(
    dashboard_json: dict[str, Any],
    namespace_regex: str = ".*",
    release_regex: str | None = None,
    rate_interval: str = "1m",
) -> list[PanelQuery]:
    """Every (panel, target) of the dashboard, in display order.

    ``release_regex=None`` uses the dashboard's "All" value for ``$release``
    (``.*smartpapers.*``, which matches the local jobs ``smartpapers-api``/``-worker``).
    """
    values = {
        "namespace": namespace_regex,
        "release": (
            release_regex
            if release_regex is not None
            else variable_all_values(dashboard_json).get("release", ".*")
        ),
        "__rate_interval": rate_interval,
    }
    out: list[PanelQuery] = []
    row = ""
    for panel in dashboard_json.get("panels", []):
        if panel.get("type") == "row":
            row = panel.get("title", "")
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        for target in panel.get("targets", []):
            raw = target["expr"]
            out.append(
                PanelQuery(
                    row=row,
                    title=panel["title"],
                    ref_id=target.get("refId", ""),
                    expr=substitute(raw, values),
                    raw_expr=raw,
                    unit=unit,
                    external=external_source(raw),
                )
            )
    return out


def panel_queries(
    dashboard_json: dict[str, Any],
    namespace_regex: str = ".*",
    release_regex: str | None = None,
    rate_interval: str = "1m",
    include_external: bool = True,
) -> list[tuple[str, str]]:
    """``[(panel_title, expr), ...]`` with template variables substituted.

    A panel with several queries appears once per query. ``include_external=False`` leaves out
    the queries that need kube-state-metrics or KEDA series (see :func:`external_panels`).
    """
    return [
        (q.title, q.expr)
        for q in panel_query_details(dashboard_json, namespace_regex, release_regex, rate_interval)
        if include_external or q.external is None
    ]


def external_panels(dashboard_json: dict[str, Any]) -> dict[str, str]:
    """``{panel_title: exporter}`` for panels needing kube-state-metrics or KEDA series."""
    out: dict[str, str] = {}
    for q in panel_query_details(dashboard_json):
        if q.external is not None:
            out.setdefault(q.title, q.external)
    return out
