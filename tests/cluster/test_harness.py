"""The cluster test's own helpers, without a cluster (these run in every ``make test``)."""

from __future__ import annotations

import pytest

from tests.cluster.kube import ClusterMissing, node_ip, quantity


def test_outside_the_cluster_network_the_suite_says_how_to_run_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SMARTPAPERS_CLUSTER_NODE_IP", raising=False)
    with pytest.raises(ClusterMissing, match="make test-cluster"):
        node_ip()
    monkeypatch.setenv("SMARTPAPERS_CLUSTER_NODE_IP", "10.250.0.1")
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    assert node_ip() == "10.250.0.1"


@pytest.mark.parametrize(
    ("text", "value"), [("12", 12.0), ("12500m", 12.5), ("1k", 1000.0), ("441750m", 441.75)]
)
def test_hpa_metric_quantities(text: str, value: float) -> None:
    assert quantity(text) == pytest.approx(value)
