"""deploy/keda: IAM policies (least privilege), auth examples, operator values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO
from .test_chart_render import validate_object

KEDA = REPO / "deploy" / "keda"
MAIN = "arn:aws:sqs:eu-west-1:123456789012:smartpapers-submissions"
DLQ = MAIN + "-dlq"


def actions(policy: dict[str, Any]) -> dict[str, set[str]]:
    """resource -> allowed actions."""
    out: dict[str, set[str]] = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in res:
            out.setdefault(r, set()).update(acts)
    return out


@pytest.mark.parametrize(
    "name,expected",
    [
        (
            "api-policy.json",
            {
                MAIN: {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"},
                DLQ: {"sqs:GetQueueAttributes"},
            },
        ),
        (
            "worker-policy.json",
            {
                MAIN: {
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:SendMessage",
                },
                DLQ: {"sqs:GetQueueAttributes"},
            },
        ),
        ("keda-scaler-policy.json", {MAIN: {"sqs:GetQueueAttributes"}}),
        (
            "queue-bootstrap-policy.json",
            {
                MAIN: {
                    "sqs:CreateQueue",
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                },
                DLQ: {
                    "sqs:CreateQueue",
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                },
            },
        ),
    ],
)
def test_iam_policies_are_least_privilege(name: str, expected: dict[str, set[str]]) -> None:
    policy = json.loads((KEDA / "iam" / name).read_text())
    assert policy["Version"] == "2012-10-17"
    got = actions(policy)
    assert got == expected
    for res, acts in got.items():
        assert "*" not in res and all("*" not in a for a in acts)
        assert not any(
            a in acts for a in ("sqs:DeleteQueue", "sqs:PurgeQueue", "sqs:AddPermission")
        )


def test_trust_policies_parse() -> None:
    for path in sorted((KEDA / "iam").glob("trust-*.json")):
        policy = json.loads(path.read_text())
        for st in policy["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all(a.startswith("sts:") for a in acts), path.name


def test_auth_examples_validate_against_the_keda_crds(shared: Path) -> None:
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
