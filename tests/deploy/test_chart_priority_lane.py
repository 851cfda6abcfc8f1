"""The priority lane (premium students, docs/priority-lane.md) in the chart: its settings reach
the services only when set, the ScaledObject gets a second trigger on the priority queue, the
worker gets its fair-share setting, inconsistent values fail the render (all at once), the
schema refuses bad values — and, in the KEDA/HPA simulator driven by the rendered
ScaledObject, two triggers scale to the LARGER of their desired counts, never the sum
(deploy/keda/SCALING.md, "Two lanes, two triggers")."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from smartpapers.worker.queues_cli import QueueSettings
from smartpapers.worker.settings import Settings as WorkerSettings

from .conftest import (
    CHART,
    REPO,
    by_kind,
    configmap_settings,
    containers,
    env_of,
    one,
    render,
    render_fails,
)
from .hardening import api_settings, container_settings, worker_container
from .keda_autoscaler import Hpa, ScalerConfig
from .keda_replay import (
    Workload,
    fair_share,
    simulate,
    worker_concurrency,
    worker_priority_share,
)
from .policy import EKS, EVERYTHING, KIND, MINIMAL

LOCAL_CLUSTER = REPO / "deploy" / "local" / "cluster" / "values.yaml"
SQS = "https://sqs.eu-west-1.amazonaws.com/123456789012/"
MAIN_URL = SQS + "smartpapers-submissions"
PRIORITY_URL = SQS + "smartpapers-submissions-priority"
PRIORITY_DLQ_URL = SQS + "smartpapers-submissions-priority-dlq"
WITH_PRIORITY = [f"config.sqs.priorityQueueUrl={PRIORITY_URL}"]
PRIORITY_SETTINGS = ("SMARTPAPERS_SQS_PRIORITY_QUEUE_URL", "SMARTPAPERS_SQS_PRIORITY_DLQ_URL")


def worker_settings(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> WorkerSettings:
    """The worker's Settings built from what its container sees (ConfigMap + literal env)."""
    return container_settings(docs, worker_container(docs), WorkerSettings, monkeypatch)


# --------------------------------------------------------------------------- settings


def test_one_lane_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """No priority URL rendered at all (empty = one lane); the bootstrap names are."""
    docs = render([MINIMAL])
    cm = configmap_settings(docs)
    assert not [k for k in PRIORITY_SETTINGS if k in cm]
    assert cm["SMARTPAPERS_SQS_PRIORITY_QUEUE_NAME"] == "smartpapers-submissions-priority"
    assert cm["SMARTPAPERS_SQS_PRIORITY_DLQ_NAME"] == "smartpapers-submissions-priority-dlq"
    assert cm["SMARTPAPERS_PREMIUM_INSTITUTES"] == "[]"
    s = api_settings(docs, monkeypatch)
    assert s.sqs_priority_queue_url is None and s.sqs_priority_dlq_url is None
    assert s.premium_institutes == []
    assert (s.jwt_premium_claim, s.jwt_premium_role) == ("roles", "premium")


def test_priority_urls_are_rendered_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render([MINIMAL], sets=WITH_PRIORITY)
    cm = configmap_settings(docs)
    assert cm["SMARTPAPERS_SQS_PRIORITY_QUEUE_URL"] == PRIORITY_URL
    assert "SMARTPAPERS_SQS_PRIORITY_DLQ_URL" not in cm  # optional
    docs = render([MINIMAL], sets=[*WITH_PRIORITY, f"config.sqs.priorityDlqUrl={PRIORITY_DLQ_URL}"])
    cm = configmap_settings(docs)
    assert cm["SMARTPAPERS_SQS_PRIORITY_DLQ_URL"] == PRIORITY_DLQ_URL
    s = api_settings(docs, monkeypatch)
    assert (s.sqs_priority_queue_url, s.sqs_priority_dlq_url) == (PRIORITY_URL, PRIORITY_DLQ_URL)
    w = worker_settings(docs, monkeypatch)
    assert w.sqs_priority_queue_url == PRIORITY_URL and w.worker_priority_share == 4


def test_a_priority_url_change_rolls_the_pods() -> None:
    def checksums(sets: list[str]) -> set[str]:
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in by_kind(render([MINIMAL], sets=sets), "Deployment")
        }

    assert checksums(WITH_PRIORITY) != checksums([])


def test_premium_settings_by_auth_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """jwt: the premium role (rendered like staffClaim, jwt mode only); none: the institutes
    (a JSON list like corsOrigins)."""
    every = render([EVERYTHING])
    cm = configmap_settings(every)
    assert (cm["SMARTPAPERS_JWT_PREMIUM_CLAIM"], cm["SMARTPAPERS_JWT_PREMIUM_ROLE"]) == (
        "realm_access.roles",
        "premium-student",
    )
    s = api_settings(every, monkeypatch)
    assert (s.jwt_premium_claim, s.jwt_premium_role) == ("realm_access.roles", "premium-student")
    institutes = ["inst-1", "north.campus:42"]
    docs = render(
        [KIND], sets=[f"config.api.premiumInstitutes[{i}]={x}" for i, x in enumerate(institutes)]
    )
    cm = configmap_settings(docs)
    assert not [k for k in cm if k.startswith("SMARTPAPERS_JWT_")]
    assert json.loads(cm["SMARTPAPERS_PREMIUM_INSTITUTES"]) == institutes
    assert api_settings(docs, monkeypatch).premium_institutes == institutes


def test_worker_priority_share_is_container_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like worker.concurrency: a literal env var of the worker container, not ConfigMap."""
    docs = render([MINIMAL])
    assert "SMARTPAPERS_WORKER_PRIORITY_SHARE" not in configmap_settings(docs)
    env = env_of(worker_container(docs))
    assert env["SMARTPAPERS_WORKER_PRIORITY_SHARE"] == {
        "name": "SMARTPAPERS_WORKER_PRIORITY_SHARE",
        "value": "4",
    }
    assert "SMARTPAPERS_WORKER_PRIORITY_SHARE" not in env_of(
        one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    )
    assert worker_priority_share(one(render([EVERYTHING]), "Deployment", "-worker")) == 3
    docs = render([MINIMAL], sets=["worker.priorityShare=100"])
    assert worker_settings(docs, monkeypatch).worker_priority_share == 100


def test_the_bootstrap_hook_creates_both_pairs_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """`smartpapers-queues create` reads the priority pair's names from the hook's env."""
    docs = render([EVERYTHING])
    (job,) = [j for j in by_kind(docs, "Job") if j["metadata"]["name"].endswith("queue-bootstrap")]
    (c,) = containers(job["spec"]["template"]["spec"])
    env = {k: v["value"] for k, v in env_of(c).items() if "value" in v}
    assert env["SMARTPAPERS_SQS_PRIORITY_QUEUE_NAME"] == "smartpapers-submissions-priority"
    assert env["SMARTPAPERS_SQS_PRIORITY_DLQ_NAME"] == "smartpapers-submissions-priority-dlq"
    for key in list(os.environ):
        if key.startswith("SMARTPAPERS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    qs = QueueSettings()
    assert (qs.sqs_priority_queue_name, qs.sqs_priority_dlq_name) == (
        "smartpapers-submissions-priority",
        "smartpapers-submissions-priority-dlq",
    )


@pytest.mark.parametrize(
    "values", [KIND, EVERYTHING, LOCAL_CLUSTER], ids=["kind-dev", "everything-on", "local-cluster"]
)
def test_dev_and_ci_priority_urls_name_the_bootstrap_queues(values: Path) -> None:
    """Where a values file sets the priority lane, its URLs are those of the queues the
    bootstrap creates (same host and account as queueUrl; the configured names)."""
    cm = configmap_settings(render([values]))
    base = cm["SMARTPAPERS_SQS_QUEUE_URL"].rsplit("/", 1)[0]
    assert cm["SMARTPAPERS_SQS_PRIORITY_QUEUE_URL"] == (
        f"{base}/{cm['SMARTPAPERS_SQS_PRIORITY_QUEUE_NAME']}"
    )
    assert (
        cm["SMARTPAPERS_SQS_PRIORITY_DLQ_URL"]
        == f"{base}/{cm['SMARTPAPERS_SQS_PRIORITY_DLQ_NAME']}"
    )


def test_every_chart_setting_is_a_service_setting() -> None:
    """Each SMARTPAPERS_* row of templates/_settings.tpl is a field of the API's, the worker's
    or the queue bootstrap's settings (env prefix SMARTPAPERS_, no aliases), and the lane
    settings are all rows."""
    from smartpapers.api.settings import Settings as ApiSettings

    table = (CHART / "templates" / "_settings.tpl").read_text()
    rows = re.findall(r'\(list "(SMARTPAPERS_[A-Z0-9_]+)" "([^"]+)"', table)
    fields = {
        f"SMARTPAPERS_{name.upper()}"
        for cls in (ApiSettings, WorkerSettings, QueueSettings)
        for name in cls.model_fields
    }
    unknown = sorted(var for var, _ in rows if var not in fields)
    assert not unknown, unknown
    assert {
        "SMARTPAPERS_SQS_PRIORITY_QUEUE_URL": "config.sqs.priorityQueueUrl",
        "SMARTPAPERS_SQS_PRIORITY_DLQ_URL": "config.sqs.priorityDlqUrl",
        "SMARTPAPERS_SQS_PRIORITY_QUEUE_NAME": "config.sqs.priorityQueueName",
        "SMARTPAPERS_SQS_PRIORITY_DLQ_NAME": "config.sqs.priorityDlqName",
        "SMARTPAPERS_PREMIUM_INSTITUTES": "config.api.premiumInstitutes",
        "SMARTPAPERS_JWT_PREMIUM_CLAIM": "config.auth.jwt.premiumClaim",
        "SMARTPAPERS_JWT_PREMIUM_ROLE": "config.auth.jwt.premiumRole",
        "SMARTPAPERS_WORKER_PRIORITY_SHARE": "worker.priorityShare",
    }.items() <= dict(rows).items()


@pytest.mark.parametrize(
    "key,value_path",
    [
        ("SMARTPAPERS_SQS_PRIORITY_QUEUE_URL", "config.sqs.priorityQueueUrl"),
        ("SMARTPAPERS_PREMIUM_INSTITUTES", "config.api.premiumInstitutes"),
        ("SMARTPAPERS_JWT_PREMIUM_ROLE", "config.auth.jwt.premiumRole"),
        ("SMARTPAPERS_WORKER_PRIORITY_SHARE", "worker.priorityShare"),
    ],
)
def test_extra_cannot_shadow_a_lane_setting(key: str, value_path: str) -> None:
    err = render_fails([MINIMAL], [f"config.extra.{key}=x"])
    assert f"config.extra.{key} is rendered by the chart: set {value_path} instead" in err


# --------------------------------------------------------------------------- KEDA triggers


def _triggers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t: list[dict[str, Any]] = one(docs, "ScaledObject")["spec"]["triggers"]
    return t


def test_one_trigger_without_a_priority_queue() -> None:
    (trigger,) = _triggers(render([MINIMAL]))
    assert trigger["name"] == "sqs-depth"
    assert trigger["metadata"]["queueURL"] == MAIN_URL


@pytest.mark.parametrize(
    "values,sets",
    [(MINIMAL, WITH_PRIORITY), (EKS, WITH_PRIORITY), (KIND, []), (EVERYTHING, [])],
    ids=["minimal", "eks-pod-identity", "kind-dev", "everything-on"],
)
def test_a_second_trigger_on_the_priority_queue(values: Path, sets: list[str]) -> None:
    """Same type, metric type, authentication (podIdentity, secret or existing), region,
    queueLength, activation, in-flight/delayed and endpoint; only name and queue differ."""
    docs = render([values], sets=sets)
    normal, priority = _triggers(docs)
    cm = configmap_settings(docs)
    assert (normal["name"], priority["name"]) == ("sqs-depth", "sqs-priority-depth")
    assert normal["metadata"]["queueURL"] == cm["SMARTPAPERS_SQS_QUEUE_URL"]
    assert priority["metadata"]["queueURL"] == cm["SMARTPAPERS_SQS_PRIORITY_QUEUE_URL"]
    assert priority["authenticationRef"] == normal["authenticationRef"]
    strip = {"name": None, "metadata": None}
    assert {**priority, **strip} == {**normal, **strip}
    queue_url = "queueURL"
    assert {k: v for k, v in priority["metadata"].items() if k != queue_url} == {
        k: v for k, v in normal["metadata"].items() if k != queue_url
    }
    # the first trigger is exactly the one-lane trigger (name, queue and all)
    one_lane = [*sets, "config.sqs.priorityQueueUrl=", "config.sqs.priorityDlqUrl="]
    assert [normal] == _triggers(render([values], sets=one_lane))


def test_the_scaled_object_explains_max_not_sum() -> None:
    from .conftest import render_text

    text = render_text([MINIMAL], sets=WITH_PRIORITY)
    so = text[text.index("kind: ScaledObject") :]
    assert "takes the MAX, not the sum" in so
    assert "takes the MAX" not in render_text([MINIMAL])


# --------------------------------------------------------------------------- validation


PROBLEMS = {
    "dlq-without-queue": (
        [f"config.sqs.priorityDlqUrl={PRIORITY_DLQ_URL}"],
        "config.sqs.priorityDlqUrl is set but config.sqs.priorityQueueUrl is empty",
    ),
    "same-queue": (
        [f"config.sqs.priorityQueueUrl={MAIN_URL}"],
        "config.sqs.priorityQueueUrl must differ from config.sqs.queueUrl",
    ),
    "institutes-in-jwt-mode": (
        ["config.api.premiumInstitutes[0]=inst-1"],
        "config.api.premiumInstitutes is for config.auth.mode=none only: jwt mode decides "
        "premium by the token's role",
    ),
}


@pytest.mark.parametrize("case", sorted(PROBLEMS))
def test_inconsistent_lane_values_fail_rendering(case: str) -> None:
    sets, message = PROBLEMS[case]
    err = render_fails([MINIMAL], sets)
    assert "VALUES VALIDATION (1 problems)" in err, err
    assert message in err, err


def test_every_lane_problem_is_reported_at_once() -> None:
    """(a priority DLQ without its queue and a priority queue equal to the main one cannot
    happen together: two renders)"""
    sets = [*PROBLEMS["dlq-without-queue"][0], *PROBLEMS["institutes-in-jwt-mode"][0],
            "config.sqs.queueUrl="]  # fmt: skip
    err = render_fails([MINIMAL], sets)
    assert "VALUES VALIDATION (3 problems)" in err, err
    for case in ("dlq-without-queue", "institutes-in-jwt-mode"):
        assert PROBLEMS[case][1] in err
    assert "config.sqs.queueUrl is required" in err
    sets = [*PROBLEMS["same-queue"][0], *PROBLEMS["institutes-in-jwt-mode"][0]]
    err = render_fails([MINIMAL], sets)
    assert "VALUES VALIDATION (2 problems)" in err, err
    for case in ("same-queue", "institutes-in-jwt-mode"):
        assert PROBLEMS[case][1] in err


def test_consistent_lane_values_render() -> None:
    render([MINIMAL], sets=[*WITH_PRIORITY, f"config.sqs.priorityDlqUrl={PRIORITY_DLQ_URL}"])
    render([KIND], sets=["config.api.premiumInstitutes[0]=inst-1"])  # auth mode none
    # premium students without a priority lane are not an error: one lane, nothing to pick
    render([KIND], sets=["config.sqs.priorityQueueUrl=", "config.sqs.priorityDlqUrl=",
                         "config.api.premiumInstitutes[0]=inst-1"])  # fmt: skip


BAD_VALUES = [
    ("worker.priorityShare=0", "/worker/priorityShare"),
    ("worker.priorityShare=101", "/worker/priorityShare"),
    ("worker.priorityShare=many", "/worker/priorityShare"),
    (
        "config.sqs.priorityQueueUrl=smartpapers-submissions-priority",
        "/config/sqs/priorityQueueUrl",
    ),
    ("config.sqs.priorityDlqUrl=priority-dlq", "/config/sqs/priorityDlqUrl"),
    ("config.sqs.priorityQueueName=has space", "/config/sqs/priorityQueueName"),
    ("config.sqs.priorityDlqName=", "/config/sqs/priorityDlqName"),
    ("config.api.premiumInstitutes[0]=has space", "/config/api/premiumInstitutes/0"),
    ("config.api.premiumInstitutes=null", "missing property 'premiumInstitutes'"),
    ("config.auth.jwt.premiumRole=", "/config/auth/jwt/premiumRole"),
    ("config.auth.jwt.premiumClaim=has space", "/config/auth/jwt/premiumClaim"),
]


@pytest.mark.parametrize("setting,where", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_schema_rejects_bad_lane_values(setting: str, where: str) -> None:
    err = render_fails([MINIMAL], [setting])
    assert "values don't meet the specifications of the schema" in err, err
    assert where in err, err


# --------------------------------------------------------------------------- KEDA behaviour


@pytest.fixture(scope="module")
def two_lanes() -> tuple[ScalerConfig, Workload]:
    """The rendered ScaledObject with the priority trigger, and the rendered worker."""
    docs = render([MINIMAL], sets=WITH_PRIORITY)
    cfg = ScalerConfig.from_scaled_object(one(docs, "ScaledObject"))
    worker = one(docs, "Deployment", "-worker")
    wl = Workload(
        concurrency=worker_concurrency(worker), priority_share=worker_priority_share(worker)
    )
    return cfg, wl


def test_the_simulator_reads_both_triggers(two_lanes: tuple[ScalerConfig, Workload]) -> None:
    cfg, wl = two_lanes
    assert cfg.lanes == ("normal", "priority")
    assert (cfg.min_replicas, cfg.max_replicas, cfg.queue_length) == (1, 20, 50)
    assert wl.priority_share == 4
    one_lane = ScalerConfig.from_scaled_object(one(render([MINIMAL]), "ScaledObject"))
    assert one_lane == replace(cfg, lanes=("normal",))


def test_hpa_takes_the_max_of_the_per_trigger_counts(
    two_lanes: tuple[ScalerConfig, Workload],
) -> None:
    """The worked example of SCALING.md: normal 2,000 + priority 30 with queueLength 50 is
    max(40, 1) = 40, capped at maxReplicaCount 20 — the same as the normal queue alone."""
    cfg, _ = two_lanes
    hpa = Hpa(cfg)
    assert hpa.proposal_of_metrics(1, [2_000, 30]) == max(40, 1) == hpa.proposal(1, 2_000)
    assert Hpa(cfg).desired(0, 1, 40) == 20 == Hpa(cfg).desired(0, 1, hpa.proposal(1, 2_000))
    # a priority burst alone scales on the priority queue
    assert hpa.proposal_of_metrics(1, [0, 400]) == 8
    # both bursts together: the larger one, not the sum (16)
    assert hpa.proposal_of_metrics(1, [400, 400]) == 8
    assert hpa.proposal_of_metrics(1, [150, 400]) == 8
    # each metric has its own tolerance: 8 replicas at ratio 1.025 stay 8 whatever the other
    assert hpa.proposal_of_metrics(8, [410, 0]) == 8
    # an unreadable trigger: no scale-down on the other one alone, scale-up still allowed
    assert hpa.proposal_of_metrics(8, [None, 50]) is None
    assert hpa.proposal_of_metrics(8, [None, 600]) == 12
    assert hpa.proposal_of_metrics(8, [None, None]) is None


def test_normal_burst_with_a_few_premium_jobs_scales_as_the_normal_one_alone(
    two_lanes: tuple[ScalerConfig, Workload],
) -> None:
    cfg, wl = two_lanes
    slow = replace(wl, throughput_per_replica=20.0)
    alone = simulate(cfg, [2_000], slow)
    both = simulate(cfg, [2_000], slow, priority_arrivals=[30])
    assert both.peak_replicas == alone.peak_replicas == 20
    assert both.first_peak_at == alone.first_peak_at
    first = both.samples[0]
    assert first.metrics[1] == 0  # 30 premium jobs: graded before the first HPA sync
    assert first.proposal == math.ceil(max(m or 0 for m in first.metrics) / cfg.queue_length)
    assert both.drain_seconds is not None and both.back_to_min_at is not None


def test_premium_burst_alone_scales_on_the_priority_queue(
    two_lanes: tuple[ScalerConfig, Workload],
) -> None:
    """Normal queue empty, 400 premium jobs: the priority trigger scales the workers exactly
    as 400 normal jobs would; without that trigger nothing would scale."""
    cfg, wl = two_lanes
    slow = replace(wl, throughput_per_replica=5.0)
    priority = simulate(cfg, [], slow, priority_arrivals=[400], horizon_seconds=600)
    normal = simulate(cfg, [400], slow, horizon_seconds=600)
    assert priority.replicas_by_second == normal.replicas_by_second
    first = priority.samples[0]
    assert first.metrics[0] == 0 and first.metrics[1] is not None
    assert priority.peak_replicas == first.proposal == math.ceil(first.metrics[1] / 50) > 1
    unseen = simulate(replace(cfg, lanes=("normal",)), [], slow, priority_arrivals=[400])
    assert unseen.peak_replicas == 1  # why the chart adds the trigger with the queue


def test_both_bursts_scale_by_the_larger_one(two_lanes: tuple[ScalerConfig, Workload]) -> None:
    cfg, wl = two_lanes
    slow = replace(wl, throughput_per_replica=5.0)
    res = simulate(cfg, [400], slow, priority_arrivals=[400], horizon_seconds=600)
    first = res.samples[0]
    normal_depth, priority_depth = first.metrics
    assert normal_depth is not None and priority_depth is not None
    larger = math.ceil(max(normal_depth, priority_depth) / cfg.queue_length)
    assert first.proposal == larger == 8
    assert res.peak_replicas == 8 < math.ceil((normal_depth + priority_depth) / cfg.queue_length)
    # the workers' fair receive rule: the priority lane drains first, the normal one still moves
    assert priority_depth < normal_depth < 400
    assert res.drain_seconds is not None and res.back_to_min_at is not None


def test_fair_share_of_worker_capacity() -> None:
    assert fair_share(100, 100, 10, 4) == (8, 2)  # both busy: 4 priority per normal
    assert fair_share(100, 0, 10, 4) == (10, 0)  # normal idle: all to priority
    assert fair_share(1, 100, 10, 4) == (1, 9)  # priority nearly idle: the rest to normal
    assert fair_share(0, 5, 10, 4) == (0, 5)  # one lane: what the single-lane model did
    assert fair_share(100, 100, 10, 1) == (5, 5)


# --------------------------------------------------------------------------- docs


def test_docs_explain_the_two_triggers() -> None:
    scaling = (REPO / "deploy" / "keda" / "SCALING.md").read_text()
    section = scaling[scaling.index("## Two lanes, two triggers") :]
    for needle in ("max(40, 1) = 40", "maxReplicaCount", "sqs-priority-depth", "not the sum"):
        assert needle in section, needle
    deploy = (REPO / "docs" / "deploy.md").read_text()
    lane = deploy[deploy.index("### Priority lane") :]
    for needle in (
        "config.sqs.priorityQueueUrl",
        "config.sqs.priorityDlqUrl",
        "config.api.premiumInstitutes",
        "config.auth.jwt.premiumRole",
        "worker.priorityShare",
        "smartpapers-submissions-priority-dlq",
        "sqs-priority-depth",
        "priority-lane.md",
    ):
        assert needle in lane, needle
