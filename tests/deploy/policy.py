"""Helpers shared by the chart policy test modules (test_chart_policy.py and the
test_chart_keda, test_chart_contract, test_chart_conventions and test_chart_monitoring_hooks
modules): the CI values files and every one of them rendered with and without the optional APIs.
"""

from __future__ import annotations

from typing import Any

from .conftest import ALL_APIS, CHART, CI_VALUES, ci_id, pod_spec, render

MINIMAL = CHART / "ci" / "minimal-values.yaml"
KIND = CHART / "ci" / "kind-dev-values.yaml"
EVERYTHING = CHART / "ci" / "everything-on-values.yaml"
EKS = CHART / "ci" / "eks-pod-identity-values.yaml"


def all_renders() -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for values in CI_VALUES:
        out.append((f"{ci_id(values)}/plain", render([values], api_versions=())))
        out.append((f"{ci_id(values)}/crds", render([values], api_versions=ALL_APIS)))
    return out


RENDERS = all_renders()
RENDER_IDS = [r[0] for r in RENDERS]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if pod_spec(d) is not None]
