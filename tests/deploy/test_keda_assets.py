"""deploy/keda: IAM policies (least privilege), auth examples, operator values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO
from .test_chart_render import validate_object

KEDA = REPO / "deploy" / "keda"
MAIN = "arn:aws:sqs:eu-west-1:123456789012:smartpapers-submissions"
DLQ = MAIN + "-dlq"
# the priority lane's pair (config.sqs.priorityQueueUrl): every role has on it exactly what
# it has on the main queue / the DLQ
PRIORITY = MAIN + "-priority"
PRIORITY_DLQ = MAIN + "-priority-dlq"


IAM = KEDA / "iam"
BOOTSTRAP = {
    "sqs:CreateQueue",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
}
# role -> queue ARN -> the exact allowed actions (deploy/keda/iam/README.md says why); the
# priority ARNs are added below
_ONE_LANE: dict[str, dict[str, set[str]]] = {
    # enqueue; /readyz and the queue-depth exporter (queue_metrics.py) read attributes of
    # the main queue and the DLQ
    "api-policy.json": {
        MAIN: {"sqs:SendMessage", "sqs:GetQueueAttributes"},
        DLQ: {"sqs:GetQueueAttributes"},
    },
    # consume + heartbeat/release; SendMessage: the sweeper re-enqueues unsent jobs;
    # GetQueueAttributes: KEDA may reuse this role (identityOwner=workload)
    "worker-policy.json": {
        MAIN: {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:SendMessage",
        },
    },
    "keda-scaler-policy.json": {MAIN: {"sqs:GetQueueAttributes"}},
    "queue-bootstrap-policy.json": {MAIN: BOOTSTRAP, DLQ: BOOTSTRAP},
    "dlq-operator-policy.json": {
        DLQ: {
            "sqs:GetQueueUrl",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:StartMessageMoveTask",
        },
        MAIN: {"sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SendMessage"},
    },
}
_LANE_OF = {MAIN: PRIORITY, DLQ: PRIORITY_DLQ}
POLICY_ACTIONS: dict[str, dict[str, set[str]]] = {
    name: {**arns, **{_LANE_OF[arn]: acts for arn, acts in arns.items()}}
    for name, arns in _ONE_LANE.items()
}
RUNTIME_ROLES = ("api-policy.json", "worker-policy.json", "keda-scaler-policy.json")
QUEUE_ARN = re.compile(r"^arn:aws:sqs:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$")


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def actions(policy: dict[str, Any]) -> dict[str, set[str]]:
    """resource -> allowed actions."""
    out: dict[str, set[str]] = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        for r in _as_list(st["Resource"]):
            out.setdefault(r, set()).update(_as_list(st["Action"]))
    return out


def test_every_permission_policy_has_an_expected_action_set() -> None:
    assert {p.name for p in IAM.glob("*-policy.json")} == set(POLICY_ACTIONS)


@pytest.mark.parametrize("name", sorted(POLICY_ACTIONS))
def test_iam_policies_are_least_privilege(name: str) -> None:
    policy = json.loads((IAM / name).read_text())
    assert policy["Version"] == "2012-10-17"
    for st in policy["Statement"]:
        assert set(st) <= {"Sid", "Effect", "Action", "Resource"}, (name, set(st))
        for value in _as_list(st["Action"]) + _as_list(st["Resource"]):
            assert "*" not in value and "?" not in value, f"{name}: wildcard in {value}"
        assert all(QUEUE_ARN.match(r) for r in _as_list(st["Resource"])), name
    got = actions(policy)
    assert got == POLICY_ACTIONS[name]
    for acts in got.values():
        assert not any(
            a in acts for a in ("sqs:DeleteQueue", "sqs:PurgeQueue", "sqs:AddPermission")
        )


@pytest.mark.parametrize("name", RUNTIME_ROLES)
def test_runtime_roles_cannot_manage_queues(name: str) -> None:
    acts = set().union(*actions(json.loads((IAM / name).read_text())).values())
    forbidden = {
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:RemovePermission",
        "sqs:StartMessageMoveTask",
        "sqs:GetQueueUrl",  # the pods get queue URLs from settings
    }
    assert not acts & forbidden


def test_no_wildcards_in_any_iam_document() -> None:
    for path in sorted(IAM.glob("*.json")):
        for st in json.loads(path.read_text())["Statement"]:
            assert "NotAction" not in st and "NotResource" not in st and "NotPrincipal" not in st
            for key in ("Action", "Resource"):
                for value in _as_list(st.get(key, [])):
                    assert "*" not in value, f"{path.name}: {key} {value}"
            principal = json.dumps(st.get("Principal", {}))
            assert "*" not in principal, path.name


def test_trust_policies_parse() -> None:
    for path in sorted((KEDA / "iam").glob("trust-*.json")):
        policy = json.loads(path.read_text())
        for st in policy["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all(a.startswith("sts:") for a in acts), path.name


def test_auth_examples_validate_against_the_keda_crds(crds: Path) -> None:
    files = sorted((KEDA / "auth-examples").glob("*.yaml"))
    assert len(files) >= 3
    kinds = set()
    for path in files:
        for obj in yaml.safe_load_all(path.read_text()):
            assert not validate_object(obj), path.name
            pi = obj["spec"]["podIdentity"]
            assert pi["provider"] == "aws"
            assert not ("roleArn" in pi and "identityOwner" in pi), "mutually exclusive"
            kinds.add(obj["kind"])
    assert kinds == {"TriggerAuthentication", "ClusterTriggerAuthentication"}


def test_keda_operator_values() -> None:
    for name in ("values-kind.yaml", "values-eks.yaml"):
        values = yaml.safe_load((KEDA / name).read_text())
        # keys of the kedacore/keda 2.20 chart
        assert set(values) <= {
            "resources",
            "webhooks",
            "logging",
            "prometheus",
            "podIdentity",
            "operator",
            "podDisruptionBudget",
            "metricsServer",
        }, name
    assert "2.20.2" in (REPO / "skaffold.yaml").read_text()


def test_scaling_note_documents_the_formula() -> None:
    note = (KEDA / "SCALING.md").read_text()
    for needle in ("ceil", "queueLength", "concurrency", "maxReplicaCount", "drain"):
        assert needle in note
