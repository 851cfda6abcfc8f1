"""Chart hardening: no static AWS keys or key material in any rendering, the MongoDB URI only
as a Secret reference, and the hardening values documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    ALL_APIS,
    CHART,
    CI_VALUES,
    REPO,
    by_kind,
    ci_id,
    env_of,
    render,
    render_fails,
    render_text,
)
from .hardening import (
    AWS_KEY_ID,
    EKS,
    MINIMAL,
    NP_ON,
    PRIVATE_KEY,
    STATIC_AWS_ENV,
    URI_WITH_CREDENTIALS,
    all_containers,
    api_container,
)

# --------------------------------------------------------------------------- no static AWS keys


@pytest.mark.parametrize("api_versions", [(), ALL_APIS], ids=["plain", "crds"])
def test_eks_renders_no_secret_and_no_static_aws_credentials(
    api_versions: tuple[str, ...],
) -> None:
    docs = render([EKS], api_versions=api_versions)
    assert not by_kind(docs, "Secret")
    for where, c in all_containers(docs):
        assert not STATIC_AWS_ENV & set(env_of(c)), where
        assert not [e for e in c.get("envFrom", []) if "secretRef" in e], where
    for cm in by_kind(docs, "ConfigMap"):
        assert not [k for k in cm.get("data", {}) if k.startswith("AWS_")]
    for ta in by_kind(docs, "TriggerAuthentication"):
        assert set(ta["spec"]) == {"podIdentity"}
    for sa in by_kind(docs, "ServiceAccount"):
        assert not sa.get("secrets")


def key_material(text: str) -> list[str]:
    return AWS_KEY_ID.findall(text) + PRIVATE_KEY.findall(text)


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_no_key_material_in_any_rendering(values: Path) -> None:
    for sets in ([], [NP_ON]):
        for api_versions in ((), ALL_APIS):
            text = render_text([values], sets=sets, api_versions=api_versions)
            assert not key_material(text), (values.name, sets, api_versions)


def test_the_key_scanner_finds_planted_keys() -> None:
    """The scan above can fail: a key smuggled in through an annotation is found."""
    text = render_text(
        [MINIMAL],
        sets=[
            "commonAnnotations.leak=AKIAIOSFODNN7EXAMPLE",
            "commonAnnotations.pem=-----BEGIN RSA PRIVATE KEY-----",
        ],
    )
    assert len(key_material(text)) >= 2


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_mongo_uri_is_only_a_secret_reference(values: Path) -> None:
    vals = yaml.safe_load(values.read_text())["config"]["mongo"]
    secret = (vals["existingSecret"], vals.get("existingSecretKey", "mongo-uri"))
    for api_versions in ((), ALL_APIS):
        docs = render([values], api_versions=api_versions)
        seen = 0
        for where, c in all_containers(docs):
            for e in c.get("env", []):
                assert not URI_WITH_CREDENTIALS.search(str(e.get("value", ""))), where
            uri = env_of(c).get("SMARTPAPERS_MONGO_URI")
            if uri is None:
                continue
            seen += 1
            assert set(uri) == {"name", "valueFrom"}, where
            ref = uri["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == secret, where
        assert seen >= 2  # API and worker (and the bootstrap hook on kind)
        for cm in by_kind(docs, "ConfigMap"):
            for key, value in cm.get("data", {}).items():
                assert "MONGO_URI" not in key
                assert not URI_WITH_CREDENTIALS.search(value), f"{key} holds a URI"


@pytest.mark.parametrize(
    "sets,where",
    [
        (["config.mongo.uri=mongodb://u:p@h"], "/config/mongo"),
        (["config.extra.SMARTPAPERS_MONGO_URI=mongodb://u:p@h"], "SMARTPAPERS_MONGO_URI"),
        (["config.extra.SMARTPAPERS_DB=mongodb://h:27017"], "/config/extra"),
        (
            ["api.extraEnv[0].name=SMARTPAPERS_MONGO_URI", "api.extraEnv[0].value=mongodb://u:p@h"],
            "/api/extraEnv/0",
        ),
        (
            ["worker.extraEnv[0].name=DB_PASSWORD", "worker.extraEnv[0].value=hunter2"],
            "/worker/extraEnv/0",
        ),
        (
            ["worker.extraEnv[0].name=AWS_SECRET_ACCESS_KEY", "worker.extraEnv[0].value=x"],
            "/worker/extraEnv/0",
        ),
    ],
)
def test_credentials_cannot_be_given_as_values(sets: list[str], where: str) -> None:
    err = render_fails([MINIMAL], sets)
    assert "values don't meet the specifications of the schema" in err, err
    assert where in err, err


def test_extra_env_from_a_secret_is_allowed() -> None:
    docs = render(
        [MINIMAL],
        sets=[
            "api.extraEnv[0].name=SMARTPAPERS_EXAMPLE_TOKEN",
            "api.extraEnv[0].valueFrom.secretKeyRef.name=example",
            "api.extraEnv[0].valueFrom.secretKeyRef.key=token",
        ],
    )
    env = env_of(api_container(docs))["SMARTPAPERS_EXAMPLE_TOKEN"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "example", "key": "token"}


# --------------------------------------------------------------------------- documentation

NEW_VALUES = [
    "config.auth.jwt.algorithms",
    "config.auth.jwt.staffClaim",
    "config.auth.jwt.staffRole",
    "config.auth.jwt.instituteClaim",
    "config.rateLimit.submissions",
    "config.rateLimit.statusPolls",
    "config.rateLimit.windowSeconds",
    "config.api.corsOrigins",
    "config.api.docsEnabled",
    "config.api.limitConcurrency",
    "networkPolicy.ingressController",
    "networkPolicy.apiIngressFrom",
    "networkPolicy.metricsIngressFrom",
    "networkPolicy.dnsTo",
    "networkPolicy.mongo.ports",
    "networkPolicy.sqs.to",
    "networkPolicy.jwks.to",
    "networkPolicy.eksPodIdentityAgent",
    "networkPolicy.extraEgress",
]


@pytest.mark.parametrize("path", NEW_VALUES)
def test_hardening_values_are_described_and_documented(path: str) -> None:
    node: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    for key in path.split("."):
        node = node["properties"][key]
    assert node.get("description"), f"{path}: no description in values.schema.json"
    defaults: Any = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in path.split("."):
        defaults = defaults[key]
    doc = (REPO / "docs" / "deploy.md").read_text()
    assert path in doc[doc.index("## Hardening") :], f"{path}: not in docs/deploy.md Hardening"


def test_hardening_section_covers_iam_per_role() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    hardening = doc[doc.index("## Hardening") :]
    for needle in (
        "api-policy.json",
        "worker-policy.json",
        "keda-scaler-policy.json",
        "sweeper",
        "GetQueueAttributes",
        "SMARTPAPERS_API_DOCS_ENABLED",
        "CORS",
    ):
        assert needle in hardening, needle
