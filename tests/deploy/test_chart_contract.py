"""Chart policy, runtime contract: the shutdown timing inequalities between SQS, the worker's
drain and the grace periods, the defaults the services rely on, and values that break the
contract failing the render with every problem reported at once (templates/validation.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import configmap_settings, env_of, one, render, render_fails
from .policy import MINIMAL, RENDER_IDS, RENDERS

# --------------------------------------------------------------------------- shutdown timing


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_shutdown_inequalities(name: str, docs: list[dict[str, Any]]) -> None:
    """worker tGPS >= wait + drain + 5; visibility > drain + 10;
    API tGPS >= preStop + graceful + 5."""
    settings = configmap_settings(docs)
    wait = int(settings["SMARTPAPERS_SQS_WAIT_TIME_SECONDS"])
    visibility = int(settings["SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS"])
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    drain = int(
        env_of(worker["containers"][0])["SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS"]["value"]
    )
    assert worker["terminationGracePeriodSeconds"] >= wait + drain + 5
    assert visibility > drain + 10
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    c = api["containers"][0]
    graceful = int(env_of(c)["SMARTPAPERS_API_GRACEFUL_TIMEOUT_SECONDS"]["value"])
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop == 5 or name.startswith("everything")
    assert api["terminationGracePeriodSeconds"] >= pre_stop + graceful + 5


def test_defaults_match_the_runtime_contract() -> None:
    docs = render([MINIMAL])
    settings = configmap_settings(docs)
    assert settings["SMARTPAPERS_SQS_WAIT_TIME_SECONDS"] == "20"
    assert settings["SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS"] == "60"
    assert settings["SMARTPAPERS_AUTH_MODE"] == "jwt"
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] == 60
    env = env_of(worker["containers"][0])
    assert env["SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS"]["value"] == "25"
    assert env["SMARTPAPERS_WORKER_METRICS_PORT"]["value"] == "9100"
    # probes and Prometheus reach the worker from outside the pod (its default is 127.0.0.1)
    assert env["SMARTPAPERS_WORKER_METRICS_HOST"]["value"] == "0.0.0.0"
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    aenv = env_of(api["containers"][0])
    assert aenv["SMARTPAPERS_API_HOST"]["value"] == "0.0.0.0"
    assert aenv["SMARTPAPERS_API_PORT"]["value"] == "8000"
    assert aenv["SMARTPAPERS_API_GRACEFUL_TIMEOUT_SECONDS"]["value"] == "20"
    assert api["terminationGracePeriodSeconds"] == 30


@pytest.mark.parametrize(
    "sets,message",
    [
        (
            ["worker.terminationGracePeriodSeconds=49"],
            "worker.terminationGracePeriodSeconds (49) must be >=",
        ),
        (
            ["worker.drainTimeoutSeconds=50"],
            "must be >= config.sqs.waitTimeSeconds + worker.drainTimeoutSeconds + 5",
        ),
        (
            ["config.sqs.visibilityTimeoutSeconds=35"],
            "config.sqs.visibilityTimeoutSeconds (35) must be >",
        ),
        (
            ["api.terminationGracePeriodSeconds=29"],
            "api.terminationGracePeriodSeconds (29) must be >=",
        ),
        (["keda.minReplicaCount=5", "keda.maxReplicaCount=4"], "keda.minReplicaCount must be <="),
        (["keda.fallback.replicas=21"], "keda.fallback.replicas must be within"),
        (["awsEmulatorCredentials.existingSecret=aws"], "only allowed with an SQS emulator"),
        (["keda.authentication.mode=secret"], "keda.authentication.mode=secret reads"),
        (["keda.authentication.mode=existing"], "keda.authentication.mode=existing needs"),
        (["config.auth.jwt.issuer="], "config.auth.mode=jwt needs"),
        (["config.sqs.queueUrl="], "config.sqs.queueUrl is required"),
    ],
)
def test_inconsistent_values_fail_rendering(sets: list[str], message: str) -> None:
    assert message in render_fails([MINIMAL], sets)


def test_every_problem_is_reported_at_once() -> None:
    """templates/validation.yaml collects all problems before failing (Bitnami style)."""
    out = render_fails(
        [MINIMAL],
        ["config.sqs.queueUrl=", "keda.minReplicaCount=5", "keda.maxReplicaCount=4",
         "config.extra.SMARTPAPERS_LOG_LEVEL=DEBUG"],
    )  # fmt: skip
    assert "VALUES VALIDATION (4 problems)" in out  # min > max also puts the fallback outside
    for message in (
        "config.sqs.queueUrl is required",
        "keda.minReplicaCount must be <=",
        "config.extra.SMARTPAPERS_LOG_LEVEL is rendered by the chart: set config.log.level",
    ):
        assert message in out
