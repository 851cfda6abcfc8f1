"""Chart policy, KEDA and replicas: the worker's replicas belong to the ScaledObject alone,
its trigger and fallback follow the chart's values and settings, the TriggerAuthentication
matches the values, the API's HPA exists only when enabled (deploy/keda/SCALING.md)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import by_kind, configmap_settings, env_of, one, render, render_fails
from .policy import EKS, EVERYTHING, KIND, MINIMAL, RENDER_IDS, RENDERS

# --------------------------------------------------------------------------- KEDA / replicas


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_worker_replicas_owned_by_keda_only(name: str, docs: list[dict[str, Any]]) -> None:
    worker = one(docs, "Deployment", "-worker")
    scaled = by_kind(docs, "ScaledObject")
    if scaled:
        assert "replicas" not in worker["spec"], "worker must not set replicas when KEDA is on"
    else:
        assert worker["spec"]["replicas"] >= 1
    # never a plain HPA for the worker beside (or instead of) the ScaledObject
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] != worker["metadata"]["name"]


def _but_the_queue(trigger: dict[str, Any]) -> dict[str, Any]:
    """A trigger without its name and queueURL: what every lane's trigger shares."""
    return {**trigger, "name": None, "metadata": {**trigger["metadata"], "queueURL": None}}


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_scaled_object_contract(name: str, docs: list[dict[str, Any]]) -> None:
    scaled = by_kind(docs, "ScaledObject")
    if not scaled:
        return
    (so,) = scaled
    spec = so["spec"]
    worker = one(docs, "Deployment", "-worker")
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": worker["metadata"]["name"],
    }
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    settings = configmap_settings(docs)
    # one trigger per lane: the main queue, and the priority queue when it is configured
    # (test_chart_priority_lane.py); the same settings otherwise
    queues = {"sqs-depth": settings["SMARTPAPERS_SQS_QUEUE_URL"]}
    if "SMARTPAPERS_SQS_PRIORITY_QUEUE_URL" in settings:
        queues["sqs-priority-depth"] = settings["SMARTPAPERS_SQS_PRIORITY_QUEUE_URL"]
    triggers = spec["triggers"]
    assert {t["name"]: t["metadata"]["queueURL"] for t in triggers} == queues
    assert triggers[0]["name"] == "sqs-depth"
    trigger = triggers[0]
    assert all(_but_the_queue(t) == _but_the_queue(trigger) for t in triggers)
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metricType"] == "AverageValue"
    md = trigger["metadata"]
    assert all(isinstance(v, str) for v in md.values()), md
    assert md["awsRegion"] == settings["SMARTPAPERS_AWS_REGION"]
    assert md["scaleOnInFlight"] in ("true", "false")  # explicit, never defaulted
    assert int(md["queueLength"]) >= 1
    assert md.get("awsEndpoint") == settings.get("SMARTPAPERS_SQS_ENDPOINT_URL")
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["policies"] and behavior["scaleDown"]["policies"]
    fb = spec["fallback"]
    assert spec["minReplicaCount"] <= fb["replicas"] <= spec["maxReplicaCount"]
    ref = trigger["authenticationRef"]
    if ref["kind"] == "TriggerAuthentication":
        names = [t["metadata"]["name"] for t in by_kind(docs, "TriggerAuthentication")]
        assert ref["name"] in names, (
            "authenticationRef points to a TriggerAuthentication that is not rendered"
        )


def test_default_scaling_bounds_and_queue_length() -> None:
    docs = render([MINIMAL])
    so = one(docs, "ScaledObject")
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (1, 20)
    md = so["spec"]["triggers"][0]["metadata"]
    worker_env = env_of(
        one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    )
    # queueLength is derived from the worker concurrency (documented in deploy/keda/SCALING.md)
    assert md["queueLength"] == worker_env["SMARTPAPERS_WORKER_CONCURRENCY"]["value"] == "50"
    assert md["scaleOnInFlight"] == "true"
    assert "awsEndpoint" not in md  # real AWS
    ta = one(docs, "TriggerAuthentication")
    assert ta["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "keda"}}
    # an explicit queueLength wins over the derived one
    so2 = one(render([MINIMAL], sets=["keda.queueLength=120"]), "ScaledObject")
    assert so2["spec"]["triggers"][0]["metadata"]["queueLength"] == "120"


def test_polling_and_cooldown_only_rendered_when_min_is_zero() -> None:
    """KEDA 2.20's webhook warns that both "are configured but not relevant" with min >= 1."""
    spec = one(render([MINIMAL]), "ScaledObject")["spec"]
    assert spec["minReplicaCount"] == 1
    assert "pollingInterval" not in spec and "cooldownPeriod" not in spec
    zero = one(render([MINIMAL], sets=["keda.minReplicaCount=0"]), "ScaledObject")["spec"]
    assert (zero["pollingInterval"], zero["cooldownPeriod"]) == (5, 300)


ROLE_ARN_ANNOTATION = "worker.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn"


def test_workload_identity_owner_needs_the_worker_role_annotation() -> None:
    """KEDA 2.20 (provider aws, identityOwner workload) reads the role from the worker
    ServiceAccount's eks.amazonaws.com/role-arn annotation; without it the scaler fails at
    run time, so the chart refuses the render with the value to set."""
    workload = ["keda.authentication.podIdentity.identityOwner=workload"]
    err = render_fails([MINIMAL], sets=workload)
    assert "identityOwner=workload" in err
    assert 'set worker.serviceAccount.annotations."eks.amazonaws.com/role-arn"' in err, err
    assert f"--set-string {ROLE_ARN_ANNOTATION}=arn:aws:iam::" in err, err
    arn = "arn:aws:iam::123456789012:role/smartpapers-worker"
    docs = render([MINIMAL], sets=[*workload, f"{ROLE_ARN_ANNOTATION}={arn}"])
    sa = one(docs, "ServiceAccount", "-worker")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == arn
    ta = one(docs, "TriggerAuthentication")
    assert ta["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}
    # roleArn (KEDA assumes it with its own identity) needs no annotation
    render([MINIMAL], sets=[*workload, "keda.authentication.podIdentity.roleArn=" + arn])


def test_trigger_authentication_by_values() -> None:
    eks = render([EKS])
    assert one(eks, "TriggerAuthentication")["spec"] == {
        "podIdentity": {
            "provider": "aws",
            "roleArn": "arn:aws:iam::123456789012:role/smartpapers-keda-scaler",
        }
    }
    kind = render([KIND])
    ta = one(kind, "TriggerAuthentication")
    assert {r["parameter"] for r in ta["spec"]["secretTargetRef"]} == {
        "awsAccessKeyID",
        "awsSecretAccessKey",
    }
    assert one(kind, "ScaledObject")["spec"]["triggers"][0]["metadata"]["awsEndpoint"].startswith(
        "http://elasticmq."
    )
    every = render([EVERYTHING])
    assert not by_kind(every, "TriggerAuthentication")
    assert one(every, "ScaledObject")["spec"]["triggers"][0]["authenticationRef"] == {
        "kind": "ClusterTriggerAuthentication",
        "name": "smartpapers-sqs",
    }


def test_api_hpa_only_when_enabled() -> None:
    docs = render([EVERYTHING])
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    api = one(docs, "Deployment", "-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    assert "replicas" not in api["spec"]
    assert not by_kind(render([MINIMAL]), "HorizontalPodAutoscaler")
    assert one(render([MINIMAL]), "Deployment", "-api")["spec"]["replicas"] == 2
