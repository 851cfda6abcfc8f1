"""Chart policy, monitoring and hooks: the PrometheusRule, dashboards ConfigMap,
ServiceMonitor and PodMonitor wrap the observability files, the queue bootstrap hook Job and
the `helm test` Pod."""

from __future__ import annotations

import yaml

from .conftest import CHART, by_kind, configmap_settings, env_of, one, render
from .policy import EVERYTHING, KIND, MINIMAL

# --------------------------------------------------------------------------- monitoring


def test_monitoring_objects_wrap_the_observability_files() -> None:
    docs = render([EVERYTHING])
    rules_file = yaml.safe_load((CHART / "files" / "prometheus" / "rules.yaml").read_text())
    rule = one(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == rules_file["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dash = one(docs, "ConfigMap", "-dashboards")
    assert dash["metadata"]["labels"]["grafana.example.com/dashboard"] == "true"
    files = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert files and set(dash["data"]) == {f.name for f in files}
    for f in files:
        assert yaml.safe_load(dash["data"][f.name]) == yaml.safe_load(f.read_text())
    default = one(render([MINIMAL]), "ConfigMap", "-dashboards")
    assert default["metadata"]["labels"]["grafana_dashboard"] == "1"
    for kind in ("ServiceMonitor", "PodMonitor"):
        assert one(docs, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    relabel = one(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["relabelings"][0]
    assert relabel["replacement"] == one(docs, "Deployment", "-worker")["metadata"]["name"]


# --------------------------------------------------------------------------- hooks


def test_queue_bootstrap_hook() -> None:
    docs = render([KIND])
    job = one(docs, "Job", "-queue-bootstrap")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["smartpapers-queues", "create"]
    assert c["image"].startswith("smartpapers-worker:")
    env = env_of(c)
    settings = configmap_settings(docs)
    for key in (
        "SMARTPAPERS_SQS_QUEUE_NAME",
        "SMARTPAPERS_SQS_DLQ_NAME",
        "SMARTPAPERS_SQS_MAX_RECEIVE_COUNT",
        "SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS",
        "SMARTPAPERS_AWS_REGION",
        "SMARTPAPERS_SQS_ENDPOINT_URL",
    ):
        assert env[key]["value"] == settings[key]
    assert int(settings["SMARTPAPERS_SQS_MAX_RECEIVE_COUNT"]) >= 5
    assert not by_kind(render([MINIMAL]), "Job")


def test_helm_test_pod() -> None:
    docs = render([MINIMAL])
    pod = one(docs, "Pod", "-test-submission")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["python", "-c"]
    script = (CHART / "files" / "helm-test" / "submit_and_wait.py").read_text()
    assert c["args"] == [script]
    svc = one(docs, "Service", "-api")
    assert env_of(c)["SMARTPAPERS_TEST_BASE_URL"]["value"] == (
        f"http://{svc['metadata']['name']}.smartpapers.svc:{svc['spec']['ports'][0]['port']}"
    )
